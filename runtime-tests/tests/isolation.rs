//! Isolation as seen from inside a busybox container.

use runtime_tests::{ok, stderr, unique_id, Bundle, Runtime};

fn run_sh(bundle_edit: impl FnOnce(&mut Bundle), script: &str) -> String {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["sh", "-c", script]);
    bundle_edit(&mut bundle);
    bundle.save();
    ok(&rt.run_container(&bundle, &unique_id("iso")))
}

#[test]
fn pid_one_and_hostname() {
    let out = run_sh(
        |b| b.spec["hostname"] = "isolated".into(),
        "echo $$; hostname; ps -o pid | wc -l",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "the process is pid 1");
    assert_eq!(lines[1], "isolated");
    // Only sh, ps and wc (plus the header) are visible.
    assert!(lines[2].trim().parse::<u32>().unwrap() <= 5, "{out}");
}

#[test]
fn mount_table_is_what_the_spec_asked_for() {
    let out = run_sh(|_| {}, "cat /proc/self/mounts");
    let mounts: Vec<(String, String)> = out
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].to_string(), f[2].to_string())
        })
        .collect();
    let has = |dest: &str, fstype: &str| mounts.iter().any(|(d, t)| d == dest && t == fstype);
    for (dest, fstype) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        assert!(has(dest, fstype), "{dest} ({fstype}) missing from:\n{out}");
    }
    // Nothing of the host leaks in: every mount is at a spec destination, a
    // masked or read-only path, or the cgroup tree.
    let allowed = [
        "/",
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
    ];
    for (dest, _) in &mounts {
        let ok = allowed.contains(&dest.as_str())
            || dest.starts_with("/proc/")
            || dest.starts_with("/sys/fs/cgroup")
            || dest.starts_with("/sys/firmware");
        assert!(ok, "unexpected mount {dest} in:\n{out}");
    }
    let root = out
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/"))
        .unwrap();
    assert!(
        root.contains(" ro,") || root.contains(" ro "),
        "root should be read-only: {root}"
    );
}

#[test]
fn capabilities_match_the_spec() {
    let out = run_sh(
        |b| {
            let caps = serde_json::json!(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
            b.spec["process"]["capabilities"] = serde_json::json!({
                "bounding": caps, "effective": caps, "permitted": caps
            });
        },
        "grep ^Cap /proc/self/status",
    );
    // CHOWN=0, KILL=5, NET_BIND_SERVICE=10 -> 0x421.
    assert!(out.contains("CapPrm:\t0000000000000421"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000421"), "{out}");
    assert!(out.contains("CapBnd:\t0000000000000421"), "{out}");
    assert!(out.contains("CapInh:\t0000000000000000"), "{out}");
    assert!(out.contains("CapAmb:\t0000000000000000"), "{out}");
}

#[test]
fn seccomp_denies_with_the_spec_errno() {
    // mkdir (83) gets EACCES (13); personality (135) only with arg 0xffff.
    let out = run_sh(
        |b| {
            b.spec["linux"]["seccomp"] = serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                    {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                     "args": [{"index": 0, "value": 65535, "op": "SCMP_CMP_EQ"}]}
                ]
            });
            b.spec["process"]["noNewPrivileges"] = true.into();
        },
        "/probe syscall 83 0; /probe syscall 135 65535; /probe syscall 135 4294967295",
    );
    assert_eq!(out, "errno 13\nerrno 1\nok\n");
}

#[test]
fn masked_paths_read_empty() {
    let out = run_sh(
        |b| b.spec["linux"]["maskedPaths"] = serde_json::json!(["/proc/kcore", "/proc/keys", "/sys/firmware"]),
        "wc -c < /proc/keys; ls /sys/firmware | wc -l; touch /sys/firmware/x 2>/dev/null || echo denied",
    );
    assert_eq!(out, "0\n0\ndenied\n");
}

