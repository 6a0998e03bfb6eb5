//! One function per subcommand: parse, call the library, print.

use std::path::Path;

use anyhow::{bail, Context, Result};
use berth_runtime::process::exe_guard;
use berth_runtime::{Container, CreateOptions, ExecOptions, StateRoot, Status};
use oci_spec::runtime::Process;

use crate::cli::{Cli, Command, CreateArgs, ExecArgs, ListFormat};
use crate::log::Logger;
use crate::signals;
use crate::templates;
use crate::tty_proxy;

/// Runs the command; returns the process exit code.
pub fn run(cli: &Cli, logger: &Logger) -> Result<i32> {
    if cli.systemd_cgroup && !Path::new("/run/systemd/system").exists() {
        logger.warn("--systemd-cgroup: systemd is not running; using cgroupfs directly");
    }
    if needs_protected_binary(&cli.command) {
        exe_guard::reexec_protected().context("protecting the runtime binary")?;
    }
    let root = || StateRoot::new(&cli.root).context("opening the state root");
    match &cli.command {
        Command::Create(args) => create(&root()?, args).map(|_| 0),
        Command::Start { id } => Container::load(&root()?, id)?
            .start()
            .map(|_| 0)
            .map_err(Into::into),
        Command::State { id } => {
            let c = Container::load(&root()?, id)?;
            println!("{}", serde_json::to_string_pretty(&c.oci_state())?);
            Ok(0)
        }
        Command::Kill { id, signal, all } => {
            let sig = signals::parse_signal(signal).map_err(anyhow::Error::msg)?;
            Container::load(&root()?, id)?.kill(sig, *all)?;
            Ok(0)
        }
        Command::Delete { id, force } => delete(&root()?, id, *force),
        Command::Run {
            create: args,
            detach,
            keep,
        } => run_container(&root()?, args, *detach, *keep),
        Command::Exec(args) => exec(&root()?, args),
        Command::List { format, quiet } => list(&root()?, *format, *quiet),
        Command::Ps {
            id,
            format,
            ps_args,
        } => ps(&root()?, id, *format, ps_args),
        Command::Pause { id } => Container::load(&root()?, id)?
            .pause()
            .map(|_| 0)
            .map_err(Into::into),
        Command::Resume { id } => Container::load(&root()?, id)?
            .resume()
            .map(|_| 0)
            .map_err(Into::into),
        Command::Features => {
            println!("{}", templates::features());
            Ok(0)
        }
        Command::Spec { bundle } => write_spec(bundle),
    }
}

/// Commands that fork processes which enter a container.
fn needs_protected_binary(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Create(_) | Command::Run { .. } | Command::Exec(_)
    )
}

fn create_options(args: &CreateArgs) -> CreateOptions {
    CreateOptions {
        console_socket: args.console_socket.clone(),
        pid_file: args.pid_file.clone(),
        no_pivot: args.no_pivot,
        preserve_fds: args.preserve_fds,
        seccomp_cache: None,
    }
}

fn create(root: &StateRoot, args: &CreateArgs) -> Result<Container> {
    Container::create(root, &args.id, &args.bundle, &create_options(args))
        .with_context(|| format!("creating container {}", args.id))
}

/// `delete` of a container that is already gone succeeds with --force, as
/// containerd expects.
fn delete(root: &StateRoot, id: &str, force: bool) -> Result<i32> {
    match Container::load(root, id) {
        Ok(c) => c.delete(force)?,
        Err(berth_runtime::Error::NotFound(_)) if force => {}
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}

fn run_container(root: &StateRoot, args: &CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    // A terminal with nobody to hand it to: we hold the pty ourselves.
    let console = if args.console_socket.is_none() && !detach && wants_terminal(&args.bundle) {
        Some(tty_proxy::bind_console(root.path(), &args.id)?)
    } else {
        None
    };
    let mut args = args.clone();
    if let Some(listener) = &console {
        args.console_socket = Some(listener.path().to_path_buf());
    }
    let container = create(root, &args)?;
    let master = console.as_ref().map(|l| l.receive_master()).transpose()?;
    if let Err(e) = container.start() {
        let _ = container.delete(true);
        return Err(e.into());
    }
    if detach {
        return Ok(0);
    }
    signals::forward_to(container.state.init_pid);
    if let Some(master) = master {
        tty_proxy::copy_until_closed(master)?;
    }
    let code = container.wait()?;
    if container.oom_killed() {
        eprintln!("berth-runtime: container {} was OOM-killed", container.id());
    }
    if !keep {
        container.delete(true)?;
    }
    Ok(code)
}

/// Whether the bundle's process asks for a terminal (a bad config is
/// reported by create itself).
fn wants_terminal(bundle: &Path) -> bool {
    berth_runtime::spec::parse_config(&bundle.join("config.json"))
        .ok()
        .and_then(|spec| spec.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false)
}

fn exec(root: &StateRoot, args: &ExecArgs) -> Result<i32> {
    let container = Container::load(root, &args.id)?;
    let process = exec_process(&container, args)?;
    let opts = ExecOptions {
        console_socket: args.console_socket.clone(),
        pid_file: args.pid_file.clone(),
        preserve_fds: args.preserve_fds,
        seccomp_cache: None,
    };
    let pid = container.exec(process, &opts)?;
    if args.detach {
        return Ok(0);
    }
    signals::forward_to(pid.as_raw());
    wait_child(pid)
}

fn wait_child(pid: nix::unistd::Pid) -> Result<i32> {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => bail!("waiting for process {pid}: {e}"),
        }
    }
}

