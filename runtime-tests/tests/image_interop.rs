//! Images move between Berth and its peers without loss: docker-archive
//! tars between a private berthd and a private dockerd (each runs what the
//! other saved), skopeo both ways through a real registry on 127.0.0.1
//! (digests compared with what Berth reports), the Debian fixtures pulled
//! into berthd and run, and a multi-platform pull.
//!
//! Every test starts its own daemons under its own temporary directory
//! (socket, data root, exec root, docker CLI config) and names everything
//! uniquely, so the tests run in parallel with each other and with other
//! test files. Drop guards remove containers, stop the daemons, kill what
//! they left (shims, containerd, container processes), unmount, and delete
//! the directories, also while a test unwinds from a panic. No traffic
//! leaves 127.0.0.1 and the daemons' Unix sockets.
//!
//! Needs root, the debug builds of berthd, berth-shim and berth (`cargo
//! build -p berthd -p berth-shim -p berth`; override with BERTHD_BIN and
//! BERTH_BIN), Debian's dockerd (docker.io), skopeo and docker-registry.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use runtime_tests::cleanup::{kill, kill_all, pids_with_cmdline, unmount_under};
use runtime_tests::registry::Registry;
use runtime_tests::{berth_bin, fixture, unique_id, workspace_root};
use serde_json::Value;

/// Per-command time limit (seconds), enforced with coreutils `timeout`.
const CMD_TIMEOUT: &str = "180";

// ------------------------------------------------------------------ helpers

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(what: &str, out: &Output) -> String {
    format!(
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn all_pids() -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|&p| p != me)
        .collect()
}

/// Pids in a cgroup whose path has a component equal to one of `names`.
fn pids_in_cgroups_named(names: &[String]) -> Vec<i32> {
    if names.is_empty() {
        return Vec::new();
    }
    all_pids()
        .into_iter()
        .filter(|p| {
            let cg = std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap_or_default();
            cg.lines().any(|l| {
                let path = l.splitn(3, ':').nth(2).unwrap_or("");
                path.split('/').any(|c| names.iter().any(|n| n == c))
            })
        })
        .collect()
}

/// rmdir, bottom-up, every cgroup directory whose name is in `names`
/// (anywhere below /sys/fs/cgroup, at most 4 levels down).
fn remove_cgroups_named(names: &[String]) {
    fn rmdir_tree(dir: &Path) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path());
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    fn walk(dir: &Path, depth: u32, names: &[String]) {
        if depth > 4 {
            return;
        }
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if names.contains(&name) {
                rmdir_tree(&e.path());
            } else {
                walk(&e.path(), depth + 1, names);
            }
        }
    }
    if !names.is_empty() {
        walk(Path::new("/sys/fs/cgroup"), 0, names);
    }
}

fn tail(path: &Path, n: usize) -> String {
    let t = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A fresh directory under /tmp with a short name (containerd's and the
/// shims' sockets live below it; sun_path is 108 bytes).
fn short_tmpdir(prefix: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("tempdir")
        .keep()
}

fn berthd_bin() -> PathBuf {
    std::env::var_os("BERTHD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/berthd"))
}

/// The docker CLI against `host`, with a private config dir, under a
/// time limit, stdin empty.
fn docker_cli(host: &str, config: &Path, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["-k", "5", CMD_TIMEOUT, "docker"])
        .args(args)
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .stdin(Stdio::null())
        .output()
        .expect("running the docker CLI (apt-get install docker.io)")
}

/// The fixture's image.json.
fn image_json(dir: &Path) -> Value {
    let path = dir.join("image.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("image.json")
}

/// Runs a fixture script and returns its directory (the last stdout line).
fn build_fixture(script: &str, args: &[&str]) -> PathBuf {
    let out = Command::new(workspace_root().join("rootfs-fixtures").join(script))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("running a fixture script");
    assert!(
        out.status.success(),
        "rootfs-fixtures/{script} {args:?} failed"
    );
    PathBuf::from(
        text(&out.stdout)
            .lines()
            .last()
            .expect("fixture dir")
            .trim(),
    )
}

/// The manifest digest from `docker push` output ("...: digest: sha256:X size: N").
fn pushed_digest(out: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let rest = &l[l.find("digest: ")? + "digest: ".len()..];
        Some(rest.split_whitespace().next()?.to_string())
    })
}

// ------------------------------------------------------------------ daemons

