//! A private `berthd` for end-to-end tests, and clients that drive it
//! through the `berth` CLI or the stock `docker` CLI.
//!
//! [`Berthd::start`] makes a short dir under /tmp (Unix socket paths are
//! limited to 108 bytes) holding the data root, the exec root, the socket,
//! the daemon's log and a private `DOCKER_CONFIG`, starts berthd, waits
//! until `/_ping` answers and loads the busybox fixture (through the API
//! with curl, so neither CLI under test is needed for the setup).
//!
//! Dropping a [`Berthd`] (also while a test unwinds from a panic) removes
//! every container through the API, kills berthd, kills leftover shims and
//! container processes, removes the containers' cgroups, lazily unmounts
//! whatever is still mounted under the dir and removes it.
//!
//! Every CLI call runs under `timeout -k 5 120`; nothing here talks to
//! anything but the daemon's Unix socket (registries are the tests' own, on
//! 127.0.0.1).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{fixture, workspace_root};

/// Seconds any one CLI command may take before `timeout` kills it.
pub const CMD_TIMEOUT: &str = "120";

/// The berthd binary under test (`cargo build -p berthd`).
pub fn berthd_bin() -> PathBuf {
    std::env::var_os("BERTHD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/berthd"))
}

/// The berth-shim binary under test (`cargo build -p berth-shim`).
pub fn berth_shim_bin() -> PathBuf {
    std::env::var_os("BERTH_SHIM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/berth-shim"))
}

/// The stock docker CLI: `BERTH_DOCKER_BIN`, else the first `docker` on
/// PATH.
pub fn docker_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_DOCKER_BIN") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join("docker");
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from("/usr/bin/docker")
}

/// Quotes one word for `sh -c` (used for `script -c`).
pub fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A command's outcome for failure messages.
pub fn show(what: &str, out: &Output) -> String {
    format!(
        "`{what}`: exit {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

pub use crate::cleanup::pids_with_cmdline;

/// Mount points at or under `dir` (from /proc/self/mountinfo), deepest first.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().trim_end_matches('/').to_string();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    points
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Cgroup directories `/sys/fs/cgroup/*/berth/NAME*` whose name starts
/// with `prefix` (a container id or its 12-char short form).
pub fn berth_cgroups_named(prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    for c in controllers.filter_map(|e| e.ok()) {
        let Ok(entries) = std::fs::read_dir(c.path().join("berth")) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                found.push(e.path());
            }
        }
    }
    found
}

/// Which CLI a [`Client`] drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cli {
    Berth,
    Docker,
}

/// A private berthd; see the module docs.
pub struct Berthd {
    dir: PathBuf,
    child: Mutex<Option<Child>>,
    host: String,
    starts: Mutex<u32>,
    /// The berth-shim program berthd is told to use.
    shim: PathBuf,
}

impl Berthd {
    /// A fresh daemon with the busybox fixture loaded as `busybox:latest`.
    pub fn start() -> Berthd {
        let d = Berthd::start_empty();
        d.load_busybox();
        d
    }

    /// A fresh daemon with no images.
    pub fn start_empty() -> Berthd {
        Berthd::start_empty_with_shim(&berth_shim_bin())
    }

