//! Connection hijacking for `attach` and `exec start`: the request asks
//! for `Upgrade: tcp`, the daemon answers `101 UPGRADED`, and from then on
//! the socket carries the container's raw stdio in both directions.

use hyper::header::{CONNECTION, UPGRADE};
use hyper::Method;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};

use crate::client::{check_status, json_body, Client};
use crate::error::{Error, Result};
use crate::query::Query;

/// The upgraded connection: read the container's output, write its stdin,
/// and `shutdown()` the write side to close its stdin (like docker's
/// CloseWrite) while output keeps flowing.
pub struct Hijacked {
    io: TokioIo<hyper::upgrade::Upgraded>,
}

impl Hijacked {
    /// Separate read and write halves, for copying both ways at once.
    pub fn split(
        self,
    ) -> (
        ReadHalf<TokioIo<hyper::upgrade::Upgraded>>,
        WriteHalf<TokioIo<hyper::upgrade::Upgraded>>,
    ) {
        tokio::io::split(self.io)
    }

    pub fn io(&mut self) -> &mut (impl AsyncRead + AsyncWrite + Unpin) {
        &mut self.io
    }
}

pub(crate) async fn hijack<B: Serialize + ?Sized>(
    client: &Client,
    path: &str,
    query: &Query,
    body: Option<&B>,
) -> Result<Hijacked> {
    let (mut headers, body) = json_body(body)?;
    headers.push((CONNECTION.as_str(), "Upgrade".to_string()));
    headers.push((UPGRADE.as_str(), "tcp".to_string()));
    let resp = client
        .send_unchecked(Method::POST, path, query, &headers, body)
        .await?;
    let resp = check_status(resp).await?;
    let status = resp.status().as_u16();
    if status != 101 {
        return Err(Error::NotUpgraded { status });
    }
    let upgraded = hyper::upgrade::on(resp).await?;
    Ok(Hijacked {
        io: TokioIo::new(upgraded),
    })
}
