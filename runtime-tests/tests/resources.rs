//! Resource limits through cgroups, on whatever layout this host has (the
//! test output names it; the VM harness runs the same tests on pure v2).

use runtime_tests::{cgroup_layout, stderr, stdout, unique_id, Bundle, Runtime};

fn run_limited(resources: serde_json::Value, script: &str) -> std::process::Output {
    eprintln!("cgroup layout: {}", cgroup_layout());
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["sh", "-c", script]);
    bundle.spec["linux"]["resources"] = resources;
    bundle.save();
    rt.run_container(&bundle, &unique_id("res"))
}

#[test]
fn memory_limit_oom_kills_and_is_reported() {
    let limit = 32 * 1024 * 1024;
    let out = run_limited(
        serde_json::json!({"memory": {"limit": limit, "swap": limit}}),
        "echo start; exec dd if=/dev/zero of=/dev/null bs=64M count=1",
    );
    assert_eq!(stdout(&out), "start\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert!(stderr(&out).contains("OOM-killed"), "{}", stderr(&out));
}

#[test]
fn memory_within_limit_runs() {
    let limit = 64 * 1024 * 1024;
    let out = run_limited(
        serde_json::json!({"memory": {"limit": limit, "swap": limit}}),
        "dd if=/dev/zero of=/dev/null bs=8M count=1 2>/dev/null && echo fine",
    );
    assert_eq!(stdout(&out), "fine\n", "{}", stderr(&out));
}

#[test]
fn pids_limit_contains_a_fork_bomb() {
    let out = run_limited(
        serde_json::json!({"pids": {"limit": 20}}),
        "exec /probe fork-bomb 60",
    );
    // The probe itself is one of the 20.
    assert_eq!(stdout(&out), "forked 19 failed 41\n", "{}", stderr(&out));
}

#[test]
fn cpu_quota_throttles() {
    let out = run_limited(
        serde_json::json!({"cpu": {"quota": 10000, "period": 100000}}),
        "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; \
         cat /sys/fs/cgroup/cpu/cpu.stat /sys/fs/cgroup/cpu.stat 2>/dev/null",
    );
    let text = stdout(&out);
    let throttled = text
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no nr_throttled in {text:?}: {}", stderr(&out)));
    assert!(throttled > 0, "the quota never throttled: {text}");
}

#[test]
fn unknown_resource_controller_is_a_clear_error() {
    let out = run_limited(
        serde_json::json!({"unified": {"no.such.file": "1"}}),
        "true",
    );
    assert!(!out.status.success());
    assert!(!stderr(&out).is_empty());
}

#[test]
fn cpuset_pins_and_io_weight_is_accepted() {
    let out = run_limited(
        serde_json::json!({"cpu": {"cpus": "0", "mems": "0"}, "blockIO": {"weight": 500}}),
        "grep Cpus_allowed_list /proc/self/status; \
         cat /sys/fs/cgroup/blkio/blkio.bfq.weight /sys/fs/cgroup/blkio/blkio.weight \
             /sys/fs/cgroup/io.bfq.weight /sys/fs/cgroup/io.weight 2>/dev/null",
    );
    let text = stdout(&out);
    assert!(
        text.starts_with("Cpus_allowed_list:\t0\n"),
        "{text:?} {}",
        stderr(&out)
    );
    // v1 keeps blkio's scale (500); v2's io.weight takes the runc
    // conversion of it: 1 + (500 - 10) * 9999 / 990 = 4950.
    let expected = if cgroup_layout() == "v2" {
        "4950"
    } else {
        "500"
    };
    let weights: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert!(
        weights.contains(&expected),
        "expected weight {expected} in {text:?}"
    );
}
