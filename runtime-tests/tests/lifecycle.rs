//! The container lifecycle through berth-runtime, as containerd drives it:
//! create, state, start, kill, delete; exec; pause/resume; a pty through
//! --console-socket; hooks in order.

use std::io::Read;
use std::os::unix::net::UnixListener;

use runtime_tests::{ok, stderr, stdout, unique_id, Bundle, Runtime};

#[test]
fn create_start_kill_delete() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["sleep", "1000"]);
    let id = unique_id("life");
    ok(&rt.create(&bundle, &id));
    assert_eq!(rt.status(&id), "created");
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    assert!(pid > 0);
    ok(&rt.run(&["start", &id]));
    assert_eq!(rt.status(&id), "running");
    ok(&rt.run(&["kill", &id, "KILL"]));
    rt.wait_status(&id, "stopped");
    ok(&rt.run(&["delete", &id]));
    let out = rt.run(&["state", &id]);
    assert!(!out.status.success(), "state after delete must fail");
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn delete_refuses_running_without_force() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["sleep", "1000"]);
    let id = unique_id("del");
    ok(&rt.create(&bundle, &id));
    ok(&rt.run(&["start", &id]));
    let out = rt.run(&["delete", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("running"), "{}", stderr(&out));
    ok(&rt.run(&["delete", "--force", &id]));
    let list = ok(&rt.run(&["list", "-q"]));
    assert!(
        !list.contains(&id),
        "deleted container still listed: {list}"
    );
}

#[test]
fn run_returns_the_exit_code() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["sh", "-c", "echo out; exit 7"]);
    let out = rt.run_container(&bundle, &unique_id("code"));
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
}

#[test]
fn exec_joins_the_running_container() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["sleep", "1000"]);
    bundle.spec["hostname"] = "exec-host".into();
    bundle.save();
    let id = unique_id("exec");
    ok(&rt.create(&bundle, &id));
    ok(&rt.run(&["start", &id]));
    let out = ok(&rt.run(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; id -u",
    ]));
    assert_eq!(out, "exec-host\nsleep 1000 \n0\n");
    // The exec'd process is in the container's cgroup while it runs.
    let ps = ok(&rt.run(&["ps", "--format", "json", &id]));
    let pids: Vec<i32> = serde_json::from_str(&ps).expect("ps json");
    assert!(
        pids.contains(&(rt.state(&id)["pid"].as_i64().unwrap() as i32)),
        "{ps}"
    );
    // exec --process with a different user and an exit code.
    let process = serde_json::json!({
        "args": ["sh", "-c", "id -u; exit 4"], "cwd": "/tmp", "user": {"uid": 1000, "gid": 1000},
        "env": ["PATH=/bin"]
    });
    let file = bundle.path().join("process.json");
    std::fs::write(&file, process.to_string()).unwrap();
    let out = rt.run(&["exec", "--process", file.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1000\n");
}

#[test]
fn exec_of_a_missing_program_fails_clearly() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["sleep", "1000"]);
    let id = unique_id("exec-missing");
    ok(&rt.create(&bundle, &id));
    ok(&rt.run(&["start", &id]));
    let out = rt.run(&["exec", &id, "no-such-program"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
}

#[test]
fn pause_and_resume() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["sleep", "1000"]);
    let id = unique_id("pause");
    ok(&rt.create(&bundle, &id));
    ok(&rt.run(&["start", &id]));
    ok(&rt.run(&["pause", &id]));
    assert_eq!(rt.status(&id), "paused");
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(state == "D" || state == "S", "frozen task state {state}");
    ok(&rt.run(&["resume", &id]));
    assert_eq!(rt.status(&id), "running");
    assert!(
        !rt.run(&["resume", &id]).status.success(),
        "resume of a running container must fail"
    );
}

#[test]
fn terminal_goes_through_the_console_socket() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["sh", "-c", "tty; echo tty-ok"]);
    bundle.spec["process"]["terminal"] = true.into();
    bundle.save();
    let sock_path = bundle.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let id = unique_id("tty");
    let receiver = std::thread::spawn(move || receive_master(&listener));
    let mut cmd = rt.command();
    cmd.args(["create", "--console-socket"])
        .arg(&sock_path)
        .arg("--bundle")
        .arg(bundle.path())
        .arg(&id);
    ok(&cmd.output().unwrap());
    let mut master = receiver.join().unwrap();
    ok(&rt.run(&["start", &id]));
    let mut text = String::new();
    let mut buf = [0u8; 256];
    while !text.contains("tty-ok") {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(
        text.contains("/dev/pts/0") && text.contains("tty-ok"),
        "{text:?}"
    );
}

/// Accepts one connection and receives the pty master sent with SCM_RIGHTS.
fn receive_master(listener: &UnixListener) -> std::fs::File {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::{AsRawFd, FromRawFd};
    let (stream, _) = listener.accept().unwrap();
    let mut payload = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut payload)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    for cmsg in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the fd was just received and is owned by nobody else.
            return unsafe { std::fs::File::from_raw_fd(fds[0]) };
        }
    }
    panic!("no descriptor received on the console socket");
}

