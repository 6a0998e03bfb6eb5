//! Escapes that have worked against runc, attempted from inside a
//! container. Each must fail.

use std::os::unix::fs::symlink;

use runtime_tests::{ok, runtime_bin, stdout, unique_id, Bundle, Runtime};

/// CVE-2019-5736: a process in the container grabs the runtime binary
/// through /proc/1/exe while the runtime still runs as the container's
/// init (here: from a startContainer hook, with CAP_SYS_PTRACE, the
/// strongest position), then reopens it for writing once the init has
/// exec'd. berth-runtime runs from a read-only view of itself: EROFS.
/// A private copy of the binary is used, so no other test running it can
/// make the write fail for another reason (ETXTBSY).
#[test]
fn proc_self_exe_cannot_be_overwritten() {
    let private = tempfile::tempdir().unwrap();
    let bin = private.path().join("berth-runtime");
    std::fs::copy(runtime_bin(), &bin).unwrap();
    let before = std::fs::read(&bin).unwrap();
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["sleep", "30"]);
    let caps = serde_json::json!(["CAP_SYS_PTRACE", "CAP_KILL"]);
    bundle.spec["process"]["capabilities"] =
        serde_json::json!({"bounding": caps, "effective": caps, "permitted": caps});
    bundle.spec["hooks"] =
        serde_json::json!({"startContainer": [{"path": "/probe", "args": ["probe", "grab-exe"]}]});
    bundle.save();
    let id = unique_id("exe");
    let private_runtime = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("--root").arg(rt.root()).args(args);
        cmd
    };
    // The container keeps stdout and stderr: give it files, not pipes.
    let out_path = bundle.path().join("stdout");
    let created = private_runtime(&["create", "--bundle", bundle.path().to_str().unwrap(), &id])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(bundle.path().join("stderr")).unwrap())
        .status()
        .unwrap();
    assert!(created.success(), "create failed");
    // Only the init runs the private copy: start with the shared binary.
    ok(&rt.run(&["start", &id]));
    let mut result = String::new();
    for _ in 0..3000 {
        result = std::fs::read_to_string(&out_path).unwrap();
        if !result.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(result.trim(), "errno 30", "expected EROFS, got {result:?}");
    assert_eq!(
        std::fs::read(&bin).unwrap(),
        before,
        "the runtime binary changed"
    );
}

/// CVE-2024-21626 class: the container sees only its stdio, nothing of the
/// runtime's descriptors.
#[test]
fn no_runtime_descriptor_leaks() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["/probe", "fds"]);
    let id = unique_id("fds");
    // Give the runtime extra descriptors to leak: an open file and a dir.
    let mut cmd = rt.command();
    cmd.args(["run", "--bundle"]).arg(bundle.path()).arg(&id);
    let extra = std::fs::File::open("/etc/hostname").unwrap();
    let _keep = extra;
    let out = ok(&cmd.output().unwrap());
    for line in out.lines() {
        let fd: i32 = line.split_whitespace().next().unwrap().parse().unwrap();
        // 0-2 are stdio; the probe's own read_dir holds one more.
        assert!(
            fd <= 3,
            "descriptor leaked into the container: {line}\nall:\n{out}"
        );
    }
    // And exec'd processes too.
    let bundle = Bundle::busybox(&["sleep", "1000"]);
    let id = unique_id("fds-exec");
    ok(&rt.create(&bundle, &id));
    ok(&rt.run(&["start", &id]));
    let out = ok(&rt.run(&["exec", &id, "/probe", "fds"]));
    for line in out.lines() {
        let fd: i32 = line.split_whitespace().next().unwrap().parse().unwrap();
        assert!(fd <= 3, "descriptor leaked into exec: {line}\nall:\n{out}");
    }
}

/// A cwd outside the rootfs is refused.
#[test]
fn cwd_cannot_point_outside() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["pwd"]);
    bundle.spec["process"]["cwd"] = "/proc/self/fd/7".into();
    bundle.save();
    let out = rt.run_container(&bundle, &unique_id("cwd"));
    assert!(
        !out.status.success(),
        "cwd through a descriptor must fail: {}",
        stdout(&out)
    );
}

/// CVE-2021-30465 class: a mount destination that is a symlink to a host
/// path lands inside the rootfs, never on the host.
#[test]
fn symlinked_mount_target_stays_inside() {
    let rt = Runtime::new();
    let host_dir = tempfile::tempdir().unwrap();
    let mut bundle = Bundle::busybox(&["sh", "-c", "ls /data; cat /data/marker"]);
    symlink(host_dir.path(), bundle.rootfs().join("data")).unwrap();
    std::fs::write(host_dir.path().join("host-file"), "host").unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("marker"), "mounted\n").unwrap();
    let mounts = bundle.spec["mounts"].as_array_mut().unwrap();
    mounts.push(serde_json::json!({"destination": "/data", "type": "bind", "source": src.path(), "options": ["rbind", "ro"]}));
    bundle.save();
    let out = ok(&rt.run_container(&bundle, &unique_id("symlink")));
    assert!(out.contains("mounted"), "{out}");
    // The host directory the symlink named was never mounted over.
    assert!(host_dir.path().join("host-file").exists());
    assert!(!std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(host_dir.path().to_str().unwrap()));
}

/// /dev symlink class: an image whose /dev/null is a symlink to a host
/// file, or whose /dev is a symlink, gets device nodes inside the rootfs.
#[test]
fn dev_symlinks_cannot_redirect_mknod() {
    let rt = Runtime::new();
    let victim = tempfile::tempdir().unwrap();
    let mut bundle = Bundle::busybox(&["sh", "-c", "ls -l /dev/null | cut -c1"]);
    // /dev in the image is a symlink to a host directory.
    std::fs::remove_dir(bundle.rootfs().join("dev")).unwrap();
    symlink(victim.path(), bundle.rootfs().join("dev")).unwrap();
    bundle.spec["process"]["args"] = serde_json::json!(["sh", "-c", "ls -l /dev/null | cut -c1"]);
    bundle.save();
    let out = ok(&rt.run_container(&bundle, &unique_id("devlink")));
    assert_eq!(out, "c\n");
    assert!(
        std::fs::read_dir(victim.path()).unwrap().next().is_none(),
        "something was made on the host"
    );
}