/// What both private daemons share: a directory, a socket, a log, and a
/// docker CLI config dir.
trait Daemon {
    fn host(&self) -> &str;
    fn dir(&self) -> &Path;
    fn log(&self) -> PathBuf;
    fn name(&self) -> &'static str;
    fn child(&mut self) -> &mut Child;

    /// Polls `docker version` (bounded) until the daemon answers.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.docker(&["version", "--format", "{{.Server.Version}}"]);
            if out.status.success() {
                return;
            }
            if let Ok(Some(status)) = self.child().try_wait() {
                panic!(
                    "{} exited early ({status}):\n{}",
                    self.name(),
                    tail(&self.log(), 60)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{} never became ready: {}\nlog:\n{}",
                    self.name(),
                    show("docker version", &out),
                    tail(&self.log(), 60)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `docker ARGS` against this daemon.
    fn docker(&self, args: &[&str]) -> Output {
        docker_cli(self.host(), &self.dir().join("cli"), args)
    }

    /// `docker ARGS`, asserting success; stdout.
    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "{}\n--- {} log ---\n{}",
            show(&format!("docker {args:?} ({})", self.name()), &out),
            self.name(),
            tail(&self.log(), 40)
        );
        text(&out.stdout)
    }

    /// `docker image inspect -f FORMAT IMAGE`, trimmed.
    fn inspect_image(&self, image: &str, format: &str) -> String {
        self.docker_ok(&["image", "inspect", "-f", format, image])
            .trim()
            .to_string()
    }
}

/// A private berthd (debug build); dropping it removes every container,
/// stops it, kills the shims and container processes it left, unmounts
/// and deletes its directory.
struct Berthd {
    child: Child,
    tmp: PathBuf,
    host: String,
}

impl Berthd {
    fn start() -> Berthd {
        for bin in [
            berthd_bin(),
            berthd_bin().with_file_name("berth-shim"),
            berth_bin(),
        ] {
            assert!(
                bin.exists(),
                "{} missing (cargo build -p berthd -p berth-shim -p berth)",
                bin.display()
            );
        }
        let tmp = short_tmpdir("bii-");
        let t = path_str(&tmp).to_string();
        let host = format!("unix://{t}/berthd.sock");
        let log = std::fs::File::create(tmp.join("berthd.log")).expect("log");
        let err = log.try_clone().expect("dup log");
        let child = Command::new(berthd_bin())
            .args(["--data-root", &format!("{t}/data")])
            .args(["--exec-root", &format!("{t}/run")])
            .args(["-H", &host])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("spawning berthd");
        let mut d = Berthd { child, tmp, host };
        d.wait_ready();
        d
    }

    /// `berth -H HOST ARGS...` (our CLI) under a time limit.
    fn berth(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .args(["-k", "5", CMD_TIMEOUT])
            .arg(berth_bin())
            .args(["-H", &self.host])
            .args(args)
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .output()
            .expect("running berth")
    }

    fn berth_ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "{}\n--- berthd log ---\n{}",
            show(&format!("berth {args:?}"), &out),
            tail(&self.log(), 40)
        );
        text(&out.stdout)
    }

    /// Loads the busybox fixture (busybox:latest) with `berth load`.
    fn load_busybox(&self) {
        let tar = fixture().join("busybox.tar");
        let out = self.berth_ok(&["load", "-i", path_str(&tar)]);
        assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    }
}

impl Daemon for Berthd {
    fn host(&self) -> &str {
        &self.host
    }
    fn dir(&self) -> &Path {
        &self.tmp
    }
    fn log(&self) -> PathBuf {
        self.tmp.join("berthd.log")
    }
    fn name(&self) -> &'static str {
        "berthd"
    }
    fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- berthd log ---\n{}", tail(&self.log(), 80));
        }
        // Every container, removed through the API while berthd is up.
        let ids: Vec<String> = text(&self.docker(&["ps", "-aq", "--no-trunc"]).stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        for id in &ids {
            let _ = self.docker(&["rm", "-f", id]);
        }
        kill(self.child.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Shims outlive berthd; they name our directory on their command
        // lines. Container processes live in cgroups named by their ids.
        kill_all(&pids_with_cmdline(path_str(&self.tmp)));
        kill_all(&pids_in_cgroups_named(&ids));
        unmount_under(&self.tmp);
        remove_cgroups_named(&ids);
        if let Err(e) = std::fs::remove_dir_all(&self.tmp) {
            eprintln!("removing {}: {e}", self.tmp.display());
        }
    }
}

