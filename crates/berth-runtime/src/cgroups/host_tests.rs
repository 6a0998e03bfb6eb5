//! Tests against this host's real cgroup hierarchies. They need root (CI
//! runs as root) and fail, never skip, when root or a controller they need
//! is missing. Each prints the layout it ran under.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use oci_spec::runtime::LinuxResources;

use super::cgroup::{Controller, Target};
use super::fs::Dir;
use super::layout::CgroupLayout;
use super::Cgroup;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A cgroups path no other test (or test run) uses.
fn unique_path() -> String {
    format!(
        "/berth-cgtest-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// Detects the layout after checking we are root, and says which it is.
fn host_layout(test: &str) -> CgroupLayout {
    assert!(
        nix::unistd::geteuid().is_root(),
        "{test}: host cgroup tests must run as root (they create real cgroups)"
    );
    let layout = CgroupLayout::detect().expect("detect the host's cgroup layout");
    let v1: Vec<String> = layout
        .v1
        .iter()
        .map(|h| format!("{}={}", h.controllers.join(","), h.mount_point.display()))
        .collect();
    let v2 = layout
        .v2
        .as_ref()
        .map(|v| format!("{} [{}]", v.mount_point.display(), v.controllers.join(" ")));
    eprintln!(
        "{test}: cgroup layout {} (v1: {v1:?}; v2: {v2:?})",
        layout.kind().as_str()
    );
    layout
}

/// Kills the test's child and removes its cgroups even when the test
/// panics half way.
struct Guard {
    cgroups: Vec<Cgroup>,
    children: Vec<Child>,
}

impl Guard {
    fn new() -> Self {
        Guard {
            cgroups: Vec::new(),
            children: Vec::new(),
        }
    }

    fn spawn_sleep(&mut self) -> i32 {
        let child = Command::new("sleep")
            .arg("100")
            .spawn()
            .expect("spawn sleep");
        let pid = i32::try_from(child.id()).expect("pid fits in i32");
        self.children.push(child);
        pid
    }

    fn kill_children(&mut self) {
        for mut child in self.children.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // A frozen v1 task does not die until thawed.
        for cgroup in &self.cgroups {
            let _ = cgroup.thaw();
        }
        self.kill_children();
        for cgroup in self.cgroups.iter().rev() {
            if let Err(e) = cgroup.destroy() {
                eprintln!("cleanup of {}: {e}", cgroup.path().display());
            }
        }
    }
}

/// The file where `controller`'s setting lives for this cgroup: the v1 or
/// the v2 name. Fails the test when the controller is nowhere.
fn setting_file(cgroup: &Cgroup, controller: Controller, v1: &str, v2: &str) -> PathBuf {
    match cgroup.locate(controller) {
        Some(Target::V1(dir)) => dir.file(v1),
        Some(Target::V2(dir)) => dir.file(v2),
        None => panic!(
            "this host's {} layout has no {} controller: the test cannot check it",
            cgroup.layout_kind().as_str(),
            controller.v1_name()
        ),
    }
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("resources json")
}

const MIB64: u64 = 64 << 20;

#[test]
fn host_limits_join_freeze_and_destroy() {
    let layout = host_layout("host_limits_join_freeze_and_destroy");
    let mut guard = Guard::new();
    let cgroup = Cgroup::new(&layout, &unique_path()).unwrap();
    guard.cgroups.push(cgroup.clone());
    cgroup.create().unwrap();
    for dir in cgroup.dirs() {
        assert!(dir.path.is_dir(), "{} was not created", dir.path.display());
    }

    let json = format!(
        r#"{{"memory": {{"limit": {MIB64}}}, "pids": {{"limit": 10}},
             "cpu": {{"quota": 50000, "period": 100000}}}}"#
    );
    cgroup.apply(&resources(&json)).unwrap();
    let memory = setting_file(
        &cgroup,
        Controller::Memory,
        "memory.limit_in_bytes",
        "memory.max",
    );
    assert_eq!(read(&memory), MIB64.to_string());
    let pids = setting_file(&cgroup, Controller::Pids, "pids.max", "pids.max");
    assert_eq!(read(&pids), "10");
    match cgroup.locate(Controller::Cpu) {
        Some(Target::V1(dir)) => {
            assert_eq!(read(&dir.file("cpu.cfs_quota_us")), "50000");
            assert_eq!(read(&dir.file("cpu.cfs_period_us")), "100000");
        }
        Some(Target::V2(dir)) => assert_eq!(read(&dir.file("cpu.max")), "50000 100000"),
        None => panic!("this host has no cpu controller"),
    }

    let pid = guard.spawn_sleep();
    cgroup.add_process(pid).unwrap();
    assert!(cgroup.pids().unwrap().contains(&pid));
    for procs in cgroup.procs_files() {
        let members = read(procs);
        assert!(
            members.lines().any(|l| l == pid.to_string()),
            "{pid} not in {}: {members:?}",
            procs.display()
        );
    }

    cgroup.freeze().unwrap();
    assert!(cgroup.is_frozen().unwrap());
    cgroup.thaw().unwrap();
    assert!(!cgroup.is_frozen().unwrap());

    let stats = cgroup.stats().unwrap();
    eprintln!("stats: {}", serde_json::to_string(&stats).unwrap());
    assert_eq!(stats.memory.limit, Some(MIB64));
    assert!(stats.memory.usage.is_some());
    assert_eq!(stats.pids.limit, Some(10));
    assert!(stats.pids.current >= Some(1));
    assert!(stats.cpu.usage_total_ns.is_some());
    assert_eq!(cgroup.oom_kill_count().unwrap(), 0);

    guard.kill_children();
    cgroup.destroy().unwrap();
    for dir in cgroup.dirs() {
        assert!(!dir.path.exists(), "{} still exists", dir.path.display());
    }
    assert!(cgroup.pids().unwrap().is_empty());
}

