//! `run` with process.terminal and no --console-socket: berth-runtime
//! itself receives the pty master and copies between it and its own
//! stdin/stdout (in raw mode when stdin is a terminal), as `runc run` does.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};
use berth_runtime::process::console_socket::ConsoleSocket;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

/// A console socket in the state root for `run`.
pub fn bind_console(state_root: &Path, id: &str) -> Result<ConsoleSocket> {
    let path = state_root.join(format!(".{id}.console.sock"));
    ConsoleSocket::bind(&path).with_context(|| format!("binding {}", path.display()))
}

/// Puts stdin in raw mode while alive, when it is a terminal.
struct RawMode(Option<Termios>);

impl RawMode {
    fn enter() -> Self {
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// Copies stdin → master and master → stdout until the container closes
/// its side of the pty.
pub fn copy_until_closed(master: OwnedFd) -> Result<()> {
    let _raw = RawMode::enter();
    let mut master = std::fs::File::from(master);
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => other.context("poll")?,
        };
        let master_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let stdin_ready = stdin_open
            && fds
                .get(1)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty());
        drop(fds);
        if master_ready {
            match master.read(&mut buf) {
                // EIO: every process holding the slave is gone.
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&buf[..n])
                        .and_then(|_| out.flush())
                        .context("writing stdout")?;
                }
            }
        }
        if stdin_ready {
            match stdin.lock().read(&mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => master
                    .write_all(&buf[..n])
                    .context("writing to the container's terminal")?,
            }
        }
    }
}
