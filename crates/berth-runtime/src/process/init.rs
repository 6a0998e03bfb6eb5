//! The container's init process: what runs in the child cloned into the
//! new namespaces, from the clone until execve of the user's program.
//!
//! It is a fork of a single-threaded runtime, so it may allocate and use
//! std freely. It never returns: it execs or exits.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::environment::{build_env, enter_cwd, find_executable, path_cstring, to_cstrings};
use super::pty;
use super::sync::{Message, SyncSocket};
use crate::error::{Error, Result};
use crate::hooks;
use crate::namespaces::NamespacePlan;
use crate::rootfs::{self, CgroupView, RootfsContext};
use crate::security::ProcessSecurity;
use crate::state::EXEC_FIFO;
use crate::syscall::{cloexec_from, set_dumpable};

/// Everything the init needs, prepared by the runtime before it forks.
pub struct InitContext {
    pub spec: Spec,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub plan: NamespacePlan,
    pub cgroups: CgroupView,
    pub security: ProcessSecurity,
    pub console_socket: Option<OwnedFd>,
    /// The container's state directory, where exec.fifo lives.
    pub state_dir: OwnedFd,
    pub no_pivot: bool,
    pub preserve_fds: u32,
}

/// Runs the init; reports a failure to the runtime and exits.
pub fn run(ctx: InitContext, sync: SyncSocket) -> ! {
    let result = setup_and_exec(&ctx, &sync);
    super::sync::report_failure_and_exit(&sync, result)
}

pub(crate) enum Never {}

fn setup_and_exec(ctx: &InitContext, sync: &SyncSocket) -> Result<Never> {
    // Container processes must not ptrace or open /proc/1/* of the runtime
    // while it is still running runtime code inside their namespaces.
    set_dumpable(false).map_err(|e| Error::sys("prctl PR_SET_DUMPABLE", e))?;
    let state = match sync.expect("configuration")? {
        Message::Go { state } => state,
        other => return Err(Error::InitFailed(format!("unexpected message {other:?}"))),
    };
    become_namespace_root(&ctx.plan)?;
    nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
    set_hostname(&ctx.spec)?;
    let root = rootfs::prepare(&RootfsContext {
        spec: &ctx.spec,
        bundle: &ctx.bundle,
        rootfs: &ctx.rootfs,
        in_user_namespace: ctx.plan.has(LinuxNamespaceType::User),
        cgroups: &ctx.cgroups,
    })?;
    hooks::run_all(
        "createContainer",
        hooks::of_kind(&ctx.spec, |h| h.create_container()),
        &state,
    )?;
    rootfs::finish(&ctx.spec, &root, ctx.no_pivot)?;
    drop(root);
    let process = ctx
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::InvalidSpec("process is missing".into()))?;
    if process.terminal().unwrap_or(false) {
        attach_console(ctx.console_socket.as_ref(), console_size(process), true)?;
    }
    let exec = prepare_exec(process)?;
    ctx.security.apply(process, setgroups_allowed(&ctx.plan))?;
    sync.send(&Message::Ready)?;
    wait_for_start(ctx.state_dir.as_fd())?;
    hooks::run_all(
        "startContainer",
        hooks::of_kind(&ctx.spec, |h| h.start_container()),
        &state,
    )?;
    if super::minimal_init::wanted(&ctx.spec) {
        return super::minimal_init::run(&exec, ctx.preserve_fds);
    }
    exec.run(ctx.preserve_fds)
}

/// In a new user namespace, become its root (the maps are written by now).
fn become_namespace_root(plan: &NamespacePlan) -> Result<()> {
    if !plan.creates(LinuxNamespaceType::User) {
        return Ok(());
    }
    let root_gid = nix::unistd::Gid::from_raw(0);
    let root_uid = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresgid(root_gid, root_gid, root_gid)
        .map_err(|e| Error::sys("setgid 0 in user namespace", e))?;
    nix::unistd::setresuid(root_uid, root_uid, root_uid)
        .map_err(|e| Error::sys("setuid 0 in user namespace", e))
}

