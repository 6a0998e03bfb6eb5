//! `GET /containers/{id}/logs`: the shim's json-file log read back, as
//! stdcopy frames (no TTY) or raw bytes (TTY), optionally followed.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::store::Entry;
use berth_shim::protocol::{frame_header, STDERR, STDOUT};

/// What to send.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    /// Only the last N lines (None: all).
    pub tail: Option<usize>,
    /// Only records at or after this unix time (seconds).
    pub since: Option<f64>,
    /// Only records before this unix time.
    pub until: Option<f64>,
    pub timestamps: bool,
}

#[derive(Deserialize)]
struct Record {
    log: String,
    stream: String,
    time: String,
}

/// How often a followed log is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Streams the log into `tx` until it is read (and, with `follow`, until
/// the container stops running or the client goes away).
pub async fn stream(
    entry: std::sync::Arc<Entry>,
    path: PathBuf,
    tty: bool,
    opts: LogOptions,
    tx: mpsc::Sender<Bytes>,
) {
    let Ok(file) = std::fs::File::open(&path) else {
        return;
    };
    let mut reader = BufReader::new(file);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
        if line.ends_with('\n') {
            lines.push(std::mem::take(&mut line));
        } else {
            break;
        }
    }
    let mut pos = position_after(&mut reader, &line);
    let start = opts.tail.map_or(0, |n| lines.len().saturating_sub(n));
    for l in &lines[start..] {
        if !send(&tx, l, tty, &opts).await {
            return;
        }
    }
    if !opts.follow {
        return;
    }
    let mut changes = entry.changed.subscribe();
    loop {
        let running = entry.record().state.running();
        pos = read_new(&path, pos, &tx, tty, &opts).await;
        if !running || tx.is_closed() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = changes.changed() => {}
        }
    }
}

/// The offset just past the last complete line.
fn position_after(reader: &mut BufReader<std::fs::File>, partial: &str) -> u64 {
    reader
        .stream_position()
        .map_or(0, |p| p.saturating_sub(partial.len() as u64))
}

/// Sends complete lines written since `pos`; returns the new position.
async fn read_new(
    path: &PathBuf,
    pos: u64,
    tx: &mpsc::Sender<Bytes>,
    tty: bool,
    opts: &LogOptions,
) -> u64 {
    let Ok(mut file) = std::fs::File::open(path) else {
        return pos;
    };
    let len = file.metadata().map_or(0, |m| m.len());
    // Rotated: start the new file from its beginning.
    let pos = if len < pos { 0 } else { pos };
    if file.seek(SeekFrom::Start(pos)).is_err() {
        return pos;
    }
    let mut reader = BufReader::new(file);
    let mut consumed = pos;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 && line.ends_with('\n') => {
                consumed += n as u64;
                if !send(tx, &line, tty, opts).await {
                    return consumed;
                }
            }
            _ => return consumed,
        }
    }
}

/// Sends one record if it passes the filters; false when the client left.
async fn send(tx: &mpsc::Sender<Bytes>, line: &str, tty: bool, opts: &LogOptions) -> bool {
    let Ok(record) = serde_json::from_str::<Record>(line) else {
        return true;
    };
    let stream = if record.stream == "stderr" {
        STDERR
    } else {
        STDOUT
    };
    if (stream == STDOUT && !opts.stdout) || (stream == STDERR && !opts.stderr) {
        return true;
    }
    let secs = humantime::parse_rfc3339_weak(&record.time)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    if opts.since.is_some_and(|s| secs < s) || opts.until.is_some_and(|u| secs >= u) {
        return true;
    }
    let mut payload = Vec::new();
    if opts.timestamps {
        payload.extend_from_slice(record.time.as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(record.log.as_bytes());
    let mut out = Vec::with_capacity(payload.len() + 8);
    if !tty {
        out.extend_from_slice(&frame_header(stream, payload.len()));
    }
    out.extend_from_slice(&payload);
    tx.send(Bytes::from(out)).await.is_ok()
}
