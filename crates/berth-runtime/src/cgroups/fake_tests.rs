//! Unit tests over fake hierarchies in a temporary directory: the layout's
//! paths are data, so create/apply/add_process/pids/freeze/stats can be
//! checked without root by pre-creating the control files the kernel would
//! provide.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::error::CgroupError;
use super::layout::{CgroupLayout, V1Hierarchy, V2Hierarchy};
use super::Cgroup;

const ALL_V2: &str = "cpuset cpu io memory hugetlb pids rdma misc";

/// Creates `dir` and files in it with the given contents.
fn files(dir: &Path, entries: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, content) in entries {
        std::fs::write(dir.join(name), content).unwrap();
    }
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn v2_layout(root: &Path, controllers: &str) -> CgroupLayout {
    CgroupLayout {
        v1: Vec::new(),
        v2: Some(V2Hierarchy {
            mount_point: root.to_path_buf(),
            controllers: controllers.split_whitespace().map(str::to_owned).collect(),
        }),
    }
}

/// The files a v2 container dir offers (those our code writes or reads).
fn v2_container_files(dir: &Path) {
    files(
        dir,
        &[
            ("cgroup.procs", ""),
            ("cgroup.controllers", ""),
            ("cgroup.subtree_control", ""),
            ("cgroup.freeze", "0"),
            ("cgroup.events", "populated 1\nfrozen 1\n"),
            ("memory.max", "max"),
            ("memory.swap.max", "max"),
            ("memory.low", "0"),
            ("memory.current", "4096"),
            ("memory.events", "low 0\nhigh 0\nmax 0\noom 2\noom_kill 1\n"),
            ("cpu.weight", "100"),
            ("cpu.max", "max 100000"),
            ("cpu.max.burst", "0"),
            ("cpu.idle", "0"),
            (
                "cpu.stat",
                "usage_usec 5\nnr_periods 9\nnr_throttled 2\nthrottled_usec 7\n",
            ),
            ("cpuset.cpus", ""),
            ("cpuset.mems", ""),
            ("pids.max", "max"),
            ("pids.current", "3"),
            ("io.weight", "default 100"),
            ("io.max", ""),
            ("hugetlb.2MB.max", "max"),
        ],
    );
}

/// A pure v2 tree: root and an intermediate `berth/` offering every
/// controller, and the container dir `berth/c1`.
fn fake_v2(root: &Path) -> (Cgroup, PathBuf) {
    files(
        root,
        &[
            ("cgroup.controllers", ALL_V2),
            ("cgroup.subtree_control", ""),
        ],
    );
    files(
        &root.join("berth"),
        &[
            ("cgroup.controllers", ALL_V2),
            ("cgroup.subtree_control", ""),
        ],
    );
    let dir = root.join("berth/c1");
    v2_container_files(&dir);
    let cgroup = Cgroup::new(&v2_layout(root, ALL_V2), "/berth/c1").unwrap();
    (cgroup, dir)
}

#[test]
fn v2_create_enables_controllers_from_the_root_down() {
    let tmp = tempfile::tempdir().unwrap();
    let (cgroup, _) = fake_v2(tmp.path());
    cgroup.create().unwrap();
    let all = "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc";
    assert_eq!(read(tmp.path().join("cgroup.subtree_control")), all);
    assert_eq!(read(tmp.path().join("berth/cgroup.subtree_control")), all);
    // The container's own dir enables nothing for children.
    assert_eq!(read(tmp.path().join("berth/c1/cgroup.subtree_control")), "");
}

#[test]
fn v2_create_enables_only_offered_and_not_yet_enabled() {
    let tmp = tempfile::tempdir().unwrap();
    let (cgroup, _) = fake_v2(tmp.path());
    files(
        &tmp.path().join("berth"),
        &[
            ("cgroup.controllers", "cpu memory"),
            ("cgroup.subtree_control", "cpu"),
        ],
    );
    cgroup.create().unwrap();
    assert_eq!(
        read(tmp.path().join("berth/cgroup.subtree_control")),
        "+memory"
    );
}

