//! `/containers/{id}/exec` and `/exec/{id}/...`.

use hyper::StatusCode;
use serde_json::{json, Value};

use super::containers::size_args;
use super::hijack::{self, MULTIPLEXED_STREAM, RAW_STREAM};
use super::Call;
use crate::containers::shim;
use crate::http::{json as json_reply, ok_json, read_json, status, ApiError, ApiResult};

/// `POST /containers/{id}/exec`.
pub async fn create(call: Call, id: &str) -> ApiResult {
    // The body first, as in `update`.
    let daemon = call.daemon.clone();
    let config: Value = read_json(call.req).await?;
    let entry = daemon.containers.get(id)?;
    let session = daemon.create_exec(&entry, config)?;
    Ok(json_reply(
        StatusCode::CREATED,
        &json!({ "Id": session.id }),
    ))
}

/// `POST /exec/{id}/start`: hijacked unless `Detach`.
pub async fn start(call: Call, id: &str) -> ApiResult {
    let daemon = call.daemon.clone();
    let session = daemon.exec_session(id)?;
    let (parts, body) = call.req.into_parts();
    let bytes = http_body_util::BodyExt::collect(body)
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    let options: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let cfg = &session.config;
    let attach_stdin = cfg["AttachStdin"].as_bool().unwrap_or(false);
    let keys = cfg["DetachKeys"].as_str().unwrap_or("");
    let escape = hijack::escape_for(session.tty(), attach_stdin, keys)?;
    let paths = daemon.launch_exec(&session).await?;
    if options["Detach"].as_bool().unwrap_or(false) {
        daemon.start_exec(&session, &paths).await?;
        tokio::spawn(async move { daemon.finish_exec(&session, &paths).await });
        return status(StatusCode::OK);
    }
    let cfg = &session.config;
    let (stdin, stdout, stderr) = (
        attach_stdin,
        cfg["AttachStdout"].as_bool().unwrap_or(true),
        cfg["AttachStderr"].as_bool().unwrap_or(true),
    );
    let attach = shim::attach(&paths.socket, stdin, stdout, stderr).await?;
    let content_type = if session.tty() {
        RAW_STREAM
    } else {
        MULTIPLEXED_STREAM
    };
    let req = hyper::Request::from_parts(parts, http_body_util::Empty::<bytes::Bytes>::new());
    // The process starts only once the 101 is on its way, as with dockerd:
    // output sent together with the response headers can be lost by
    // clients that read the headers through a buffer (docker-py).
    Ok(hijack::upgrade(
        req,
        content_type,
        move |client| async move {
            if let Err(e) = daemon.start_exec(&session, &paths).await {
                // The stream carries the error; the exit code (126/127,
                // recorded by the shim) is in exec inspect.
                daemon.finish_exec(&session, &paths).await;
                let text = format!(
                "OCI runtime exec failed: exec failed: unable to start container process: {}: unknown\r\n",
                e.message
            );
                write_and_close(client, text, !session.tty()).await;
                return;
            }
            // The exit code is recorded before the client sees the stream end.
            let ended =
                hijack::splice(client, attach, escape, daemon.finish_exec(&session, &paths)).await;
            if ended == hijack::Ended::Detached {
                // The process goes on; its exit is still recorded.
                daemon.finish_exec(&session, &paths).await;
            }
        },
    ))
}

/// Sends one message on a hijacked stream (as stderr when multiplexed)
/// and closes it.
async fn write_and_close(mut client: hijack::Client, text: String, framed: bool) {
    use tokio::io::AsyncWriteExt;
    let mut bytes = Vec::new();
    if framed {
        bytes.extend_from_slice(&berth_shim::protocol::frame_header(
            berth_shim::protocol::STDERR,
            text.len(),
        ));
    }
    bytes.extend_from_slice(text.as_bytes());
    let _ = client.write_all(&bytes).await;
    let _ = client.shutdown().await;
}

/// `POST /exec/{id}/resize`.
pub async fn resize(call: Call, id: &str) -> ApiResult {
    let session = call.daemon.exec_session(id)?;
    let (h, w) = size_args(&call)?;
    let paths = shim::ShimPaths::new(&call.daemon.config.exec_root, &session.id);
    shim::resize(&paths.socket, h, w).await?;
    status(StatusCode::OK)
}

/// `GET /exec/{id}/json`.
pub async fn inspect(call: Call, id: &str) -> ApiResult {
    let session = call.daemon.exec_session(id)?;
    ok_json(&session.inspect())
}
