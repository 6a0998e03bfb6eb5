//! `docker stats`: cgroup usage in the Engine API's shape. CPU % is the
//! client's computation from two samples (`cpu_stats` and `precpu_stats`)
//! against the host's total CPU time (`system_cpu_usage`).

use berth_runtime::{Container, StateRoot};
use serde_json::{json, Value};

use super::store::Entry;
use crate::daemon::Daemon;
use crate::http::ApiError;

/// One sample.
pub struct Sample {
    pub cpu_total_ns: u64,
    pub system_ns: u64,
    pub json: Value,
}

/// Host CPU time in nanoseconds, from the `cpu` line of /proc/stat.
fn system_cpu_ns() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let ticks: u64 = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    ticks * 10_000_000
}

impl Daemon {
    /// Takes a sample of a running container; `previous` fills
    /// `precpu_stats`.
    pub fn stats_sample(
        &self,
        entry: &Entry,
        previous: Option<&Sample>,
    ) -> Result<Sample, ApiError> {
        let record = entry.record();
        let root = StateRoot::new(self.config.runtime_root())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let container =
            Container::load(&root, &record.id).map_err(|e| ApiError::internal(e.to_string()))?;
        let stats =
            container.state.cgroup.stats().map_err(|e| {
                ApiError::internal(format!("reading the cgroup of {}: {e}", record.id))
            })?;
        let cpu_total = stats.cpu.usage_total_ns.unwrap_or(0);
        let system = system_cpu_ns();
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu_json = |total: u64, system: u64| {
            json!({
                "cpu_usage": { "total_usage": total, "usage_in_kernelmode": 0, "usage_in_usermode": 0 },
                "system_cpu_usage": system,
                "online_cpus": ncpu,
                "throttling_data": {
                    "periods": stats.cpu.throttled_periods.unwrap_or(0),
                    "throttled_periods": stats.cpu.throttled_periods.unwrap_or(0),
                    "throttled_time": stats.cpu.throttled_time_ns.unwrap_or(0),
                }
            })
        };
        let pre = previous.map_or_else(
            || json!({"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0}),
            |p| cpu_json(p.cpu_total_ns, p.system_ns),
        );
        let limit = stats
            .memory
            .limit
            .filter(|l| *l < (1 << 62))
            .unwrap_or_else(mem_total);
        let now = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        let json = json!({
            "read": now,
            "preread": previous.map_or(Value::Null, |p| p.json["read"].clone()),
            "id": record.id,
            "name": format!("/{}", record.name),
            "pids_stats": { "current": stats.pids.current.unwrap_or(0), "limit": stats.pids.limit },
            "cpu_stats": cpu_json(cpu_total, system),
            "precpu_stats": pre,
            "memory_stats": {
                "usage": stats.memory.usage.unwrap_or(0),
                "max_usage": stats.memory.max_usage.unwrap_or(0),
                "limit": limit,
                "stats": {},
            },
            "blkio_stats": {},
            "networks": {},
        });
        Ok(Sample {
            cpu_total_ns: cpu_total,
            system_ns: system,
            json,
        })
    }

    /// `pause`/`unpause` through the freezer.
    pub fn set_paused(&self, entry: &Entry, pause: bool) -> Result<(), ApiError> {
        let record = entry.record();
        let wanted_now = if pause { "running" } else { "paused" };
        if record.state.status != wanted_now {
            return Err(ApiError::conflict(format!(
                "Container {} is not {}",
                record.id,
                if pause { "running" } else { "paused" }
            )));
        }
        let root = StateRoot::new(self.config.runtime_root())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let container =
            Container::load(&root, &record.id).map_err(|e| ApiError::internal(e.to_string()))?;
        let done = if pause {
            container.pause()
        } else {
            container.resume()
        };
        done.map_err(|e| ApiError::internal(e.to_string()))?;
        entry.update(|r| r.state.status = if pause { "paused" } else { "running" }.into())?;
        let action = if pause { "pause" } else { "unpause" };
        self.event(
            "container",
            action,
            &record.id,
            json!({"name": record.name}),
        );
        Ok(())
    }
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

impl Daemon {
    /// `docker update`: new limits into the host config, and into the
    /// running container's cgroup.
    pub fn update_container(&self, entry: &Entry, update: &Value) -> Result<Vec<String>, ApiError> {
        const KEYS: [&str; 10] = [
            "Memory",
            "MemorySwap",
            "MemoryReservation",
            "NanoCpus",
            "CpuShares",
            "CpuQuota",
            "CpuPeriod",
            "CpusetCpus",
            "PidsLimit",
            "RestartPolicy",
        ];
        let mut host = entry.record().host_config;
        for key in KEYS {
            if let Some(v) = update.get(key).filter(|v| !v.is_null()) {
                host[key] = v.clone();
            }
        }
        if entry.record().state.running() {
            let resources = super::spec::resources(&host)?;
            let resources: oci_spec::runtime::LinuxResources = serde_json::from_value(resources)
                .map_err(|e| ApiError::bad_request(format!("invalid resources: {e}")))?;
            let root = StateRoot::new(self.config.runtime_root())
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let container = Container::load(&root, &entry.id())
                .map_err(|e| ApiError::internal(e.to_string()))?;
            container
                .state
                .cgroup
                .apply(&resources)
                .map_err(|e| ApiError::internal(format!("updating the cgroup: {e}")))?;
        }
        entry.update(|r| r.host_config = host)?;
        Ok(Vec::new())
    }
}