#[test]
fn v2_apply_converts_values() {
    let tmp = tempfile::tempdir().unwrap();
    let (cgroup, dir) = fake_v2(tmp.path());
    cgroup.create().unwrap();
    let mib = 1 << 20;
    let json = format!(
        r#"{{
        "memory": {{"limit": {}, "swap": {}, "reservation": {}, "swappiness": 10,
                    "disableOOMKiller": true}},
        "cpu": {{"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000,
                 "idle": 1, "cpus": "0-1", "mems": "0"}},
        "pids": {{"limit": 10}},
        "blockIO": {{"weight": 500,
                     "throttleReadBpsDevice": [{{"major": 8, "minor": 0, "rate": 1048576}}],
                     "throttleWriteIOPSDevice": [{{"major": 8, "minor": 16, "rate": 0}}]}},
        "hugepageLimits": [{{"pageSize": "2MB", "limit": 4194304}}]
    }}"#,
        64 * mib,
        96 * mib,
        32 * mib
    );
    cgroup.apply(&resources(&json)).unwrap();
    let file = |name: &str| read(dir.join(name));
    assert_eq!(file("memory.max"), (64 * mib).to_string());
    assert_eq!(file("memory.swap.max"), (32 * mib).to_string());
    assert_eq!(file("memory.low"), (32 * mib).to_string());
    assert_eq!(file("cpu.weight"), "39");
    assert_eq!(file("cpu.max"), "50000 100000");
    assert_eq!(file("cpu.max.burst"), "1000");
    assert_eq!(file("cpu.idle"), "1");
    assert_eq!(file("cpuset.cpus"), "0-1");
    assert_eq!(file("cpuset.mems"), "0");
    assert_eq!(file("pids.max"), "10");
    assert_eq!(file("io.weight"), (1 + 490 * 9999 / 990).to_string());
    // One line per write; the fake file keeps the last.
    assert_eq!(file("io.max"), "8:16 wiops=max");
    assert_eq!(file("hugetlb.2MB.max"), "4194304");
}

#[test]
fn v2_unlimited_values() {
    let tmp = tempfile::tempdir().unwrap();
    let (cgroup, dir) = fake_v2(tmp.path());
    std::fs::write(dir.join("memory.max"), "1").unwrap();
    std::fs::write(dir.join("pids.max"), "1").unwrap();
    let json = r#"{"memory": {"limit": -1}, "cpu": {"quota": -1, "period": 100000},
                   "pids": {"limit": -1}}"#;
    cgroup.apply(&resources(json)).unwrap();
    assert_eq!(read(dir.join("memory.max")), "max");
    assert_eq!(read(dir.join("memory.swap.max")), "max");
    assert_eq!(read(dir.join("cpu.max")), "max 100000");
    assert_eq!(read(dir.join("pids.max")), "max");
}

