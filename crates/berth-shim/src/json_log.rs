//! Docker's json-file log format: one JSON object per line of output,
//! `{"log":"hello\n","stream":"stdout","time":"2024-05-01T12:00:00.123456789Z"}`,
//! rotated by size into `<log>.1`, `<log>.2`, ... like Docker's
//! `--log-opt max-size=... max-file=...`.
//!
//! Output is split at newlines; a line longer than [`MAX_LINE`] is written
//! in pieces (Docker does the same at 16 KiB), and a partial last line is
//! written when the stream ends.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

/// The longest piece of a line written as one record.
pub const MAX_LINE: usize = 16 * 1024;

/// Which stream a record is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Serialize)]
struct Record<'a> {
    log: &'a str,
    stream: &'a str,
    time: String,
}

/// A json-file log being written.
pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_files: u32,
    /// The unfinished line of each stream.
    partial: [Vec<u8>; 2],
}

impl JsonLog {
    /// Opens (appending to) the log at `path`.
    pub fn open(path: &Path, max_size: Option<u64>, max_files: u32) -> io::Result<JsonLog> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(JsonLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size: max_size.filter(|s| *s > 0),
            max_files: max_files.max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Adds output; complete lines are written at once.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        let slot = stream as usize;
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            let mut line = std::mem::take(&mut self.partial[slot]);
            line.extend_from_slice(&rest[..=pos]);
            self.record(stream, &line)?;
            rest = &rest[pos + 1..];
        }
        self.partial[slot].extend_from_slice(rest);
        while self.partial[slot].len() >= MAX_LINE {
            let piece: Vec<u8> = self.partial[slot].drain(..MAX_LINE).collect();
            self.record(stream, &piece)?;
        }
        Ok(())
    }

    /// Writes what is left of unfinished lines (the streams ended).
    pub fn flush_partial(&mut self) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let line = std::mem::take(&mut self.partial[stream as usize]);
            if !line.is_empty() {
                self.record(stream, &line)?;
            }
        }
        self.file.flush()
    }

    fn record(&mut self, stream: Stream, line: &[u8]) -> io::Result<()> {
        let record = Record {
            log: &String::from_utf8_lossy(line),
            stream: stream.name(),
            time: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
        };
        let mut bytes = serde_json::to_vec(&record).map_err(io::Error::other)?;
        bytes.push(b'\n');
        if self
            .max_size
            .is_some_and(|max| self.size > 0 && self.size + bytes.len() as u64 > max)
        {
            self.rotate()?;
        }
        self.file.write_all(&bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// `log` -> `log.1` -> `log.2` ..., keeping `max_files` files in all.
    fn rotate(&mut self) -> io::Result<()> {
        if self.max_files <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        let _ = fs::remove_file(numbered(self.max_files - 1));
        for n in (1..self.max_files - 1).rev() {
            let _ = fs::rename(numbered(n), numbered(n + 1));
        }
        fs::rename(&self.path, numbered(1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn splits_lines_per_stream_and_flushes_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = JsonLog::open(&path, None, 1).unwrap();
        log.write(Stream::Stdout, b"hel").unwrap();
        log.write(Stream::Stderr, b"oops\n").unwrap();
        log.write(Stream::Stdout, b"lo\nwor").unwrap();
        log.flush_partial().unwrap();
        let got = lines(&path);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0]["log"], "oops\n");
        assert_eq!(got[0]["stream"], "stderr");
        assert_eq!(got[1]["log"], "hello\n");
        assert_eq!(got[2]["log"], "wor");
        assert!(got[2]["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn rotates_by_size_keeping_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = JsonLog::open(&path, Some(300), 3).unwrap();
        for i in 0..40 {
            log.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        log.flush_partial().unwrap();
        assert!(path.exists());
        assert!(dir.path().join("c.log.1").exists());
        assert!(dir.path().join("c.log.2").exists());
        assert!(!dir.path().join("c.log.3").exists());
        assert!(fs::metadata(&path).unwrap().len() <= 300);
        let last = lines(&path);
        assert_eq!(last.last().unwrap()["log"], "line 39\n");
    }

    #[test]
    fn long_lines_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut log = JsonLog::open(&path, None, 1).unwrap();
        log.write(Stream::Stdout, &vec![b'x'; MAX_LINE * 2 + 5])
            .unwrap();
        log.flush_partial().unwrap();
        let got = lines(&path);
        assert_eq!(got.len(), 3);
        assert_eq!(got[2]["log"].as_str().unwrap().len(), 5);
    }
}
