//! `berth-shim`: see the library documentation for what it does.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use berth_runtime::process::exe_guard;
use berth_runtime::{Container, CreateOptions, ExecOptions, StateRoot};
use berth_shim::args::{Cli, Common, ExecArgs, Mode, RunArgs};
use berth_shim::json_log::JsonLog;
use berth_shim::protocol::Ready;
use berth_shim::serve::{block_sigchld, Process, Shim};
use berth_shim::stdio::{self, ProcessIo};
use clap::Parser;
use nix::unistd::{dup2_stderr, setsid, ForkResult};

fn main() -> ExitCode {
    // berthd runs us from a descriptor (/proc/self/fd/N), which the kernel
    // takes as our name: `ps` would show "11". Named as the program is.
    let _ = nix::sys::prctl::set_name(c"berth-shim");
    let cli = Cli::parse();
    // Before anything can enter a container: /proc/self/exe must not be
    // writable (CVE-2019-5736). Re-executes with the same arguments.
    if let Err(e) = exe_guard::reexec_protected() {
        eprintln!("berth-shim: protecting the shim binary: {e}");
        return ExitCode::FAILURE;
    }
    if cli.mode.common().await_go && !go_given() {
        // berthd gave up on this start (its pipe closed): nothing to do.
        return ExitCode::SUCCESS;
    }
    let ready = match detach() {
        Ok(Some(ready)) => ready,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-shim: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match serve(cli.mode, ready) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-shim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Waits for berthd's go line on stdin; false at EOF (or a read error).
fn go_given() -> bool {
    let mut line = String::new();
    matches!(std::io::stdin().read_line(&mut line), Ok(n) if n > 0 && line.ends_with('\n'))
}

/// Forks: the parent returns `None` (and exits at once, so berthd reaps
/// it); the child, in a new session, keeps a copy of the stdout berthd
/// reads and returns it.
fn detach() -> Result<Option<File>> {
    // A close-on-exec copy (F_DUPFD_CLOEXEC).
    let ready = File::from(
        std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context("dup stdout")?,
    );
    // SAFETY: the shim is single-threaded here (nothing has spawned a
    // thread), so the child may run arbitrary code after fork.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        ForkResult::Parent { .. } => Ok(None),
        ForkResult::Child => {
            setsid().context("setsid")?;
            // Orphans of the container's processes come to us, not to
            // the host's init.
            nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
            Ok(Some(ready))
        }
    }
}

fn serve(mode: Mode, mut ready: File) -> Result<()> {
    let common = mode.common().clone();
    fs::create_dir_all(&common.dir)
        .with_context(|| format!("creating {}", common.dir.display()))?;
    redirect_stderr(&common)?;
    block_sigchld()?;
    let outcome = match mode {
        Mode::Run(args) => prepare_run(&args),
        Mode::Exec(args) => prepare_exec(&args),
    };
    let (process, io, log) = match outcome {
        Ok(parts) => parts,
        Err(e) => {
            report(&mut ready, None, Some(format!("{e:#}")));
            return Err(e);
        }
    };
    let listener = match bind(&common) {
        Ok(l) => l,
        Err(e) => {
            report(&mut ready, None, Some(format!("{e:#}")));
            let mut process = process;
            process.cleanup();
            return Err(e);
        }
    };
    report(&mut ready, process.pid(), None);
    drop(ready);
    let shim = Shim::new(
        process,
        io,
        common.tty,
        listener,
        log,
        common.dir.join("exit.json"),
    )?;
    shim.run()?;
    let _ = fs::remove_file(&common.socket);
    Ok(())
}

/// Our stderr goes to `shim.log` in the shim's directory (berthd's pipe
/// is gone once we detach).
fn redirect_stderr(common: &Common) -> Result<()> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(common.dir.join("shim.log"))
        .context("opening shim.log")?;
    dup2_stderr(log.as_fd()).context("dup2 shim.log")?;
    let null = File::options().read(true).write(true).open("/dev/null")?;
    nix::unistd::dup2_stdin(null.as_fd()).context("dup2 stdin")?;
    nix::unistd::dup2_stdout(null.as_fd()).context("dup2 stdout")?;
    Ok(())
}

fn bind(common: &Common) -> Result<UnixListener> {
    let _ = fs::remove_file(&common.socket);
    UnixListener::bind(&common.socket)
        .with_context(|| format!("binding {}", common.socket.display()))
}

/// Tells berthd we are ready (or why not), on the line it reads.
fn report(ready: &mut File, pid: Option<i32>, error: Option<String>) {
    let line = Ready {
        shim_pid: std::process::id() as i32,
        pid,
        error,
    };
    if let Ok(mut bytes) = serde_json::to_vec(&line) {
        bytes.push(b'\n');
        let _ = ready.write_all(&bytes);
    }
}

type Prepared = (Box<dyn Process>, Option<ProcessIo>, Option<JsonLog>);

