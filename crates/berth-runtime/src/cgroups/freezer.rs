//! Freezing and thawing: the v1 freezer controller (preferred, so hybrid
//! hosts use it) or cgroup2's built-in cgroup.freeze.

use std::thread::sleep;
use std::time::{Duration, Instant};

use super::cgroup::{Cgroup, Controller};
use super::error::{CgroupError, Result};
use super::fs::Dir;

/// How long to wait for the kernel to reach the wanted state.
const WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(1);
/// A v1 freeze stuck in FREEZING (tasks forking or in uninterruptible
/// sleep) often succeeds after a brief thaw, as runc found; do so every N
/// polls.
const V1_REFREEZE_EVERY: u32 = 50;

/// The freezer interface this cgroup uses.
enum Freezer<'a> {
    V1(Dir<'a>),
    V2(Dir<'a>),
}

fn freezer(cgroup: &Cgroup) -> Result<Freezer<'_>> {
    if let Some(dir) = cgroup.v1_dir(Controller::Freezer.v1_name()) {
        return Ok(Freezer::V1(dir));
    }
    match cgroup.v2_dir() {
        Some(dir) => Ok(Freezer::V2(dir)),
        None => Err(CgroupError::Unsupported(
            "freezing needs a v1 freezer hierarchy or cgroup2".to_owned(),
        )),
    }
}

/// Freezes every process of the cgroup and waits until the kernel reports
/// them frozen. On timeout the cgroup is thawed again (a half-frozen
/// container is worse than a running one) and an error returned.
pub fn freeze(cgroup: &Cgroup) -> Result<()> {
    match freezer(cgroup)? {
        Freezer::V1(dir) => freeze_v1(dir),
        Freezer::V2(dir) => set_v2(dir, true),
    }
}

/// Thaws the cgroup and waits until it runs again.
pub fn thaw(cgroup: &Cgroup) -> Result<()> {
    match freezer(cgroup)? {
        Freezer::V1(dir) => thaw_v1(dir),
        Freezer::V2(dir) => set_v2(dir, false),
    }
}

/// Whether the cgroup is (completely) frozen.
pub fn is_frozen(cgroup: &Cgroup) -> Result<bool> {
    match freezer(cgroup)? {
        Freezer::V1(dir) => Ok(dir.read("freezer.state")? == "FROZEN"),
        Freezer::V2(dir) => Ok(v2_frozen(dir)? == Some(1)),
    }
}

const STATE: &str = "freezer.state";

/// Writes FROZEN until the state reads FROZEN; FREEZING means "not yet".
fn freeze_v1(dir: Dir<'_>) -> Result<()> {
    let start = Instant::now();
    let mut polls = 0u32;
    loop {
        dir.write(STATE, "FROZEN")?;
        let state = dir.read(STATE)?;
        if state == "FROZEN" {
            return Ok(());
        }
        if start.elapsed() >= WAIT {
            // Best effort: the error below is what matters.
            let _ = dir.write(STATE, "THAWED");
            return Err(timeout(dir, STATE, "FROZEN", state, start));
        }
        polls += 1;
        if polls == V1_REFREEZE_EVERY {
            polls = 0;
            dir.write(STATE, "THAWED")?;
        }
        sleep(POLL);
    }
}

fn thaw_v1(dir: Dir<'_>) -> Result<()> {
    let start = Instant::now();
    loop {
        dir.write(STATE, "THAWED")?;
        let state = dir.read(STATE)?;
        if state == "THAWED" {
            return Ok(());
        }
        if start.elapsed() >= WAIT {
            return Err(timeout(dir, STATE, "THAWED", state, start));
        }
        sleep(POLL);
    }
}

/// Writes cgroup.freeze and polls cgroup.events for `frozen 0|1`.
fn set_v2(dir: Dir<'_>, frozen: bool) -> Result<()> {
    if !dir.has("cgroup.freeze") {
        return Err(CgroupError::Unsupported(format!(
            "{} does not exist (cgroup2 freezing needs Linux 5.2+)",
            dir.file("cgroup.freeze").display()
        )));
    }
    let want = u64::from(frozen);
    dir.write("cgroup.freeze", &want.to_string())?;
    let start = Instant::now();
    loop {
        let state = v2_frozen(dir)?;
        if state == Some(want) {
            return Ok(());
        }
        if start.elapsed() >= WAIT {
            if frozen {
                let _ = dir.write("cgroup.freeze", "0");
            }
            let last = format!("frozen {state:?}");
            let wanted = if frozen { "frozen 1" } else { "frozen 0" };
            return Err(timeout(dir, "cgroup.events", wanted, last, start));
        }
        sleep(POLL);
    }
}

fn v2_frozen(dir: Dir<'_>) -> Result<Option<u64>> {
    dir.keyed("cgroup.events", "frozen")
}

fn timeout(
    dir: Dir<'_>,
    file: &str,
    wanted: &'static str,
    last: String,
    start: Instant,
) -> CgroupError {
    CgroupError::FreezeTimeout {
        path: dir.file(file),
        wanted,
        last,
        waited_ms: start.elapsed().as_millis(),
    }
}