/// A private dockerd (Debian's, with its own containerd and runc), no
/// bridge, no iptables; dropping it stops it and removes what it made.
struct Dockerd {
    child: Child,
    tmp: PathBuf,
    host: String,
    cgroup_parent: String,
}

impl Dockerd {
    fn start() -> Dockerd {
        assert!(
            Path::new("/usr/sbin/dockerd").exists(),
            "dockerd is not installed (apt-get install docker.io)"
        );
        let cgroup_parent = unique_id("berth-interop-dockerd");
        let tmp = short_tmpdir("bid-");
        let t = path_str(&tmp).to_string();
        for d in ["data", "exec"] {
            std::fs::create_dir_all(tmp.join(d)).expect("mkdir");
        }
        // Our own daemon.json so the host's /etc/docker/daemon.json is not
        // read. 127.0.0.0/8 registries are insecure by default.
        std::fs::write(tmp.join("daemon.json"), "{}\n").expect("daemon.json");
        let host = format!("unix://{t}/docker.sock");
        let log = std::fs::File::create(tmp.join("dockerd.log")).expect("log");
        let err = log.try_clone().expect("dup log");
        let child = Command::new("/usr/sbin/dockerd")
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
}

impl Daemon for Dockerd {
    fn host(&self) -> &str {
        &self.host
    }
    fn dir(&self) -> &Path {
        &self.tmp
    }
    fn log(&self) -> PathBuf {
        self.tmp.join("dockerd.log")
    }
    fn name(&self) -> &'static str {
        "dockerd"
    }
    fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- dockerd log ---\n{}", tail(&self.log(), 80));
        }
        let names = vec![self.cgroup_parent.clone()];
        kill_all(&pids_in_cgroups_named(&names));
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
        kill_all(&pids_in_cgroups_named(&names));
        unmount_under(&self.tmp);
        if let Err(e) = std::fs::remove_dir_all(&self.tmp) {
            eprintln!("removing {}: {e}", self.tmp.display());
        }
        remove_cgroups_named(&names);
    }
}

/// A scratch directory removed on drop.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-interop-")
        .tempdir()
        .expect("tempdir")
}

/// The busybox fixture's image ID (its config digest).
fn busybox_id() -> String {
    image_json(&fixture())["config_digest"]
        .as_str()
        .expect("config_digest")
        .to_string()
}

// -------------------------------------------------------------------- tests

#[test]
fn dockerd_save_loads_into_berthd_and_runs() {
    let dockerd = Dockerd::start();
    let berthd = Berthd::start();
    let tmp = scratch();
    let second = format!("{}:second", unique_id("interop-bb"));

    let tar = fixture().join("busybox.tar");
    dockerd.docker_ok(&["load", "-i", path_str(&tar)]);
    dockerd.docker_ok(&["tag", "busybox:latest", &second]);
    let saved = tmp.path().join("from-dockerd.tar");
    dockerd.docker_ok(&["save", "-o", path_str(&saved), "busybox:latest", &second]);

    let out = berthd.berth_ok(&["load", "-i", path_str(&saved)]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert!(out.contains(&format!("Loaded image: {second}")), "{out}");

    // The same image, by ID, on both sides.
    let id = busybox_id();
    assert_eq!(dockerd.inspect_image("busybox:latest", "{{.Id}}"), id);
    assert_eq!(berthd.inspect_image("busybox:latest", "{{.Id}}"), id);
    assert_eq!(berthd.inspect_image(&second, "{{.Id}}"), id);

    let out = berthd.berth_ok(&["run", "--rm", "busybox", "echo", "ok"]);
    assert_eq!(out, "ok\n");
    let out = berthd.docker_ok(&["run", "--rm", &second, "echo", "second"]);
    assert_eq!(out, "second\n");
}

#[test]
fn berthd_save_loads_into_dockerd_and_runs_with_runc() {
    let berthd = Berthd::start();
    let dockerd = Dockerd::start();
    let tmp = scratch();
    let tag = format!("{}:v1", unique_id("interop-from-berth"));

    berthd.load_busybox();
    berthd.berth_ok(&["tag", "busybox:latest", &tag]);
    let saved = tmp.path().join("from-berthd.tar");
    berthd.berth_ok(&["save", "-o", path_str(&saved), &tag]);

    let out = dockerd.docker_ok(&["load", "-i", path_str(&saved)]);
    assert!(out.contains(&format!("Loaded image: {tag}")), "{out}");
    assert_eq!(dockerd.inspect_image(&tag, "{{.Id}}"), busybox_id());
    assert_eq!(
        dockerd.inspect_image(&tag, "{{.Os}}/{{.Architecture}}"),
        berthd.inspect_image(&tag, "{{.Os}}/{{.Architecture}}")
    );

    let out = dockerd.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &tag,
        "sh",
        "-c",
        "echo from-berth; ls /bin/busybox",
    ]);
    assert_eq!(out, "from-berth\n/bin/busybox\n");
}

