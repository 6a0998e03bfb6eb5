//! HTTP plumbing shared by the handlers: bodies, JSON responses, Docker's
//! error shape, query parameters.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde::Serialize;
use tokio::sync::mpsc;

/// The body of every response: whole, or streamed.
pub type Body = BoxBody<Bytes, std::io::Error>;
/// A response.
pub type Reply = Response<Body>;

/// The largest JSON request body accepted.
pub const MAX_JSON_BODY: usize = 16 * 1024 * 1024;

/// An error as the Engine API reports it: a status and `{"message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The JSON response.
    pub fn into_reply(self) -> Reply {
        json(self.status, &serde_json::json!({ "message": self.message }))
    }
}

/// What handlers return.
pub type ApiResult = Result<Reply, ApiError>;

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// A JSON response.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Reply {
    let bytes = serde_json::to_vec(value)
        .unwrap_or_else(|e| format!(r#"{{"message":"encoding the response: {e}"}}"#).into_bytes());
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// A 200 JSON response.
pub fn ok_json<T: Serialize + ?Sized>(value: &T) -> ApiResult {
    Ok(json(StatusCode::OK, value))
}

/// A response with a status and no body (204, 304).
pub fn status(status: StatusCode) -> ApiResult {
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    Ok(resp)
}

/// A streamed body: what is sent on the returned channel goes out as it
/// comes (the response headers go first, at once).
pub fn channel_body(capacity: usize) -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(capacity);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, std::io::Error>(Frame::data(bytes)), rx))
    });
    (tx, StreamBody::new(stream).boxed())
}

/// A blocking `Write` into a response body channel, for blocking tasks
/// that produce a body (save, cp, export).
pub struct ChannelWriter(pub mpsc::Sender<Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A streamed response with a content type.
pub fn streamed(content_type: &'static str, capacity: usize) -> (mpsc::Sender<Bytes>, Reply) {
    let (tx, body) = channel_body(capacity);
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    (tx, resp)
}

/// Reads a JSON request body (an empty body is `T::default()`-like `null`
/// handling left to the caller: it parses `{}` instead).
pub async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, ApiError> {
    let bytes = read_body(req, MAX_JSON_BODY).await?;
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else {
        bytes
    };
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// Reads a whole request body, up to `limit` bytes.
pub async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))
}

/// Query parameters. `get` gives the first value of a key, as Go's
/// `r.Form.Get` does; `all` every value (`names=a&names=b`).
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean as moby parses it: absent, "", "0", "false" (any case)
    /// and "no" are false; anything else is true.
    pub fn bool(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no"),
        }
    }

    /// An integer parameter; absent is `None`, garbage a 400.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_booleans_as_moby() {
        let q = Query::parse(Some("a=1&b=false&c=&d=True&e=no&f=0&n=12&bad=x"));
        assert!(q.bool("a") && q.bool("d"));
        assert!(!q.bool("b") && !q.bool("c") && !q.bool("e") && !q.bool("f") && !q.bool("zz"));
        assert_eq!(q.int("n").unwrap(), Some(12));
        assert!(q.int("bad").is_err());
        assert_eq!(q.int("none").unwrap(), None);
    }
}
