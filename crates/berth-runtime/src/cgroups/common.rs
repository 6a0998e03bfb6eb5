//! Controllers whose files are the same in cgroup v1 and v2 (pids, cpuset,
//! rdma), plus the "write now, or after the setting it conflicts with"
//! helper both cpu implementations need.

use std::collections::HashMap;

use oci_spec::runtime::{LinuxCpu, LinuxRdma};

use super::convert;
use super::error::{CgroupError, Result};
use super::fs::Dir;

/// `pids.max` (v1 accepts `max` too).
pub fn pids(dir: Dir<'_>, limit: i64) -> Result<()> {
    match convert::pids_max(limit) {
        Some(value) => dir.write("pids.max", &value),
        None => Ok(()),
    }
}

/// `cpuset.cpus` and `cpuset.mems`, when given.
pub fn cpuset(dir: Dir<'_>, cpu: &LinuxCpu) -> Result<()> {
    for (file, value) in [("cpuset.cpus", cpu.cpus()), ("cpuset.mems", cpu.mems())] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            dir.write(file, value)?;
        }
    }
    Ok(())
}

/// Whether the cpuset part of `cpu` asks for anything.
pub fn cpuset_requested(cpu: &LinuxCpu) -> bool {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    set(cpu.cpus()) || set(cpu.mems())
}

/// `rdma.max`, one `DEVICE hca_handle=N hca_object=N` line per device,
/// sorted so the writes are reproducible.
pub fn rdma(dir: Dir<'_>, limits: &HashMap<String, LinuxRdma>) -> Result<()> {
    let mut devices: Vec<_> = limits.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    for (device, limit) in devices {
        if device.is_empty() || device.contains(char::is_whitespace) {
            return Err(CgroupError::InvalidResource {
                setting: "rdma",
                reason: format!("device name {device:?} is empty or has whitespace"),
            });
        }
        let mut line = device.clone();
        if let Some(n) = limit.hca_handles() {
            line.push_str(&format!(" hca_handle={n}"));
        }
        if let Some(n) = limit.hca_objects() {
            line.push_str(&format!(" hca_object={n}"));
        }
        if line.len() > device.len() {
            dir.write("rdma.max", &line)?;
        }
    }
    Ok(())
}

/// Whether any rdma limit is set.
pub fn rdma_requested(limits: &HashMap<String, LinuxRdma>) -> bool {
    limits
        .values()
        .any(|l| l.hca_handles().is_some() || l.hca_objects().is_some())
}

/// Writes `value` to `name`. When the kernel refuses it with EINVAL and a
/// related setting is about to change (`retry_later`), the write is queued
/// in `deferred` to be retried after that change: e.g. a smaller cfs period
/// can exceed the parent's quota until the new quota is in place, and a
/// burst may exceed the old quota.
pub fn write_or_defer(
    dir: Dir<'_>,
    name: &'static str,
    value: String,
    retry_later: bool,
    deferred: &mut Vec<(&'static str, String)>,
) -> Result<()> {
    match dir.try_write(name, &value) {
        Ok(()) => Ok(()),
        Err(e) if retry_later && e.raw_os_error() == Some(libc::EINVAL) => {
            deferred.push((name, value));
            Ok(())
        }
        Err(e) => Err(dir.write_error(name, &value, e)),
    }
}

/// Writes an optional knob that older kernels lack: a missing file is fine
/// for the "off" value 0 and an `Unsupported` error otherwise.
pub fn optional_knob(dir: Dir<'_>, name: &str, value: i128) -> Result<()> {
    if !dir.has(name) {
        if value == 0 {
            return Ok(());
        }
        return Err(CgroupError::Unsupported(format!(
            "{} does not exist (kernel too old?) but the spec sets it to {value}",
            dir.file(name).display()
        )));
    }
    dir.write(name, &value.to_string())
}

/// The burst file arrived in 5.14; a burst of 0 needs no file.
pub fn burst_knob(
    dir: Dir<'_>,
    name: &'static str,
    burst: u64,
    retry_later: bool,
    deferred: &mut Vec<(&'static str, String)>,
) -> Result<()> {
    if !dir.has(name) {
        return optional_knob(dir, name, i128::from(burst));
    }
    write_or_defer(dir, name, burst.to_string(), retry_later, deferred)
}