#[test]
fn v2_realtime_and_leaf_weight_are_unsupported() {
    let tmp = tempfile::tempdir().unwrap();
    let (cgroup, _) = fake_v2(tmp.path());
    let err = cgroup
        .apply(&resources(r#"{"cpu": {"realtimeRuntime": 950000}}"#))
        .unwrap_err();
    assert!(err.to_string().contains("realtime"), "{err}");
    let err = cgroup
        .apply(&resources(r#"{"blockIO": {"leafWeight": 300}}"#))
        .unwrap_err();
    assert!(err.to_string().contains("leafWeight"), "{err}");
}

#[test]
fn missing_controller_is_a_clear_error_unless_unset() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = v2_layout(tmp.path(), "cpu memory");
    let cgroup = Cgroup::new(&layout, "/berth/c1").unwrap();
    v2_container_files(&tmp.path().join("berth/c1"));
    let err = cgroup
        .apply(&resources(r#"{"pids": {"limit": 10}}"#))
        .unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::ControllerMissing {
                controller: "pids",
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("pids") && text.contains("v2"), "{text}");
    // Zero and empty values ask for nothing.
    let json = r#"{"pids": {"limit": 0}, "hugepageLimits": [], "blockIO": {"weight": 0},
                   "cpu": {"cpus": ""}}"#;
    cgroup.apply(&resources(json)).unwrap();
    let err = cgroup
        .apply(&resources(
            r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}"#,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("hugetlb"), "{err}");
}

#[test]
fn write_errors_name_the_file_and_value() {
    let tmp = tempfile::tempdir().unwrap();
    let (cgroup, dir) = fake_v2(tmp.path());
    std::fs::remove_file(dir.join("pids.max")).unwrap();
    let err = cgroup
        .apply(&resources(r#"{"pids": {"limit": 10}}"#))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("berth/c1/pids.max") && text.contains("\"10\""),
        "{text}"
    );
}

#[test]
fn v2_add_process_pids_freeze_and_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let (cgroup, dir) = fake_v2(tmp.path());
    cgroup.add_process(42).unwrap();
    assert_eq!(read(dir.join("cgroup.procs")), "42");

    std::fs::write(dir.join("cgroup.procs"), "12\n5\n").unwrap();
    files(&dir.join("nested"), &[("cgroup.procs", "7\n5\n")]);
    assert_eq!(cgroup.pids().unwrap(), [5, 7, 12]);

    // The fake cgroup.events already says "frozen 1".
    cgroup.freeze().unwrap();
    assert_eq!(read(dir.join("cgroup.freeze")), "1");
    assert!(cgroup.is_frozen().unwrap());

    let stats = cgroup.stats().unwrap();
    assert_eq!(stats.memory.usage, Some(4096));
    assert_eq!(stats.memory.max_usage, None, "no memory.peak in the fake");
    assert_eq!(stats.memory.limit, Some(u64::MAX));
    assert_eq!(stats.cpu.usage_total_ns, Some(5000));
    assert_eq!(stats.cpu.throttled_periods, Some(2));
    assert_eq!(stats.cpu.throttled_time_ns, Some(7000));
    assert_eq!(stats.pids.current, Some(3));
    assert_eq!(stats.pids.limit, Some(u64::MAX));
    assert_eq!(stats.oom_kills, Some(1));
    assert_eq!(cgroup.oom_kill_count().unwrap(), 1);
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["memory"]["max_usage"], serde_json::Value::Null);
}

#[test]
fn pids_of_a_missing_cgroup_is_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let cgroup = Cgroup::new(&v2_layout(tmp.path(), ""), "/nope").unwrap();
    assert!(cgroup.pids().unwrap().is_empty());
}

/// A v1 tree with separate cpu and cpuacct hierarchies, as on this host.
struct FakeV1 {
    root: PathBuf,
    cgroup: Cgroup,
}

impl FakeV1 {
    fn new(root: &Path, controllers: &[&str]) -> Self {
        let layout = CgroupLayout {
            v1: controllers
                .iter()
                .map(|c| V1Hierarchy {
                    mount_point: root.join(c),
                    controllers: vec![(*c).to_owned()],
                })
                .collect(),
            v2: None,
        };
        for c in controllers {
            files(&root.join(c).join("berth/c1"), &[("cgroup.procs", "")]);
        }
        let cgroup = Cgroup::new(&layout, "/berth/c1").unwrap();
        FakeV1 {
            root: root.to_path_buf(),
            cgroup,
        }
    }

    fn dir(&self, controller: &str) -> PathBuf {
        self.root.join(controller).join("berth/c1")
    }

    fn files(&self, controller: &str, entries: &[(&str, &str)]) {
        files(&self.dir(controller), entries);
    }

    fn read(&self, controller: &str, file: &str) -> String {
        read(self.dir(controller).join(file))
    }
}

const V1_UNLIMITED: &str = "9223372036854771712";

fn fake_v1(root: &Path) -> FakeV1 {
    let fake = FakeV1::new(
        root,
        &[
            "memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer", "hugetlb",
        ],
    );
    fake.files(
        "memory",
        &[
            ("memory.limit_in_bytes", V1_UNLIMITED),
            ("memory.memsw.limit_in_bytes", V1_UNLIMITED),
            ("memory.soft_limit_in_bytes", V1_UNLIMITED),
            ("memory.swappiness", "60"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
            ),
            ("memory.usage_in_bytes", "8192"),
            ("memory.max_usage_in_bytes", "16384"),
        ],
    );
    fake.files(
        "cpu",
        &[
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.cfs_burst_us", "0"),
            ("cpu.rt_period_us", "1000000"),
            ("cpu.rt_runtime_us", "0"),
            (
                "cpu.stat",
                "nr_periods 4\nnr_throttled 1\nthrottled_time 99\n",
            ),
        ],
    );
    fake.files("cpuacct", &[("cpuacct.usage", "123456")]);
    fake.files("pids", &[("pids.max", "max"), ("pids.current", "1")]);
    fake.files(
        "blkio",
        &[
            ("blkio.weight", "500"),
            ("blkio.weight_device", ""),
            ("blkio.leaf_weight", "500"),
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", ""),
        ],
    );
    fake.files("devices", &[("devices.allow", ""), ("devices.deny", "")]);
    fake.files("freezer", &[("freezer.state", "THAWED")]);
    fake.files(
        "hugetlb",
        &[
            ("hugetlb.2MB.limit_in_bytes", V1_UNLIMITED),
            ("hugetlb.2MB.rsvd.limit_in_bytes", V1_UNLIMITED),
        ],
    );
    fake
}

#[test]
fn v1_apply_writes_spec_values() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = fake_v1(tmp.path());
    let mib: i64 = 1 << 20;
    let json = format!(
        r#"{{
        "memory": {{"limit": {}, "swap": {}, "reservation": {}, "swappiness": 0,
                    "disableOOMKiller": true, "kernel": 1}},
        "cpu": {{"shares": 512, "quota": 50000, "period": 200000, "burst": 1000,
                 "realtimePeriod": 500000, "realtimeRuntime": 1000}},
        "pids": {{"limit": 10}},
        "blockIO": {{"weight": 300, "leafWeight": 200,
                     "weightDevice": [{{"major": 8, "minor": 0, "weight": 100}}],
                     "throttleReadBpsDevice": [{{"major": 8, "minor": 0, "rate": 1048576}}]}},
        "hugepageLimits": [{{"pageSize": "2MB", "limit": 2097152}}],
        "devices": [{{"allow": false, "access": "rwm"}},
                    {{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}}]
    }}"#,
        64 * mib,
        128 * mib,
        32 * mib
    );
    fake.cgroup.apply(&resources(&json)).unwrap();
    assert_eq!(
        fake.read("memory", "memory.limit_in_bytes"),
        (64 * mib).to_string()
    );
    assert_eq!(
        fake.read("memory", "memory.memsw.limit_in_bytes"),
        (128 * mib).to_string()
    );
    assert_eq!(
        fake.read("memory", "memory.soft_limit_in_bytes"),
        (32 * mib).to_string()
    );
    assert_eq!(fake.read("memory", "memory.swappiness"), "0");
    assert_eq!(fake.read("memory", "memory.oom_control"), "1");
    assert_eq!(fake.read("cpu", "cpu.shares"), "512");
    assert_eq!(fake.read("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(fake.read("cpu", "cpu.cfs_period_us"), "200000");
    assert_eq!(fake.read("cpu", "cpu.cfs_burst_us"), "1000");
    assert_eq!(fake.read("cpu", "cpu.rt_period_us"), "500000");
    assert_eq!(fake.read("cpu", "cpu.rt_runtime_us"), "1000");
    assert_eq!(fake.read("pids", "pids.max"), "10");
    assert_eq!(fake.read("blkio", "blkio.weight"), "300");
    assert_eq!(fake.read("blkio", "blkio.leaf_weight"), "200");
    assert_eq!(fake.read("blkio", "blkio.weight_device"), "8:0 100");
    assert_eq!(
        fake.read("blkio", "blkio.throttle.read_bps_device"),
        "8:0 1048576"
    );
    assert_eq!(
        fake.read("hugetlb", "hugetlb.2MB.limit_in_bytes"),
        "2097152"
    );
    assert_eq!(
        fake.read("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes"),
        "2097152"
    );
    assert_eq!(fake.read("devices", "devices.deny"), "a *:* rwm");
    assert_eq!(fake.read("devices", "devices.allow"), "c 1:3 rwm");
}

/// Makes memsw unwritable (a directory in its place), so the write order
/// shows in whether memory.limit_in_bytes changed before the failure.
fn break_memsw(fake: &FakeV1) {
    let memsw = fake.dir("memory").join("memory.memsw.limit_in_bytes");
    std::fs::remove_file(&memsw).unwrap();
    std::fs::create_dir(&memsw).unwrap();
}

#[test]
fn v1_raising_memory_writes_memsw_first() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = fake_v1(tmp.path());
    fake.files("memory", &[("memory.limit_in_bytes", "1000")]);
    break_memsw(&fake);
    let json = r#"{"memory": {"limit": 2000, "swap": 4000}}"#;
    let err = fake.cgroup.apply(&resources(json)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("memory.memsw.limit_in_bytes") && text.contains("\"4000\""),
        "{text}"
    );
    assert_eq!(fake.read("memory", "memory.limit_in_bytes"), "1000");
}

#[test]
fn v1_lowering_memory_writes_memory_first() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = fake_v1(tmp.path());
    break_memsw(&fake);
    let json = r#"{"memory": {"limit": 2000, "swap": 4000}}"#;
    assert!(fake.cgroup.apply(&resources(json)).is_err());
    assert_eq!(fake.read("memory", "memory.limit_in_bytes"), "2000");
}

