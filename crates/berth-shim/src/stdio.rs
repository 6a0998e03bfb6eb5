//! The process's stdio, as the shim holds it: the parent ends of three
//! pipes, or the master of a pty.
//!
//! The runtime gives the container whatever fds 0, 1 and 2 of the creating
//! process are (as runc does), so [`with_child_stdio`] puts the child ends
//! there for the duration of a create or exec, then points them back at
//! `/dev/null`. The shim is single-threaded, so nothing else sees its
//! stdio change meanwhile.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result};
use berth_runtime::process::console_socket::ConsoleSocket;
use nix::fcntl::OFlag;
use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout, pipe2};

/// The shim's side of the process's stdio.
pub enum ProcessIo {
    Pipes {
        /// Write end of the process's stdin (`None`: stdin is /dev/null,
        /// or was closed after the attach client's EOF).
        stdin: Option<File>,
        stdout: Option<File>,
        stderr: Option<File>,
    },
    Tty {
        master: Option<File>,
    },
}

/// The ends given to the process.
pub struct ChildStdio {
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

/// Pipes for a process without a terminal. Every end is CLOEXEC; dup2 onto
/// 0-2 clears that for the child's copies only.
pub fn pipes(keep_stdin: bool) -> Result<(ProcessIo, ChildStdio)> {
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).context("creating the stdout pipe")?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).context("creating the stderr pipe")?;
    let (stdin_child, stdin_parent) = if keep_stdin {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).context("creating the stdin pipe")?;
        (r, Some(File::from(w)))
    } else {
        (dev_null()?, None)
    };
    Ok((
        ProcessIo::Pipes {
            stdin: stdin_parent,
            stdout: Some(File::from(out_r)),
            stderr: Some(File::from(err_r)),
        },
        ChildStdio {
            stdin: stdin_child,
            stdout: out_w,
            stderr: err_w,
        },
    ))
}

/// Stdio for a process with a terminal: the runtime sets up the pty and
/// sends its master to `console`; 0-2 stay on /dev/null here.
pub fn null_stdio() -> Result<ChildStdio> {
    Ok(ChildStdio {
        stdin: dev_null()?,
        stdout: dev_null()?,
        stderr: dev_null()?,
    })
}

/// Binds the console socket in the shim's directory.
pub fn console_socket(dir: &Path) -> Result<ConsoleSocket> {
    ConsoleSocket::bind(&dir.join("console.sock")).context("binding the console socket")
}

fn dev_null() -> Result<OwnedFd> {
    let file = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("opening /dev/null")?;
    Ok(OwnedFd::from(file))
}

/// Runs `f` with fds 0-2 on the child's ends, then back on /dev/null.
pub fn with_child_stdio<T>(child: ChildStdio, f: impl FnOnce() -> T) -> Result<T> {
    set_stdio(&child.stdin, &child.stdout, &child.stderr)?;
    let out = f();
    // Our copies of the child ends go here; only the process keeps them.
    drop(child);
    let null = dev_null()?;
    set_stdio(&null, &null, &null)?;
    Ok(out)
}

fn set_stdio(stdin: &OwnedFd, stdout: &OwnedFd, stderr: &OwnedFd) -> Result<()> {
    // dup2 onto an fd that already is the source is a no-op, which is
    // fine: the source stays open for the duration.
    if stdin.as_raw_fd() != 0 {
        dup2_stdin(stdin.as_fd()).context("dup2 stdin")?;
    }
    if stdout.as_raw_fd() != 1 {
        dup2_stdout(stdout.as_fd()).context("dup2 stdout")?;
    }
    if stderr.as_raw_fd() != 2 {
        dup2_stderr(stderr.as_fd()).context("dup2 stderr")?;
    }
    Ok(())
}