#[test]
fn host_nested_paths_share_and_release_parents() {
    let layout = host_layout("host_nested_paths_share_and_release_parents");
    let mut guard = Guard::new();
    let parent = unique_path();
    let a = Cgroup::new(&layout, &format!("{parent}/a")).unwrap();
    let b = Cgroup::new(&layout, &format!("{parent}/b")).unwrap();
    guard.cgroups.push(a.clone());
    guard.cgroups.push(b.clone());
    a.create().unwrap();
    b.create().unwrap();

    match a.locate(Controller::Cpuset) {
        Some(Target::V1(dir)) => {
            let parent_dir = dir.0.parent().expect("a has a parent");
            for file in ["cpuset.cpus", "cpuset.mems"] {
                assert!(
                    !Dir(parent_dir).read(file).unwrap().is_empty(),
                    "parent {file} empty"
                );
                assert!(!dir.read(file).unwrap().is_empty(), "{file} empty");
            }
        }
        Some(Target::V2(dir)) => {
            let parent_dir = dir.0.parent().expect("a has a parent");
            let enabled = Dir(parent_dir).read("cgroup.subtree_control").unwrap();
            assert!(
                enabled.contains("cpuset"),
                "cpuset not enabled: {enabled:?}"
            );
        }
        None => panic!("this host has no cpuset controller"),
    }

    // Joining works only if the cpuset was filled in.
    let pid = guard.spawn_sleep();
    a.add_process(pid).unwrap();
    assert_eq!(a.pids().unwrap(), [pid]);
    assert!(b.pids().unwrap().is_empty());

    guard.kill_children();
    a.destroy().unwrap();
    for dir in b.dirs() {
        assert!(
            dir.path.is_dir(),
            "b's {} went away with a",
            dir.path.display()
        );
    }
    b.destroy().unwrap();
    for dir in b.dirs() {
        let parent_dir = dir.path.parent().expect("b has a parent");
        assert!(
            !parent_dir.exists(),
            "empty parent {} left",
            parent_dir.display()
        );
        assert!(dir.mount_point.is_dir(), "hierarchy root must stay");
    }
}

#[test]
fn host_hybrid_v2_dir_tracks_and_owns_v2_only_controllers() {
    let layout = host_layout("host_hybrid_v2_dir_tracks_and_owns_v2_only_controllers");
    let mut guard = Guard::new();
    let cgroup = Cgroup::new(&layout, &unique_path()).unwrap();
    guard.cgroups.push(cgroup.clone());
    cgroup.create().unwrap();

    // Whatever the layout, a hugepage limit must land somewhere.
    let json = r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}"#;
    cgroup.apply(&resources(json)).unwrap();
    let file = setting_file(
        &cgroup,
        Controller::Hugetlb,
        "hugetlb.2MB.limit_in_bytes",
        "hugetlb.2MB.max",
    );
    assert_eq!(read(&file), "0");

    let Some(v2) = cgroup.v2_dir() else {
        eprintln!("no cgroup2 mount: the v2-tracking part does not apply to a v1 layout");
        return;
    };
    let pid = guard.spawn_sleep();
    cgroup.add_process(pid).unwrap();
    let members = v2.read("cgroup.procs").unwrap();
    assert_eq!(
        members,
        pid.to_string(),
        "cgroup2 dir must track the process"
    );
    // Limits that v1 serves were not applied through cgroup2.
    if let Some(Target::V1(_)) = cgroup.locate(Controller::Memory) {
        assert!(
            !v2.has("memory.max"),
            "memory must not be enabled in cgroup2 here"
        );
    }
}

/// Two "containers" under one parent, created and destroyed over and over
/// in parallel: one's destroy removes the shared parent while the other's
/// create is between mkdirs, which `create` must survive (ENOENT retry).
/// 400 rounds reproduce the race on most runs when the retry is disabled.
#[test]
fn host_create_survives_concurrent_destroy_of_shared_parent() {
    let layout = host_layout("host_create_survives_concurrent_destroy_of_shared_parent");
    let parent = unique_path();
    let mut guard = Guard::new();
    let workers: Vec<Cgroup> = ["a", "b"]
        .iter()
        .map(|name| Cgroup::new(&layout, &format!("{parent}/{name}")).unwrap())
        .collect();
    guard.cgroups.extend(workers.iter().cloned());
    std::thread::scope(|scope| {
        for cgroup in &workers {
            scope.spawn(move || {
                for round in 0..400 {
                    cgroup
                        .create()
                        .unwrap_or_else(|e| panic!("round {round}: create: {e}"));
                    cgroup
                        .destroy()
                        .unwrap_or_else(|e| panic!("round {round}: destroy: {e}"));
                }
            });
        }
    });
    for cgroup in &workers {
        for dir in cgroup.dirs() {
            assert!(!dir.path.exists(), "{} left behind", dir.path.display());
            let shared = dir.path.parent().expect("has a parent");
            assert!(!shared.exists(), "{} left behind", shared.display());
        }
    }
}