fn set_hostname(spec: &Spec) -> Result<()> {
    if let Some(name) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(name).map_err(|e| Error::sys(format!("sethostname {name}"), e))?;
    }
    if let Some(name) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        let c = CString::new(name)
            .map_err(|_| Error::InvalidSpec("domainname has a NUL byte".into()))?;
        // SAFETY: `c` is NUL-terminated and we pass its exact length.
        let ret = unsafe { libc::setdomainname(c.as_ptr(), name.len()) };
        nix::errno::Errno::result(ret)
            .map_err(|e| Error::sys(format!("setdomainname {name}"), e))?;
    }
    Ok(())
}

/// Makes a pty in the container and sends its master away; the slave
/// becomes our terminal (and /dev/console for the init).
pub(crate) fn attach_console(
    socket: Option<&OwnedFd>,
    size: Option<(u16, u16)>,
    bind_console: bool,
) -> Result<()> {
    let socket = socket.ok_or_else(|| {
        Error::InvalidSpec("process.terminal is set but no console socket was given".into())
    })?;
    let console = pty::create_and_send(socket.as_fd(), size)?;
    if bind_console {
        rootfs::mount_console(&console.slave_path)?;
    }
    pty::become_controlling(&console)
}

/// The spec's console size as (rows, columns).
pub(crate) fn console_size(process: &oci_spec::runtime::Process) -> Option<(u16, u16)> {
    let size = process.console_size()?;
    Some((
        size.height().min(u16::MAX as u64) as u16,
        size.width().min(u16::MAX as u64) as u16,
    ))
}

pub(crate) fn setgroups_allowed(plan: &NamespacePlan) -> bool {
    !plan.has(LinuxNamespaceType::User)
        || std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "allow")
}

/// Blocks until `start` opens the exec FIFO, then tells it we got the go.
fn wait_for_start(state_dir: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    let fifo = loop {
        match nix::fcntl::openat(
            state_dir,
            EXEC_FIFO,
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(|e| Error::sys("open exec fifo", e))?,
        }
    };
    let mut file = File::from(fifo);
    std::io::Write::write_all(&mut file, b"0").map_err(|e| Error::io("write", EXEC_FIFO, e))
}

/// The user's program, resolved and converted before privileges drop.
pub(crate) struct PreparedExec {
    path: CString,
    args: Vec<CString>,
    env: Vec<CString>,
}

pub(crate) fn prepare_exec(process: &oci_spec::runtime::Process) -> Result<PreparedExec> {
    enter_cwd(process.cwd())?;
    let args = process.args().clone().unwrap_or_default();
    let env = build_env(
        process.env().as_deref().unwrap_or_default(),
        process.user().uid(),
    );
    let program = args
        .first()
        .ok_or_else(|| Error::InvalidSpec("process.args is empty".into()))?;
    let path = find_executable(program, &env)?;
    Ok(PreparedExec {
        path: path_cstring(&path)?,
        args: to_cstrings(&args, "argument")?,
        env: to_cstrings(&env, "environment entry")?,
    })
}

impl PreparedExec {
    /// The program's arguments as text (for display).
    pub(crate) fn display_args(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// Closes every runtime descriptor on exec, then execs.
    pub(crate) fn run(&self, preserve_fds: u32) -> Result<Never> {
        cloexec_from(3 + preserve_fds)
            .map_err(|e| Error::sys("mark descriptors close-on-exec", e))?;
        let err = match nix::unistd::execve(&self.path, &self.args, &self.env) {
            Err(e) => e,
            Ok(never) => match never {},
        };
        Err(Error::sys(
            format!(
                "exec {}",
                Path::new(self.path.to_str().unwrap_or("?")).display()
            ),
            err,
        ))
    }
}