#[test]
fn skopeo_moves_berthd_archives_and_fixture_layouts_through_a_registry() {
    let registry = Registry::start().unwrap();
    let berthd = Berthd::start();
    let tmp = scratch();
    berthd.load_busybox();

    // berthd's docker-archive → registry (skopeo) → berthd.
    let saved = tmp.path().join("saved.tar");
    berthd.docker_ok(&["save", "-o", path_str(&saved), "busybox:latest"]);
    let archive_repo = unique_id("from-archive");
    let archive_digest = registry
        .push_docker_archive(&saved, &format!("{archive_repo}:1"))
        .unwrap();
    let archive_ref = registry.image_ref(&format!("{archive_repo}:1"));
    berthd.docker_ok(&["pull", &archive_ref]);
    assert_eq!(berthd.inspect_image(&archive_ref, "{{.Id}}"), busybox_id());
    let digests = berthd.inspect_image(&archive_ref, "{{json .RepoDigests}}");
    assert!(
        digests.contains(&format!(
            "{}/{archive_repo}@{archive_digest}",
            registry.host()
        )),
        "RepoDigests {digests}, skopeo pushed {archive_digest}"
    );
    let out = berthd.docker_ok(&["run", "--rm", &archive_ref, "echo", "archive"]);
    assert_eq!(out, "archive\n");

    // The fixture's OCI layout → registry (digests preserved) → berthd.
    let oci_repo = unique_id("from-oci");
    let oci_digest = registry
        .push_oci_layout(&fixture().join("oci"), "latest", &format!("{oci_repo}:1"))
        .unwrap();
    assert_eq!(
        oci_digest,
        image_json(&fixture())["manifest_digest"].as_str().unwrap()
    );
    let oci_ref = registry.image_ref(&format!("{oci_repo}:1"));
    let out = berthd.docker_ok(&["pull", &oci_ref]);
    assert!(out.contains(&format!("Digest: {oci_digest}")), "{out}");
    assert_eq!(berthd.inspect_image(&oci_ref, "{{.Id}}"), busybox_id());
    let out = berthd.docker_ok(&["run", "--rm", &oci_ref, "echo", "oci"]);
    assert_eq!(out, "oci\n");
}

#[test]
fn berthd_push_is_what_skopeo_copies_back() {
    let registry = Registry::start().unwrap();
    let berthd = Berthd::start();
    let tmp = scratch();
    berthd.load_busybox();

    let repo = unique_id("pushed-by-berth");
    let target = registry.image_ref(&format!("{repo}:1"));
    berthd.docker_ok(&["tag", "busybox:latest", &target]);
    let out = berthd.docker_ok(&["push", &target]);
    let digest = pushed_digest(&out).unwrap_or_else(|| panic!("no digest in push output:\n{out}"));

    // What berthd reported = what the registry serves.
    assert_eq!(registry.manifest_digest(&repo, "1").unwrap(), digest);
    let digests = berthd.inspect_image(&target, "{{json .RepoDigests}}");
    assert!(
        digests.contains(&format!("{}/{repo}@{digest}", registry.host())),
        "RepoDigests {digests}, push said {digest}"
    );

    // skopeo copies it into an OCI layout with the same manifest digest,
    // and the config in there is the image berthd has.
    let layout = tmp.path().join("oci");
    let copied = registry
        .skopeo_copy_with(
            &registry.docker_ref(&format!("{repo}:1")),
            &format!("oci:{}:copied", layout.display()),
            &["--preserve-digests"],
        )
        .unwrap();
    assert_eq!(copied, digest);
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str(), "{index}");
    let manifest_path = layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let manifest: Value = serde_json::from_slice(&std::fs::read(manifest_path).unwrap()).unwrap();
    assert_eq!(
        manifest["config"]["digest"].as_str().unwrap(),
        berthd.inspect_image(&target, "{{.Id}}")
    );
    let meta = image_json(&fixture());
    let want_layers: Vec<&str> = meta["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let have_layers = berthd.inspect_image(&target, "{{json .RootFS.Layers}}");
    let have_layers: Vec<String> = serde_json::from_str(&have_layers).unwrap();
    assert_eq!(have_layers, want_layers);

    // And umoci can unpack it (an independent OCI layout reader).
    let bundle = tmp.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:copied", layout.display()))
        .arg(&bundle)
        .output()
        .expect("umoci");
    assert!(out.status.success(), "{}", show("umoci unpack", &out));
    assert!(bundle.join("rootfs/bin/busybox").is_file());
}

