//! Usage statistics and the OOM kill counter, read from whichever
//! hierarchy serves each controller.

use serde::Serialize;

use super::cgroup::{Cgroup, Controller, Target};
use super::error::{CgroupError, Result};
use super::fs::Dir;

/// A snapshot of the container's resource usage. Each field is `None` when
/// its file does not exist (controller not mounted, kernel too old). An
/// unlimited limit reads as `u64::MAX`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CgroupStats {
    /// Memory usage and limit.
    pub memory: MemoryStats,
    /// CPU time and throttling.
    pub cpu: CpuStats,
    /// Task count and limit.
    pub pids: PidsStats,
    /// How many processes the OOM killer killed in the cgroup.
    pub oom_kills: Option<u64>,
}

/// Memory figures, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// Current usage (v1 memory.usage_in_bytes, v2 memory.current).
    pub usage: Option<u64>,
    /// Highest usage seen (v1 memory.max_usage_in_bytes, v2 memory.peak,
    /// Linux 5.19+).
    pub max_usage: Option<u64>,
    /// The limit (v1 memory.limit_in_bytes, v2 memory.max).
    pub limit: Option<u64>,
}

/// CPU figures, in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CpuStats {
    /// Total CPU time used (v1 cpuacct.usage, v2 cpu.stat usage_usec).
    pub usage_total_ns: Option<u64>,
    /// Periods in which the quota ran out (cpu.stat nr_throttled).
    pub throttled_periods: Option<u64>,
    /// Time spent throttled (v1 throttled_time, v2 throttled_usec).
    pub throttled_time_ns: Option<u64>,
}

/// Task figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PidsStats {
    /// Tasks in the cgroup now (pids.current).
    pub current: Option<u64>,
    /// The limit (pids.max).
    pub limit: Option<u64>,
}

/// Reads every statistic this layout offers.
pub fn stats(cgroup: &Cgroup) -> Result<CgroupStats> {
    Ok(CgroupStats {
        memory: memory(cgroup)?,
        cpu: cpu(cgroup)?,
        pids: pids(cgroup)?,
        oom_kills: match cgroup.locate(Controller::Memory) {
            Some(target) => oom_kills(target)?,
            None => None,
        },
    })
}

/// The number of OOM kills in the cgroup: v2 memory.events `oom_kill`,
/// v1 memory.oom_control `oom_kill` (Linux 4.13+).
pub fn oom_kill_count(cgroup: &Cgroup) -> Result<u64> {
    let target = cgroup.locate(Controller::Memory).ok_or_else(|| {
        CgroupError::Unsupported(format!(
            "oom kill count: no memory controller in this {} layout",
            cgroup.layout_kind().as_str()
        ))
    })?;
    let (dir, file) = oom_file(target);
    oom_kills(target)?.ok_or_else(|| {
        CgroupError::Unsupported(format!(
            "{} has no oom_kill counter (needs Linux 4.13+)",
            dir.file(file).display()
        ))
    })
}

fn oom_file(target: Target<'_>) -> (Dir<'_>, &'static str) {
    match target {
        Target::V1(dir) => (dir, "memory.oom_control"),
        Target::V2(dir) => (dir, "memory.events"),
    }
}

fn oom_kills(target: Target<'_>) -> Result<Option<u64>> {
    let (dir, file) = oom_file(target);
    if !dir.has(file) {
        return Ok(None);
    }
    dir.keyed(file, "oom_kill")
}

fn memory(cgroup: &Cgroup) -> Result<MemoryStats> {
    let (dir, [usage, max, limit]) = match cgroup.locate(Controller::Memory) {
        None => return Ok(MemoryStats::default()),
        Some(Target::V1(dir)) => (
            dir,
            [
                "memory.usage_in_bytes",
                "memory.max_usage_in_bytes",
                "memory.limit_in_bytes",
            ],
        ),
        Some(Target::V2(dir)) => (dir, ["memory.current", "memory.peak", "memory.max"]),
    };
    Ok(MemoryStats {
        usage: dir.optional_number(usage)?,
        max_usage: dir.optional_number(max)?,
        limit: dir.optional_number(limit)?.map(unlimited_as_max),
    })
}

/// v1 reports "no limit" as i64::MAX rounded down to the page size
/// (9223372036854771712 with 4 KiB pages); v2 says `max`. Both become
/// `u64::MAX` so callers see one value for unlimited.
fn unlimited_as_max(limit: u64) -> u64 {
    const V1_UNLIMITED_FLOOR: u64 = 0x7FFF_FFFF_FFFF_0000; // i64::MAX, 64 KiB pages
    if limit >= V1_UNLIMITED_FLOOR {
        u64::MAX
    } else {
        limit
    }
}

fn cpu(cgroup: &Cgroup) -> Result<CpuStats> {
    let mut stats = CpuStats {
        usage_total_ns: cpu_usage(cgroup)?,
        ..CpuStats::default()
    };
    let (dir, time_key, scale) = match cgroup.locate(Controller::Cpu) {
        None => return Ok(stats),
        Some(Target::V1(dir)) => (dir, "throttled_time", 1),
        Some(Target::V2(dir)) => (dir, "throttled_usec", 1000),
    };
    if dir.has("cpu.stat") {
        stats.throttled_periods = dir.keyed("cpu.stat", "nr_throttled")?;
        stats.throttled_time_ns = dir.keyed("cpu.stat", time_key)?.map(|t| t * scale);
    }
    Ok(stats)
}

/// v1 cpuacct when mounted; otherwise cgroup2's cpu.stat, whose usage_usec
/// is there even without the cpu controller.
fn cpu_usage(cgroup: &Cgroup) -> Result<Option<u64>> {
    if let Some(dir) = cgroup.v1_dir(Controller::Cpuacct.v1_name()) {
        return dir.optional_number("cpuacct.usage");
    }
    match cgroup.v2_dir() {
        Some(dir) if dir.has("cpu.stat") => {
            Ok(dir.keyed("cpu.stat", "usage_usec")?.map(|u| u * 1000))
        }
        _ => Ok(None),
    }
}

fn pids(cgroup: &Cgroup) -> Result<PidsStats> {
    match cgroup.locate(Controller::Pids) {
        None => Ok(PidsStats::default()),
        Some(Target::V1(dir) | Target::V2(dir)) => Ok(PidsStats {
            current: dir.optional_number("pids.current")?,
            limit: dir.optional_number("pids.max")?,
        }),
    }
}
