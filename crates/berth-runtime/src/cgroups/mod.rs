//! Control groups: layout detection (v1, v2, hybrid) and a per-container
//! cgroup that is created, limited, joined, frozen, inspected and removed.
//!
//! CONTRACT (used by container.rs; keep these signatures):
//! - `CgroupLayout::detect()` reads /proc/self/mountinfo (never guesses from
//!   paths) and returns which hierarchies exist: v1 hierarchies keyed by
//!   controller, and the cgroup2 mount with its available controllers.
//! - `Cgroup::new(&layout, cgroups_path)` resolves the container's directory
//!   in every hierarchy. `cgroups_path` is the spec's `linux.cgroupsPath`
//!   (absolute, relative to each hierarchy's root) or a systemd-style
//!   `slice:prefix:name`, converted to a cgroupfs path.
//! - `Cgroup` is `Serialize + Deserialize` so it is stored in the container
//!   state and reused by later commands without re-detection.
//! - `create()`, `apply(&LinuxResources)`, `add_process(pid)` (0 = caller),
//!   `pids()`, `freeze()`, `thaw()`, `is_frozen()`, `oom_kill_count()`,
//!   `stats()`, `destroy()`.
//!
//! ## Layouts
//! - **v1**: one hierarchy per (group of co-mounted) controllers, plus
//!   named ones such as `name=systemd`. The container joins all of them.
//! - **v2**: one unified hierarchy; the controllers the root offers are
//!   enabled down to the container's parent.
//! - **hybrid**: v1 hierarchies do the limiting; the container also gets a
//!   directory in the cgroup2 mount (process tracking, as systemd does)
//!   where only controllers that no v1 hierarchy has are used (typically
//!   none, or `hugetlb`).
//!
//! ## Example
//! ```no_run
//! use berth_runtime::cgroups::{Cgroup, CgroupLayout};
//! # fn main() -> Result<(), berth_runtime::cgroups::CgroupError> {
//! # let resources = oci_spec::runtime::LinuxResources::default();
//! let layout = CgroupLayout::detect()?;
//! let cgroup = Cgroup::new(&layout, "system.slice:berth:demo")?;
//! cgroup.create()?;
//! cgroup.apply(&resources)?;
//! cgroup.add_process(std::process::id() as i32)?; // any process, by pid
//! // (the runtime's own forked children use join_self_v1 and clone3 instead)
//! // ...
//! cgroup.destroy()?;
//! # Ok(())
//! # }
//! ```

mod apply;
mod cgroup;
mod common;
mod convert;
mod device_bpf;
mod devices;
mod error;
mod freezer;
mod fs;
mod layout;
mod lifecycle;
mod path;
mod procs;
mod stats;
mod v1;
mod v2;

#[cfg(test)]
mod fake_tests;
#[cfg(test)]
mod host_tests;

pub use cgroup::{Cgroup, CgroupVersion, HierarchyDir};
pub use error::CgroupError;
pub use layout::{CgroupLayout, LayoutKind, V1Hierarchy, V2Hierarchy};
pub use stats::{CgroupStats, CpuStats, MemoryStats, PidsStats};

use error::Result;
use oci_spec::runtime::LinuxResources;

impl Cgroup {
    /// Creates the container's directory in every hierarchy (`mkdir -p`,
    /// retried if a concurrent `destroy` removes a shared empty parent),
    /// fills empty v1 cpusets from the parent, and enables the needed v2
    /// controllers in the parents' cgroup.subtree_control.
    pub fn create(&self) -> Result<()> {
        lifecycle::create(self)
    }

    /// Applies `linux.resources`. A non-zero limit whose controller is
    /// available nowhere is an error (`ControllerMissing`); zero and empty
    /// values mean "not set". Device rules go to the v1 devices controller
    /// where there is one, else to an eBPF program attached to the cgroup2
    /// directory (see the `devices` module).
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        apply::apply(self, resources)
    }

    /// Moves process `pid` (0 = the caller) into the cgroup in every
    /// hierarchy. Safe to call in a single-threaded child right after
    /// fork: it only opens and writes precomputed paths.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        procs::add_process(self, pid)
    }

    /// Moves the calling thread into every v1 hierarchy (see
    /// `procs::join_self_v1`): only for single-threaded callers, which the
    /// runtime's forked children are.
    pub fn join_self_v1(&self) -> Result<()> {
        procs::join_self_v1(self)
    }

    /// Moves the caller into the cgroup2 directory (the fallback when a
    /// child cannot be cloned straight into it).
    pub fn join_self_v2(&self) -> Result<()> {
        procs::join_self_v2(self)
    }

    /// The container's processes (nested cgroups included), sorted and
    /// deduplicated. Empty when the cgroup does not exist.
    pub fn pids(&self) -> Result<Vec<i32>> {
        procs::pids(self)
    }

    /// Freezes all processes and waits (bounded) until they are frozen.
    pub fn freeze(&self) -> Result<()> {
        freezer::freeze(self)
    }

    /// Thaws all processes and waits (bounded) until they run.
    pub fn thaw(&self) -> Result<()> {
        freezer::thaw(self)
    }

    /// Whether the cgroup is frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        freezer::is_frozen(self)
    }

    /// How many processes the OOM killer killed in this cgroup.
    pub fn oom_kill_count(&self) -> Result<u64> {
        stats::oom_kill_count(self)
    }

    /// A snapshot of memory, cpu and pids usage.
    pub fn stats(&self) -> Result<CgroupStats> {
        stats::stats(self)
    }

    /// Removes the container's directories (and any cgroups nested in
    /// them), then the parents left empty below each hierarchy root.
    /// Missing directories are fine; processes still in the cgroup make it
    /// fail with EBUSY after a brief retry.
    pub fn destroy(&self) -> Result<()> {
        lifecycle::destroy(self)
    }
}
