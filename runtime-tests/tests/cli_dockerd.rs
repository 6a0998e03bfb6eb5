//! The `berth` CLI against a real, private dockerd: berth must behave as a
//! drop-in for the docker CLI (output, streams, exit codes), so it is
//! tested against the daemon whose API berthd implements.
//!
//! One dockerd is shared by the tests of this file while any of them runs
//! (started on first use, torn down when the last test holding it ends,
//! even on panic). It lives under its own temporary directory with its
//! own socket, exec root, containerd namespace and cgroup parent, so it
//! runs beside other daemons and test files. Each test names its
//! containers and images uniquely and removes them (Drop guards), so the
//! tests also run in parallel with each other.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use runtime_tests::cleanup::{kill, kill_all, pids_with_cmdline, unmount_under};
use runtime_tests::{berth_bin, fixture, unique_id};

/// Per-command time limit (seconds), enforced with coreutils `timeout`.
const CMD_TIMEOUT: &str = "60";

// ------------------------------------------------------------------ helpers

fn show(what: &str, out: &Output) -> String {
    format!(
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Quotes one word for `sh -c` (used for `script -c`).
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Pids in a cgroup whose path has a component `name`.
fn pids_in_cgroup_named(name: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cg = std::fs::read_to_string(e.path().join("cgroup")).ok()?;
            let hit = cg.lines().any(|l| {
                let path = l.splitn(3, ':').nth(2).unwrap_or("");
                path.split('/').any(|c| c == name)
            });
            hit.then_some(pid)
        })
        .collect()
}

/// rmdir cgroup directories named `name` (under the root or one
/// hierarchy), bottom-up.
fn remove_cgroups_named(name: &str) {
    fn rmdir_tree(dir: &Path) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path());
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    let root = Path::new("/sys/fs/cgroup");
    let mut bases = vec![root.to_path_buf()];
    bases.extend(
        std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir()),
    );
    for b in bases {
        let d = b.join(name);
        if d.is_dir() {
            rmdir_tree(&d);
        }
    }
}

fn tail(path: &Path, n: usize) -> String {
    let t = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ------------------------------------------------------------------ dockerd

/// A private dockerd; dropping it stops it and removes everything it made.
struct Dockerd {
    child: Child,
    /// Removed by hand: dockerd's mounts must go first.
    tmp: PathBuf,
    host: String,
    cgroup_parent: String,
}

impl Dockerd {
    fn start() -> Dockerd {
        let cgroup_parent = unique_id("berth-cli-dockerd");
        // A short path: containerd's socket lives under the exec root.
        let tmp = tempfile::Builder::new()
            .prefix("bcli-")
            .tempdir_in("/tmp")
            .expect("tempdir")
            .keep();
        let t = path_str(&tmp).to_string();
        for d in ["data", "exec"] {
            std::fs::create_dir_all(tmp.join(d)).expect("mkdir");
        }
        // An empty daemon.json so the host's /etc/docker/daemon.json is not read.
        std::fs::write(tmp.join("daemon.json"), "{}\n").expect("daemon.json");
        let host = format!("unix://{t}/docker.sock");
        let log = std::fs::File::create(tmp.join("dockerd.log")).expect("log");
        let err = log.try_clone().expect("dup log");
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(tmp.join("daemon.json"))
            .args(["--data-root", &format!("{t}/data")])
            .args(["--exec-root", &format!("{t}/exec")])
            .args(["--pidfile", &format!("{t}/docker.pid")])
            .args(["-H", &host])
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .arg("--ip-masq=false")
            .args(["--containerd-namespace", &format!("{cgroup_parent}-moby")])
            .args([
                "--containerd-plugins-namespace",
                &format!("{cgroup_parent}-plugins"),
            ])
            .args(["--cgroup-parent", &format!("/{cgroup_parent}")])
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("spawning dockerd (apt-get install docker.io)");
        let mut d = Dockerd {
            child,
            tmp,
            host,
            cgroup_parent,
        };
        d.wait_ready();
        d
    }

    fn log(&self) -> PathBuf {
        self.tmp.join("dockerd.log")
    }

    /// Polls `berth version` (bounded) until the daemon answers.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = berth_cmd(&self.host, &["version"]);
            if out.status.success() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "dockerd exited early ({status}):\n{}",
                    tail(&self.log(), 60)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "dockerd never became ready: {}\nlog:\n{}",
                    show("berth version", &out),
                    tail(&self.log(), 60)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- dockerd log ---\n{}", tail(&self.log(), 80));
        }
        kill_all(&pids_in_cgroup_named(&self.cgroup_parent));
        kill(self.child.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its containerd and shims name our directory on their command lines.
        kill_all(&pids_with_cmdline(path_str(&self.tmp)));
        kill_all(&pids_in_cgroup_named(&self.cgroup_parent));
        unmount_under(&self.tmp);
        if let Err(e) = std::fs::remove_dir_all(&self.tmp) {
            eprintln!("removing {}: {e}", self.tmp.display());
        }
        remove_cgroups_named(&self.cgroup_parent);
    }
}