/// Pushes a Debian fixture (`debian.sh VARIANT`) to the registry with
/// skopeo and pulls it into berthd; returns the reference pulled.
fn pull_debian(registry: &Registry, berthd: &Berthd, variant: &str) -> String {
    let dir = build_fixture("debian.sh", &[variant]);
    let meta = image_json(&dir);
    let oci_ref = meta["oci_ref"].as_str().expect("oci_ref");
    let repo = unique_id("debian");
    let pushed = registry
        .push_oci_layout(&dir.join("oci"), oci_ref, &format!("{repo}:{oci_ref}"))
        .unwrap();
    assert_eq!(pushed, meta["manifest_digest"].as_str().unwrap());
    let image = registry.image_ref(&format!("{repo}:{oci_ref}"));
    let out = berthd.docker_ok(&["pull", &image]);
    assert!(out.contains(&format!("Digest: {pushed}")), "{out}");
    assert_eq!(
        berthd.inspect_image(&image, "{{.Id}}"),
        meta["config_digest"].as_str().unwrap()
    );
    image
}

#[test]
fn debian_bookworm_pulled_into_berthd_runs() {
    let registry = Registry::start().unwrap();
    let berthd = Berthd::start();
    let image = pull_debian(&registry, &berthd, "base");
    let out = berthd.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "cat",
        "/etc/debian_version",
    ]);
    assert!(out.starts_with("12."), "{out:?}");
    let out = berthd.docker_ok(&["run", "--rm", &image, "bash", "-c", "echo $BASH_VERSION"]);
    assert!(out.starts_with("5."), "{out:?}");
}

#[test]
fn debian_nginx_pulled_into_berthd_runs_and_execs() {
    let registry = Registry::start().unwrap();
    let berthd = Berthd::start();
    let image = pull_debian(&registry, &berthd, "nginx");
    let name = unique_id("interop-nginx");
    berthd.docker_ok(&["run", "-d", "--name", &name, &image]);
    // The daemon is up (its master process is there) ...
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = berthd.docker(&["exec", &name, "cat", "/run/nginx.pid"]);
        if out.status.success() && !text(&out.stdout).trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nginx never wrote its pid file: {}\nlogs:\n{}",
            show("exec cat /run/nginx.pid", &out),
            show("logs", &berthd.docker(&["logs", &name]))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // ... and its configuration checks out.
    let out = berthd.docker(&["exec", &name, "nginx", "-t"]);
    assert!(out.status.success(), "{}", show("exec nginx -t", &out));
    let err = text(&out.stderr);
    assert!(err.contains("syntax is ok"), "{err}");
    assert!(err.contains("test is successful"), "{err}");
    assert_eq!(
        berthd
            .docker_ok(&["inspect", "-f", "{{.State.Status}}", &name])
            .trim(),
        "running"
    );
}

#[test]
fn multi_platform_pull_picks_the_requested_platform() {
    let registry = Registry::start().unwrap();
    let berthd = Berthd::start();
    let repo = unique_id("multi");
    let (_index, manifests) = registry
        .push_multi_platform_index(&format!("{repo}:latest"))
        .unwrap();
    assert!(
        manifests.iter().any(|(p, _)| p == "linux/arm64"),
        "no arm64 manifest in the index (this test expects an amd64 host): {manifests:?}"
    );
    let image = registry.image_ref(&format!("{repo}:latest"));

    berthd.docker_ok(&["pull", "--platform", "linux/arm64", &image]);
    assert_eq!(berthd.inspect_image(&image, "{{.Architecture}}"), "arm64");
    assert_eq!(berthd.inspect_image(&image, "{{.Os}}"), "linux");

    // The host's platform by default: the busybox fixture, which runs.
    berthd.docker_ok(&["pull", &image]);
    assert_eq!(berthd.inspect_image(&image, "{{.Architecture}}"), "amd64");
    assert_eq!(berthd.inspect_image(&image, "{{.Id}}"), busybox_id());
    let out = berthd.docker_ok(&["run", "--rm", &image, "echo", "native"]);
    assert_eq!(out, "native\n");
}