/// The process to exec: from --process, or the container's own process
/// with the command line's changes.
fn exec_process(container: &Container, args: &ExecArgs) -> Result<Process> {
    if let Some(path) = &args.process {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()));
    }
    if args.command.is_empty() {
        bail!("exec needs a command or --process");
    }
    let base = container.state.config.process().clone().unwrap_or_default();
    let mut p = base;
    p.set_args(Some(args.command.clone()));
    p.set_terminal(Some(args.tty));
    if let Some(cwd) = &args.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(args.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(user) = &args.user {
        apply_user(&mut p, user, &args.additional_gids)?;
    }
    if args.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !args.cap.is_empty() {
        add_caps(&mut p, &args.cap)?;
    }
    Ok(p)
}

fn apply_user(p: &mut Process, user: &str, extra_gids: &[u32]) -> Result<()> {
    let (uid, gid) = match user.split_once(':') {
        Some((u, g)) => (u.parse::<u32>()?, g.parse::<u32>()?),
        None => (user.parse::<u32>().context("--user takes uid[:gid]")?, 0),
    };
    let u = p.user_mut();
    u.set_uid(uid);
    u.set_gid(gid);
    if !extra_gids.is_empty() {
        u.set_additional_gids(Some(extra_gids.to_vec()));
    }
    Ok(())
}

fn add_caps(p: &mut Process, caps: &[String]) -> Result<()> {
    let mut all = p.capabilities().clone().unwrap_or_default();
    let parsed: Vec<oci_spec::runtime::Capability> = caps
        .iter()
        .map(|c| {
            serde_json::from_value(serde_json::Value::from(c.as_str()))
                .with_context(|| format!("unknown capability {c}"))
        })
        .collect::<Result<_>>()?;
    for set in [0, 1, 2, 3] {
        let mut current = match set {
            0 => all.bounding().clone(),
            1 => all.effective().clone(),
            2 => all.permitted().clone(),
            _ => all.ambient().clone(),
        }
        .unwrap_or_default();
        current.extend(parsed.iter().cloned());
        match set {
            0 => all.set_bounding(Some(current)),
            1 => all.set_effective(Some(current)),
            2 => all.set_permitted(Some(current)),
            _ => all.set_ambient(Some(current)),
        };
    }
    p.set_capabilities(Some(all));
    Ok(())
}

fn list(root: &StateRoot, format: ListFormat, quiet: bool) -> Result<i32> {
    let containers: Vec<Container> = root
        .ids()?
        .iter()
        .filter_map(|id| Container::load(root, id).ok())
        .collect();
    if quiet {
        containers.iter().for_each(|c| println!("{}", c.id()));
        return Ok(0);
    }
    match format {
        ListFormat::Json => {
            let states: Vec<_> = containers.iter().map(|c| c.oci_state()).collect();
            println!("{}", serde_json::to_string(&states)?);
        }
        ListFormat::Table => {
            println!(
                "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for c in &containers {
                let status = c.status();
                let pid = if status == Status::Stopped {
                    0
                } else {
                    c.state.init_pid
                };
                println!(
                    "{:<20} {:<8} {:<10} {:<40} {:<32} root",
                    c.id(),
                    pid,
                    status,
                    c.state.bundle.display(),
                    c.state.created
                );
            }
        }
    }
    Ok(0)
}

fn ps(root: &StateRoot, id: &str, format: ListFormat, ps_args: &[String]) -> Result<i32> {
    let container = Container::load(root, id)?;
    let pids = container.processes()?;
    match format {
        ListFormat::Json => println!("{}", serde_json::to_string(&pids)?),
        ListFormat::Table => {
            let args = if ps_args.is_empty() {
                vec!["-ef".to_string()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("running ps")?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            println!("{header}");
            let pid_col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .unwrap_or(1);
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(pid_col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
        }
    }
    Ok(0)
}

fn write_spec(bundle: &Path) -> Result<i32> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("{} already exists", path.display());
    }
    std::fs::write(&path, templates::default_spec())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}