/// The daemon shared by the tests running now (started on first use,
/// with the busybox fixture loaded through `berth load`).
fn daemon() -> Arc<Dockerd> {
    static SHARED: Mutex<Weak<Dockerd>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = shared.upgrade() {
        return d;
    }
    assert!(
        Path::new("/usr/sbin/dockerd").exists(),
        "dockerd is not installed (apt-get install docker.io)"
    );
    assert!(
        berth_bin().exists(),
        "{} missing (cargo build -p berth)",
        berth_bin().display()
    );
    let start = Instant::now();
    let d = Arc::new(Dockerd::start());
    let tar = fixture().join("busybox.tar");
    let out = berth_cmd(&d.host, &["load", "-i", path_str(&tar)]);
    assert!(out.status.success(), "{}", show("berth load", &out));
    assert!(
        text(&out.stdout).contains("Loaded image: busybox:latest"),
        "{}",
        show("berth load", &out)
    );
    eprintln!("dockerd ready with busybox after {:?}", start.elapsed());
    *shared = Arc::downgrade(&d);
    d
}

/// `berth -H HOST ARGS...` under a time limit, stdin empty.
fn berth_cmd(host: &str, args: &[&str]) -> Output {
    berth_with_stdin(host, args, Stdio::null())
}

fn berth_with_stdin(host: &str, args: &[&str], stdin: Stdio) -> Output {
    Command::new("timeout")
        .args(["-k", "5", CMD_TIMEOUT])
        .arg(berth_bin())
        .args(["-H", host])
        .args(args)
        .env_remove("BERTH_HOST")
        .stdin(stdin)
        .output()
        .expect("running berth")
}

/// A test's view of the daemon: runs berth, and removes the containers
/// and image tags the test registered when dropped.
struct Session {
    d: Arc<Dockerd>,
    containers: Vec<String>,
    images: Vec<String>,
}

impl Session {
    fn new() -> Session {
        Session {
            d: daemon(),
            containers: Vec::new(),
            images: Vec::new(),
        }
    }

    fn berth(&self, args: &[&str]) -> Output {
        berth_cmd(&self.d.host, args)
    }

    /// Runs berth and asserts success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "{}",
            show(&format!("berth {args:?}"), &out)
        );
        text(&out.stdout)
    }

    /// A unique container name, removed at the end of the test.
    fn name(&mut self, prefix: &str) -> String {
        let n = unique_id(prefix);
        self.containers.push(n.clone());
        n
    }

    /// Runs berth on a fresh pty (via `script`), so `-t` works.
    ///
    /// `timeout --foreground` keeps berth in the pty's foreground process
    /// group: a plain `timeout` would put it in a group of its own (when
    /// the shell forks it, as dash does) and berth would be stopped by
    /// SIGTTOU as soon as it sets the terminal to raw mode. SHELL is pinned
    /// because `script` runs the line with `$SHELL -c`.
    fn berth_on_pty(&self, args: &[&str]) -> Output {
        let mut line = format!(
            "exec timeout --foreground -k 5 {CMD_TIMEOUT} {} -H {}",
            sh_quote(path_str(&berth_bin())),
            sh_quote(&self.d.host)
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
}

impl Drop for Session {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.berth(&["rm", "-f", c]);
        }
        for i in &self.images {
            let _ = self.berth(&["rmi", i]);
        }
    }
}

// -------------------------------------------------------------------- tests

