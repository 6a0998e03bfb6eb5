//! Hijacked connections (`attach`, `exec start`): the client asks for an
//! upgrade (`Connection: Upgrade`, `Upgrade: tcp`), gets `101`, and the
//! connection becomes a raw two-way stream that berthd splices to the
//! shim's attach socket.

use std::future::Future;

use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::http::{empty, Reply};

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

/// Splices a client and a shim attach stream: client bytes go to the
/// shim (its EOF closes the process's stdin), shim bytes to the client.
/// Returns when the shim's side ends (the process exited), after
/// `before_close` ran, so a client that sees the end can rely on what
/// `before_close` recorded (an exec's exit code).
pub async fn splice<C, F>(client: C, shim: UnixStream, before_close: F)
where
    C: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = ()>,
{
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut shim_r, mut shim_w) = shim.into_split();
    let to_shim = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match client_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if shim_w.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = shim_w.shutdown().await;
        // Keep going: output still flows until the shim closes.
        std::future::pending::<()>().await;
    };
    let to_client = async {
        let _ = tokio::io::copy(&mut shim_r, &mut client_w).await;
    };
    tokio::select! {
        _ = to_shim => {}
        _ = to_client => {}
    }
    before_close.await;
    let _ = client_w.shutdown().await;
}
