//! `berth update`: a container's resource limits and restart policy,
//! changed in place (the daemon applies them to a running container's
//! cgroup).

use anyhow::bail;
use berth_api::types::RestartPolicy;
use berth_api::Query;
use clap::Args;
use serde::Serialize;

use super::container_opts::{parse_bytes, parse_restart};
use super::for_each;
use crate::context::{seg, Ctx};

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string")]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `POST /containers/{id}/update` body: only what was given.
#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct Update {
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_swap: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_reservation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nano_cpus: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_shares: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_quota: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpuset_cpus: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restart_policy: Option<RestartPolicy>,
}

pub async fn run(ctx: &Ctx, args: UpdateArgs) -> anyhow::Result<i32> {
    let update = body(&args)?;
    if update == Update::default() {
        bail!("you must provide one or more flags when using this command");
    }
    for_each(&args.containers, |c| {
        let update = &update;
        async move {
            let path = format!("/containers/{}/update", seg(&c));
            let _: serde_json::Value = ctx.client.post(&path, &Query::new(), Some(update)).await?;
            Ok(())
        }
    })
    .await
}

fn body(args: &UpdateArgs) -> anyhow::Result<Update> {
    let bytes = |v: &Option<String>| v.as_deref().map(parse_bytes).transpose();
    let swap = match args.memory_swap.as_deref() {
        Some("-1") => Some(-1),
        Some(s) => Some(parse_bytes(s)?),
        None => None,
    };
    Ok(Update {
        memory: bytes(&args.memory)?,
        memory_swap: swap,
        memory_reservation: bytes(&args.memory_reservation)?,
        nano_cpus: args.cpus.map(|c| (c * 1e9) as i64),
        cpu_shares: args.cpu_shares,
        cpu_quota: args.cpu_quota,
        cpu_period: args.cpu_period,
        cpuset_cpus: args.cpuset_cpus.clone(),
        pids_limit: args.pids_limit,
        restart_policy: args.restart.as_deref().map(parse_restart).transpose()?,
    })
}