#[test]
fn v1_without_swap_accounting_skips_memsw() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = fake_v1(tmp.path());
    std::fs::remove_file(fake.dir("memory").join("memory.memsw.limit_in_bytes")).unwrap();
    let json = r#"{"memory": {"limit": 2000, "swap": 4000}}"#;
    fake.cgroup.apply(&resources(json)).unwrap();
    assert_eq!(fake.read("memory", "memory.limit_in_bytes"), "2000");
}

#[test]
fn v1_swap_below_memory_is_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = fake_v1(tmp.path());
    let json = r#"{"memory": {"limit": 4000, "swap": 2000}}"#;
    let err = fake.cgroup.apply(&resources(json)).unwrap_err();
    assert!(matches!(err, CgroupError::InvalidResource { .. }), "{err}");
}

#[test]
fn v1_cpuset_is_copied_down_on_create() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = FakeV1::new(tmp.path(), &["cpuset", "name=systemd"]);
    let root = tmp.path().join("cpuset");
    files(&root, &[("cpuset.cpus", "0-3"), ("cpuset.mems", "0")]);
    files(
        &root.join("berth"),
        &[("cpuset.cpus", ""), ("cpuset.mems", "")],
    );
    fake.files("cpuset", &[("cpuset.cpus", "\n"), ("cpuset.mems", "")]);
    fake.cgroup.create().unwrap();
    assert_eq!(read(root.join("berth/cpuset.cpus")), "0-3");
    assert_eq!(read(root.join("berth/cpuset.mems")), "0");
    assert_eq!(fake.read("cpuset", "cpuset.cpus"), "0-3");
    assert_eq!(fake.read("cpuset", "cpuset.mems"), "0");
    // A cgroup that already has values keeps them.
    files(&root.join("berth"), &[("cpuset.cpus", "1")]);
    fake.files("cpuset", &[("cpuset.cpus", "")]);
    fake.cgroup.create().unwrap();
    assert_eq!(fake.read("cpuset", "cpuset.cpus"), "1");
}

