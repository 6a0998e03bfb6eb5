//! `apply`: sends each part of `linux.resources` to the hierarchy that
//! serves its controller, v1 or v2. A part that asks for something
//! (non-zero, non-empty) whose controller exists nowhere is an error rather
//! than a silently unlimited container.

use std::collections::HashMap;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxMemory, LinuxNetwork,
    LinuxResources,
};

use super::cgroup::{Cgroup, Controller, Target};
use super::error::Result;
use super::{common, devices, v1, v2};

/// Applies every part of `resources`.
pub fn apply(cgroup: &Cgroup, resources: &LinuxResources) -> Result<()> {
    if let Some(memory) = resources.memory() {
        apply_memory(cgroup, memory)?;
    }
    if let Some(cpu) = resources.cpu() {
        apply_cpu(cgroup, cpu)?;
        apply_cpuset(cgroup, cpu)?;
    }
    if let Some(pids) = resources.pids() {
        apply_pids(cgroup, pids.limit())?;
    }
    if let Some(io) = resources.block_io() {
        apply_block_io(cgroup, io)?;
    }
    if let Some(limits) = resources.hugepage_limits() {
        apply_hugetlb(cgroup, limits)?;
    }
    if let Some(network) = resources.network() {
        apply_network(cgroup, network)?;
    }
    if let Some(rdma) = resources.rdma() {
        apply_rdma(cgroup, rdma)?;
    }
    if let Some(rules) = resources.devices() {
        apply_devices(cgroup, rules)?;
    }
    if let Some(values) = resources.unified() {
        apply_unified(cgroup, values)?;
    }
    Ok(())
}

fn apply_memory(cgroup: &Cgroup, memory: &LinuxMemory) -> Result<()> {
    match cgroup.locate(Controller::Memory) {
        Some(Target::V1(dir)) => v1::memory(dir, memory),
        Some(Target::V2(dir)) => v2::memory(dir, memory),
        None if !memory_requested(memory) => Ok(()),
        None => Err(cgroup.missing(Controller::Memory, "memory")),
    }
}

/// Kernel memory limits are left out: they are ignored everywhere.
fn memory_requested(m: &LinuxMemory) -> bool {
    let set = |v: Option<i64>| v.is_some_and(|v| v != 0);
    set(m.limit())
        || set(m.reservation())
        || set(m.swap())
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
}

fn apply_cpu(cgroup: &Cgroup, cpu: &LinuxCpu) -> Result<()> {
    match cgroup.locate(Controller::Cpu) {
        Some(Target::V1(dir)) => v1::cpu(dir, cpu),
        Some(Target::V2(dir)) => v2::cpu(dir, cpu),
        None if !cpu_requested(cpu) => Ok(()),
        None => Err(cgroup.missing(Controller::Cpu, "cpu")),
    }
}

fn cpu_requested(c: &LinuxCpu) -> bool {
    let set = |v: Option<i64>| v.is_some_and(|v| v != 0);
    let set_u = |v: Option<u64>| v.is_some_and(|v| v != 0);
    set_u(c.shares())
        || set(c.quota())
        || set_u(c.period())
        || set_u(c.burst())
        || set(c.idle())
        || set(c.realtime_runtime())
        || set_u(c.realtime_period())
}

fn apply_cpuset(cgroup: &Cgroup, cpu: &LinuxCpu) -> Result<()> {
    match cgroup.locate(Controller::Cpuset) {
        Some(Target::V1(dir) | Target::V2(dir)) => common::cpuset(dir, cpu),
        None if !common::cpuset_requested(cpu) => Ok(()),
        None => Err(cgroup.missing(Controller::Cpuset, "cpu.cpus/mems")),
    }
}

fn apply_pids(cgroup: &Cgroup, limit: i64) -> Result<()> {
    match cgroup.locate(Controller::Pids) {
        Some(Target::V1(dir) | Target::V2(dir)) => common::pids(dir, limit),
        None if limit == 0 => Ok(()),
        None => Err(cgroup.missing(Controller::Pids, "pids")),
    }
}

