//! `berth stats`: resource usage, once (`--no-stream`) or refreshed
//! every second.

use berth_api::types::{ContainerSummary, Stats};
use berth_api::Query;
use clap::Args;
use serde_json::{json, Value};

use super::short_id;
use crate::context::{seg, Ctx};
use crate::output::{listing, units};

const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: StatsArgs) -> anyhow::Result<i32> {
    let format = args.format.clone().unwrap_or_else(|| DEFAULT_FORMAT.into());
    loop {
        let targets = targets(ctx, &args).await?;
        let mut rows = Vec::new();
        for id in &targets {
            let path = format!("/containers/{}/stats", seg(id));
            let q = Query::new().set("stream", 0);
            let s: Stats = ctx.client.get(&path, &q).await?;
            rows.push(row(&s, id, !args.no_trunc));
        }
        let text = listing::render(&format, DEFAULT_FORMAT, &rows, &header())?;
        if args.no_stream {
            print!("{text}");
            return Ok(0);
        }
        // Clear the screen and redraw, as docker does on a terminal.
        print!("\x1b[2J\x1b[H{text}");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// The named containers, else the running ones (all with -a).
async fn targets(ctx: &Ctx, args: &StatsArgs) -> anyhow::Result<Vec<String>> {
    if !args.containers.is_empty() {
        return Ok(args.containers.clone());
    }
    let list: Vec<ContainerSummary> = ctx
        .client
        .get("/containers/json", &Query::new().flag("all", args.all))
        .await?;
    Ok(list.into_iter().map(|c| c.id).collect())
}

fn header() -> Value {
    json!({
        "ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

fn row(s: &Stats, asked: &str, trunc: bool) -> Value {
    let id = if s.id.is_empty() { asked } else { &s.id };
    let mem = memory_used(s) as f64;
    let limit = s.memory_stats.limit as f64;
    let mem_perc = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (rx, tx) = s
        .networks
        .iter()
        .flatten()
        .fold((0, 0), |(r, t), (_, n)| (r + n.rx_bytes, t + n.tx_bytes));
    let (read, write) = block_io(s);
    let size = |n: u64| units::human_size(n as f64, 3);
    json!({
        "ID": if trunc { short_id(id) } else { id.to_string() },
        "Container": asked,
        "Name": s.name.trim_start_matches('/'),
        "CPUPerc": format!("{:.2}%", cpu_percent(s)),
        "MemUsage": format!("{} / {}", units::bytes_size(mem), units::bytes_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", size(rx), size(tx)),
        "BlockIO": format!("{} / {}", size(read), size(write)),
        "PIDs": s.pids_stats.current.to_string(),
    })
}

/// Usage minus the page cache, as docker computes it (cgroup v1 `cache`
/// or v2 `inactive_file`).
fn memory_used(s: &Stats) -> u64 {
    let m = &s.memory_stats;
    let cache = m
        .stats
        .get("total_inactive_file")
        .or_else(|| m.stats.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    m.usage.saturating_sub(cache)
}

/// docker's CPU %: the container's share of the system's CPU time since
/// the previous sample, times the number of CPUs.
fn cpu_percent(s: &Stats) -> f64 {
    let cpu =
        s.cpu_stats.cpu_usage.total_usage as f64 - s.precpu_stats.cpu_usage.total_usage as f64;
    let system = s.cpu_stats.system_cpu_usage as f64 - s.precpu_stats.system_cpu_usage as f64;
    let cpus = match s.cpu_stats.online_cpus {
        0 => s
            .cpu_stats
            .cpu_usage
            .percpu_usage
            .as_ref()
            .map_or(1, Vec::len) as f64,
        n => f64::from(n),
    };
    if system > 0.0 && cpu > 0.0 {
        cpu / system * cpus * 100.0
    } else {
        0.0
    }
}

fn block_io(s: &Stats) -> (u64, u64) {
    let mut read = 0;
    let mut write = 0;
    for e in s.blkio_stats.io_service_bytes_recursive.iter().flatten() {
        match e.op.to_ascii_lowercase().as_str() {
            "read" => read += e.value,
            "write" => write += e.value,
            _ => {}
        }
    }
    (read, write)
}
