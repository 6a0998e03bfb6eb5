//! The device filter on this host's kernel: a real cgroup2 directory, a
//! real program, a child that joins the cgroup and tries devices. Needs
//! root; fails (never skips) without it or without a cgroup2 mount. On a
//! hybrid host the program goes on the cgroup2 side (the kernel runs the
//! programs of the task's cgroup2 cgroup there too) although `apply`
//! itself keeps using the v1 devices controller.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

use super::insn::{mov_imm, R0};
use super::{attach, attached_programs};
use crate::cgroups::cgroup::Controller;
use crate::cgroups::devices;
use crate::cgroups::{Cgroup, CgroupLayout, LayoutKind};

/// Removes the test cgroup even when an assertion fails.
struct Guard(Cgroup);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.0.destroy() {
            eprintln!("cleanup of {}: {e}", self.0.path().display());
        }
    }
}

fn cstring(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("no NUL in path")
}

/// What the child tries, in order; each reports the errno it got (0 =
/// success) as one byte.
enum Try {
    Open(CString, libc::c_int),
    Mknod(CString, u32, u32),
}

const EXPECT: [(&str, i32); 7] = [
    ("open /dev/null O_RDWR (c 1:3 rwm)", 0),
    ("open /dev/zero O_RDONLY (c 1:5 r)", 0),
    ("open /dev/zero O_WRONLY (c 1:5 r)", libc::EPERM),
    ("open /dev/zero O_RDWR (c 1:5 r)", libc::EPERM),
    ("open /dev/full O_RDONLY (c 1:7, no rule)", libc::EPERM),
    ("mknod c 1:3 (m allowed)", 0),
    ("mknod c 1:7 (no rule)", libc::EPERM),
];

/// Forks a child that joins the cgroup (writing "0" to `procs`), runs
/// `tries` and reports their errnos through a pipe. The test process is
/// multithreaded, so the child only makes raw, async-signal-safe calls on
/// data prepared before the fork, and leaves with _exit.
fn run_child(procs: &CString, tries: &[Try]) -> Vec<i32> {
    let (reader, writer): (OwnedFd, OwnedFd) = nix::unistd::pipe().expect("pipe");
    // SAFETY: the child only calls open, write, close, mknod and _exit
    // (async-signal-safe) on CStrings and buffers allocated before the
    // fork; it never allocates, locks or returns into the test harness.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let mut report = [0u8; 16];
            // SAFETY: raw syscalls on valid NUL-terminated paths and a
            // stack buffer; see above for why only these.
            unsafe {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    libc::_exit(100);
                }
                libc::close(fd);
                for (i, t) in tries.iter().enumerate() {
                    let ok = match t {
                        Try::Open(path, flags) => {
                            let fd = libc::open(path.as_ptr(), *flags | libc::O_CLOEXEC);
                            if fd >= 0 {
                                libc::close(fd);
                            }
                            fd >= 0
                        }
                        Try::Mknod(path, major, minor) => {
                            let dev = libc::makedev(*major, *minor);
                            libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o600, dev) == 0
                        }
                    };
                    report[i] = if ok {
                        0
                    } else {
                        Errno::last_raw().min(255) as u8
                    };
                }
                let n = tries.len();
                if libc::write(writer.as_raw_fd(), report.as_ptr().cast(), n) != n as isize {
                    libc::_exit(101);
                }
                libc::_exit(0);
            }
        }
        ForkResult::Parent { child } => {
            drop(writer);
            let mut bytes = Vec::new();
            std::fs::File::from(reader)
                .read_to_end(&mut bytes)
                .expect("read the child's report");
            let status = waitpid(child, None).expect("waitpid");
            assert_eq!(
                status,
                WaitStatus::Exited(child, 0),
                "child failed (100: could not join the cgroup, 101: report write)"
            );
            bytes.into_iter().map(i32::from).collect()
        }
    }
}

fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
    serde_json::from_str(json).expect("rules json")
}