#[test]
fn version_and_info() {
    let s = Session::new();
    let v = s.ok(&["version"]);
    assert!(v.starts_with("Client:\n Version:"), "{v}");
    assert!(
        v.contains("\nServer:") && v.contains(" Engine:\n  Version:"),
        "{v}"
    );
    // dockerd 20.10 speaks 1.41: the client negotiates down.
    assert!(
        v.contains("API version:       1.41 (downgraded from 1.47)"),
        "{v}"
    );
    let f = s.ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(f.trim(), "1.41");

    let info = s.ok(&["info"]);
    for want in [
        "Containers:",
        "Images:",
        "Storage Driver: overlay2",
        "Cgroup Driver:",
    ] {
        assert!(info.contains(want), "no {want:?} in:\n{info}");
    }
    let driver = s.ok(&["info", "--format", "{{.Driver}}"]);
    assert_eq!(driver.trim(), "overlay2");
}

#[test]
fn images_lists_the_loaded_fixture() {
    let s = Session::new();
    let out = s.ok(&["images"]);
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED")
            && header.trim_end().ends_with("SIZE"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("busybox      latest    ")),
        "{out}"
    );
    let id = s.ok(&["images", "-q", "busybox"]);
    assert_eq!(id.trim().len(), 12, "{id}");
    let f = s.ok(&[
        "image",
        "ls",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "busybox",
    ]);
    assert_eq!(f, "busybox:latest\n");
}

#[test]
fn run_foreground_streams_and_exit_codes() {
    let mut s = Session::new();
    let n = s.name("berth-cli-echo");
    let out = s.berth(&["run", "--name", &n, "busybox", "echo", "hello-docker"]);
    assert_eq!(out.status.code(), Some(0), "{}", show("run echo", &out));
    assert_eq!(text(&out.stdout), "hello-docker\n");

    // stdout and stderr stay apart (stdcopy demultiplexing).
    let n = s.name("berth-cli-exit3");
    let script = "echo to-out; echo to-err >&2; exit 3";
    let out = s.berth(&["run", "--name", &n, "busybox", "sh", "-c", script]);
    assert_eq!(out.status.code(), Some(3), "{}", show("run exit 3", &out));
    assert_eq!(text(&out.stdout), "to-out\n");
    assert_eq!(text(&out.stderr), "to-err\n");

    // A command that does not exist: docker's 127; not executable: 126.
    let n = s.name("berth-cli-127");
    let out = s.berth(&["run", "--name", &n, "busybox", "/no/such/cmd"]);
    assert_eq!(
        out.status.code(),
        Some(127),
        "{}",
        show("run missing", &out)
    );
    assert!(text(&out.stderr).starts_with("berth: Error response from daemon: "));
    let n = s.name("berth-cli-126");
    let out = s.berth(&["run", "--name", &n, "busybox", "/etc"]);
    assert_eq!(out.status.code(), Some(126), "{}", show("run dir", &out));

    // Flags after the image belong to the command.
    let n = s.name("berth-cli-args");
    let out = s.berth(&[
        "run",
        "--name",
        &n,
        "-e",
        "X=1",
        "busybox",
        "sh",
        "-c",
        "echo $X -l",
    ]);
    assert_eq!(text(&out.stdout), "1 -l\n", "{}", show("run args", &out));
}

#[test]
fn run_interactive_forwards_stdin() {
    let mut s = Session::new();
    let n = s.name("berth-cli-stdin");
    let input = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(input.path(), "line-1\nline-2\n").expect("write input");
    let file = std::fs::File::open(input.path()).expect("open input");
    let out = berth_with_stdin(
        &s.d.host,
        &[
            "run",
            "-i",
            "--name",
            &n,
            "busybox",
            "sh",
            "-c",
            "cat; echo done",
        ],
        Stdio::from(file),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show("run -i", &out));
    assert_eq!(text(&out.stdout), "line-1\nline-2\ndone\n");
}

