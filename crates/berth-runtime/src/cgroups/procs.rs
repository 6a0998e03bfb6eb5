//! Joining processes to the cgroup and listing its processes.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::cgroup::{Cgroup, Controller};
use super::error::{CgroupError, Result};
use super::fs;

/// Writes `pid` (0 = the calling process) to every hierarchy's
/// cgroup.procs. Meant for a freshly forked single-threaded child: the pid
/// is formatted on the stack and the paths were computed beforehand, so the
/// success path does not allocate (std builds short C paths on the stack).
pub fn add_process(cgroup: &Cgroup, pid: i32) -> Result<()> {
    let mut buf = [0u8; 10];
    let text = format_pid(pid, &mut buf).ok_or_else(|| CgroupError::InvalidResource {
        setting: "pid",
        reason: format!("{pid} is negative"),
    })?;
    for path in cgroup.procs_files() {
        fs::write_raw(path, text).map_err(|source| CgroupError::Write {
            path: path.clone(),
            value: pid.to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Moves the calling *thread* into every v1 hierarchy through `tasks`.
///
/// For a single-threaded caller that is the whole process, and it is much
/// cheaper than cgroup.procs: moving only the current thread lets the
/// kernel skip the global threadgroup lock, whose write side waits for an
/// RCU grace period (measured here: ~0.4 ms against 5-11 ms per create).
pub fn join_self_v1(cgroup: &Cgroup) -> Result<()> {
    for path in cgroup.v1_tasks_files() {
        fs::write_raw(path, b"0").map_err(|source| CgroupError::Write {
            path: path.clone(),
            value: "0".to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Moves the calling process into the cgroup2 directory, if there is one.
pub fn join_self_v2(cgroup: &Cgroup) -> Result<()> {
    let Some(dir) = cgroup.v2_path() else {
        return Ok(());
    };
    let path = dir.join("cgroup.procs");
    fs::write_raw(&path, b"0").map_err(|source| CgroupError::Write {
        path,
        value: "0".to_string(),
        source,
    })
}

/// Decimal digits of a non-negative pid, in `buf`.
fn format_pid(pid: i32, buf: &mut [u8; 10]) -> Option<&[u8]> {
    let mut n = u32::try_from(pid).ok()?;
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return Some(&buf[start..]);
        }
    }
}

/// The container's processes, sorted and deduplicated, including those in
/// cgroups the container created below its own. Read from one hierarchy
/// that holds every process of the container: cgroup2 when its directory
/// exists (we join it even in hybrid layouts), else the v1 pids, freezer or
/// memory hierarchy, else any v1 one. No directory means no processes.
pub fn pids(cgroup: &Cgroup) -> Result<Vec<i32>> {
    let Some(dir) = tracking_dir(cgroup) else {
        return Ok(Vec::new());
    };
    let mut pids = Vec::new();
    collect(&dir, &mut pids)?;
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

fn tracking_dir(cgroup: &Cgroup) -> Option<PathBuf> {
    let v1 = [Controller::Pids, Controller::Freezer, Controller::Memory]
        .into_iter()
        .filter_map(|c| cgroup.v1_dir(c.v1_name()));
    let any = cgroup.dirs().iter().map(|d| super::fs::Dir(&d.path));
    cgroup
        .v2_dir()
        .into_iter()
        .chain(v1)
        .chain(any)
        .map(|d| d.0.to_path_buf())
        .find(|p| p.is_dir())
}

/// Reads `dir`/cgroup.procs and recurses into nested cgroups. A directory
/// removed while we walk (a nested cgroup going away) is skipped.
fn collect(dir: &Path, pids: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    match std::fs::read_to_string(&procs) {
        Ok(text) => parse_pids(&procs, &text, pids)?,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Io {
                path: procs,
                source,
            })
        }
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect(&entry.path(), pids)?;
        }
    }
    Ok(())
}

fn parse_pids(path: &Path, text: &str, pids: &mut Vec<i32>) -> Result<()> {
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let pid = line.parse().map_err(|_| CgroupError::Parse {
            path: path.to_path_buf(),
            content: line.to_owned(),
            reason: "expected one pid per line",
        })?;
        pids.push(pid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_format_on_the_stack() {
        let mut buf = [0u8; 10];
        assert_eq!(format_pid(0, &mut buf).unwrap(), b"0");
        assert_eq!(format_pid(4_194_304, &mut buf).unwrap(), b"4194304");
        assert_eq!(format_pid(i32::MAX, &mut buf).unwrap(), b"2147483647");
        assert!(format_pid(-1, &mut buf).is_none());
    }
}