#[test]
fn host_device_filter_enforces_rules_in_cgroup2() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the device filter test must run as root (it loads BPF and creates cgroups)"
    );
    let layout = CgroupLayout::detect().expect("detect the cgroup layout");
    let v2 = layout
        .v2
        .as_ref()
        .expect("this host has no cgroup2 mount: the device filter cannot be tested");
    eprintln!(
        "device filter test: cgroup layout {} (cgroup2 at {}, v1 devices controller: {})",
        layout.kind().as_str(),
        v2.mount_point.display(),
        layout
            .v1
            .iter()
            .any(|h| h.controllers.iter().any(|c| c == "devices"))
    );
    let cgroup = Cgroup::new(&layout, &format!("/berth-devbpf-{}", std::process::id()))
        .expect("resolve the test cgroup");
    let guard = Guard(cgroup.clone());
    cgroup.create().expect("create the test cgroup");
    let dir = cgroup.v2_dir().expect("cgroup2 directory");

    // `apply` sends the rules to v1 where a devices hierarchy exists, and
    // attaches the program only when it does not.
    let list = rules(
        r#"[{"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"}]"#,
    );
    let mut resources = LinuxResources::default();
    resources.set_devices(Some(list.clone()));
    cgroup.apply(&resources).expect("apply the device rules");
    let attached = attached_programs(dir.0).expect("query");
    match cgroup.v1_dir(Controller::Devices.v1_name()) {
        Some(_) => assert!(attached.is_empty(), "hybrid: no program expected"),
        None => assert_eq!(attached.len(), 1, "v2: one program expected"),
    }
    assert_eq!(layout.kind() == LayoutKind::Hybrid, attached.is_empty());

    // Attach directly (what `apply` does on a pure v2 host), twice: the
    // second replaces the first.
    devices::apply_v2(dir, &rules(r#"[{"allow": true, "access": "rwm"}]"#)).expect("attach");
    devices::apply_v2(dir, &list).expect("attach again");
    let attached = attached_programs(dir.0).expect("query");
    assert_eq!(attached.len(), 1, "old program not replaced: {attached:?}");

    let tmp = tempfile::tempdir().expect("tempdir");
    let tries = [
        Try::Open(c"/dev/null".into(), libc::O_RDWR),
        Try::Open(c"/dev/zero".into(), libc::O_RDONLY),
        Try::Open(c"/dev/zero".into(), libc::O_WRONLY),
        Try::Open(c"/dev/zero".into(), libc::O_RDWR),
        Try::Open(c"/dev/full".into(), libc::O_RDONLY),
        Try::Mknod(cstring(&tmp.path().join("null")), 1, 3),
        Try::Mknod(cstring(&tmp.path().join("full")), 1, 7),
    ];
    // The host itself may open all of them: a refusal comes from the filter.
    for dev in ["/dev/null", "/dev/zero", "/dev/full"] {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dev)
            .unwrap_or_else(|e| panic!("{dev} unusable on the host itself: {e}"));
    }
    let got = run_child(&cstring(&dir.file("cgroup.procs")), &tries);
    let mut failures = Vec::new();
    for ((what, want), got) in EXPECT.iter().zip(&got) {
        let show = |e: i32| {
            if e == 0 {
                "ok".to_owned()
            } else {
                Errno::from_raw(e).to_string()
            }
        };
        eprintln!("  {what}: {}", show(*got));
        if got != want {
            failures.push(format!("{what}: got {}, want {}", show(*got), show(*want)));
        }
    }
    assert_eq!(got.len(), EXPECT.len());
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(!tmp.path().join("full").exists());

    // Errors say which command failed; a refused program brings the
    // verifier's log. Neither changes what is attached.
    let err = attach(dir.0, &[mov_imm(R0, 1)]).unwrap_err().to_string();
    assert!(
        err.contains("BPF_PROG_LOAD")
            && err.contains("verifier log")
            && err.contains(dir.0.to_str().unwrap()),
        "{err}"
    );
    eprintln!("  refused program: {err}");
    assert_eq!(attached_programs(dir.0).expect("query"), attached);
    let err = attach(tmp.path(), &[]).unwrap_err().to_string();
    assert!(err.contains("not a cgroup2 directory"), "{err}");

    // The child has exited; destroy removes the directory, program and all.
    cgroup.destroy().expect("destroy with the program attached");
    for d in cgroup.dirs() {
        assert!(!d.path.exists(), "{} left behind", d.path.display());
    }
    drop(guard);
}
