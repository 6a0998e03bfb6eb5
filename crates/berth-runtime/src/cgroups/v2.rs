//! Writing `linux.resources` to cgroup v2 control files, converting the
//! spec's v1-flavoured values the way runc does (see `convert`).

use std::collections::HashMap;
use std::io::ErrorKind;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory};

use super::common::{burst_knob, optional_knob};
use super::convert;
use super::error::{CgroupError, Result};
use super::fs::Dir;

/// memory.swap.max, memory.max and memory.low. `swappiness` and
/// `disableOOMKiller` have no v2 file and are ignored, as runc does; kernel
/// memory limits are deprecated and ignored too.
pub fn memory(dir: Dir<'_>, memory: &LinuxMemory) -> Result<()> {
    if let Some(swap) = convert::v2_swap_max(memory.swap(), memory.limit())? {
        swap_max(dir, &swap)?;
    }
    if let Some(limit) = convert::v2_limit(memory.limit()) {
        dir.write("memory.max", &limit)?;
    }
    if let Some(low) = convert::v2_limit(memory.reservation()) {
        dir.write("memory.low", &low)?;
    }
    Ok(())
}

/// Without swap accounting memory.swap.max does not exist; then asking for
/// "no limit" or "no swap" is already true and not an error (runc).
fn swap_max(dir: Dir<'_>, value: &str) -> Result<()> {
    match dir.try_write("memory.swap.max", value) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound && (value == "max" || value == "0") => Ok(()),
        Err(e) => Err(dir.write_error("memory.swap.max", value, e)),
    }
}

/// cpu.idle, cpu.weight, cpu.max and cpu.max.burst. Realtime budgets do not
/// exist in v2 and are an error when set.
pub fn cpu(dir: Dir<'_>, cpu: &LinuxCpu) -> Result<()> {
    if let Some(idle) = cpu.idle() {
        optional_knob(dir, "cpu.idle", i128::from(idle))?;
    }
    if let Some(weight) = convert::cpu_shares_to_weight(cpu.shares().unwrap_or(0)) {
        dir.write("cpu.weight", &weight.to_string())?;
    }
    let max = convert::cpu_max(cpu.quota(), cpu.period());
    let mut deferred = Vec::new();
    if let Some(burst) = cpu.burst() {
        burst_knob(dir, "cpu.max.burst", burst, max.is_some(), &mut deferred)?;
    }
    if let Some(max) = max {
        dir.write("cpu.max", &max)?;
    }
    for (name, value) in deferred {
        dir.write(name, &value)?;
    }
    realtime_unsupported(cpu)
}

fn realtime_unsupported(cpu: &LinuxCpu) -> Result<()> {
    let period = cpu.realtime_period().unwrap_or(0);
    let runtime = cpu.realtime_runtime().unwrap_or(0);
    if period != 0 || runtime != 0 {
        return Err(CgroupError::Unsupported(format!(
            "cpu.realtimePeriod {period} / realtimeRuntime {runtime}: \
             cgroup v2 has no realtime budget"
        )));
    }
    Ok(())
}

/// io.weight (or io.bfq.weight when BFQ is in use, which takes blkio's
/// 10..=1000 scale as is) and io.max throttles. `leafWeight` has no v2
/// equivalent.
pub fn block_io(dir: Dir<'_>, io: &LinuxBlockIo) -> Result<()> {
    leaf_weight_unsupported(io)?;
    let bfq = dir.has("io.bfq.weight");
    if let Some(weight) = io.weight().filter(|w| *w != 0) {
        write_weight(dir, bfq, "", weight)?;
    }
    for device in io.weight_device().iter().flatten() {
        if let Some(weight) = device.weight() {
            let id = format!("{}:{} ", device.major(), device.minor());
            write_weight(dir, bfq, &id, weight)?;
        }
    }
    throttles(dir, io)
}

fn leaf_weight_unsupported(io: &LinuxBlockIo) -> Result<()> {
    let device_leaf = io
        .weight_device()
        .iter()
        .flatten()
        .any(|d| d.leaf_weight().is_some_and(|w| w != 0));
    if io.leaf_weight().is_some_and(|w| w != 0) || device_leaf {
        return Err(CgroupError::Unsupported(
            "blockIO.leafWeight: cgroup v2 has no leaf weight".to_owned(),
        ));
    }
    Ok(())
}

/// `prefix` is empty for the default weight, `MAJ:MIN ` for one device.
fn write_weight(dir: Dir<'_>, bfq: bool, prefix: &str, weight: u16) -> Result<()> {
    if bfq {
        return dir.write("io.bfq.weight", &format!("{prefix}{weight}"));
    }
    match convert::blkio_weight_to_io_weight(weight) {
        Some(w) => dir.write("io.weight", &format!("{prefix}{w}")),
        None => Ok(()),
    }
}

/// One io.max line per device and limit. A rate of 0 removes the limit
/// (`max`), as 0 does in v1's throttle files.
fn throttles(dir: Dir<'_>, io: &LinuxBlockIo) -> Result<()> {
    let lists = [
        ("rbps", io.throttle_read_bps_device()),
        ("wbps", io.throttle_write_bps_device()),
        ("riops", io.throttle_read_iops_device()),
        ("wiops", io.throttle_write_iops_device()),
    ];
    for (key, devices) in lists {
        for device in devices.iter().flatten() {
            let rate = match device.rate() {
                0 => "max".to_owned(),
                r => r.to_string(),
            };
            let line = format!("{}:{} {key}={rate}", device.major(), device.minor());
            dir.write("io.max", &line)?;
        }
    }
    Ok(())
}

/// `hugetlb.<size>.max`, and `hugetlb.<size>.rsvd.max` where the kernel has
/// it (reservation limits fail at mmap() rather than SIGBUS at fault time).
pub fn hugetlb(dir: Dir<'_>, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for limit in limits {
        let size = convert::hugepage_size(limit.page_size())?;
        let value = match limit.limit() {
            l if l < 0 => "max".to_owned(),
            l => l.to_string(),
        };
        let rsvd = format!("hugetlb.{size}.rsvd.max");
        if dir.has(&rsvd) {
            dir.write(&rsvd, &value)?;
        }
        dir.write(&format!("hugetlb.{size}.max"), &value)?;
    }
    Ok(())
}

/// `linux.resources.unified`: raw v2 files, written in key order. Keys must
/// be plain `controller.knob` names; membership files are refused (joining
/// is `add_process`'s job).
pub fn unified(dir: Dir<'_>, values: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<_> = values.keys().collect();
    keys.sort();
    for key in keys {
        check_unified_key(key)?;
        dir.write(key, &values[key])?;
    }
    Ok(())
}

fn check_unified_key(key: &str) -> Result<()> {
    let plain = key.contains('.')
        && !key.starts_with('.')
        && !key.contains('/')
        && !matches!(
            key,
            "cgroup.procs" | "cgroup.threads" | "cgroup.subtree_control"
        );
    if plain {
        return Ok(());
    }
    Err(CgroupError::InvalidResource {
        setting: "unified",
        reason: format!("{key:?} is not a CONTROLLER.KNOB file this runtime may write"),
    })
}
