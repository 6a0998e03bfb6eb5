//! The HTTP client: one connection per request over the daemon's socket
//! (the CLI makes few requests, and a fresh connection per request is what
//! lets a hijacked attach run beside a pending `wait` without pooling),
//! with API version negotiation on first use.

use std::io;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::sync::OnceCell;

use crate::error::{ApiError, Error, Result};
use crate::hijack::Hijacked;
use crate::host::Host;
use crate::query::Query;
use crate::stream::{JsonStream, RawStream};

/// The newest API version this client speaks.
pub const API_VERSION: &str = "1.47";

/// What docker assumes when `/_ping` names no version.
const FALLBACK_VERSION: &str = "1.24";

/// The Host header sent over a socket (it names no host); docker's value.
const HOST_HEADER: &str = "api.moby.localhost";

/// A request body: nothing, bytes, or a stream (an image tar for `load`).
pub struct RequestBody(UnsyncBoxBody<Bytes, io::Error>);

impl RequestBody {
    pub fn empty() -> RequestBody {
        RequestBody(Empty::new().map_err(|never| match never {}).boxed_unsync())
    }

    pub fn bytes(bytes: impl Into<Bytes>) -> RequestBody {
        RequestBody(
            Full::new(bytes.into())
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
    }

    /// A JSON body.
    pub fn json<B: Serialize + ?Sized>(body: &B) -> Result<RequestBody> {
        let bytes = serde_json::to_vec(body).map_err(Error::Encode)?;
        Ok(RequestBody::bytes(bytes))
    }

    /// Streams everything `reader` yields, in 64 KiB chunks.
    pub fn reader<R: AsyncRead + Send + Unpin + 'static>(reader: R) -> RequestBody {
        let chunks = futures_util::stream::unfold(Some(reader), |state| async move {
            let mut reader = state?;
            let mut buf = vec![0u8; 64 * 1024];
            match reader.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Frame::data(Bytes::from(buf))), Some(reader)))
                }
                // Yield the error once, then end the stream.
                Err(e) => Some((Err(e), None)),
            }
        });
        RequestBody(StreamBody::new(chunks.boxed()).boxed_unsync())
    }
}

/// Extra request headers (`X-Registry-Auth`, `Content-Type`).
pub type Headers<'a> = &'a [(&'a str, String)];

/// An async client for one daemon.
pub struct Client {
    host: Host,
    version: OnceCell<String>,
}

impl Client {
    /// A client for `host` in any of docker's `-H` forms. Nothing is
    /// contacted until the first request.
    pub fn new(host: &str) -> Result<Client> {
        Ok(Client {
            host: Host::parse(host)?,
            version: OnceCell::new(),
        })
    }

    /// A client pinned to an API version (no negotiation).
    pub fn with_version(host: &str, version: &str) -> Result<Client> {
        let client = Client::new(host)?;
        // A fresh cell cannot be full.
        let _ = client.version.set(version.to_string());
        Ok(client)
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The API version in use: min(ours, the daemon's), asked once.
    pub async fn api_version(&self) -> Result<&str> {
        let v = self
            .version
            .get_or_try_init(|| async { self.negotiate().await })
            .await?;
        Ok(v.as_str())
    }

    async fn negotiate(&self) -> Result<String> {
        let req = self.request(Method::GET, "/_ping", RequestBody::empty(), &[])?;
        let resp = match self.exchange(req).await {
            Ok(resp) => resp,
            Err(e @ Error::Connect { .. }) => return Err(e),
            // A daemon that cannot ping still gets our version.
            Err(_) => return Ok(API_VERSION.to_string()),
        };
        let server = resp
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(FALLBACK_VERSION)
            .to_string();
        Ok(min_version(API_VERSION, &server).to_string())
    }

    /// `GET /_ping` succeeded: the daemon is up.
    pub async fn ping(&self) -> Result<()> {
        self.api_version().await.map(|_| ())
    }

    /// Sends a request to `/v{ver}{path}{query}` and returns the response
    /// when its status is a success; a daemon error becomes [`ApiError`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        headers: Headers<'_>,
        body: RequestBody,
    ) -> Result<Response<Incoming>> {
        let resp = self
            .send_unchecked(method, path, query, headers, body)
            .await?;
        check_status(resp).await
    }

    pub(crate) async fn send_unchecked(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        headers: Headers<'_>,
        body: RequestBody,
    ) -> Result<Response<Incoming>> {
        let uri = format!("/v{}{path}{}", self.api_version().await?, query.encode());
        let req = self.request(method, &uri, body, headers)?;
        self.exchange(req).await
    }

    fn request(
        &self,
        method: Method,
        uri: &str,
        body: RequestBody,
        headers: Headers<'_>,
    ) -> Result<Request<UnsyncBoxBody<Bytes, io::Error>>> {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, HOST_HEADER)
            .header("User-Agent", concat!("berth/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        Ok(builder.body(body.0)?)
    }

    /// One request on a fresh connection. The connection task keeps
    /// running until the body is read (or the upgraded stream dropped).
    async fn exchange(
        &self,
        req: Request<UnsyncBoxBody<Bytes, io::Error>>,
    ) -> Result<Response<Incoming>> {
        let io = TokioIo::new(self.connect().await?);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(async move {
            // Its errors surface through the response future as well.
            let _ = conn.with_upgrades().await;
        });
        Ok(sender.send_request(req).await?)
    }

    async fn connect(&self) -> Result<Box<dyn Stream>> {
        let connect_err = |source| Error::Connect {
            host: self.host.to_string(),
            source,
        };
        match &self.host {
            Host::Unix(path) => {
                let s = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(connect_err)?;
                Ok(Box::new(s))
            }
            Host::Tcp(addr) => {
                let s = tokio::net::TcpStream::connect(addr.as_str())
                    .await
                    .map_err(connect_err)?;
                Ok(Box::new(s))
            }
        }
    }

    // ------------------------------------------------------------ helpers

    /// `GET path` → a JSON value of type `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &Query) -> Result<T> {
        let resp = self
            .send(Method::GET, path, query, &[], RequestBody::empty())
            .await?;
        read_json(resp).await
    }

    /// `POST path` with an optional JSON body → a JSON value of type `T`.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Query,
        body: Option<&B>,
    ) -> Result<T> {
        let resp = self.post_response(path, query, body).await?;
        read_json(resp).await
    }

    /// `POST path` whose answer is empty (204) or ignored.
    pub async fn post_empty(&self, path: &str, query: &Query) -> Result<()> {
        let resp = self.post_response::<()>(path, query, None).await?;
        drain(resp).await
    }

    /// `POST path` with a JSON body, whose answer is ignored.
    pub async fn post_json_empty<B: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Query,
        body: &B,
    ) -> Result<()> {
        let resp = self.post_response(path, query, Some(body)).await?;
        drain(resp).await
    }

    /// `POST path` with an optional JSON body; the response unread, so its
    /// body can be awaited later (`wait` answers headers first).
    pub async fn post_response<B: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Query,
        body: Option<&B>,
    ) -> Result<Response<Incoming>> {
        let (headers, body) = json_body(body)?;
        self.send(Method::POST, path, query, &headers, body).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str, query: &Query) -> Result<()> {
        let resp = self
            .send(Method::DELETE, path, query, &[], RequestBody::empty())
            .await?;
        drain(resp).await
    }

    /// `DELETE path` → a JSON value (image removal lists what it did).
    pub async fn delete_json<T: DeserializeOwned>(&self, path: &str, query: &Query) -> Result<T> {
        let resp = self
            .send(Method::DELETE, path, query, &[], RequestBody::empty())
            .await?;
        read_json(resp).await
    }

    /// A request whose body is newline-delimited JSON messages.
    pub async fn stream_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        headers: Headers<'_>,
        body: RequestBody,
    ) -> Result<JsonStream<T>> {
        let resp = self.send(method, path, query, headers, body).await?;
        Ok(JsonStream::new(resp.into_body()))
    }

    /// `GET path` whose body is read as raw chunks (logs, save).
    pub async fn stream_raw(&self, path: &str, query: &Query) -> Result<RawStream> {
        let resp = self
            .send(Method::GET, path, query, &[], RequestBody::empty())
            .await?;
        Ok(RawStream::new(resp.into_body()))
    }

    /// `POST path` upgraded to a raw bidirectional stream (attach, exec).
    pub async fn hijack<B: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Query,
        body: Option<&B>,
    ) -> Result<Hijacked> {
        crate::hijack::hijack(self, path, query, body).await
    }
}