/// Creates the container (its process waits for `start`).
fn prepare_run(args: &RunArgs) -> Result<Prepared> {
    let common = &args.common;
    let root = StateRoot::new(&common.runtime_root)
        .with_context(|| format!("opening runtime root {}", common.runtime_root.display()))?;
    let log = match &args.log {
        Some(path) => Some(
            JsonLog::open(path, args.log_max_size, args.log_max_file)
                .with_context(|| format!("opening log {}", path.display()))?,
        ),
        None => None,
    };
    let mut opts = CreateOptions {
        seccomp_cache: common.seccomp_cache.clone(),
        ..CreateOptions::default()
    };
    let (container, io) = if common.tty {
        let console = stdio::console_socket(&common.dir)?;
        opts.console_socket = Some(console.path().to_path_buf());
        let child = stdio::null_stdio()?;
        let container = stdio::with_child_stdio(child, || {
            Container::create(&root, &common.id, &args.bundle, &opts)
        })??;
        let master = console.receive_master()?;
        (
            container,
            ProcessIo::Tty {
                master: Some(File::from(master)),
            },
        )
    } else {
        let (io, child) = stdio::pipes(common.stdin)?;
        let container = stdio::with_child_stdio(child, || {
            Container::create(&root, &common.id, &args.bundle, &opts)
        })??;
        (container, io)
    };
    let pid = container.pid().as_raw();
    let process = ContainerProcess {
        pid,
        // Optional: without it the exit is only reported later.
        mount_ns: File::open(format!("/proc/{pid}/ns/mnt")).ok(),
        container,
    };
    Ok((Box::new(process), Some(io), log))
}

/// Loads the running container the process will join; it starts on
/// `start`.
fn prepare_exec(args: &ExecArgs) -> Result<Prepared> {
    let common = &args.common;
    let root = StateRoot::new(&common.runtime_root)
        .with_context(|| format!("opening runtime root {}", common.runtime_root.display()))?;
    let container = Container::load(&root, &common.id)?;
    let bytes =
        fs::read(&args.process).with_context(|| format!("reading {}", args.process.display()))?;
    let spec: oci_spec::runtime::Process = serde_json::from_slice(&bytes)
        .with_context(|| format!("parsing {}", args.process.display()))?;
    let process = ExecProcess {
        container,
        spec: Some(spec),
        common: common.clone(),
        pid: None,
    };
    Ok((Box::new(process), None, None))
}

/// A container's init: created before the shim serves, started on
/// request, deleted from the runtime once it exited.
struct ContainerProcess {
    container: Container,
    pid: i32,
    /// The container's mount namespace, held until the cleanup. When the
    /// init exits, the kernel tears down the namespaces it was the last
    /// user of before it tells us (SIGCHLD), and unmounting the
    /// container's filesystems waits for an RCU grace period (up to a
    /// couple of milliseconds on a VM). Held here, that teardown happens
    /// when we close it, after the exit was reported.
    mount_ns: Option<File>,
}

impl Process for ContainerProcess {
    fn start(&mut self) -> Result<(i32, Option<ProcessIo>)> {
        self.container.start()?;
        Ok((self.pid, None))
    }

    fn pid(&self) -> Option<i32> {
        Some(self.pid)
    }

    fn oom_killed(&self) -> bool {
        self.container.oom_killed()
    }

    fn cleanup(&mut self) {
        drop(self.mount_ns.take());
        if let Err(e) = self.container.delete(true) {
            eprintln!(
                "berth-shim: deleting container {}: {e}",
                self.container.id()
            );
        }
    }
}

/// An extra process in a running container, started on request.
struct ExecProcess {
    container: Container,
    spec: Option<oci_spec::runtime::Process>,
    common: Common,
    pid: Option<i32>,
}

impl Process for ExecProcess {
    fn start(&mut self) -> Result<(i32, Option<ProcessIo>)> {
        let Some(spec) = self.spec.take() else {
            bail!("exec already started");
        };
        let mut opts = ExecOptions {
            seccomp_cache: self.common.seccomp_cache.clone(),
            ..ExecOptions::default()
        };
        let (pid, io) = if self.common.tty {
            let console = stdio::console_socket(&self.common.dir)?;
            opts.console_socket = Some(console.path().to_path_buf());
            let child = stdio::null_stdio()?;
            let pid = stdio::with_child_stdio(child, || self.container.exec(spec, &opts))??;
            let master: OwnedFd = console.receive_master()?;
            (
                pid,
                ProcessIo::Tty {
                    master: Some(File::from(master)),
                },
            )
        } else {
            let (io, child) = stdio::pipes(self.common.stdin)?;
            let pid = stdio::with_child_stdio(child, || self.container.exec(spec, &opts))??;
            (pid, io)
        };
        self.pid = Some(pid.as_raw());
        Ok((pid.as_raw(), Some(io)))
    }

    fn pid(&self) -> Option<i32> {
        self.pid
    }

    fn oom_killed(&self) -> bool {
        false
    }

    fn cleanup(&mut self) {}
}
