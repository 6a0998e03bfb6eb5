//! Copying a hijacked attach/exec stream: stdin to the container, its
//! output to ours (demultiplexed into stdout and stderr when there is no
//! TTY, raw when there is one).

use std::io::Write;

use anyhow::Context as _;
use berth_api::stdcopy::{Demuxer, StreamKind};
use berth_api::Hijacked;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Pumps both directions until the container's output ends. With
/// `stdin`, our stdin is forwarded and its end closes the container's
/// stdin (a half-close of the socket); output keeps flowing after that.
pub async fn pump(conn: Hijacked, tty: bool, stdin: bool) -> anyhow::Result<()> {
    let (mut reader, mut writer) = conn.split();
    let input = stdin.then(|| {
        tokio::spawn(async move {
            let mut local = tokio::io::stdin();
            let _ = tokio::io::copy(&mut local, &mut writer).await;
            let _ = writer.shutdown().await;
        })
    });
    let result = copy_output(&mut reader, tty).await;
    if let Some(task) = input {
        task.abort();
    }
    result
}

async fn copy_output(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
    tty: bool,
) -> anyhow::Result<()> {
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
