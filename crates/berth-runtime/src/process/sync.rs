//! The channel between the runtime and the processes it forks: a
//! SOCK_SEQPACKET socketpair carrying one JSON message per packet. Both ends
//! are close-on-exec, so a successful execve in the child closes its end,
//! which the parent sees as end-of-file.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Messages exchanged during create and exec.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Message {
    /// From the intermediate child: the pid (host view) of the process it cloned.
    Pid(i32),
    /// From the runtime: namespaces are configured; carries the state JSON
    /// hooks get on stdin.
    Go { state: String },
    /// From the init: set up, waiting for `start`.
    Ready,
    /// From any child: what failed.
    Failed(String),
}

/// One end of the channel.
pub struct SyncSocket {
    fd: OwnedFd,
}

/// A connected pair: (runtime end, child end).
pub fn pair() -> Result<(SyncSocket, SyncSocket)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("socketpair", e))?;
    Ok((SyncSocket { fd: a }, SyncSocket { fd: b }))
}

impl SyncSocket {
    pub fn send(&self, msg: &Message) -> Result<()> {
        let bytes = serde_json::to_vec(msg).map_err(|e| Error::InitFailed(e.to_string()))?;
        send(self.fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL)
            .map_err(|e| Error::sys("send on sync socket", e))?;
        Ok(())
    }

    /// The next message, or None when the other side closed (or exec'd).
    pub fn recv(&self) -> Result<Option<Message>> {
        let mut buf = vec![0u8; 256 * 1024];
        let n = loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.map_err(|e| Error::sys("receive on sync socket", e))?,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&buf[..n])
            .map(Some)
            .map_err(|e| Error::InitFailed(format!("bad sync message: {e}")))
    }

    /// Receives and insists on a message; a child that failed or vanished
    /// becomes an error.
    pub fn expect(&self, what: &str) -> Result<Message> {
        match self.recv()? {
            Some(Message::Failed(reason)) => Err(Error::InitFailed(reason)),
            Some(msg) => Ok(msg),
            None => Err(Error::InitFailed(format!("child exited before {what}"))),
        }
    }

    /// Takes over the same socket in a freshly forked child, where the
    /// parent's handle is a copy that will never be dropped.
    pub fn from_borrowed(other: &SyncSocket) -> SyncSocket {
        let fd = other
            .fd
            .try_clone()
            .unwrap_or_else(|_| crate::syscall::exit_immediately(1));
        SyncSocket { fd }
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Ends a forked child: a setup error is reported to the runtime (which
/// turns it into the error of create or exec) and the child exits 1. On
/// success the child has exec'd and never gets here.
pub fn report_failure_and_exit<T>(sync: &SyncSocket, result: Result<T>) -> ! {
    if let Err(e) = result {
        let _ = sync.send(&failed(&e));
    }
    crate::syscall::exit_immediately(1)
}

/// The message that reports a child's error. The receiving side wraps it
/// in `Error::InitFailed`, so an `InitFailed` goes as its bare reason (one
/// "container init failed: " in the end, not two).
pub fn failed(e: &Error) -> Message {
    match e {
        Error::InitFailed(reason) => Message::Failed(reason.clone()),
        other => Message::Failed(other.to_string()),
    }
}