fn apply_block_io(cgroup: &Cgroup, io: &LinuxBlockIo) -> Result<()> {
    match cgroup.locate(Controller::Blkio) {
        Some(Target::V1(dir)) => v1::block_io(dir, io),
        Some(Target::V2(dir)) => v2::block_io(dir, io),
        None if !block_io_requested(io) => Ok(()),
        None => Err(cgroup.missing(Controller::Blkio, "blockIO")),
    }
}

fn block_io_requested(io: &LinuxBlockIo) -> bool {
    let weight = |w: Option<u16>| w.is_some_and(|w| w != 0);
    let any = |v: &Option<Vec<_>>| v.as_ref().is_some_and(|v: &Vec<_>| !v.is_empty());
    weight(io.weight())
        || weight(io.leaf_weight())
        || io.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || any(io.throttle_read_bps_device())
        || any(io.throttle_write_bps_device())
        || any(io.throttle_read_iops_device())
        || any(io.throttle_write_iops_device())
}

/// Any hugepage entry is a request: a limit of 0 forbids huge pages.
fn apply_hugetlb(cgroup: &Cgroup, limits: &[LinuxHugepageLimit]) -> Result<()> {
    match cgroup.locate(Controller::Hugetlb) {
        Some(Target::V1(dir)) => v1::hugetlb(dir, limits),
        Some(Target::V2(dir)) => v2::hugetlb(dir, limits),
        None if limits.is_empty() => Ok(()),
        None => Err(cgroup.missing(Controller::Hugetlb, "hugepageLimits")),
    }
}

/// net_cls and net_prio exist only in v1.
fn apply_network(cgroup: &Cgroup, network: &LinuxNetwork) -> Result<()> {
    if network.class_id().is_some() {
        let dir = cgroup
            .v1_dir(Controller::NetCls.v1_name())
            .ok_or_else(|| cgroup.missing(Controller::NetCls, "network.classID"))?;
        v1::net_cls(dir, network)?;
    }
    if network.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
        let dir = cgroup
            .v1_dir(Controller::NetPrio.v1_name())
            .ok_or_else(|| cgroup.missing(Controller::NetPrio, "network.priorities"))?;
        v1::net_prio(dir, network)?;
    }
    Ok(())
}

fn apply_rdma(
    cgroup: &Cgroup,
    limits: &HashMap<String, oci_spec::runtime::LinuxRdma>,
) -> Result<()> {
    match cgroup.locate(Controller::Rdma) {
        Some(Target::V1(dir) | Target::V2(dir)) => common::rdma(dir, limits),
        None if !common::rdma_requested(limits) => Ok(()),
        None => Err(cgroup.missing(Controller::Rdma, "rdma")),
    }
}

/// v1 (and hybrid, where a v1 devices hierarchy exists): devices.deny and
/// devices.allow. Otherwise cgroup2: an eBPF device program attached to the
/// container's directory. With neither, the rules cannot be enforced: an
/// error (unless there are none).
fn apply_devices(cgroup: &Cgroup, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    if let Some(dir) = cgroup.v1_dir(Controller::Devices.v1_name()) {
        return devices::apply_v1(dir, rules);
    }
    if let Some(dir) = cgroup.v2_dir() {
        return devices::apply_v2(dir, rules);
    }
    if rules.is_empty() {
        return Ok(());
    }
    Err(cgroup.missing(Controller::Devices, "devices"))
}

fn apply_unified(cgroup: &Cgroup, values: &HashMap<String, String>) -> Result<()> {
    match cgroup.v2_dir() {
        Some(dir) => v2::unified(dir, values),
        None if values.is_empty() => Ok(()),
        None => Err(super::error::CgroupError::Unsupported(
            "linux.resources.unified needs a cgroup2 hierarchy".to_owned(),
        )),
    }
}
