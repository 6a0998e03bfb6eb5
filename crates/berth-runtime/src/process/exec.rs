//! The child side of `exec`: a process forked after joining a running
//! container's cgroup and namespaces, which then sets itself up like the
//! init did and execs the requested program.

use std::os::fd::OwnedFd;

use oci_spec::runtime::Process;

use super::init::{attach_console, console_size, prepare_exec, setgroups_allowed, Never};
use super::sync::{Message, SyncSocket};
use crate::error::{Error, Result};
use crate::namespaces::NamespacePlan;
use crate::security::ProcessSecurity;

/// What an exec'd process needs, prepared before fork.
pub struct ExecContext {
    pub process: Process,
    pub security: ProcessSecurity,
    pub plan: NamespacePlan,
    pub console_socket: Option<OwnedFd>,
    pub preserve_fds: u32,
}

/// Runs in the exec'd child; never returns.
pub fn run(ctx: ExecContext, sync: SyncSocket) -> ! {
    let result = setup_and_exec(&ctx, &sync);
    super::sync::report_failure_and_exit(&sync, result)
}

fn setup_and_exec(ctx: &ExecContext, sync: &SyncSocket) -> Result<Never> {
    match sync.expect("configuration")? {
        Message::Go { .. } => {}
        other => return Err(Error::InitFailed(format!("unexpected message {other:?}"))),
    }
    if ctx.process.terminal().unwrap_or(false) {
        nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
        attach_console(
            ctx.console_socket.as_ref(),
            console_size(&ctx.process),
            false,
        )?;
    }
    let exec = prepare_exec(&ctx.process)?;
    ctx.security
        .apply(&ctx.process, setgroups_allowed(&ctx.plan))?;
    // Success is silent: execve closes our end of the sync socket
    // (close-on-exec), and the runtime reads that as "started".
    exec.run(ctx.preserve_fds)
}