    /// A fresh daemon with no images, running the shim program `shim`
    /// (a private copy, for a test that must be the only user of it).
    pub fn start_empty_with_shim(shim: &Path) -> Berthd {
        for bin in [berthd_bin(), shim.to_path_buf()] {
            assert!(
                bin.is_file(),
                "{} is missing: cargo build -p berthd -p berth-shim -p berth",
                bin.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("bdt-")
            .tempdir_in("/tmp")
            .expect("tempdir")
            .keep();
        std::fs::create_dir_all(dir.join("docker-config")).expect("mkdir docker-config");
        let host = format!("unix://{}/b.sock", dir.display());
        let d = Berthd {
            dir,
            child: Mutex::new(None),
            host,
            starts: Mutex::new(0),
            shim: shim.to_path_buf(),
        };
        d.spawn();
        d
    }

    /// Starts berthd on this instance's dirs (again, after [`Berthd::kill9`])
    /// and waits until `/_ping` answers.
    pub fn spawn(&self) {
        let mut guard = self.child.lock().unwrap();
        assert!(guard.is_none(), "berthd is already running");
        let n = {
            let mut s = self.starts.lock().unwrap();
            *s += 1;
            *s
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("berthd log");
        let _ = writeln!(&log, "===== berthd start #{n}");
        let err = log.try_clone().expect("dup log");
        let _ = std::fs::remove_file(self.socket());
        let child = Command::new(berthd_bin())
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .args(["-H", &self.host])
            .arg("--shim")
            .arg(&self.shim)
            .env("BERTHD_DEBUG", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", berthd_bin().display()));
        *guard = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (code, body) = self.curl("GET", "/_ping", None);
            if code == 200 && body.trim() == "OK" {
                return;
            }
            if let Some(child) = guard.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("berthd exited early ({status}):\n{}", self.log_tail(60));
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "berthd never answered /_ping (last: {code} {body:?}):\n{}",
                    self.log_tail(60)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs berthd (shims and containers keep running) and reaps it.
    pub fn kill9(&self) {
        let mut guard = self.child.lock().unwrap();
        if let Some(mut child) = guard.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// berthd's pid (panics when it is not running).
    pub fn pid(&self) -> u32 {
        self.child
            .lock()
            .unwrap()
            .as_ref()
            .expect("berthd is not running")
            .id()
    }

    /// How many descriptors berthd has open.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// berthd's resident set size (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn data_root(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn exec_root(&self) -> PathBuf {
        self.dir.join("run")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join("b.sock")
    }
    /// "unix:///tmp/bdt-XXXX/b.sock".
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The private DOCKER_CONFIG both CLIs use.
    pub fn docker_config(&self) -> PathBuf {
        self.dir.join("docker-config")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("berthd.log")
    }

    /// The last `n` lines of berthd's log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let start = lines.len().saturating_sub(n);
        format!(
            "--- berthd log ({}), last {n} lines:\n{}",
            self.log_path().display(),
            lines[start..].join("\n")
        )
    }

    /// One HTTP request on the API socket with curl: (status, body).
    /// `body` is sent as JSON.
    pub fn curl(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}"])
            .arg("--unix-socket")
            .arg(self.socket())
            .args(["-X", method]);
        if body.is_some() {
            cmd.args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
            ]);
        }
        cmd.arg(format!("http://localhost{path}"));
        let out = pipe_stdin(cmd, body.unwrap_or_default());
        let all = text(&out.stdout);
        let (body, code) = all.rsplit_once('\n').unwrap_or(("", all.as_str()));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// Loads the busybox fixture's docker-archive through the API.
    pub fn load_busybox(&self) {
        let tar = fixture().join("busybox.tar");
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--max-time", "120"])
            .arg("--unix-socket")
            .arg(self.socket())
            .args(["-H", "Content-Type: application/x-tar"])
            .arg("--data-binary")
            .arg(format!("@{}", tar.display()))
            .arg("http://localhost/images/load?quiet=1")
            .stdin(Stdio::null())
            .output()
            .expect("curl");
        assert!(
            out.status.success() && text(&out.stdout).contains("busybox"),
            "{}\n{}",
            show("POST /images/load busybox.tar", &out),
            self.log_tail(30)
        );
    }

    pub fn client(&self, cli: Cli) -> Client<'_> {
        Client { d: self, cli }
    }

    /// Kills every process of ours that is still around: shims (their
    /// command line names the exec root) and container inits (pids in the
    /// runtime's state.json files); then removes the containers' cgroups.
    fn kill_leftovers(&self) {
        let exec_root = self.exec_root();
        let mut ids = Vec::new();
        if let Ok(entries) = std::fs::read_dir(exec_root.join("runtime")) {
            for e in entries.filter_map(|e| e.ok()) {
                ids.push(e.file_name().to_string_lossy().into_owned());
                let state =
                    std::fs::read_to_string(e.path().join("state.json")).unwrap_or_default();
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&state) {
                    if let Some(pid) = v["pid"].as_i64().filter(|p| *p > 1) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid as i32),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.data_root().join("containers")) {
            ids.extend(
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
        let needle = exec_root.to_string_lossy().into_owned();
        for pid in pids_with_cmdline(&needle) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        ids.retain(|id| id.len() == 64);
        ids.sort();
        ids.dedup();
        for id in &ids {
            for _ in 0..50 {
                let left = berth_cgroups_named(id);
                if left.is_empty() {
                    break;
                }
                for cg in left {
                    let _ = std::fs::remove_dir(&cg);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        let running = self.child.lock().map(|g| g.is_some()).unwrap_or(false);
        if running {
            let c = self.client(Cli::Docker);
            let ids = c.run(&["ps", "-aq", "--no-trunc"]);
            let ids: Vec<String> = text(&ids.stdout)
                .split_whitespace()
                .map(String::from)
                .collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids.iter().map(String::as_str));
                let _ = c.run(&args);
            }
        }
        if let Ok(mut g) = self.child.lock() {
            if let Some(mut child) = g.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.kill_leftovers();
        for point in mounts_under(&self.dir) {
            let _ = nix::mount::umount2(point.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        if std::env::var_os("BERTH_KEEP_BERTHD_DIR").is_some() {
            eprintln!("keeping {}", self.dir.display());
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("warning: removing {}: {e}", self.dir.display());
        }
    }
}

/// Runs `cmd` with `input` on its stdin; collects stdout and stderr.
pub fn pipe_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("waiting for command");
    let _ = writer.join();
    out
}

/// `berth -H HOST` or `docker` (DOCKER_HOST set) against one [`Berthd`].
#[derive(Clone, Copy)]
pub struct Client<'a> {
    pub d: &'a Berthd,
    pub cli: Cli,
}

impl<'a> Client<'a> {
    pub fn name(&self) -> &'static str {
        match self.cli {
            Cli::Berth => "berth",
            Cli::Docker => "docker",
        }
    }

    /// The program and its leading arguments.
    fn argv0(&self) -> Vec<String> {
        match self.cli {
            Cli::Berth => vec![
                crate::berth_bin().to_string_lossy().into_owned(),
                "-H".into(),
                self.d.host.clone(),
            ],
            Cli::Docker => vec![docker_bin().to_string_lossy().into_owned()],
        }
    }

    fn set_env(&self, cmd: &mut Command) {
        cmd.env("DOCKER_CONFIG", self.d.docker_config())
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("BERTH_HOST");
        match self.cli {
            Cli::Docker => cmd.env("DOCKER_HOST", &self.d.host),
            Cli::Berth => cmd.env_remove("DOCKER_HOST"),
        };
    }

    /// `timeout -k 5 120 CLI ARGS...`, stdin null, ready to run or spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with_timeout(CMD_TIMEOUT, args)
    }

    /// Like [`Client::command`] with another limit (seconds).
    pub fn command_with_timeout(&self, secs: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "5", secs]).args(self.argv0()).args(args);
        self.set_env(&mut cmd);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs the CLI and collects its output.
    ///
    /// Panics when `timeout` had to kill it (exit 124): a hung command is
    /// never an expected outcome, also where a test expects a failure.
    /// `BERTH_TEST_TRACE=1` prints every command with its duration.
    pub fn run(&self, args: &[&str]) -> Output {
        self.checked(args, || {
            self.command(args)
                .output()
                .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", self.name()))
        })
    }

    /// [`Client::run`] with a shorter limit, for a command that should
    /// fail fast but might hang (a hang still panics, sooner).
    pub fn run_with_timeout(&self, secs: &str, args: &[&str]) -> Output {
        self.checked(args, || {
            self.command_with_timeout(secs, args)
                .output()
                .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", self.name()))
        })
    }

    /// Runs the CLI with `input` on stdin (see [`Client::run`]).
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        self.checked(args, || pipe_stdin(self.command(args), input))
    }

    fn checked(&self, args: &[&str], f: impl FnOnce() -> Output) -> Output {
        let t0 = Instant::now();
        let out = f();
        if std::env::var_os("BERTH_TEST_TRACE").is_some() {
            eprintln!(
                "TRACE {:.1}s {} {:?} -> {:?}",
                t0.elapsed().as_secs_f64(),
                self.name(),
                args,
                out.status.code()
            );
        }
        assert!(
            out.status.code() != Some(124),
            "{} HUNG: killed by `timeout` (exit 124)\n{}\n{}",
            self.name(),
            self.show(args, &out),
            self.d.log_tail(20)
        );
        out
    }

    /// Runs the CLI, asserts exit 0, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        text(&self.ok_with(args, String::new).stdout)
    }

