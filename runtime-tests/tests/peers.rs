//! Real peers driving berth-runtime: a private containerd (through `ctr`
//! and the io.containerd.runc.v2 shim with `--runc-binary`) and a private
//! dockerd (with berth-runtime registered via `--add-runtime`).
//!
//! Each test starts its own daemon under a fresh temporary directory, with
//! unique namespace / cgroup names, so the tests can run in parallel with
//! each other and with the rest of the suite. A Drop guard tears everything
//! down even when the test fails: container processes, the daemon, its
//! shims, mounts under the temporary directory, and cgroup directories.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use runtime_tests::cleanup::{kill, kill_all, pids_with_cmdline, unmount_under};
use runtime_tests::{cgroup_layout, fixture, runtime_bin, unique_id};

/// Per-command time limit (seconds), enforced with coreutils `timeout`.
const CMD_TIMEOUT: &str = "120";
const CTR: &str = "/usr/bin/ctr";
/// Debian's 20.10 CLI: the v28 CLI in /usr/local/bin may refuse the 20.10 daemon.
const DOCKER: &str = "/usr/bin/docker";

fn have(bin: &str) -> bool {
    Path::new(bin).exists()
}

/// Runs `prog args...` under `timeout`, collecting its output.
fn run(prog: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["-k", "5", CMD_TIMEOUT, prog])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {prog}: {e}"))
}

fn show(what: &str, out: &Output) -> String {
    format!(
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Quotes one word for `sh -c` (used for `script -c`).
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Runs `prog args...` on a fresh pty (via `script`), so `-t` works.
///
/// `timeout --foreground` keeps `prog` in the pty's foreground process group:
/// plain `timeout` moves itself into a new group whenever the shell forks it
/// (dash does, bash execs it), and `prog` is then stopped by SIGTTOU as soon
/// as it puts the terminal in raw mode. SHELL is pinned because `script`
/// runs the line with `$SHELL -c`, so the outcome must not depend on the
/// caller's environment.
fn run_on_pty(prog: &str, args: &[&str]) -> Output {
    let mut line = format!(
        "exec timeout --foreground -k 5 {CMD_TIMEOUT} {}",
        sh_quote(prog)
    );
    for a in args {
        line.push(' ');
        line.push_str(&sh_quote(a));
    }
    Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::null())
        .output()
        .expect("running script")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Pids of processes that are in a cgroup whose path has a component `name`.
fn pids_in_cgroup_named(name: &str) -> Vec<i32> {
    runtime_tests::cleanup::pids_where(|proc_dir| {
        let Ok(text) = std::fs::read_to_string(proc_dir.join("cgroup")) else {
            return false;
        };
        text.lines().any(|l| {
            let path = l.splitn(3, ':').nth(2).unwrap_or("");
            path.split('/').any(|c| c == name)
        })
    })
}

/// Cgroup directories named `name` directly under the cgroup root or under
/// one hierarchy of it (v1: /sys/fs/cgroup/<controller>/<name>).
fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut found = Vec::new();
    let mut bases = vec![root.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(root) {
        bases.extend(
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir()),
        );
    }
    for b in bases {
        let d = b.join(name);
        if d.is_dir() {
            found.push(d);
        }
    }
    found
}

/// rmdir a cgroup tree bottom-up (cgroup dirs only allow rmdir).
fn rmdir_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.filter_map(|e| e.ok()) {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path());
            }
        }
    }
    for _ in 0..50 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded) until no cgroup directory `<name>/<leaf>` exists.