#[test]
fn hooks_run_in_order_with_state() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["true"]);
    let log = bundle.path().join("hooks.log");
    let hook = |name: &str| {
        let script = format!("read -r state; echo \"{name} $(echo \"$state\" | grep -o '\"status\":\"[a-z]*\"')\" >> {}", log.display());
        serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
    };
    bundle.spec["hooks"] = serde_json::json!({
        "createRuntime": [hook("createRuntime")],
        "createContainer": [hook("createContainer")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    bundle.save();
    ok(&rt.run_container(&bundle, &unique_id("hooks")));
    let text = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        ["createRuntime", "createContainer", "poststart", "poststop"],
        "{text}"
    );
    assert!(
        text.contains("createRuntime \"status\":\"creating\""),
        "{text}"
    );
    assert!(text.contains("poststop \"status\":\"stopped\""), "{text}");
}

#[test]
fn a_failing_hook_fails_create_and_leaves_nothing() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.spec["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/false"}]});
    bundle.save();
    let id = unique_id("badhook");
    let out = rt.create(&bundle, &id);
    assert!(!out.status.success());
    let err = std::fs::read_to_string(bundle.path().join("stderr")).unwrap();
    assert!(
        err.contains("createRuntime") && err.contains("/bin/false"),
        "{err}"
    );
    assert!(!rt.root().join(&id).exists(), "state left behind");
    let cgroup = bundle.spec["linux"]["cgroupsPath"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !std::path::Path::new(&format!("/sys/fs/cgroup/memory{cgroup}")).exists(),
        "cgroup left behind"
    );
}

/// `run` with a terminal and no --console-socket: berth-runtime holds the
/// pty itself and copies between it and its own stdio (like `runc run`).
/// `script` gives the runtime a terminal of its own to run in.
#[test]
fn run_with_a_terminal_proxies_the_pty() {
    use std::io::Write;
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["sh"]);
    bundle.spec["process"]["terminal"] = true.into();
    bundle.save();
    let command = format!(
        "{} --root {} run --bundle {} {}",
        runtime_tests::runtime_bin().display(),
        rt.root().display(),
        bundle.path().display(),
        unique_id("ptyrun")
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (bsdutils)");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"tty; echo typed-$((1+2)); exit 4\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("/dev/pts/0") && text.contains("typed-3"),
        "{text:?}"
    );
    assert_eq!(out.status.code(), Some(4), "{text:?}");
}

#[test]
fn kill_all_reaches_every_process() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["sh", "-c", "sleep 1000 & exec sleep 1001"]);
    // Without a pid namespace, killing the init leaves its children: --all
    // must signal everything in the container's cgroup.
    let ns = bundle.spec["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "pid");
    bundle.save();
    let id = unique_id("killall");
    ok(&rt.create(&bundle, &id));
    ok(&rt.run(&["start", &id]));
    let count = || -> usize {
        let ps = ok(&rt.run(&["ps", "--format", "json", &id]));
        serde_json::from_str::<Vec<i32>>(&ps).unwrap().len()
    };
    for _ in 0..500 {
        if count() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(count(), 2);
    ok(&rt.run(&["kill", "--all", &id, "KILL"]));
    for _ in 0..500 {
        if count() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(count(), 0, "processes survived kill --all");
}

#[test]
fn joins_a_namespace_by_path() {
    let rt = Runtime::new();
    let first = Bundle::busybox(&["sleep", "1000"]);
    let id = unique_id("nsowner");
    ok(&rt.create(&first, &id));
    ok(&rt.run(&["start", &id]));
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let mut second = Bundle::busybox(&["readlink", "/proc/self/ns/net"]);
    for ns in second.spec["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = format!("/proc/{pid}/ns/net").into();
        }
    }
    second.save();
    let inside = ok(&rt.run_container(&second, &unique_id("nsjoin")));
    let owner = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(inside.trim(), owner.to_str().unwrap());
}

#[test]
fn no_pivot_runs_with_move_and_chroot() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["sh", "-c", "echo $$; ls /"]);
    let out = ok(&rt.run(&[
        "run",
        "--no-pivot",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &unique_id("nopivot"),
    ]));
    assert!(out.starts_with("1\n") && out.contains("probe"), "{out}");
}

#[test]
fn systemd_cgroup_flag_is_accepted_with_a_warning() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["true"]);
    let id = unique_id("sdcg");
    bundle.spec["linux"]["cgroupsPath"] = format!("berth-test.slice:berth:{id}").into();
    bundle.save();
    let out = rt.run(&[
        "--systemd-cgroup",
        "run",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    ok(&out);
    if !std::path::Path::new("/run/systemd/system").exists() {
        assert!(stderr(&out).contains("cgroupfs"), "{}", stderr(&out));
    }
    let leftover = std::path::Path::new("/sys/fs/cgroup/memory/berth-test.slice");
    assert!(!leftover.exists(), "systemd-style cgroup left behind");
}

#[test]
fn features_and_list_speak_json() {
    let rt = Runtime::new();
    let features: serde_json::Value = serde_json::from_str(&ok(&rt.run(&["features"]))).unwrap();
    assert_eq!(features["ociVersionMin"], "1.0.0");
    assert!(features["linux"]["namespaces"].as_array().unwrap().len() >= 7);
    let bundle = Bundle::busybox(&["sleep", "1000"]);
    let id = unique_id("list");
    ok(&rt.create(&bundle, &id));
    let list: serde_json::Value =
        serde_json::from_str(&ok(&rt.run(&["list", "--format", "json"]))).unwrap();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .expect("listed");
    assert_eq!(entry["status"], "created");
    let table = ok(&rt.run(&["list"]));
    assert!(table.starts_with("ID") && table.contains(&id), "{table}");
}
