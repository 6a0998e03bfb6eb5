//! The runtime's side of starting a process in a container: fork stage-1,
//! let it join what it must and clone the real child, then configure that
//! child from outside (id maps, hooks) and wait until it is ready.

use std::fs::File;
use std::path::PathBuf;

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};

use super::exec::{self, ExecContext};
use super::init::{self, InitContext};
use super::sync::{self, Message, SyncSocket};
use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::namespaces::{self, JOIN_ORDER};
use crate::syscall::{
    clone_into_cgroup, clone_process, exit_immediately, set_dumpable, CloneResult,
};

/// A namespace to join: its kind, the opened file, and its path (for errors).
pub type Join = (LinuxNamespaceType, File, PathBuf);

/// User namespace id maps, written by the runtime for a new user namespace.
#[derive(Debug, Clone, Default)]
pub struct IdMaps {
    pub uid: Vec<LinuxIdMapping>,
    pub gid: Vec<LinuxIdMapping>,
}

/// Starts a container's init. `configure` runs once the init exists and
/// its namespaces are made (write oom_score_adj, run createRuntime hooks)
/// and returns the state JSON the init hands to its own hooks.
pub fn spawn_init(
    ctx: InitContext,
    cgroup: &Cgroup,
    joins: Vec<Join>,
    maps: &IdMaps,
    configure: impl FnOnce(Pid) -> Result<String>,
) -> Result<Pid> {
    super::ensure_single_threaded()?;
    if ctx.plan.create_time {
        return Err(Error::Unsupported(
            "time namespaces are not supported yet".into(),
        ));
    }
    let (runtime_end, child_end) = sync::pair()?;
    let flags = ctx.plan.create | CloneFlags::CLONE_PARENT;
    let creates_userns = ctx.plan.creates(LinuxNamespaceType::User);
    let stage1 = fork_stage1(&child_end, cgroup, joins, flags, move |sock| {
        init::run(ctx, sock)
    })?;
    drop(child_end);
    let pid = receive_pid(&runtime_end, stage1)?;
    let configured = (|| {
        if creates_userns {
            write_id_maps(pid, maps)?;
        }
        let state = configure(pid)?;
        runtime_end.send(&Message::Go { state })?;
        match runtime_end.expect("it was ready")? {
            Message::Ready => Ok(()),
            other => Err(Error::InitFailed(format!("unexpected message {other:?}"))),
        }
    })();
    if let Err(e) = configured {
        reap_failed(pid);
        return Err(e);
    }
    Ok(pid)
}

/// Starts a process inside the running container whose init is `init_pid`.
/// Returns once the process has exec'd (or failed to).
pub fn spawn_exec(ctx: ExecContext, cgroup: &Cgroup, init_pid: Pid) -> Result<Pid> {
    super::ensure_single_threaded()?;
    let joins = container_namespaces(init_pid, &ctx)?;
    let (runtime_end, child_end) = sync::pair()?;
    let stage1 = fork_stage1(
        &child_end,
        cgroup,
        joins,
        CloneFlags::CLONE_PARENT,
        move |sock| exec::run(ctx, sock),
    )?;
    drop(child_end);
    let pid = receive_pid(&runtime_end, stage1)?;
    runtime_end.send(&Message::Go {
        state: String::new(),
    })?;
    match runtime_end.recv() {
        // The child's end closed on a successful execve.
        Ok(None) => Ok(pid),
        Ok(Some(Message::Failed(reason))) => {
            reap_failed(pid);
            Err(Error::InitFailed(reason))
        }
        Ok(Some(other)) => {
            reap_failed(pid);
            Err(Error::InitFailed(format!("unexpected message {other:?}")))
        }
        Err(e) => {
            reap_failed(pid);
            Err(e)
        }
    }
}

/// Forks stage-1, which joins the cgroup and namespaces, clones the real
/// child with `flags` (running `child`), reports its pid and exits.
fn fork_stage1(
    sock: &SyncSocket,
    cgroup: &Cgroup,
    joins: Vec<Join>,
    flags: CloneFlags,
    child: impl FnOnce(SyncSocket),
) -> Result<Pid> {
    let v2_dir = open_v2_dir(cgroup)?;
    let (forked, born_in_v2) = spawn_stage1(v2_dir.as_ref())?;
    match forked {
        CloneResult::Parent(pid) => Ok(pid),
        CloneResult::Child => {
            let result = stage1(cgroup, &joins, flags, born_in_v2);
            match result {
                Ok(CloneResult::Child) => {
                    let own = SyncSocket::from_borrowed(sock);
                    child(own);
                    // `child` execs or exits; this is never reached.
                    exit_immediately(1)
                }
                Ok(CloneResult::Parent(pid)) => {
                    let code = i32::from(sock.send(&Message::Pid(pid.as_raw())).is_err());
                    exit_immediately(code)
                }
                Err(e) => {
                    let _ = sock.send(&super::sync::failed(&e));
                    exit_immediately(1)
                }
            }
        }
    }
}

