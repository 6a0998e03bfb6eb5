//! Progress streams shown as docker's `jsonmessage` does: on a terminal
//! one line per layer id, redrawn in place (cursor up, clear line, draw,
//! cursor down) with a bar; elsewhere plain lines, with the byte-count
//! updates left out.

use std::collections::HashMap;
use std::io::{self, Write};

use berth_api::types::{JsonMessage, ProgressDetail};

use super::units;

/// Draws a stream of progress messages.
pub struct ProgressPrinter<W: Write> {
    out: W,
    terminal: bool,
    width: usize,
    /// Line of each layer id, counted from the first progress line.
    ids: HashMap<String, usize>,
}

/// What a stream may end with: a message carrying an error.
#[derive(Debug)]
pub struct StreamError(pub String);

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StreamError {}

impl<W: Write> ProgressPrinter<W> {
    /// `width` is the terminal's width (the bar is drawn above 110
    /// columns, the time left above 50, as docker does).
    pub fn new(out: W, terminal: bool, width: usize) -> ProgressPrinter<W> {
        ProgressPrinter {
            out,
            terminal,
            width,
            ids: HashMap::new(),
        }
    }

    /// Shows one message; a message with an error is returned as one.
    pub fn show(&mut self, msg: &JsonMessage) -> anyhow::Result<()> {
        if let Some(e) = msg.error_message() {
            return Err(StreamError(e.to_string()).into());
        }
        let is_progress = !msg.id.is_empty() && msg.progress_detail.is_some();
        let mut diff = 0;
        if is_progress {
            let next = self.ids.len();
            let line = *self.ids.entry(msg.id.clone()).or_insert_with(|| {
                diff = usize::MAX; // marks a new line
                next
            });
            if diff == usize::MAX && self.terminal {
                writeln!(self.out)?;
            }
            diff = self.ids.len() - line;
            if self.terminal {
                write!(self.out, "\x1b[{diff}A")?;
            }
        } else {
            // Anything that is not a layer line ends the block being
            // redrawn (so a later pull starts fresh lines).
            self.ids.clear();
        }
        self.display(msg)?;
        if !msg.id.is_empty() && self.terminal && diff > 0 {
            write!(self.out, "\x1b[{diff}B")?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// docker's `JSONMessage.Display`.
    fn display(&mut self, msg: &JsonMessage) -> io::Result<()> {
        let bar = msg
            .progress_detail
            .as_ref()
            .map(|p| progress_string(p, self.width))
            .unwrap_or_default();
        let mut endl = "";
        if self.terminal && msg.stream.is_empty() && msg.progress_detail.is_some() {
            write!(self.out, "\x1b[2K\r")?;
            endl = "\r";
        } else if !bar.is_empty() {
            // Byte counts are noise in a log: docker leaves them out.
            return Ok(());
        }
        if !msg.id.is_empty() {
            write!(self.out, "{}: ", msg.id)?;
        }
        if msg.progress_detail.is_some() && self.terminal {
            let shown = if bar.is_empty() { &msg.progress } else { &bar };
            write!(self.out, "{} {}{endl}", msg.status, shown)
        } else if !msg.stream.is_empty() {
            write!(self.out, "{}{endl}", msg.stream)
        } else {
            writeln!(self.out, "{}{endl}", msg.status)
        }
    }

    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// docker's `JSONProgress.String()`: `[====>   ]  1.2MB/3.4MB 2s`.
pub fn progress_string(p: &ProgressDetail, width: usize) -> String {
    if p.current <= 0 && p.total <= 0 {
        return String::new();
    }
    if p.total <= 0 {
        let current = units::human_size(p.current as f64, 4);
        return format!("{current:>8}");
    }
    let percentage = ((p.current as f64 / p.total as f64 * 100.0) as i64 / 2).clamp(0, 50);
    let mut bar = String::new();
    if width > 110 {
        let arrow = "=".repeat(percentage as usize);
        let spaces = " ".repeat((50 - percentage) as usize);
        bar = format!("[{arrow}>{spaces}] ");
    }
    let current = units::human_size(p.current as f64, 4);
    let numbers = if p.current > p.total {
        format!("{current:>8}")
    } else {
        format!("{current:>8}/{}", units::human_size(p.total as f64, 4))
    };
    let mut left = String::new();
    if p.current > 0 && p.start > 0 && percentage < 50 && width > 50 {
        let elapsed = (units::now_unix() - p.start).max(0) as f64;
        let secs = elapsed / p.current as f64 * (p.total - p.current) as f64;
        left = format!(" {}", go_duration(secs as i64));
    }
    format!("{bar}{numbers}{left}")
}

/// Go's `time.Duration.String()` for whole seconds: `1h2m3s`, `45s`.
fn go_duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(json: &str) -> JsonMessage {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn plain_output_skips_byte_counts() {
        let mut p = ProgressPrinter::new(Vec::new(), false, 80);
        for m in [
            r#"{"status":"Pulling from library/busybox","id":"latest"}"#,
            r#"{"status":"Downloading","progressDetail":{"current":10,"total":100},"id":"abc"}"#,
            r#"{"status":"Pull complete","progressDetail":{},"id":"abc"}"#,
            r#"{"status":"Status: Downloaded newer image for busybox:latest"}"#,
        ] {
            p.show(&msg(m)).unwrap();
        }
        let out = String::from_utf8(p.into_inner()).unwrap();
        assert_eq!(
            out,
            "latest: Pulling from library/busybox\nabc: Pull complete\n\
             Status: Downloaded newer image for busybox:latest\n"
        );
    }

    #[test]
    fn terminal_output_redraws_layer_lines() {
        let mut p = ProgressPrinter::new(Vec::new(), true, 120);
        p.show(&msg(
            r#"{"status":"Downloading","progressDetail":{"current":50,"total":100},"id":"a"}"#,
        ))
        .unwrap();
        p.show(&msg(
            r#"{"status":"Pull complete","progressDetail":{},"id":"a"}"#,
        ))
        .unwrap();
        let out = String::from_utf8(p.into_inner()).unwrap();
        assert!(
            out.starts_with("\n\x1b[1A\x1b[2K\ra: Downloading [="),
            "{out:?}"
        );
        assert!(
            out.ends_with("\x1b[2K\ra: Pull complete \r\x1b[1B"),
            "{out:?}"
        );
    }

    #[test]
    fn errors_end_the_stream() {
        let mut p = ProgressPrinter::new(Vec::new(), false, 80);
        let e = p
            .show(&msg(r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#))
            .unwrap_err();
        assert_eq!(e.to_string(), "boom");
    }

    #[test]
    fn bar_text() {
        let p = ProgressDetail {
            current: 1_000_000,
            total: 2_000_000,
            ..Default::default()
        };
        assert_eq!(progress_string(&p, 80), "     1MB/2MB");
        assert!(progress_string(&p, 120).starts_with(&format!("[{}>", "=".repeat(25))));
    }
}
