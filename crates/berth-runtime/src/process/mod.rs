//! Processes: the single-threaded fork/clone sequence that starts a
//! container's init or an exec'd process, and what those children run.
//!
//! ```text
//! runtime (single-threaded)
//!   └─ fork ─ stage-1: joins the cgroup and any namespaces given by path
//!               └─ clone(CLONE_NEW*, CLONE_PARENT) ─ init / exec'd process
//! ```
//! stage-1 reports the child's pid and exits; CLONE_PARENT makes the child
//! ours, so `run` and `exec` can wait for it, and after we exit it is
//! reparented to our parent's subreaper (containerd's shim, berth's shim).

pub mod console_socket;
pub mod environment;
pub mod exe_guard;
pub mod exec;
pub mod init;
pub mod minimal_init;
pub mod pty;
pub mod spawn;
pub mod sync;

use crate::error::{Error, Result};

/// Refuses to fork from a multithreaded process: the child would inherit
/// locks held by threads that do not exist in it.
pub fn ensure_single_threaded() -> Result<()> {
    match crate::syscall::thread_count() {
        Some(1) => Ok(()),
        Some(n) => Err(Error::Unsupported(format!(
            "the runtime must fork from a single-threaded process, but this one has {n} threads"
        ))),
        None => Err(Error::Unsupported(
            "cannot read the thread count from /proc/self/status".into(),
        )),
    }
}