#[test]
fn v1_add_process_joins_every_hierarchy_including_named() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = FakeV1::new(tmp.path(), &["memory", "pids", "name=systemd"]);
    fake.cgroup.add_process(0).unwrap();
    for c in ["memory", "pids", "name=systemd"] {
        assert_eq!(fake.read(c, "cgroup.procs"), "0", "{c}");
    }
}

#[test]
fn v1_freezer_stats_and_pids() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = fake_v1(tmp.path());
    fake.cgroup.freeze().unwrap();
    assert_eq!(fake.read("freezer", "freezer.state"), "FROZEN");
    assert!(fake.cgroup.is_frozen().unwrap());
    fake.cgroup.thaw().unwrap();
    assert!(!fake.cgroup.is_frozen().unwrap());

    fake.files("pids", &[("cgroup.procs", "3\n1\n")]);
    fake.files("memory", &[("cgroup.procs", "99\n")]);
    assert_eq!(
        fake.cgroup.pids().unwrap(),
        [1, 3],
        "pids hierarchy is preferred"
    );

    let stats = fake.cgroup.stats().unwrap();
    assert_eq!(stats.memory.usage, Some(8192));
    assert_eq!(stats.memory.max_usage, Some(16384));
    assert_eq!(
        stats.memory.limit,
        Some(u64::MAX),
        "v1 unlimited reads as u64::MAX"
    );
    assert_eq!(stats.cpu.usage_total_ns, Some(123_456));
    assert_eq!(stats.cpu.throttled_periods, Some(1));
    assert_eq!(stats.cpu.throttled_time_ns, Some(99));
    assert_eq!(stats.pids.current, Some(1));
    assert_eq!(stats.oom_kills, Some(0));
    assert_eq!(fake.cgroup.oom_kill_count().unwrap(), 0);
}

