//! Error and warning reporting: to stderr, and to `--log` in runc's text
//! or JSON-lines format, which containerd reads back to show the error.

use std::io::Write;
use std::path::PathBuf;

use crate::cli::LogFormat;

pub struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
}

impl Logger {
    /// Creates the log file at once, as runc does: containerd's shim reads
    /// it after every call and expects it to exist.
    pub fn new(file: Option<PathBuf>, format: LogFormat) -> Self {
        if let Some(path) = &file {
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path);
        }
        Logger { file, format }
    }

    pub fn error(&self, msg: &str) {
        eprintln!("berth-runtime: {msg}");
        self.append("error", msg);
    }

    pub fn warn(&self, msg: &str) {
        eprintln!("berth-runtime: warning: {msg}");
        self.append("warning", msg);
    }

    fn append(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let time = berth_runtime::state::now_rfc3339();
        let line = match self.format {
            LogFormat::Json => {
                serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
            }
            LogFormat::Text => format!("time=\"{time}\" level={level} msg={msg:?}"),
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
