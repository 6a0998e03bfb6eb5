//! Writing `linux.resources` to cgroup v1 control files. The spec's values
//! are v1 values, so this is mostly direct; the care is in write order.

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxThrottleDevice,
};

use super::common::{burst_knob, optional_knob, write_or_defer};
use super::convert;
use super::error::{CgroupError, Result};
use super::fs::Dir;

const MEMORY_LIMIT: &str = "memory.limit_in_bytes";
const MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";

/// Memory limit, memory+swap, reservation, swappiness and the OOM killer
/// switch. Kernel memory limits (`kernel`, `kernelTCP`) are ignored as runc
/// does: they are deprecated and gone from kernels since 5.16.
pub fn memory(dir: Dir<'_>, memory: &LinuxMemory) -> Result<()> {
    convert::check_v1_swap(memory.swap(), memory.limit())?;
    limit_and_swap(dir, memory.limit().unwrap_or(0), memory.swap().unwrap_or(0))?;
    if let Some(reservation) = memory.reservation().filter(|r| *r != 0) {
        dir.write("memory.soft_limit_in_bytes", &reservation.to_string())?;
    }
    if let Some(swappiness) = memory.swappiness() {
        dir.write("memory.swappiness", &convert::swappiness(swappiness)?)?;
    }
    if memory.disable_oom_killer() == Some(true) {
        dir.write("memory.oom_control", "1")?;
    }
    Ok(())
}

/// Writes memory.limit_in_bytes and memory.memsw.limit_in_bytes in the
/// order the kernel accepts: memsw must stay >= memory at every step, so
/// when the new memsw is above the current memory limit it goes first,
/// otherwise memory goes first. memsw only exists with swap accounting
/// (CONFIG_MEMCG_SWAP and swapaccount=1); without it the swap value is
/// skipped, as the brief for this runtime asks.
fn limit_and_swap(dir: Dir<'_>, limit: i64, swap: i64) -> Result<()> {
    let has_memsw = dir.has(MEMSW_LIMIT);
    let swap = match (has_memsw, limit, swap) {
        (false, _, _) => 0,
        // Unlimited memory with swap unset means unlimited swap too,
        // otherwise the old memsw limit would still cap memory (runc).
        (true, -1, 0) => -1,
        (true, _, s) => s,
    };
    let swap_first = limit != 0 && swap != 0 && (swap == -1 || current_limit(dir)? < swap as u64);
    let write_limit = || nonzero_write(dir, MEMORY_LIMIT, limit);
    let write_swap = || nonzero_write(dir, MEMSW_LIMIT, swap);
    if swap_first {
        write_swap()?;
        write_limit()
    } else {
        write_limit()?;
        write_swap()
    }
}

fn current_limit(dir: Dir<'_>) -> Result<u64> {
    dir.number(MEMORY_LIMIT)
}

fn nonzero_write(dir: Dir<'_>, name: &str, value: i64) -> Result<()> {
    if value == 0 {
        return Ok(());
    }
    dir.write(name, &value.to_string())
}

/// cpu.shares, CFS quota/period/burst, realtime period/runtime and idle.
pub fn cpu(dir: Dir<'_>, cpu: &LinuxCpu) -> Result<()> {
    if let Some(shares) = cpu.shares().filter(|s| *s != 0) {
        shares_checked(dir, shares)?;
    }
    cfs_bandwidth(dir, cpu)?;
    realtime(dir, cpu)?;
    if let Some(idle) = cpu.idle() {
        optional_knob(dir, "cpu.idle", i128::from(idle))?;
    }
    Ok(())
}

/// Writes cpu.shares and reads it back: the kernel silently clamps values
/// out of 2..=262144, and a silently different weight is a wrong result.
fn shares_checked(dir: Dir<'_>, shares: u64) -> Result<()> {
    dir.write("cpu.shares", &shares.to_string())?;
    let got = dir.number("cpu.shares")?;
    if got != shares {
        return Err(CgroupError::InvalidResource {
            setting: "cpu.shares",
            reason: format!("the kernel set {got} instead of {shares} (range 2..=262144)"),
        });
    }
    Ok(())
}