#[test]
fn detached_container_lifecycle() {
    let mut s = Session::new();
    let n = s.name("berth-cli-clock");
    let out = s.ok(&[
        "run",
        "-d",
        "--name",
        &n,
        "-l",
        "berth.test=clock",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' TERM; while true; do echo tick; sleep 0.2; done",
    ]);
    let id = out.trim();
    assert_eq!(id.len(), 64, "run -d prints the full id: {out}");

    let ps = s.ok(&["ps", "-f", &format!("name={n}")]);
    let row = ps.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with(&id[..12]) && row.contains("Up ") && row.ends_with(&n),
        "{ps}"
    );
    let f = s.ok(&[
        "ps",
        "-f",
        &format!("id={id}"),
        "--format",
        "{{.Names}} {{.Image}} {{.Command}}",
    ]);
    assert!(f.starts_with(&format!("{n} busybox \"sh -c 'trap")), "{f}");
    let j = s.ok(&["ps", "-f", &format!("name={n}"), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(j.trim()).expect("ps json");
    assert_eq!(v["Names"], n.as_str());

    // Logs by id prefix, with --tail.
    std::thread::sleep(Duration::from_millis(700));
    let logs = s.ok(&["logs", "--tail", "2", &id[..12]]);
    assert_eq!(logs, "tick\ntick\n");

    let out = s.ok(&["exec", &n, "sh", "-c", "echo exec-ok"]);
    assert_eq!(out, "exec-ok\n");
    let out = s.berth(&["exec", &n, "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", show("exec exit 4", &out));

    let f = s.ok(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{.Name}} {{json .Config.Labels}}",
        &n,
    ]);
    assert_eq!(f, format!("true /{n} {{\"berth.test\":\"clock\"}}\n"));
    let full = s.ok(&["container", "inspect", &n]);
    let v: serde_json::Value = serde_json::from_str(&full).expect("inspect JSON");
    assert_eq!(v[0]["Id"], id);

    assert_eq!(s.ok(&["stop", "-t", "5", &n]), format!("{n}\n"));
    assert_eq!(s.ok(&["wait", &n]), "7\n");
    let st = s.ok(&[
        "ps",
        "-a",
        "-f",
        &format!("name={n}"),
        "--format",
        "{{.Status}}",
    ]);
    assert!(st.starts_with("Exited (7)"), "{st}");
    assert_eq!(s.ok(&["rm", &n]), format!("{n}\n"));
    let out = s.berth(&["inspect", &n]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("No such object: {n}")),
        "{}",
        show("inspect", &out)
    );
}

#[test]
fn ps_filters_and_removing_exited_containers() {
    let mut s = Session::new();
    let label = unique_id("batch");
    let filter = format!("label=berth.batch={label}");
    let mut ids = Vec::new();
    for i in 0..2 {
        let n = s.name("berth-cli-batch");
        let script = format!("exit {i}");
        let out = s.berth(&[
            "run",
            "-l",
            &format!("berth.batch={label}"),
            "--name",
            &n,
            "busybox",
            "sh",
            "-c",
            &script,
        ]);
        assert_eq!(out.status.code(), Some(i), "{}", show("run", &out));
        ids.push(n);
    }
    assert_eq!(s.ok(&["ps", "-q", "-f", &filter]), "", "nothing running");
    let exited = s.ok(&["ps", "-a", "-q", "-f", "status=exited", "-f", &filter]);
    let exited: Vec<&str> = exited.lines().collect();
    assert_eq!(exited.len(), 2, "{exited:?}");
    assert!(exited.iter().all(|id| id.len() == 12));
    let latest = s.ok(&["ps", "-l", "-q", "-f", &filter]);
    assert_eq!(latest.lines().count(), 1);
    let statuses = s.ok(&[
        "ps",
        "-a",
        "-f",
        &filter,
        "--format",
        "table {{.Names}}\t{{.Status}}",
    ]);
    assert!(statuses.starts_with("NAMES"), "{statuses}");
    assert!(
        statuses.contains("Exited (1)") && statuses.contains("Exited (0)"),
        "{statuses}"
    );

    // `berth rm $(berth ps -a -q -f status=exited)`
    let mut args = vec!["rm"];
    args.extend(exited.iter().copied());
    let out = s.ok(&args);
    assert_eq!(out.lines().collect::<Vec<_>>(), exited);
    assert_eq!(s.ok(&["ps", "-a", "-q", "-f", &filter]), "");
}

