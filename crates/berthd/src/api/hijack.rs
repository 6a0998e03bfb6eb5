//! Hijacked connections (`attach`, `exec start`): the client asks for an
//! upgrade (`Connection: Upgrade`, `Upgrade: tcp`), gets `101`, and the
//! connection becomes a raw two-way stream that berthd splices to the
//! shim's attach socket.

use std::future::Future;

use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

use berth_api::detach_keys::{self, EscapeDetector};

use crate::http::{empty, ApiError, Reply};

/// Docker's stream content types.
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// The upgraded client connection.
pub type Client = TokioIo<hyper::upgrade::Upgraded>;

/// Answers `101` and runs `serve` on the upgraded connection once hyper
/// hands it over.
pub fn upgrade<B, F, Fut>(mut req: Request<B>, content_type: &'static str, serve: F) -> Reply
where
    B: Send + 'static,
    F: FnOnce(Client) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        match hyper::upgrade::on(&mut req).await {
            Ok(upgraded) => serve(TokioIo::new(upgraded)).await,
            Err(e) => eprintln!("berthd: upgrading the connection: {e}"),
        }
    });
    switching_protocols(content_type)
}

/// The `101` answer to an upgrade.
pub fn switching_protocols(content_type: &'static str) -> Reply {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    headers.insert(
        hyper::header::UPGRADE,
        hyper::header::HeaderValue::from_static("tcp"),
    );
    resp
}

/// How a spliced stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The shim's side ended: the process exited.
    Output,
    /// The client typed the detach keys: the process goes on.
    Detached,
}

/// Splices a client and a shim attach stream: client bytes go to the
/// shim (its EOF closes the process's stdin), shim bytes to the client.
/// Returns when the shim's side ends (the process exited), after
/// `before_close` ran, so a client that sees the end can rely on what
/// `before_close` recorded (an exec's exit code). With `escape`, the
/// client's input is watched for the detach keys: they end the splice at
/// once, without forwarding them and without running `before_close`.
pub async fn splice<C, F>(
    client: C,
    shim: UnixStream,
    escape: Option<EscapeDetector>,
    before_close: F,
) -> Ended
where
    C: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = ()>,
{
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut shim_r, mut shim_w) = shim.into_split();
    let to_shim = async {
        let mut escape = escape;
        let mut buf = vec![0u8; 32 * 1024];
        let mut out = Vec::new();
        loop {
            let n = match client_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Without a detector the input goes on as read, uncopied.
            let (forward, detached) = match escape.as_mut() {
                Some(detector) => {
                    out.clear();
                    let detached = detector.scan(&buf[..n], &mut out);
                    (&out[..], detached)
                }
                None => (&buf[..n], false),
            };
            if shim_w.write_all(forward).await.is_err() {
                break;
            }
            if detached {
                return;
            }
        }
        let _ = shim_w.shutdown().await;
        // Keep going: output still flows until the shim closes.
        std::future::pending::<()>().await;
    };
    let to_client = async {
        let _ = tokio::io::copy(&mut shim_r, &mut client_w).await;
    };
    let ended = tokio::select! {
        () = to_shim => Ended::Detached,
        () = to_client => Ended::Output,
    };
    if ended == Ended::Output {
        before_close.await;
    }
    let _ = client_w.shutdown().await;
    ended
}

/// The detector for an attach's detach keys (`detachKeys`, or an exec's
/// `DetachKeys`): only with a TTY and stdin, as in docker, where a stream
/// without a TTY may carry any bytes at all.
pub fn escape_for(tty: bool, stdin: bool, keys: &str) -> Result<Option<EscapeDetector>, ApiError> {
    if !(tty && stdin) {
        return Ok(None);
    }
    let keys = detach_keys::parse(keys).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Some(EscapeDetector::new(keys)))
}