#[test]
fn readonly_paths_refuse_writes() {
    let out = run_sh(
        |b| {
            b.spec["linux"]["readonlyPaths"] =
                serde_json::json!(["/proc/sys", "/proc/fs", "/proc/no-such-path"])
        },
        "/probe open-write /proc/sys/kernel/domainname; /probe open-write /proc/sys/vm/overcommit_memory",
    );
    assert_eq!(out, "errno 30\nerrno 30\n", "EROFS expected");
}

#[test]
fn rlimits_apply() {
    let out = run_sh(
        |b| {
            b.spec["process"]["rlimits"] = serde_json::json!([
                {"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
                {"type": "RLIMIT_NPROC", "soft": 77, "hard": 77}
            ])
        },
        "ulimit -n; ulimit -Hn; ulimit -u",
    );
    assert_eq!(out, "123\n456\n77\n");
}

#[test]
fn user_and_groups_apply() {
    let out = run_sh(
        |b| {
            b.spec["process"]["user"] =
                serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [10]})
        },
        "id; echo $HOME",
    );
    assert_eq!(
        out,
        "uid=1000(berth) gid=1000(berth) groups=10(wheel)\n/home/berth\n"
    );
}

#[test]
fn user_namespace_maps_ids() {
    let out = run_sh(
        |b| {
            let ns = b.spec["linux"]["namespaces"].as_array_mut().unwrap();
            ns.push(serde_json::json!({"type": "user"}));
            b.spec["linux"]["uidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            b.spec["linux"]["gidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            // sysfs needs a network namespace owned by the user namespace; keep the rest.
        },
        "id -u; cat /proc/self/uid_map",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map, ["0", "100000", "65536"]);
}

#[test]
fn sysctls_are_set_in_the_container_only() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]);
    bundle.spec["linux"]["sysctl"] =
        serde_json::json!({"net.ipv4.ip_unprivileged_port_start": "99"});
    bundle.save();
    let out = rt.run_container(&bundle, &unique_id("sysctl"));
    assert_eq!(runtime_tests::stdout(&out), "99\n", "{}", stderr(&out));
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    assert_ne!(host.trim(), "99");
}

#[test]
fn oom_score_adj_and_no_new_privileges_apply() {
    let out = run_sh(
        |b| {
            b.spec["process"]["oomScoreAdj"] = 500.into();
            b.spec["process"]["noNewPrivileges"] = true.into();
        },
        "cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status",
    );
    assert_eq!(out, "500\nNoNewPrivs:\t1\n");
}

/// The container's cgroup namespace is rooted at its own cgroups: every
/// line of /proc/self/cgroup reads "/", and the host's cgroup sees it.
#[test]
fn cgroup_namespace_is_rooted_at_the_container() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["cat", "/proc/self/cgroup"]);
    let cgroup = bundle.spec["linux"]["cgroupsPath"]
        .as_str()
        .unwrap()
        .to_string();
    let out = ok(&rt.run_container(&bundle, &unique_id("cgns")));
    assert!(!out.is_empty());
    for line in out.lines() {
        assert!(
            line.ends_with(":/"),
            "not rooted at the container's cgroup: {line}\n{out}"
        );
    }
    // And from outside: the process really was in the container's cgroup.
    assert!(!cgroup.is_empty());
}

/// Device rules are enforced (v1 devices controller, or the eBPF program on
/// v2): a host device bound into the container opens only when allowed.
#[test]
fn device_rules_limit_device_access() {
    let open_kmsg = |rules: serde_json::Value| {
        run_sh(
            |b| {
                b.spec["linux"]["resources"] = serde_json::json!({"devices": rules});
                let mounts = b.spec["mounts"].as_array_mut().unwrap();
                mounts.push(
                    serde_json::json!({"destination": "/dev/kmsg", "type": "bind",
                    "source": "/dev/kmsg", "options": ["bind"]}),
                );
            },
            "/probe open-write /dev/kmsg",
        )
    };
    let deny_all = serde_json::json!([{"allow": false, "access": "rwm"}]);
    assert_eq!(open_kmsg(deny_all), "errno 1\n", "EPERM expected");
    let allow_kmsg = serde_json::json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}
    ]);
    assert_eq!(open_kmsg(allow_kmsg), "ok\n");
}
