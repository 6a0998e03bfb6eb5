//! Copying a hijacked attach/exec stream: stdin to the container, its
//! output to ours (demultiplexed into stdout and stderr when there is no
//! TTY, raw when there is one). On a TTY, stdin is watched for the detach
//! keys, as docker's CLI does (moby/term's EscapeProxy).

use std::io::Write;

use anyhow::Context as _;
use berth_api::detach_keys::{self, EscapeDetector};
use berth_api::stdcopy::{Demuxer, StreamKind};
use berth_api::Hijacked;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// How a pumped stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The container's output ended (it exited, or closed its streams).
    Output,
    /// The user typed the detach keys: the container goes on.
    Detached,
}

/// What to forward from our stdin.
pub struct Input {
    /// Watches for the detach keys (TTY attaches only, as docker).
    pub detector: Option<EscapeDetector>,
}

impl Input {
    /// Our stdin when `stdin` is attached, watched for `keys` (docker's
    /// `--detach-keys`, empty for the default) when it is a TTY. A bad
    /// value is refused before anything is attached.
    pub fn new(stdin: bool, tty: bool, keys: &str) -> anyhow::Result<Option<Input>> {
        let keys = detach_keys::parse(keys)?;
        Ok(stdin.then(|| Input {
            detector: tty.then(|| EscapeDetector::new(keys)),
        }))
    }
}

/// Pumps both directions until the container's output ends or the user
/// detaches. With `stdin`, our stdin is forwarded and its end closes the
/// container's stdin (a half-close of the socket); output keeps flowing
/// after that.
pub async fn pump(conn: Hijacked, tty: bool, stdin: Option<Input>) -> anyhow::Result<Ended> {
    let (mut reader, writer) = conn.split();
    let (detached_tx, detached_rx) = tokio::sync::oneshot::channel::<()>();
    let input = stdin.map(|input| {
        tokio::spawn(async move {
            let detached = forward_stdin(tokio::io::stdin(), writer, input.detector).await;
            if detached {
                let _ = detached_tx.send(());
            }
        })
    });
    let result = tokio::select! {
        r = copy_output(&mut reader, tty) => r.map(|()| Ended::Output),
        Ok(()) = detached_rx => Ok(Ended::Detached),
    };
    if let Some(task) = input {
        task.abort();
    }
    result
}

/// Copies `local` to the container until it ends (then half-closes) or
/// the detach keys are typed (returns true: the caller drops the
/// connection, and the keys themselves are never sent).
async fn forward_stdin(
    mut local: impl AsyncRead + Unpin,
    mut remote: impl AsyncWrite + Unpin,
    mut detector: Option<EscapeDetector>,
) -> bool {
    let mut buf = vec![0u8; 32 * 1024];
    let mut out = Vec::with_capacity(buf.len());
    loop {
        let n = match local.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        out.clear();
        let detached = match detector.as_mut() {
            Some(d) => d.scan(&buf[..n], &mut out),
            None => {
                out.extend_from_slice(&buf[..n]);
                false
            }
        };
        // What preceded the keys in the same read is still typed input.
        if !out.is_empty() && remote.write_all(&out).await.is_err() {
            return detached;
        }
        if detached {
            let _ = remote.flush().await;
            return true;
        }
    }
    let _ = remote.shutdown().await;
    false
}

async fn copy_output(reader: &mut (impl AsyncRead + Unpin), tty: bool) -> anyhow::Result<()> {
    let mut demux = Demuxer::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            // The daemon closing the stream at exit can look like a reset.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e).context("reading the container's output"),
        };
        if tty {
            write_out(StreamKind::Stdout, &buf[..n])?;
            continue;
        }
        demux.push(&buf[..n]);
        while let Some((kind, data)) = demux.next_frame()? {
            write_out(kind, &data)?;
        }
    }
}

/// Writes to our stdout or stderr and flushes (output is interactive).
pub fn write_out(kind: StreamKind, data: &[u8]) -> anyhow::Result<()> {
    let result = match kind {
        StreamKind::Stderr | StreamKind::Systemerr => {
            let mut e = std::io::stderr().lock();
            e.write_all(data).and_then(|()| e.flush())
        }
        _ => {
            let mut o = std::io::stdout().lock();
            o.write_all(data).and_then(|()| o.flush())
        }
    };
    match result {
        // A closed pipe (`| head`) ends the output quietly, as in docker.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn detach_keys_stop_forwarding() {
        let keys = berth_api::detach_keys::parse("").unwrap_or_default();
        let (mut remote, far) = tokio::io::duplex(1024);
        let input: &[u8] = b"ls\r\x10x\x10\x11after";
        let detached = forward_stdin(input, far, Some(EscapeDetector::new(keys))).await;
        assert!(detached);
        let mut got = Vec::new();
        remote.read_to_end(&mut got).await.unwrap_or_default();
        assert_eq!(got, b"ls\r\x10x");
    }

    #[tokio::test]
    async fn end_of_input_half_closes() {
        let (mut remote, far) = tokio::io::duplex(1024);
        let input: &[u8] = b"\x10abc";
        let keys = berth_api::detach_keys::parse("").unwrap_or_default();
        assert!(!forward_stdin(input, far, Some(EscapeDetector::new(keys))).await);
        let mut got = Vec::new();
        remote.read_to_end(&mut got).await.unwrap_or_default();
        assert_eq!(got, b"\x10abc");
    }
}