    /// Runs the CLI and asserts it succeeded, as [`Client::ok`] does, with
    /// `context()` (a registry's log, say) added to the failure message;
    /// returns the whole output.
    pub fn ok_with(&self, args: &[&str], context: impl FnOnce() -> String) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{}\n{}\n{}",
            self.show(args, &out),
            self.d.log_tail(20),
            context()
        );
        out
    }

    /// A failure message naming the client and the command.
    pub fn show(&self, args: &[&str], out: &Output) -> String {
        show(&format!("{} {}", self.name(), args.join(" ")), out)
    }

    /// Runs the CLI on a fresh pty (via `script`) so `-t` works, with
    /// `input` written to script's stdin (it reaches the pty as typed).
    ///
    /// `timeout --foreground` keeps the CLI in the pty's foreground process
    /// group: plain `timeout` moves itself into a new group whenever the
    /// shell forks it (dash does, bash execs it), and the CLI is then
    /// stopped by SIGTTOU as soon as it puts the terminal in raw mode.
    /// SHELL is pinned because `script` runs the line with `$SHELL -c`, so
    /// the outcome must not depend on the caller's environment.
    pub fn on_pty(&self, args: &[&str], input: &[u8]) -> Output {
        let mut line = format!("exec timeout --foreground -k 5 {CMD_TIMEOUT}");
        for a in self
            .argv0()
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
        {
            line.push(' ');
            line.push_str(&sh_quote(a));
        }
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env("SHELL", "/bin/sh");
        self.set_env(&mut cmd);
        self.checked(args, || pipe_stdin(cmd, input))
    }

    /// `inspect -f FORMAT TARGET` (container), trimmed.
    pub fn inspect(&self, format: &str, target: &str) -> String {
        self.ok(&["container", "inspect", "-f", format, target])
            .trim()
            .to_string()
    }
}

/// Polls `f` (bounded: `secs`) until it returns Some.
pub fn poll<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Declares `NAME::berth` and `NAME::docker` tests, each with a fresh
/// berthd (busybox loaded) and a client of that kind, running
/// `NAME(&client)`: every scenario is written once and passes through
/// both CLIs.
#[macro_export]
macro_rules! both_clients {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn berth() {
                let d = $crate::berthd::Berthd::start();
                super::$scenario(&d.client($crate::berthd::Cli::Berth));
            }
            #[test]
            fn docker() {
                let d = $crate::berthd::Berthd::start();
                super::$scenario(&d.client($crate::berthd::Cli::Docker));
            }
        }
    )*};
}
