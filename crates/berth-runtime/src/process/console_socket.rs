//! The receiving end of `--console-socket`: a listening Unix socket to
//! which a container's init sends its pty master (SCM_RIGHTS). Used by
//! `berth-runtime run` without a console socket and by berth's shim.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::error::{Error, Result};

/// A listening console socket, removed on drop.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Binds a socket at `path` (replacing a stale one).
    pub fn bind(path: &Path) -> Result<ConsoleSocket> {
        let _ = std::fs::remove_file(path);
        let listener =
            UnixListener::bind(path).map_err(|e| Error::io("bind console socket", path, e))?;
        Ok(ConsoleSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Where it listens (what to pass as the console socket).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master the container's init sent. The runtime connects and
    /// sends during create, so after a create this does not block.
    pub fn receive_master(&self) -> Result<OwnedFd> {
        let (stream, _) = self
            .listener
            .accept()
            .map_err(|e| Error::io("accept on console socket", &self.path, e))?;
        let mut payload = [0u8; 256];
        let mut iov = [IoSliceMut::new(&mut payload)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|cause| Error::Sys {
            op: format!("receiving the pty master on {}", self.path.display()),
            cause,
        })?;
        let cmsgs = msg.cmsgs().map_err(|cause| Error::Sys {
            op: "reading control messages".into(),
            cause,
        })?;
        for cmsg in cmsgs {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(fd) = fds.first() {
                    // SAFETY: the descriptor was just received and has no other owner.
                    return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
                }
            }
        }
        Err(Error::InitFailed(format!(
            "no pty master received on {}",
            self.path.display()
        )))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