/// Period, burst and quota. A write refused with EINVAL because it
/// conflicts with the current quota is retried after the new quota.
fn cfs_bandwidth(dir: Dir<'_>, cpu: &LinuxCpu) -> Result<()> {
    let quota = cpu.quota().unwrap_or(0);
    let period = cpu.period().unwrap_or(0);
    let mut deferred = Vec::new();
    if period != 0 {
        write_or_defer(
            dir,
            "cpu.cfs_period_us",
            period.to_string(),
            quota != 0,
            &mut deferred,
        )?;
    }
    if let Some(burst) = cpu.burst() {
        burst_knob(dir, "cpu.cfs_burst_us", burst, quota != 0, &mut deferred)?;
    }
    if quota != 0 {
        dir.write("cpu.cfs_quota_us", &quota.to_string())?;
    }
    for (name, value) in deferred {
        dir.write(name, &value)?;
    }
    Ok(())
}

/// Realtime scheduling budget: the period first, so the runtime fits in it.
fn realtime(dir: Dir<'_>, cpu: &LinuxCpu) -> Result<()> {
    if let Some(period) = cpu.realtime_period().filter(|p| *p != 0) {
        dir.write("cpu.rt_period_us", &period.to_string())?;
    }
    if let Some(runtime) = cpu.realtime_runtime().filter(|r| *r != 0) {
        dir.write("cpu.rt_runtime_us", &runtime.to_string())?;
    }
    Ok(())
}

/// Block I/O weights and throttles.
pub fn block_io(dir: Dir<'_>, io: &LinuxBlockIo) -> Result<()> {
    let weight_file = weight_file(dir);
    let need_weight_file = io.weight().is_some_and(|w| w != 0)
        || io
            .weight_device()
            .as_ref()
            .is_some_and(|d| d.iter().any(|d| d.weight().is_some()));
    let weight_file = match weight_file {
        Some(file) => file,
        None if need_weight_file => {
            return Err(CgroupError::Unsupported(format!(
                "blkio weight: neither blkio.weight nor blkio.bfq.weight exists in {} \
                 (the disk scheduler is neither CFQ nor BFQ)",
                dir.0.display()
            )))
        }
        None => "blkio.weight",
    };
    if let Some(weight) = io.weight().filter(|w| *w != 0) {
        dir.write(weight_file, &weight.to_string())?;
    }
    if let Some(weight) = io.leaf_weight().filter(|w| *w != 0) {
        dir.write("blkio.leaf_weight", &weight.to_string())?;
    }
    for device in io.weight_device().iter().flatten() {
        let id = format!("{}:{}", device.major(), device.minor());
        if let Some(weight) = device.weight() {
            dir.write(&format!("{weight_file}_device"), &format!("{id} {weight}"))?;
        }
        if let Some(weight) = device.leaf_weight() {
            dir.write("blkio.leaf_weight_device", &format!("{id} {weight}"))?;
        }
    }
    throttles(dir, io)
}

/// CFQ exposes blkio.weight, BFQ blkio.bfq.weight (as runc picks).
fn weight_file(dir: Dir<'_>) -> Option<&'static str> {
    ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| dir.has(f))
}

fn throttles(dir: Dir<'_>, io: &LinuxBlockIo) -> Result<()> {
    let lists: [(&str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        (
            "blkio.throttle.read_bps_device",
            io.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            io.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            io.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            io.throttle_write_iops_device(),
        ),
    ];
    for (file, devices) in lists {
        for device in devices.iter().flatten() {
            let line = format!("{}:{} {}", device.major(), device.minor(), device.rate());
            dir.write(file, &line)?;
        }
    }
    Ok(())
}

/// `hugetlb.<size>.limit_in_bytes`, and the reservation limit
/// `hugetlb.<size>.rsvd.limit_in_bytes` where the kernel has it (5.7+):
/// reservations fail at mmap() time instead of SIGBUS at fault time.
pub fn hugetlb(dir: Dir<'_>, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for limit in limits {
        let size = convert::hugepage_size(limit.page_size())?;
        let value = limit.limit().to_string();
        let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
        if dir.has(&rsvd) {
            dir.write(&rsvd, &value)?;
        }
        dir.write(&format!("hugetlb.{size}.limit_in_bytes"), &value)?;
    }
    Ok(())
}

/// `net_cls.classid`.
pub fn net_cls(dir: Dir<'_>, network: &LinuxNetwork) -> Result<()> {
    match network.class_id() {
        Some(id) => dir.write("net_cls.classid", &id.to_string()),
        None => Ok(()),
    }
}

/// `net_prio.ifpriomap`, one `IFNAME PRIORITY` line per interface.
pub fn net_prio(dir: Dir<'_>, network: &LinuxNetwork) -> Result<()> {
    for entry in network.priorities().iter().flatten() {
        let line = format!("{} {}", entry.name(), entry.priority());
        dir.write("net_prio.ifpriomap", &line)?;
    }
    Ok(())
}
