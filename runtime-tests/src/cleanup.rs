//! Cleaning up after integration tests: finding processes by command
//! line, killing them and waiting until they are gone, and lazy unmounts
//! under a directory. Shared by the peer, CLI, interop and daemon suites.

use std::path::Path;
use std::time::{Duration, Instant};

pub fn kill(pid: i32, sig: i32) {
    // SAFETY: plain kill(2) on a pid we found; errors (ESRCH) are ignored.
    unsafe {
        libc::kill(pid, sig);
    }
}

pub fn alive(pid: i32) -> bool {
    // A zombie still has /proc/PID but its state is Z: treat it as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            !matches!(state, Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

/// Pids of processes (other than us) whose command line mentions `needle`.
pub fn pids_with_cmdline(needle: &str) -> Vec<i32> {
    pids_where(|proc_dir| {
        std::fs::read(proc_dir.join("cmdline"))
            .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(needle))
    })
}

/// The pids (other than ours) whose `/proc/<pid>` directory `matches`.
pub fn pids_where(matches: impl Fn(&std::path::Path) -> bool) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<i32>().ok()?;
            (pid != me && matches(&e.path())).then_some(pid)
        })
        .collect()
}

/// SIGKILLs `pids` and waits (bounded) until they are gone.
pub fn kill_all(pids: &[i32]) {
    for &p in pids {
        kill(p, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lazily unmounts everything mounted under `prefix`, deepest/newest first.
pub fn unmount_under(prefix: &Path) {
    let prefix = prefix.to_str().unwrap_or_default();
    for _ in 0..5 {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let points: Vec<String> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| p.replace("\\040", " "))
            .filter(|p| p == prefix || p.starts_with(&format!("{prefix}/")))
            .collect();
        if points.is_empty() {
            return;
        }
        for p in points.iter().rev() {
            let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}