/// The transport under one connection.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The Content-Type header and body for an optional JSON body.
pub(crate) fn json_body<B: Serialize + ?Sized>(
    body: Option<&B>,
) -> Result<(Vec<(&'static str, String)>, RequestBody)> {
    match body {
        Some(b) => Ok((
            vec![(CONTENT_TYPE.as_str(), "application/json".to_string())],
            RequestBody::json(b)?,
        )),
        None => Ok((Vec::new(), RequestBody::empty())),
    }
}

/// Passes an answer below 400 through; turns anything else into an [`ApiError`]
/// carrying the daemon's message.
pub(crate) async fn check_status(resp: Response<Incoming>) -> Result<Response<Incoming>> {
    let status = resp.status();
    // Like docker's client: 1xx-3xx are answers, not errors (304 is
    // "already started/stopped").
    if status.as_u16() < 400 {
        return Ok(resp);
    }
    let bytes = resp.into_body().collect().await?.to_bytes();
    Err(Error::Api(ApiError {
        status: status.as_u16(),
        message: error_message(status, &bytes),
    }))
}

/// `{"message": "..."}`, else the body's text, else the status' reason.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        message: String,
    }
    if let Ok(b) = serde_json::from_slice::<Body>(body) {
        return b.message;
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if !text.is_empty() {
        return text;
    }
    status
        .canonical_reason()
        .unwrap_or("unknown error")
        .to_string()
}

/// Reads a whole JSON body.
pub async fn read_json<T: DeserializeOwned>(resp: Response<Incoming>) -> Result<T> {
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&bytes)?)
}

/// Reads and discards a body (so the daemon sees the exchange complete).
pub async fn drain(resp: Response<Incoming>) -> Result<()> {
    resp.into_body().collect().await?;
    Ok(())
}

/// The lower of two "major.minor" versions (unparsable counts as 0.0).
pub fn min_version<'a>(a: &'a str, b: &'a str) -> &'a str {
    if parse_version(b) < parse_version(a) {
        b
    } else {
        a
    }
}

fn parse_version(v: &str) -> (u32, u32) {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_negotiation_takes_the_lower() {
        assert_eq!(min_version("1.47", "1.41"), "1.41");
        assert_eq!(min_version("1.47", "1.50"), "1.47");
        assert_eq!(min_version("1.47", "1.100"), "1.47");
        assert_eq!(min_version("1.9", "1.10"), "1.9");
    }

    #[test]
    fn error_messages() {
        let m = error_message(
            StatusCode::NOT_FOUND,
            br#"{"message":"No such container: x"}"#,
        );
        assert_eq!(m, "No such container: x");
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, b"plain text\n"),
            "plain text"
        );
        assert_eq!(error_message(StatusCode::NOT_FOUND, b""), "Not Found");
    }
}
