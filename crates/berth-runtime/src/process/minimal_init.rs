//! The built-in minimal init (`docker run --init`): the container's PID 1
//! stays runtime code instead of exec'ing the user's program. It forks the
//! program as its only child, forwards every signal it gets to it, reaps
//! every zombie (orphans in the container are reparented to PID 1), and
//! exits with the program's status.
//!
//! Nothing is copied into the container: PID 1 is the process the runtime
//! cloned, so its image is the (read-only, CVE-2019-5736-protected)
//! runtime or shim binary, and it stays non-dumpable.
//!
//! Selected by the spec annotation [`ANNOTATION`] = `"true"`.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::init::{Never, PreparedExec};
use crate::error::{Error, Result};
use crate::syscall::{clone_process, exit_immediately, CloneResult};

/// The annotation that asks for the built-in init.
pub const ANNOTATION: &str = "io.berth.init";

/// Whether the spec asks for the built-in init.
pub fn wanted(spec: &oci_spec::runtime::Spec) -> bool {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// Every signal that can be caught (all but SIGKILL and SIGSTOP).
fn catchable() -> SigSet {
    let mut set = SigSet::all();
    set.remove(Signal::SIGKILL);
    set.remove(Signal::SIGSTOP);
    set
}

/// Forks the program and serves as its init; never returns on success.
pub(crate) fn run(exec: &PreparedExec, preserve_fds: u32) -> Result<Never> {
    let signals = catchable();
    signals
        .thread_block()
        .map_err(|e| Error::sys("block signals in the init", e))?;
    match clone_process(nix::sched::CloneFlags::empty())
        .map_err(|e| Error::sys("fork the init's child", e))?
    {
        CloneResult::Child => {
            // The program gets a clean signal mask.
            let _ = signals.thread_unblock();
            exec.run(preserve_fds)
        }
        CloneResult::Parent(child) => {
            // What `ps` in the container shows for PID 1: not the runtime's
            // (or shim's) command line, which names host paths.
            let _ = retitle(exec.display_args());
            let _ = nix::sys::prctl::set_name(c"init");
            // The runtime's descriptors (sync socket, state dir) are not
            // the init's business.
            let _ = crate::syscall::close_from(3);
            let code = supervise(child, &signals);
            exit_immediately(code)
        }
    }
}

/// Rewrites this process's argument area (what /proc/PID/cmdline shows)
/// to `init -- ARGS`, truncated to the space the original arguments had.
/// Writes through /proc/self/mem, which needs no privilege for oneself.
fn retitle(args: Vec<String>) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may contain spaces): arg_start
    // and arg_end are fields 48 and 49 of the whole line.
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split(' ').collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let (Some(start), Some(end)) = (field(48), field(49)) else {
        return Ok(());
    };
    let room = end.saturating_sub(start) as usize;
    let mut title: Vec<u8> = Vec::with_capacity(room);
    for word in ["init", "--"].iter().map(|s| s.to_string()).chain(args) {
        title.extend_from_slice(word.as_bytes());
        title.push(0);
    }
    title.resize(room, 0);
    if let Some(last) = title.last_mut() {
        *last = 0;
    }
    let mut mem = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")?;
    mem.seek(SeekFrom::Start(start))?;
    mem.write_all(&title)
}

/// Forwards signals and reaps until `child` exits; returns its status.
fn supervise(child: Pid, signals: &SigSet) -> i32 {
    let Ok(fd) = SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC) else {
        return wait_only(child);
    };
    loop {
        let Ok(Some(info)) = fd.read_signal() else {
            continue;
        };
        let signo = info.ssi_signo as i32;
        if signo == Signal::SIGCHLD as i32 {
            if let Some(code) = reap(child) {
                return code;
            }
        } else if let Ok(sig) = Signal::try_from(signo) {
            let _ = nix::sys::signal::kill(child, sig);
        }
    }
}

/// Reaps every exited child; the program's status once it is among them.
fn reap(child: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => result = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                result = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => {}
        }
    }
}

/// Without a signalfd: just wait for the program.
fn wait_only(child: Pid) -> i32 {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}