#[test]
fn device_rules_need_a_devices_controller_or_real_cgroup2() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = FakeV1::new(tmp.path(), &["memory"]);
    let rules = r#"{"devices": [{"allow": false, "access": "rwm"}]}"#;
    let err = fake.cgroup.apply(&resources(rules)).unwrap_err();
    assert!(err.to_string().contains("devices"), "{err}");

    // A fake v2 tree is a plain directory: no device program can be
    // attached to it, and that must fail loudly, never be skipped.
    let (v2, _) = fake_v2(&tmp.path().join("v2"));
    let err = v2.apply(&resources(rules)).unwrap_err();
    assert!(err.to_string().contains("cgroup"), "{err}");
}

#[test]
fn hybrid_uses_v1_for_limits_and_v2_for_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let layout = CgroupLayout {
        v1: vec![
            V1Hierarchy {
                mount_point: root.join("memory"),
                controllers: vec!["memory".into()],
            },
            V1Hierarchy {
                mount_point: root.join("systemd"),
                controllers: vec!["name=systemd".into()],
            },
        ],
        v2: Some(V2Hierarchy {
            mount_point: root.join("unified"),
            controllers: vec!["hugetlb".into()],
        }),
    };
    files(
        &root.join("unified"),
        &[
            ("cgroup.controllers", "hugetlb"),
            ("cgroup.subtree_control", ""),
        ],
    );
    v2_container_files(&root.join("unified/c1"));
    files(
        &root.join("memory/c1"),
        &[
            ("memory.limit_in_bytes", V1_UNLIMITED),
            ("cgroup.procs", ""),
        ],
    );
    files(&root.join("systemd/c1"), &[("cgroup.procs", "")]);
    let cgroup = Cgroup::new(&layout, "/c1").unwrap();
    cgroup.create().unwrap();
    assert_eq!(
        read(root.join("unified/cgroup.subtree_control")),
        "+hugetlb"
    );
    let json = r#"{"memory": {"limit": 1048576},
                   "hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}"#;
    cgroup.apply(&resources(json)).unwrap();
    assert_eq!(
        read(root.join("memory/c1/memory.limit_in_bytes")),
        "1048576"
    );
    assert_eq!(
        read(root.join("unified/c1/memory.max")),
        "max",
        "v2 memory untouched"
    );
    assert_eq!(read(root.join("unified/c1/hugetlb.2MB.max")), "0");
    // Memory is v1 here, so the v1 file would be read: it is missing.
    assert_eq!(cgroup.stats().unwrap().memory.usage, None);
    // pids() prefers the cgroup2 directory, which tracks every process.
    std::fs::write(root.join("unified/c1/cgroup.procs"), "8\n").unwrap();
    assert_eq!(cgroup.pids().unwrap(), [8]);
    cgroup.add_process(77).unwrap();
    for h in ["memory", "systemd", "unified"] {
        assert_eq!(read(root.join(h).join("c1/cgroup.procs")), "77", "{h}");
    }
}
