//! A container's life: create, start, signal, pause, resume, exec, delete.
//! Each operation loads the persisted state, checks the status and acts;
//! nothing lives in memory between runtime invocations.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Process, Spec};

use crate::cgroups::{Cgroup, CgroupLayout, CgroupVersion};
use crate::error::{Error, Result};
use crate::hooks;
use crate::namespaces::NamespacePlan;
use crate::process::exec::ExecContext;
use crate::process::init::InitContext;
use crate::process::spawn::{spawn_exec, spawn_init, IdMaps};
use crate::rootfs::CgroupView;
use crate::security::seccomp::SeccompProgram;
use crate::security::ProcessSecurity;
use crate::spec::Bundle;
use crate::state::{now_rfc3339, process_start_time, ContainerState, StateRoot, Status, EXEC_FIFO};

/// Options for [`Container::create`].
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Where to send the pty master when `process.terminal` is set.
    pub console_socket: Option<PathBuf>,
    /// Write the init's pid here once created.
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Pass descriptors 3..3+N on to the container.
    pub preserve_fds: u32,
    /// A directory caching compiled seccomp profiles by content (berthd
    /// sends the same default profile for every container).
    pub seccomp_cache: Option<PathBuf>,
}

/// Options for [`Container::exec`].
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// See [`CreateOptions::seccomp_cache`].
    pub seccomp_cache: Option<PathBuf>,
}

/// A container known to a state root.
#[derive(Debug)]
pub struct Container {
    dir: PathBuf,
    pub state: ContainerState,
}

impl Container {
    /// Creates a container from a bundle: everything up to, not including,
    /// running the user's program. On failure nothing is left behind.
    pub fn create(
        root: &StateRoot,
        id: &str,
        bundle: impl AsRef<Path>,
        opts: &CreateOptions,
    ) -> Result<Container> {
        let bundle = Bundle::load(bundle.as_ref())?;
        let dir = root.claim(id)?;
        let mut cleanup = CreateCleanup {
            dir: dir.clone(),
            cgroup: None,
            pid: None,
        };
        let container = create_in(id, &dir, bundle, opts, &mut cleanup)?;
        cleanup.disarm();
        Ok(container)
    }

    /// Loads an existing container.
    pub fn load(root: &StateRoot, id: &str) -> Result<Container> {
        let dir = root.container_dir(id)?;
        if !dir.join("state.json").exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        let state = ContainerState::load(&dir)?;
        Ok(Container { dir, state })
    }

