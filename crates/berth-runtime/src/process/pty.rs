//! The container's terminal: a pty made inside the container (from its own
//! devpts), whose master is handed to whoever listens on `--console-socket`.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt, Winsize};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;

use crate::error::{Error, Result};

nix::ioctl_write_ptr_bad!(set_winsize, libc::TIOCSWINSZ, Winsize);

/// A pty whose master has been sent away; the slave stays with us.
pub struct Console {
    pub slave: OwnedFd,
    pub slave_path: PathBuf,
}

/// Opens a pty in the current mount namespace, sends its master over
/// `socket` (SCM_RIGHTS, with the slave's name as payload, as runc does) and
/// keeps the slave.
pub fn create_and_send(socket: BorrowedFd<'_>, size: Option<(u16, u16)>) -> Result<Console> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| Error::sys("open /dev/ptmx", e))?;
    grantpt(&master).map_err(|e| Error::sys("grantpt", e))?;
    unlockpt(&master).map_err(|e| Error::sys("unlockpt", e))?;
    let name = ptsname_r(&master).map_err(|e| Error::sys("ptsname", e))?;
    if let Some((height, width)) = size {
        resize(master.as_fd(), height, width)?;
    }
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys(format!("open {name}"), e))?;
    send_fd(socket, master.as_fd(), name.as_bytes())?;
    Ok(Console {
        slave,
        slave_path: PathBuf::from(name),
    })
}

/// Sets a terminal's window size (the kernel sends SIGWINCH to its
/// foreground process group).
pub fn resize(terminal: BorrowedFd<'_>, height: u16, width: u16) -> Result<()> {
    let ws = Winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid winsize that outlives the call, and the
    // descriptor is borrowed for the duration.
    unsafe { set_winsize(terminal.as_raw_fd(), &ws) }
        .map(|_| ())
        .map_err(|e| Error::sys("set terminal size", e))
}

/// Sends one descriptor with a payload over a Unix socket.
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>, payload: &[u8]) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(payload)];
    sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| Error::sys("send console master", e))?;
    Ok(())
}

/// Makes the slave our controlling terminal and our stdin, stdout, stderr.
/// The caller must already be a session leader (setsid).
pub fn become_controlling(console: &Console) -> Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument; the fd is an open tty.
    let ret = unsafe { libc::ioctl(console.slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
    nix::errno::Errno::result(ret).map_err(|e| Error::sys("set controlling terminal", e))?;
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors; it replaces whatever
        // they were, which is the intent, and closes nothing Rust owns.
        let ret = unsafe { libc::dup2(console.slave.as_raw_fd(), target) };
        nix::errno::Errno::result(ret).map_err(|e| Error::sys("dup2 console", e))?;
    }
    Ok(())
}
