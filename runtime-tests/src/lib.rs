//! Shared harness for the runtime integration tests: bundles made from the
//! busybox fixture, a private state root per test, and cleanup that runs
//! even when a test fails (Drop guards).

pub mod berthd;
pub mod cleanup;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use tempfile::TempDir;

/// The berth-runtime binary under test.
pub fn runtime_bin() -> PathBuf {
    std::env::var_os("BERTH_RUNTIME_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/berth-runtime"))
}

/// The berth CLI binary under test (`cargo build -p berth`).
pub fn berth_bin() -> PathBuf {
    std::env::var_os("BERTH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/berth"))
}

/// The static probe binary copied into containers.
pub fn probe_bin() -> PathBuf {
    PathBuf::from(env!("BERTH_PROBE_BIN"))
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The busybox fixture directory (built and cached by rootfs-fixtures/).
pub fn fixture() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_BUSYBOX_FIXTURE") {
        return PathBuf::from(dir);
    }
    let out = Command::new(workspace_root().join("rootfs-fixtures/busybox.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running rootfs-fixtures/busybox.sh");
    assert!(out.status.success(), "building the busybox fixture failed");
    let text = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(text.lines().last().expect("fixture path").trim())
}

/// Which cgroup layout this host has, for test reports.
pub fn cgroup_layout() -> &'static str {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let has_v1 = info.lines().any(|l| l.contains(" - cgroup "));
    let has_v2 = info.lines().any(|l| l.contains(" - cgroup2 "));
    match (has_v1, has_v2) {
        (true, true) => "hybrid (v1 controllers + cgroup2)",
        (true, false) => "v1",
        (false, true) => "v2",
        _ => "none",
    }
}

/// A unique container id for this test process.
pub fn unique_id(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A bundle with its own copy of the busybox rootfs (plus /probe), so
/// tests can add files without touching the shared fixture.
pub struct Bundle {
    dir: TempDir,
    pub spec: Value,
}

impl Bundle {
    /// A bundle running `args`, with the defaults `berth-runtime spec`
    /// writes, no terminal, and a cgroup under /berth-test/.
    pub fn busybox(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-bundle-")
            .tempdir()
            .expect("tempdir");
        let status = Command::new("cp")
            .arg("-a")
            .arg(fixture().join("rootfs"))
            .arg(dir.path().join("rootfs"))
            .status()
            .expect("cp rootfs");
        assert!(status.success(), "copying the rootfs failed");
        std::fs::copy(probe_bin(), dir.path().join("rootfs/probe")).expect("copy probe");
        let out = Command::new(runtime_bin())
            .arg("spec")
            .current_dir(dir.path())
            .output()
            .expect("berth-runtime spec");
        assert!(
            out.status.success(),
            "spec failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.path().join("config.json")).expect("read spec");
        let mut spec: Value = serde_json::from_str(&text).expect("parse spec");
        spec["process"]["terminal"] = Value::Bool(false);
        spec["process"]["args"] = serde_json::json!(args);
        let cgroup = format!("/berth-test/{}", unique_id("cg"));
        spec["linux"]["cgroupsPath"] = Value::from(cgroup);
        let bundle = Bundle { dir, spec };
        bundle.save();
        bundle
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Writes `spec` to config.json (call after changing it).
    pub fn save(&self) {
        let text = serde_json::to_string_pretty(&self.spec).expect("serialize spec");
        std::fs::write(self.dir.path().join("config.json"), text).expect("write config.json");
    }
}

/// A private state root; every container left in it is force-deleted on drop.
pub struct Runtime {
    root: TempDir,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    pub fn new() -> Runtime {
        eprintln!("cgroup layout: {}", cgroup_layout());
        let root = tempfile::Builder::new()
            .prefix("berth-state-")
            .tempdir()
            .expect("tempdir");
        Runtime { root }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `berth-runtime --root ROOT` ready for arguments.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(runtime_bin());
        cmd.arg("--root").arg(self.root.path());
        cmd
    }

    /// Runs `berth-runtime --root ROOT ARGS...` and collects its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running berth-runtime")
    }

    /// `run --bundle B ID`: the container's output and exit code.
    pub fn run_container(&self, bundle: &Bundle, id: &str) -> Output {
        let path = bundle.path().to_str().expect("utf-8 path");
        self.run(&["run", "--bundle", path, id])
    }

    /// `create` with the container's stdio going to files in the bundle.
    pub fn create(&self, bundle: &Bundle, id: &str) -> Output {
        let out = std::fs::File::create(bundle.path().join("stdout")).expect("stdout file");
        let err = std::fs::File::create(bundle.path().join("stderr")).expect("stderr file");
        self.command()
            .args(["create", "--bundle"])
            .arg(bundle.path())
            .arg(id)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .output()
            .expect("running berth-runtime create")
    }

    /// The parsed `state` of a container.
    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        assert!(out.status.success(), "state {id} failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("state JSON")
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Polls until the container reaches `status` (bounded; panics after).
    pub fn wait_status(&self, id: &str, status: &str) {
        for _ in 0..2000 {
            if self.status(id) == status {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container {id} never reached {status}: {}", self.status(id));
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.root.path()) else {
            return;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let id = entry.file_name().to_string_lossy().into_owned();
            let _ = self.run(&["delete", "--force", &id]);
        }
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}