    pub fn id(&self) -> &str {
        &self.state.id
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.state.init_pid)
    }

    /// Whether the init process is still the one we started.
    pub fn init_alive(&self) -> bool {
        process_start_time(self.state.init_pid) == Some(self.state.init_start_time)
    }

    /// The current status, derived from the live system.
    pub fn status(&self) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.dir.join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if self.state.cgroup.is_frozen().unwrap_or(false) {
            return Status::Paused;
        }
        Status::Running
    }

    /// The runtime-spec state, as `state` prints it.
    pub fn oci_state(&self) -> serde_json::Value {
        let status = self.status();
        let pid = if status == Status::Stopped {
            0
        } else {
            self.state.init_pid
        };
        serde_json::json!({
            "ociVersion": self.state.config.version(),
            "id": self.state.id,
            "pid": pid,
            "status": status.to_string(),
            "bundle": self.state.bundle,
            "rootfs": self.state.rootfs,
            "created": self.state.created,
            "owner": "",
            "annotations": self.state.annotations,
        })
    }

    fn hook_state(&self, status: Status) -> String {
        let mut state = self.oci_state();
        state["status"] = serde_json::Value::from(status.to_string());
        state["pid"] = serde_json::Value::from(self.state.init_pid);
        state.to_string()
    }

    fn require(&self, action: &'static str, wanted: &'static str, ok: &[Status]) -> Result<Status> {
        let status = self.status();
        if ok.contains(&status) {
            Ok(status)
        } else {
            Err(Error::WrongState {
                id: self.state.id.clone(),
                status,
                action,
                wanted,
            })
        }
    }

    /// Lets a created container run its program.
    pub fn start(&self) -> Result<()> {
        self.require("start", "created", &[Status::Created])?;
        self.release_init()?;
        let _ = std::fs::remove_file(self.dir.join(EXEC_FIFO));
        let state = self.hook_state(Status::Running);
        hooks::run_all_warn(
            "poststart",
            hooks::of_kind(&self.state.config, |h| h.poststart()),
            &state,
        );
        Ok(())
    }

    /// Opens the exec FIFO for reading, which unblocks the init, and waits
    /// for its byte; gives up if the init dies first.
    fn release_init(&self) -> Result<()> {
        let path = self.dir.join(EXEC_FIFO);
        let fd = nix::fcntl::open(
            &path,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys(format!("open {}", path.display()), e))?;
        let file = std::fs::File::from(fd);
        let got_byte = || -> Result<bool> {
            let mut buf = [0u8; 1];
            match std::io::Read::read(&mut &file, &mut buf) {
                Ok(n) => Ok(n == 1),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
                Err(e) => Err(Error::io("read", &path, e)),
            }
        };
        loop {
            if got_byte()? {
                return Ok(());
            }
            if !self.init_alive() {
                // A quick program can take the go, run and exit between
                // the read above and this check: its byte, written before
                // its exec, is then waiting in the FIFO.
                if got_byte()? {
                    return Ok(());
                }
                return Err(Error::InitFailed(format!(
                    "container {} init exited before start",
                    self.id()
                )));
            }
            wait_readable(&file, 100);
        }
    }

    /// Sends `signal` to the init, or with `all` to every process in the
    /// container's cgroup.
    pub fn kill(&self, signal: Signal, all: bool) -> Result<()> {
        let status = self.status();
        if status == Status::Stopped && !all {
            return Err(Error::WrongState {
                id: self.id().into(),
                status,
                action: "kill",
                wanted: "running",
            });
        }
        if all {
            for pid in self.state.cgroup.pids()? {
                let _ = kill(Pid::from_raw(pid), signal);
            }
            return Ok(());
        }
        kill(self.pid(), signal)
            .map_err(|e| Error::sys(format!("kill {} with {signal}", self.id()), e))
    }

    pub fn pause(&self) -> Result<()> {
        self.require("pause", "running", &[Status::Running])?;
        Ok(self.state.cgroup.freeze()?)
    }

    pub fn resume(&self) -> Result<()> {
        self.require("resume", "paused", &[Status::Paused])?;
        Ok(self.state.cgroup.thaw()?)
    }

    /// Pids of every process in the container (host view).
    pub fn processes(&self) -> Result<Vec<i32>> {
        Ok(self.state.cgroup.pids()?)
    }

    /// Whether the kernel OOM-killed a process of this container.
    pub fn oom_killed(&self) -> bool {
        self.state.cgroup.oom_kill_count().unwrap_or(0) > 0
    }

    /// Deletes the container. A running one needs `force` (it is killed).
    pub fn delete(&self, force: bool) -> Result<()> {
        match self.status() {
            Status::Stopped | Status::Created => {}
            status if !force => {
                return Err(Error::WrongState {
                    id: self.id().into(),
                    status,
                    action: "delete",
                    wanted: "stopped",
                })
            }
            _ => {}
        }
        self.kill_everything()?;
        let state = self.hook_state(Status::Stopped);
        self.state.cgroup.destroy()?;
        hooks::run_all_warn(
            "poststop",
            hooks::of_kind(&self.state.config, |h| h.poststop()),
            &state,
        );
        std::fs::remove_dir_all(&self.dir).map_err(|e| Error::io("remove state", &self.dir, e))
    }

    /// SIGKILLs every process and waits (boundedly) until they are gone.
    fn kill_everything(&self) -> Result<()> {
        let cgroup = &self.state.cgroup;
        // Frozen processes cannot die: thaw first.
        if cgroup.is_frozen().unwrap_or(false) {
            cgroup.thaw()?;
        }
        if self.init_alive() {
            let _ = kill(self.pid(), Signal::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pids = cgroup.pids().unwrap_or_default();
            let init_gone = !self.init_alive();
            if pids.is_empty() && init_gone {
                return Ok(());
            }
            for pid in &pids {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
            // Reap the init if it is our child (run, library users).
            let _ = waitpid(self.pid(), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            if Instant::now() > deadline {
                return Err(Error::InitFailed(format!(
                    "container {}: processes {pids:?} did not die after SIGKILL",
                    self.id()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for the init to exit; only works for the process that created
    /// it (the init is its child). Returns a shell-style exit code.
    pub fn wait(&self) -> Result<i32> {
        loop {
            match waitpid(self.pid(), None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys(format!("wait for container {}", self.id()), e)),
            }
        }
    }

    /// Runs `process` inside the running container. Returns its pid once it
    /// has exec'd; it is the caller's child.
    pub fn exec(&self, process: Process, opts: &ExecOptions) -> Result<Pid> {
        self.require("exec", "running", &[Status::Running, Status::Created])?;
        let linux = self.state.config.linux().as_ref();
        let plan = NamespacePlan::from_spec(
            linux
                .and_then(|l| l.namespaces().as_deref())
                .unwrap_or_default(),
        )?;
        let seccomp = compile_seccomp(&self.state.config, opts.seccomp_cache.as_deref())?;
        let ctx = ExecContext {
            security: ProcessSecurity::prepare(&process, seccomp)?,
            process,
            plan,
            console_socket: connect_console(opts.console_socket.as_deref())?,
            preserve_fds: opts.preserve_fds,
        };
        let pid = spawn_exec(ctx, &self.state.cgroup, self.pid())?;
        if let Some(path) = &opts.pid_file {
            write_pid_file(path, pid)?;
        }
        Ok(pid)
    }
}

fn wait_readable(file: &std::fs::File, timeout_ms: u16) {
    use std::os::fd::AsFd;
    let mut fds = [nix::poll::PollFd::new(
        file.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(timeout_ms));
}

/// Undoes a half-made create unless disarmed.
struct CreateCleanup {
    dir: PathBuf,
    cgroup: Option<Cgroup>,
    pid: Option<Pid>,
}

impl CreateCleanup {
    fn disarm(&mut self) {
        self.dir = PathBuf::new();
        self.cgroup = None;
        self.pid = None;
    }
}

impl Drop for CreateCleanup {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cgroup) = &self.cgroup {
            let _ = cgroup.destroy();
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn create_in(
    id: &str,
    dir: &Path,
    bundle: Bundle,
    opts: &CreateOptions,
    cleanup: &mut CreateCleanup,
) -> Result<Container> {
    let spec = &bundle.spec;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::InvalidSpec("linux section is missing".into()))?;
    let plan = NamespacePlan::from_spec(linux.namespaces().as_deref().unwrap_or_default())?;
    let joins = plan
        .open_joins()?
        .into_iter()
        .zip(plan.join.iter())
        .map(|((kind, file), (_, path))| (kind, file, path.clone()))
        .collect();
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::InvalidSpec("process is missing".into()))?;
    let security = ProcessSecurity::prepare(
        process,
        compile_seccomp(spec, opts.seccomp_cache.as_deref())?,
    )?;
    let console_socket = connect_console(opts.console_socket.as_deref())?;
    if process.terminal().unwrap_or(false) && console_socket.is_none() {
        return Err(Error::InvalidSpec(
            "process.terminal is set: --console-socket is required".into(),
        ));
    }

    let cgroup = make_cgroup(id, linux)?;
    cleanup.cgroup = Some(cgroup.clone());
    make_exec_fifo(&dir.join(EXEC_FIFO))?;
    let state_dir = nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys(format!("open {}", dir.display()), e))?;

    let mut state = ContainerState {
        id: id.to_string(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        init_pid: 0,
        init_start_time: 0,
        created: now_rfc3339(),
        cgroup: cgroup.clone(),
        config: spec.clone(),
        annotations: spec.annotations().clone().unwrap_or_default(),
    };
    let maps = IdMaps {
        uid: linux.uid_mappings().clone().unwrap_or_default(),
        gid: linux.gid_mappings().clone().unwrap_or_default(),
    };
    let ctx = InitContext {
        spec: spec.clone(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        cgroups: cgroup_view(&cgroup),
        plan,
        security,
        console_socket,
        state_dir,
        no_pivot: opts.no_pivot,
        preserve_fds: opts.preserve_fds,
    };
    let oom_score_adj = process.oom_score_adj();
    let pid = spawn_init(ctx, &cgroup, joins, &maps, |pid| {
        cleanup.pid = Some(pid);
        if let Some(adj) = oom_score_adj {
            let path = PathBuf::from(format!("/proc/{pid}/oom_score_adj"));
            std::fs::write(&path, adj.to_string()).map_err(|e| Error::io("write", &path, e))?;
        }
        let hook_state = creating_state(&state, pid);
        let hooks = spec.hooks().as_ref();
        #[allow(deprecated)]
        let prestart = hooks
            .and_then(|h| h.prestart().as_deref())
            .unwrap_or_default();
        hooks::run_all("prestart", prestart, &hook_state)?;
        hooks::run_all(
            "createRuntime",
            hooks::of_kind(spec, |h| h.create_runtime()),
            &hook_state,
        )?;
        Ok(hook_state)
    })?;
    cleanup.pid = Some(pid);
    state.init_pid = pid.as_raw();
    state.init_start_time = process_start_time(pid.as_raw())
        .ok_or_else(|| Error::InitFailed(format!("container {id} init exited during create")))?;
    state.save(dir)?;
    if let Some(path) = &opts.pid_file {
        write_pid_file(path, pid)?;
    }
    Ok(Container {
        dir: dir.to_path_buf(),
        state,
    })
}

/// The FIFO must be writable by the container's user (the init opens it
/// after switching user), whatever our umask: set the mode explicitly.
fn make_exec_fifo(path: &Path) -> Result<()> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o622))
        .map_err(|e| Error::sys(format!("mkfifo {}", path.display()), e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o622))
        .map_err(|e| Error::io("chmod", path, e))
}

fn creating_state(state: &ContainerState, pid: Pid) -> String {
    serde_json::json!({
        "ociVersion": state.config.version(),
        "id": state.id,
        "pid": pid.as_raw(),
        "status": "creating",
        "bundle": state.bundle,
        "annotations": state.annotations,
    })
    .to_string()
}

fn make_cgroup(id: &str, linux: &oci_spec::runtime::Linux) -> Result<Cgroup> {
    let layout = CgroupLayout::detect()?;
    let path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("/berth/{id}"));
    let cgroup = Cgroup::new(&layout, &path)?;
    cgroup.create()?;
    if let Some(resources) = linux.resources() {
        let resources = with_default_device_rules(resources, linux);
        if let Err(e) = cgroup.apply(&resources) {
            let _ = cgroup.destroy();
            return Err(e.into());
        }
    }
    Ok(cgroup)
}

/// The spec's device rules, followed (as runc does) by allow rules for the
/// devices every container gets and for the spec's own devices: a spec that
/// denies everything still means "everything but the standard devices".
fn with_default_device_rules(
    resources: &LinuxResources,
    linux: &oci_spec::runtime::Linux,
) -> LinuxResources {
    let Some(rules) = resources.devices().as_ref().filter(|r| !r.is_empty()) else {
        return resources.clone();
    };
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    let mut all = rules.clone();
    // mknod of any node is harmless without read/write access to it.
    all.push(rule(LinuxDeviceType::C, None, None, "m"));
    all.push(rule(LinuxDeviceType::B, None, None, "m"));
    for node in crate::rootfs::devices::default_devices() {
        all.push(rule(
            LinuxDeviceType::C,
            Some(node.major as i64),
            Some(node.minor as i64),
            "rwm",
        ));
    }
    // /dev/console, /dev/pts/ptmx and the pty slaves.
    all.push(rule(LinuxDeviceType::C, Some(5), Some(1), "rwm"));
    all.push(rule(LinuxDeviceType::C, Some(5), Some(2), "rwm"));
    all.push(rule(LinuxDeviceType::C, Some(136), None, "rwm"));
    for dev in linux.devices().as_deref().unwrap_or_default() {
        all.push(LinuxDeviceCgroup::from(dev));
    }
    let mut out = resources.clone();
    out.set_devices(Some(all));
    out
}

/// How the container's `cgroup` mount shows its cgroups.
fn cgroup_view(cgroup: &Cgroup) -> CgroupView {
    let v1: Vec<(String, PathBuf)> = cgroup
        .dirs()
        .iter()
        .filter(|d| d.version == CgroupVersion::V1)
        .map(|d| {
            let name = d.controllers.join(",");
            let name = name.strip_prefix("name=").unwrap_or(&name).to_string();
            (name, d.path.clone())
        })
        .collect();
    if v1.is_empty() {
        CgroupView::Unified
    } else {
        CgroupView::PerHierarchy(v1)
    }
}

fn compile_seccomp(spec: &Spec, cache: Option<&Path>) -> Result<Option<SeccompProgram>> {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    let Some(dir) = cache else {
        return Ok(Some(SeccompProgram::compile(seccomp)?));
    };
    // Keyed by the profile's JSON and this library's version; a damaged
    // entry is ignored and replaced.
    let json = serde_json::to_vec(seccomp).unwrap_or_default();
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(&json);
    let key: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = dir.join(key);
    if let Ok(bytes) = std::fs::read(&path) {
        if let Ok(program) = SeccompProgram::from_bytes(&bytes) {
            return Ok(Some(program));
        }
    }
    let program = SeccompProgram::compile(seccomp)?;
    if std::fs::create_dir_all(dir).is_ok() {
        let _ = crate::state::write_atomically(&path, &program.to_bytes(), 0o600);
    }
    Ok(Some(program))
}

fn connect_console(path: Option<&Path>) -> Result<Option<OwnedFd>> {
    path.map(|p| {
        UnixStream::connect(p)
            .map(OwnedFd::from)
            .map_err(|e| Error::io("connect to console socket", p, e))
    })
    .transpose()
}

/// Writes a pid file atomically (containerd reads it as soon as it exists).
pub fn write_pid_file(path: &Path, pid: Pid) -> Result<()> {
    crate::state::write_atomically(path, pid.to_string().as_bytes(), 0o644)
}