/// Forks stage-1 straight into the container's cgroup2 directory when
/// there is one (clone3 CLONE_INTO_CGROUP: born there, no migration, so no
/// wait on the kernel's cgroup locks). Done from the runtime, which is
/// still in the host's namespaces, where that directory is visible.
/// Returns the fork's result and whether the child was born in the v2 cgroup.
fn spawn_stage1(v2_dir: Option<&OwnedFd>) -> Result<(CloneResult, bool)> {
    if let Some(dir) = v2_dir {
        match clone_into_cgroup(CloneFlags::empty(), dir.as_fd()) {
            // Kernels before 5.7 lack clone3's cgroup field: stage-1
            // migrates itself instead (see `stage1`).
            Err(Errno::ENOSYS | Errno::E2BIG | Errno::EINVAL) => {}
            other => {
                return other
                    .map(|r| (r, true))
                    .map_err(|e| Error::sys("clone3 into the container cgroup", e))
            }
        }
    }
    let forked = clone_process(CloneFlags::empty()).map_err(|e| Error::sys("fork", e))?;
    Ok((forked, false))
}

/// Joins the cgroup and the namespaces to join, then clones the child.
///
/// Joining before the clone puts the child in the container's cgroups from
/// its first instruction, and roots a new cgroup namespace at them. v1
/// hierarchies are joined through `tasks` (moving just this thread, which
/// for a single-threaded process is all of it, is cheap: the kernel skips
/// its global threadgroup lock and the RCU grace period it waits for).
fn stage1(
    cgroup: &Cgroup,
    joins: &[Join],
    flags: CloneFlags,
    born_in_v2: bool,
) -> Result<CloneResult> {
    set_dumpable(false).map_err(|e| Error::sys("prctl PR_SET_DUMPABLE", e))?;
    cgroup.join_self_v1()?;
    if !born_in_v2 {
        cgroup.join_self_v2()?;
    }
    for (kind, file, path) in joins {
        namespaces::join(*kind, file, path)?;
    }
    clone_process(flags).map_err(|e| Error::sys(format!("clone with {flags:?}"), e))
}

fn open_v2_dir(cgroup: &Cgroup) -> Result<Option<OwnedFd>> {
    cgroup
        .v2_path()
        .map(|dir| {
            nix::fcntl::open(
                dir,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::sys(format!("open {}", dir.display()), e))
        })
        .transpose()
}

fn receive_pid(sock: &SyncSocket, stage1: Pid) -> Result<Pid> {
    let msg = sock.expect("reporting the child's pid");
    let _ = waitpid(stage1, None);
    match msg? {
        Message::Pid(pid) => Ok(Pid::from_raw(pid)),
        other => Err(Error::InitFailed(format!("unexpected message {other:?}"))),
    }
}

/// Kills and reaps a child that failed during setup (it is ours through
/// CLONE_PARENT).
fn reap_failed(pid: Pid) {
    let _ = kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
}

fn write_id_maps(pid: Pid, maps: &IdMaps) -> Result<()> {
    write_map(pid, "uid_map", &maps.uid)?;
    write_map(pid, "gid_map", &maps.gid)
}

fn write_map(pid: Pid, file: &str, map: &[LinuxIdMapping]) -> Result<()> {
    let text: String = map
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))
}

/// The running container's namespaces to join, in join order, skipping
/// those we already share (setns into our own user namespace fails).
fn container_namespaces(init_pid: Pid, ctx: &ExecContext) -> Result<Vec<Join>> {
    let mut joins = Vec::new();
    for kind in JOIN_ORDER {
        if !ctx.plan.has(kind) {
            continue;
        }
        let name = namespaces::proc_name(kind);
        let path = PathBuf::from(format!("/proc/{init_pid}/ns/{name}"));
        if same_file(&path, &PathBuf::from(format!("/proc/self/ns/{name}"))) {
            continue;
        }
        let file = File::open(&path).map_err(|e| Error::io("open namespace", &path, e))?;
        joins.push((kind, file, path));
    }
    Ok(joins)
}

fn same_file(a: &PathBuf, b: &PathBuf) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
