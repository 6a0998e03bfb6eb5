//! The local terminal: raw mode while a container owns it, and its size.

use std::io::IsTerminal as _;
use std::os::fd::AsRawFd as _;

use nix::sys::termios::{self, SetArg, Termios};

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Raw mode on stdin, restored on drop: keystrokes (Ctrl+C included) go
/// to the container's terminal untouched, as with docker's `-it`.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// `None` when stdin is not a terminal.
    pub fn enable() -> Option<RawMode> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// Turns off echo on stdin while a password is typed.
pub struct NoEcho {
    saved: Termios,
}

impl NoEcho {
    pub fn enable() -> Option<NoEcho> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(termios::LocalFlags::ECHO);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
        Some(NoEcho { saved })
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// (rows, columns) of the terminal on stdout, else on stdin.
pub fn size() -> Option<(u16, u16)> {
    let fds = [
        std::io::stdout().as_raw_fd(),
        std::io::stdin().as_raw_fd(),
        std::io::stderr().as_raw_fd(),
    ];
    fds.into_iter().find_map(winsize)
}

fn winsize(fd: i32) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we own; a
    // non-terminal fd makes it fail with ENOTTY and nothing is written.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// The terminal's width for progress bars (docker assumes 200 when unknown).
pub fn width() -> usize {
    size().map(|(_, c)| usize::from(c)).unwrap_or(200)
}