fn leaf_cgroup_gone(name: &str, leaf: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<PathBuf> = cgroup_dirs_named(name)
            .into_iter()
            .map(|d| d.join(leaf))
            .filter(|d| d.exists())
            .collect();
        if left.is_empty() {
            return true;
        }
        if Instant::now() > deadline {
            eprintln!("cgroup dirs left: {left:?}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sockets of the v2 shims of a daemon rooted in `dir`: each task's
/// bundle (`.../io.containerd.runtime.v2.task/<ns>/<id>/`) has an `address`
/// file naming it.
fn shim_sockets_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: u32, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if !is_dir {
                continue;
            }
            if e.file_name() == "io.containerd.runtime.v2.task" {
                let tasks = std::fs::read_dir(e.path())
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.ok());
                for ns in tasks {
                    let ids = std::fs::read_dir(ns.path())
                        .into_iter()
                        .flatten()
                        .filter_map(|i| i.ok());
                    for id in ids {
                        let text =
                            std::fs::read_to_string(id.path().join("address")).unwrap_or_default();
                        if let Some(p) = text.trim().strip_prefix("unix://") {
                            found.push(PathBuf::from(p));
                        }
                    }
                }
            } else if depth > 0 {
                walk(&e.path(), depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, 3, &mut found);
    found
}

fn tail(path: &Path, n: usize) -> String {
    let Ok(f) = std::fs::File::open(path) else {
        return String::new();
    };
    let lines: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A daemon (containerd or dockerd) running under its own temporary
/// directory. Dropping it tears down everything the test started.
struct Peer {
    name: &'static str,
    child: Option<Child>,
    /// Kept as a PathBuf and removed by hand: mounts must go first.
    tmp: PathBuf,
    log: PathBuf,
    /// Unique cgroup path component (containerd namespace / docker cgroup parent).
    cgroup_name: String,
}

impl Peer {
    fn new(name: &'static str, cgroup_name: String) -> Peer {
        let tmp = tempfile::Builder::new()
            .prefix("berth-peer-")
            .tempdir_in("/tmp")
            .expect("tempdir")
            .keep();
        let log = tmp.join(format!("{name}.log"));
        Peer {
            name,
            child: None,
            tmp,
            log,
            cgroup_name,
        }
    }

    fn spawn(&mut self, mut cmd: Command) {
        let log = std::fs::File::create(&self.log).expect("daemon log");
        let err = log.try_clone().expect("dup log");
        let child = cmd.stdin(Stdio::null()).stdout(log).stderr(err).spawn();
        self.child = Some(child.unwrap_or_else(|e| panic!("spawning {}: {e}", self.name)));
    }

    /// Polls `probe` (bounded) until it succeeds; fails early if the daemon died.
    fn wait_ready(&mut self, probe: impl Fn() -> Output) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = probe();
            if out.status.success() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "{} exited early ({status}):\n{}",
                    self.name,
                    tail(&self.log, 60)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{} never became ready: {}\nlog:\n{}",
                    self.name,
                    show("probe", &out),
                    tail(&self.log, 60)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.join(rel)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- last lines of {} ---\n{}",
                self.log.display(),
                tail(&self.log, 80)
            );
        }
        // 1. Container processes still alive (only on failure paths).
        kill_all(&pids_in_cgroup_named(&self.cgroup_name));
        // 2. The daemon: SIGTERM, then SIGKILL after a bounded wait.
        if let Some(mut child) = self.child.take() {
            kill(child.id() as i32, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(15);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // 3. Anything else started for this peer (shims, dockerd's containerd):
        //    their command lines name our private directory. A killed shim
        //    leaves its socket in /run/containerd/s: remove those too.
        let shim_sockets = shim_sockets_under(&self.tmp);
        kill_all(&pids_with_cmdline(path_str(&self.tmp)));
        for sock in shim_sockets {
            let _ = std::fs::remove_file(sock);
        }
        kill_all(&pids_in_cgroup_named(&self.cgroup_name));
        // 4. Mounts (overlay rootfs, shm, dockerd's own bind mounts), then files.
        unmount_under(&self.tmp);
        if let Err(e) = std::fs::remove_dir_all(&self.tmp) {
            eprintln!("removing {}: {e}", self.tmp.display());
        }
        // 5. Cgroup directories under our unique name.
        for d in cgroup_dirs_named(&self.cgroup_name) {
            rmdir_tree(&d);
        }
    }
}

// ---------------------------------------------------------------- containerd

struct Containerd {
    peer: Peer,
    sock: String,
    ns: String,
    runc_root: String,
    fifo_dir: String,
}

impl Containerd {
    fn start() -> Containerd {
        let ns = unique_id("berth-peer-ctrd");
        let mut peer = Peer::new("containerd", ns.clone());
        let t = path_str(&peer.tmp).to_string();
        let config = format!(
            r#"version = 2
root = "{t}/root"
state = "{t}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{t}/containerd.sock"

[ttrpc]
  address = "{t}/containerd.sock.ttrpc"

[debug]
  address = "{t}/debug.sock"
  level = "debug"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.monitor.v1.cgroups"]
    no_prometheus = true
"#
        );
        std::fs::write(peer.path("config.toml"), config).expect("write config.toml");
        for d in ["runc-root", "fifo"] {
            std::fs::create_dir_all(peer.path(d)).expect("mkdir");
        }
        let mut cmd = Command::new("containerd");
        cmd.arg("--config").arg(peer.path("config.toml"));
        peer.spawn(cmd);
        let sock = format!("{t}/containerd.sock");
        let probe_sock = sock.clone();
        peer.wait_ready(|| run(CTR, &["--address", &probe_sock, "version"]));
        Containerd {
            sock,
            ns,
            runc_root: format!("{t}/runc-root"),
            fifo_dir: format!("{t}/fifo"),
            peer,
        }
    }

    /// `ctr -a SOCK -n NS ARGS...`
    fn ctr_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "--address",
            self.sock.as_str(),
            "--namespace",
            self.ns.as_str(),
        ];
        v.extend_from_slice(args);
        v
    }

    fn ctr(&self, args: &[&str]) -> Output {
        run(CTR, &self.ctr_args(args))
    }

    fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(
            out.status.success(),
            "{}",
            show(&format!("ctr {args:?}"), &out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The flags every `ctr run` here uses to select berth-runtime and keep
    /// its state and FIFOs inside our private directory.
    fn run_flags(&self) -> Vec<&str> {
        vec![
            "--runc-binary",
            runtime_path(),
            "--runc-root",
            &self.runc_root,
            "--fifo-dir",
            &self.fifo_dir,
        ]
    }

    /// The shim's/berth-runtime's log for a task, for failure messages.
    fn bundle_log(&self, id: &str) -> String {
        let p = self.peer.path(&format!(
            "state/io.containerd.runtime.v2.task/{}/{id}/log.json",
            self.ns
        ));
        std::fs::read_to_string(p).unwrap_or_default()
    }
}

static RUNTIME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn runtime_path() -> &'static str {
    RUNTIME.get_or_init(|| {
        let p = std::fs::canonicalize(runtime_bin())
            .expect("berth-runtime binary (run `cargo build` first)");
        p.to_str().expect("utf-8 path").to_string()
    })
}

const CTR_IMAGE: &str = "docker.io/library/busybox:latest";

#[test]
fn containerd_runs_berth_runtime() {
    eprintln!("cgroup layout: {}", cgroup_layout());
    // A peer test never passes by skipping: .ci/run installs the peers.
    assert!(
        have(CTR) && have("/usr/bin/containerd"),
        "containerd is not installed (apt-get install containerd)"
    );
    let start = Instant::now();
    runtime_path();
    let tar = fixture().join("busybox.tar");
    let c = Containerd::start();
    eprintln!("containerd ready after {:?}", start.elapsed());

    let out = c.ctr_ok(&["images", "import", path_str(&tar)]);
    eprintln!("import: {}", out.trim());
    let images = c.ctr_ok(&["images", "ls", "-q"]);
    assert!(
        images.lines().any(|l| l.trim() == CTR_IMAGE),
        "image not imported as {CTR_IMAGE}: {images}"
    );

    // A foreground run: output and exit code come back through the shim.
    let id = unique_id("echo");
    let mut args = vec!["run", "--rm"];
    args.extend(c.run_flags());
    args.extend([CTR_IMAGE, id.as_str(), "echo", "hello-from-containerd"]);
    let out = c.ctr(&args);
    assert!(
        out.status.success(),
        "{}\nlog.json: {}",
        show("ctr run echo", &out),
        c.bundle_log(&id)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello-from-containerd"),
        "{}",
        show("ctr run", &out)
    );
    assert!(
        leaf_cgroup_gone(&c.ns, &id),
        "cgroup /{}/{id} left after ctr run --rm",
        c.ns
    );

    // The task's exit code is ctr's exit code.
    let id = unique_id("exit3");
    let mut args = vec!["run", "--rm"];
    args.extend(c.run_flags());
    args.extend([CTR_IMAGE, id.as_str(), "sh", "-c", "exit 3"]);
    let out = c.ctr(&args);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}\nlog.json: {}",
        show("ctr run exit 3", &out),
        c.bundle_log(&id)
    );

    // A terminal: `ctr run -t` on a pty.
    let id = unique_id("tty");
    let mut args = c.ctr_args(&["run", "--rm", "-t"]);
    args.extend(c.run_flags());
    args.extend([CTR_IMAGE, id.as_str(), "sh", "-c", "tty; echo tty-ok"]);
    let out = run_on_pty(CTR, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("/dev/pts/") && text.contains("tty-ok"),
        "{}\nlog.json: {}",
        show("ctr run -t", &out),
        c.bundle_log(&id)
    );

    // Detached task, exec into it, kill, remove.
    let id = unique_id("sleep");
    let mut args = vec!["run", "-d"];
    args.extend(c.run_flags());
    args.extend([CTR_IMAGE, id.as_str(), "sleep", "1000"]);
    let out = c.ctr(&args);
    assert!(
        out.status.success(),
        "{}\nlog.json: {}",
        show("ctr run -d", &out),
        c.bundle_log(&id)
    );

    // `ctr task exec` races its own output copy against the exit event
    // (it cancels its FIFO copy right after the exit): very rarely the
    // output is lost although the exec succeeded. Every exec must exit 0;
    // the output must come back on one of three tries (losses are logged).
    let mut got = false;
    for n in 1..=3 {
        let exec_id = format!("echo{n}");
        let out = c.ctr(&[
            "task",
            "exec",
            "--exec-id",
            &exec_id,
            "--fifo-dir",
            &c.fifo_dir,
            &id,
            "echo",
            "hi-exec",
        ]);
        assert!(
            out.status.success(),
            "{}\nlog.json: {}",
            show("ctr task exec", &out),
            c.bundle_log(&id)
        );
        if String::from_utf8_lossy(&out.stdout).contains("hi-exec") {
            got = true;
            break;
        }
        eprintln!(
            "WARNING: output of exec {exec_id} lost: {}",
            show("ctr task exec", &out)
        );
    }
    assert!(got, "ctr task exec never returned its output");

    let out = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e2",
        "--fifo-dir",
        &c.fifo_dir,
        &id,
        "sh",
        "-c",
        "exit 5",
    ]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        show("ctr task exec exit 5", &out)
    );

    c.ctr_ok(&["task", "kill", "-s", "SIGKILL", &id]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tasks = c.ctr_ok(&["task", "ls"]);
        let stopped = tasks
            .lines()
            .any(|l| l.starts_with(id.as_str()) && l.contains("STOPPED"));
        if stopped {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "task {id} never stopped: {tasks}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    c.ctr_ok(&["task", "rm", &id]);
    c.ctr_ok(&["containers", "rm", &id]);
    assert!(
        leaf_cgroup_gone(&c.ns, &id),
        "cgroup /{}/{id} left after task rm",
        c.ns
    );
    let left = c.ctr_ok(&["containers", "ls", "-q"]);
    assert!(left.trim().is_empty(), "containers left: {left}");

    eprintln!("containerd test took {:?}", start.elapsed());
}

// ------------------------------------------------------------------- dockerd

struct Dockerd {
    peer: Peer,
    host: String,
    client_config: String,
}

impl Dockerd {
    fn start() -> Dockerd {
        let cgroup_parent = unique_id("berth-peer-dockerd");
        let mut peer = Peer::new("dockerd", cgroup_parent.clone());
        let t = path_str(&peer.tmp).to_string();
        for d in ["data", "exec", "client"] {
            std::fs::create_dir_all(peer.path(d)).expect("mkdir");
        }
        // An empty daemon.json so the host's /etc/docker/daemon.json is not read.
        std::fs::write(peer.path("daemon.json"), "{}\n").expect("daemon.json");
        let host = format!("unix://{t}/docker.sock");
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(peer.path("daemon.json"))
            .args(["--data-root", &format!("{t}/data")])
            .args(["--exec-root", &format!("{t}/exec")])
            .args(["--pidfile", &format!("{t}/docker.pid")])
            .args(["-H", &host])
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ])
            .args(["--containerd-namespace", &format!("{cgroup_parent}-moby")])
            .args([
                "--containerd-plugins-namespace",
                &format!("{cgroup_parent}-plugins"),
            ])
            .args(["--cgroup-parent", &format!("/{cgroup_parent}")])
            .args(["--add-runtime", &format!("berth={}", runtime_path())])
            .env_remove("DOCKER_HOST");
        peer.spawn(cmd);
        let client_config = format!("{t}/client");
        let (probe_config, probe_host) = (client_config.clone(), host.clone());
        peer.wait_ready(|| docker_output(&probe_config, &probe_host, &["info"]));
        Dockerd {
            peer,
            host,
            client_config,
        }
    }

    fn docker_cmd(&self) -> Vec<&str> {
        vec![
            "--config",
            self.client_config.as_str(),
            "-H",
            self.host.as_str(),
        ]
    }

    fn docker(&self, args: &[&str]) -> Output {
        docker_output(&self.client_config, &self.host, args)
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "{}",
            show(&format!("docker {args:?}"), &out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// `docker --config CONFIG -H HOST ARGS...` under a time limit.
fn docker_output(config: &str, host: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .args([
            "-k",
            "5",
            CMD_TIMEOUT,
            DOCKER,
            "--config",
            config,
            "-H",
            host,
        ])
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .output()
        .expect("running docker")
}

const DOCKER_RUN: [&str; 6] = ["run", "--rm", "--runtime", "berth", "--network", "none"];

#[test]
fn dockerd_runs_berth_runtime() {
    eprintln!("cgroup layout: {}", cgroup_layout());
    assert!(
        have(DOCKER) && have("/usr/sbin/dockerd"),
        "dockerd is not installed (apt-get install docker.io)"
    );
    let start = Instant::now();
    runtime_path();
    let tar = fixture().join("busybox.tar");
    let d = Dockerd::start();
    eprintln!("dockerd ready after {:?}", start.elapsed());

    let info = d.docker_ok(&["info", "--format", "{{json .Runtimes}}"]);
    assert!(
        info.contains("berth"),
        "berth runtime not registered: {info}"
    );
    let out = d.docker_ok(&["load", "-i", path_str(&tar)]);
    assert!(out.contains("busybox:latest"), "docker load: {out}");

    // Foreground run.
    let mut args = DOCKER_RUN.to_vec();
    args.extend(["busybox", "echo", "hello-from-docker"]);
    let out = d.docker_ok(&args);
    assert!(out.contains("hello-from-docker"), "docker run: {out}");

    // Exit code.
    let mut args = DOCKER_RUN.to_vec();
    args.extend(["busybox", "sh", "-c", "exit 3"]);
    let out = d.docker(&args);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        show("docker run exit 3", &out)
    );

    // -it on a pty.
    let mut args = d.docker_cmd();
    args.extend([
        "run",
        "-it",
        "--rm",
        "--runtime",
        "berth",
        "--network",
        "none",
    ]);
    args.extend(["busybox", "sh", "-c", "tty; echo tty-ok"]);
    let out = run_on_pty(DOCKER, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("/dev/pts/") && text.contains("tty-ok"),
        "{}",
        show("docker run -it", &out)
    );

    // Detached container, exec (plain and -it), remove.
    let name = unique_id("berth-peer-x");
    let out = d.docker_ok(&[
        "run",
        "-d",
        "--runtime",
        "berth",
        "--network",
        "none",
        "--name",
        &name,
        "busybox",
        "sleep",
        "1000",
    ]);
    let cid = out.trim().to_string();
    assert!(!cid.is_empty(), "no container id from docker run -d");
    let out = d.docker_ok(&["exec", &name, "echo", "exec-ok"]);
    assert!(out.contains("exec-ok"), "docker exec: {out}");
    let out = d.docker(&["exec", &name, "sh", "-c", "exit 4"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        show("docker exec exit 4", &out)
    );
    let mut args = d.docker_cmd();
    args.extend([
        "exec",
        "-it",
        name.as_str(),
        "sh",
        "-c",
        "tty; echo exec-tty-ok",
    ]);
    let out = run_on_pty(DOCKER, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("/dev/pts/") && text.contains("exec-tty-ok"),
        "{}",
        show("docker exec -it", &out)
    );
    d.docker_ok(&["rm", "-f", &name]);
    assert!(
        leaf_cgroup_gone(&d.peer.cgroup_name, &cid),
        "cgroup of {cid} left after docker rm -f"
    );
    let left = d.docker_ok(&["ps", "-aq"]);
    assert!(left.trim().is_empty(), "containers left: {left}");

    eprintln!("dockerd test took {:?}", start.elapsed());
}