#[test]
fn run_rm_removes_the_container() {
    let mut s = Session::new();
    let n = s.name("berth-cli-rm");
    let out = s.berth(&[
        "run",
        "--rm",
        "--name",
        &n,
        "busybox",
        "sh",
        "-c",
        "echo bye; exit 2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show("run --rm", &out));
    assert_eq!(text(&out.stdout), "bye\n");
    assert_eq!(s.ok(&["ps", "-a", "-q", "-f", &format!("name={n}")]), "");
}

#[test]
fn create_then_start_attached() {
    let mut s = Session::new();
    let n = s.name("berth-cli-create");
    let id = s.ok(&[
        "create",
        "--name",
        &n,
        "busybox",
        "sh",
        "-c",
        "echo created-ok; exit 5",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let st = s.ok(&[
        "ps",
        "-a",
        "-f",
        &format!("name={n}"),
        "--format",
        "{{.State}}",
    ]);
    assert_eq!(st, "created\n");
    let out = s.berth(&["start", "-a", &n]);
    assert_eq!(out.status.code(), Some(5), "{}", show("start -a", &out));
    assert_eq!(text(&out.stdout), "created-ok\n");
    let out = s.berth(&["start", &format!("{n}-missing")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("No such container"),
        "{}",
        show("start", &out)
    );
}

#[test]
fn run_it_on_a_pty() {
    let mut s = Session::new();
    let n = s.name("berth-cli-tty");
    let out = s.berth_on_pty(&[
        "run",
        "-it",
        "--rm",
        "--name",
        &n,
        "busybox",
        "sh",
        "-c",
        "tty; echo tty-ok; exit 6",
    ]);
    let t = text(&out.stdout);
    assert!(
        t.contains("/dev/pts/") && t.contains("tty-ok\r\n"),
        "{}",
        show("run -it", &out)
    );
    assert_eq!(out.status.code(), Some(6), "{}", show("run -it", &out));

    // exec -it into a running container.
    let n = s.name("berth-cli-tty-exec");
    s.ok(&["run", "-d", "--name", &n, "busybox", "sleep", "60"]);
    let out = s.berth_on_pty(&["exec", "-it", &n, "sh", "-c", "tty; echo exec-tty-ok"]);
    let t = text(&out.stdout);
    assert!(
        out.status.success() && t.contains("/dev/pts/") && t.contains("exec-tty-ok"),
        "{}",
        show("exec -it", &out)
    );
    // Without a terminal, -it is refused like docker does.
    let out = s.berth(&["exec", "-it", &n, "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("the input device is not a TTY"));
}

#[test]
fn tag_save_rmi_load_roundtrip() {
    let mut s = Session::new();
    let repo = unique_id("berth-cli/saved").replace('-', "_");
    let tagged = format!("{repo}:v1");
    s.images.push(tagged.clone());
    s.ok(&["tag", "busybox", &tagged]);
    let listed = s.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}", &repo]);
    assert_eq!(listed, format!("{tagged}\n"));

    let dir = tempfile::tempdir().expect("tempdir");
    let tar = dir.path().join("saved.tar");
    s.ok(&["save", "-o", path_str(&tar), &tagged]);
    assert!(std::fs::metadata(&tar)
        .map(|m| m.len() > 1024)
        .unwrap_or(false));

    let out = s.ok(&["rmi", &tagged]);
    assert_eq!(out, format!("Untagged: {tagged}\n"));
    assert_eq!(s.ok(&["images", "-q", &repo]), "");

    let out = s.ok(&["load", "-i", path_str(&tar)]);
    assert_eq!(out, format!("Loaded image: {tagged}\n"));
    assert_eq!(s.ok(&["images", "--format", "{{.Tag}}", &repo]), "v1\n");

    // save to stdout, load from stdin.
    let out = s.berth(&["image", "save", &tagged]);
    assert!(
        out.status.success() && out.stdout.len() > 1024,
        "save to stdout"
    );
    s.ok(&["image", "rm", &tagged]);
    std::fs::write(&tar, &out.stdout).expect("write tar");
    let file = std::fs::File::open(&tar).expect("open tar");
    let out = berth_with_stdin(&s.d.host, &["load", "-q"], Stdio::from(file));
    assert!(out.status.success(), "{}", show("load < tar", &out));
    assert_eq!(text(&out.stdout), format!("Loaded image: {tagged}\n"));

    let out = s.berth(&["rmi", &format!("{repo}:nope")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("Error response from daemon: "),
        "{}",
        show("rmi", &out)
    );
}

#[test]
fn unknown_images_are_daemon_errors() {
    let s = Session::new();
    let out = s.berth(&[
        "run",
        "--pull",
        "never",
        "--rm",
        "berth-cli-no-such-image",
        "true",
    ]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "{}",
        show("run --pull never", &out)
    );
    assert_eq!(
        text(&out.stderr),
        "berth: Error response from daemon: No such image: berth-cli-no-such-image:latest.\n\
         See 'berth run --help'.\n"
    );
    // A registry that is not there (a closed local port: no traffic leaves
    // the machine): docker's message, then the pull's failure.
    let out = s.berth(&["run", "--rm", "127.0.0.1:1/berth-cli/nothing", "true"]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "{}",
        show("run unknown", &out)
    );
    let err = text(&out.stderr);
    assert!(
        err.starts_with("Unable to find image '127.0.0.1:1/berth-cli/nothing:latest' locally\n"),
        "{err}"
    );
    assert!(
        err.contains("berth: Error response from daemon: ")
            && err.ends_with("See 'berth run --help'.\n"),
        "{err}"
    );
}

#[test]
fn flag_errors_exit_125() {
    let host = "unix:///nonexistent/berth-cli.sock";
    for args in [
        &["run", "--bogus", "busybox"][..],
        &["ps", "--bogus"],
        &["run", "--memory", "lots", "busybox"],
    ] {
        let out = berth_cmd(host, args);
        assert_eq!(
            out.status.code(),
            Some(125),
            "{}",
            show(&format!("{args:?}"), &out)
        );
    }
    let out = berth_cmd(host, &["run", "--bogus", "busybox"]);
    assert!(
        text(&out.stderr).contains("unknown flag: --bogus"),
        "{}",
        show("run --bogus", &out)
    );
    let out = berth_cmd(host, &["--help"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn no_daemon_is_docker_s_message_and_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("none.sock");
    let host = format!("unix://{}", path_str(&sock));
    let out = berth_cmd(&host, &["ps"]);
    assert_eq!(out.status.code(), Some(1), "{}", show("ps", &out));
    assert_eq!(
        text(&out.stderr),
        format!(
            "Cannot connect to the Berth daemon at {host}. Is berthd running? \
             (start it with: berthd --data-root /var/lib/berth)\n"
        )
    );
    // Without -H, BERTH_HOST names the daemon.
    let out = Command::new(berth_bin())
        .args(["images"])
        .env("BERTH_HOST", &host)
        .output()
        .expect("berth");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&host));
    let out = berth_cmd(&host, &["completion", "bash"]);
    assert!(
        out.status.success() && text(&out.stdout).contains("berth"),
        "completion"
    );
}

#[test]
fn login_push_and_pull_through_a_local_registry() {
    use runtime_tests::registry::Registry;
    let mut s = Session::new();
    let reg = Registry::start_with_auth("berth", "s3cret").expect("registry");
    let cfg = tempfile::tempdir().expect("tempdir");
    let c = path_str(cfg.path());
    let image = reg.image_ref(&format!("{}:v1", unique_id("berth-cli/pushed")));
    s.images.push(image.clone());
    s.ok(&["tag", "busybox", &image]);

    let out = s.berth(&["--config", c, "push", &image]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        show("push before login", &out)
    );

    let pass = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(pass.path(), "s3cret\n").expect("write password");
    let login = [
        "--config",
        c,
        "login",
        "-u",
        "berth",
        "--password-stdin",
        &reg.host(),
    ];
    let file = std::fs::File::open(pass.path()).expect("open password");
    let out = berth_with_stdin(&s.d.host, &login, Stdio::from(file));
    assert!(out.status.success(), "{}", show("login", &out));
    assert_eq!(text(&out.stdout), "Login Succeeded\n");
    let config = std::fs::read_to_string(cfg.path().join("config.json")).expect("config.json");
    // base64("berth:s3cret")
    assert!(
        config.contains(&reg.host()) && config.contains("YmVydGg6czNjcmV0"),
        "{config}"
    );

    let out = s.ok(&["--config", c, "push", &image]);
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    s.ok(&["rmi", &image]);

    // run pulls the missing image (progress on stderr), then runs it.
    let out = s.berth(&["--config", c, "run", "--rm", &image, "echo", "pulled-ok"]);
    assert_eq!(out.status.code(), Some(0), "{}", show("run pulled", &out));
    assert_eq!(text(&out.stdout), "pulled-ok\n");
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("Unable to find image '{image}' locally\n")),
        "{err}"
    );
    assert!(
        err.contains(&format!("Status: Downloaded newer image for {image}")),
        "{err}"
    );

    let out = s.ok(&["--config", c, "pull", &image]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {image}")),
        "{out}"
    );
    assert!(out.ends_with(&format!("\n{image}\n")), "{out}");

    let out = s.ok(&["--config", c, "logout", &reg.host()]);
    assert_eq!(
        out,
        format!("Removing login credentials for {}\n", reg.host())
    );
}
