//! `berth system df|prune|info`: disk usage, pruning everything unused,
//! and the daemon's information (`berth info`).

use berth_api::types::ImageSummary;
use berth_api::Query;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::prune::{confirm, prune_containers, prune_images, reclaimed};
use super::short_id;
use crate::cli::FormatArgs;
use crate::context::Ctx;
use crate::output::{listing, units};

const DF_FORMAT: &str =
    "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const DF_IMAGES: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const DF_CONTAINERS: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const DF_VOLUMES: &str = "table {{.Name}}\t{{.Links}}\t{{.Size}}";

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show Berth disk usage
    Df(DfArgs),
    /// Remove unused data
    Prune(PruneArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Get real time events from the server
    Events(super::events::EventsArgs),
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
}

pub async fn run(ctx: &Ctx, cmd: SystemCommand) -> anyhow::Result<i32> {
    match cmd {
        SystemCommand::Df(a) => df(ctx, a).await,
        SystemCommand::Prune(a) => prune(ctx, a).await,
        SystemCommand::Info(a) => super::info::run(ctx, a).await,
        SystemCommand::Events(a) => super::events::run(ctx, a).await,
    }
}

// --------------------------------------------------------------------- df

async fn df(ctx: &Ctx, args: DfArgs) -> anyhow::Result<i32> {
    let usage: Value = ctx.client.get("/system/df", &Query::new()).await?;
    if args.verbose {
        print!("{}", verbose(&usage)?);
        return Ok(0);
    }
    let rows = vec![
        images_row(&usage),
        containers_row(&usage),
        volumes_row(&usage),
        build_cache_row(&usage),
    ];
    let format = args.format.as_deref().unwrap_or(DF_FORMAT);
    let header = json!({
        "Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
        "Size": "SIZE", "Reclaimable": "RECLAIMABLE",
    });
    listing::print(format, DF_FORMAT, &rows, &header)?;
    Ok(0)
}

fn list<'a>(usage: &'a Value, key: &str) -> Vec<&'a Value> {
    usage[key].as_array().into_iter().flatten().collect()
}

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or(0)
}

fn size(bytes: i64) -> String {
    units::human_size(bytes as f64, 4)
}

/// docker's RECLAIMABLE: the size and, of a non-zero total, its percent.
fn reclaimable(bytes: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", size(bytes), bytes * 100 / total)
    } else {
        size(bytes)
    }
}

fn df_row(kind: &str, total: usize, active: usize, bytes: i64, free: String) -> Value {
    json!({
        "Type": kind, "TotalCount": total.to_string(), "Active": active.to_string(),
        "Size": size(bytes), "Reclaimable": free,
    })
}

fn images_row(usage: &Value) -> Value {
    let images = list(usage, "Images");
    let total = int(usage, "LayersSize");
    let in_use: Vec<&&Value> = images.iter().filter(|i| int(i, "Containers") > 0).collect();
    // An image in use keeps what it does not share with others.
    let used: i64 = in_use
        .iter()
        .filter(|i| int(i, "SharedSize") != -1)
        .map(|i| int(i, "Size") - int(i, "SharedSize"))
        .sum();
    let free = reclaimable(total - used, total);
    df_row("Images", images.len(), in_use.len(), total, free)
}

fn containers_row(usage: &Value) -> Value {
    let containers = list(usage, "Containers");
    let running = |c: &Value| c["State"].as_str() == Some("running");
    let total: i64 = containers.iter().map(|c| int(c, "SizeRw")).sum();
    let free: i64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| int(c, "SizeRw"))
        .sum();
    let active = containers.iter().filter(|c| running(c)).count();
    df_row(
        "Containers",
        containers.len(),
        active,
        total,
        reclaimable(free, total),
    )
}

fn volumes_row(usage: &Value) -> Value {
    let volumes = list(usage, "Volumes");
    let used = |v: &Value| int(&v["UsageData"], "RefCount") > 0;
    let bytes = |v: &Value| int(&v["UsageData"], "Size").max(0);
    let total: i64 = volumes.iter().map(|v| bytes(v)).sum();
    let free: i64 = volumes.iter().filter(|v| !used(v)).map(|v| bytes(v)).sum();
    let active = volumes.iter().filter(|v| used(v)).count();
    df_row(
        "Local Volumes",
        volumes.len(),
        active,
        total,
        reclaimable(free, total),
    )
}

fn build_cache_row(usage: &Value) -> Value {
    let caches = list(usage, "BuildCache");
    let in_use = |c: &Value| c["InUse"].as_bool().unwrap_or(false);
    let total: i64 = caches.iter().map(|c| int(c, "Size")).sum();
    let free: i64 = caches
        .iter()
        .filter(|c| !in_use(c) && !c["Shared"].as_bool().unwrap_or(false))
        .map(|c| int(c, "Size"))
        .sum();
    let active = caches.iter().filter(|c| in_use(c)).count();
    df_row("Build Cache", caches.len(), active, total, size(free))
}

/// `df -v`: one table per kind, as docker lays them out.
fn verbose(usage: &Value) -> anyhow::Result<String> {
    let images: Vec<Value> = list(usage, "Images")
        .into_iter()
        .filter_map(|i| serde_json::from_value::<ImageSummary>(i.clone()).ok())
        .flat_map(|i| {
            let unique = size(i.size - i.shared_size.max(0));
            super::images::rows(&i, true).into_iter().map(move |mut r| {
                r["UniqueSize"] = json!(unique);
                r
            })
        })
        .collect();
    let containers: Vec<Value> = list(usage, "Containers")
        .into_iter()
        .map(container_row)
        .collect();
    let volumes: Vec<Value> = list(usage, "Volumes")
        .into_iter()
        .map(|v| {
            json!({
                "Name": v["Name"], "Links": int(&v["UsageData"], "RefCount").to_string(),
                "Size": size(int(&v["UsageData"], "Size").max(0)),
            })
        })
        .collect();
    let header = json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
        "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "Containers": "CONTAINERS",
    });
    let mut out = String::from("Images space usage:\n\n");
    out += &listing::render(DF_IMAGES, DF_IMAGES, &images, &header)?;
    let header = json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
        "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "RunningFor": "CREATED",
        "Status": "STATUS", "Names": "NAMES",
    });
    out += "\nContainers space usage:\n\n";
    out += &listing::render(DF_CONTAINERS, DF_CONTAINERS, &containers, &header)?;
    let header = json!({"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"});
    out += "\nLocal Volumes space usage:\n\n";
    out += &listing::render(DF_VOLUMES, DF_VOLUMES, &volumes, &header)?;
    let cache: i64 = list(usage, "BuildCache")
        .iter()
        .map(|c| int(c, "Size"))
        .sum();
    out += &format!("\nBuild cache usage: {}\n\n", size(cache));
    out += "CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n";
    Ok(out)
}

fn container_row(c: &Value) -> Value {
    let names: Vec<&str> = c["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.trim_start_matches('/'))
        .collect();
    let volumes = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Type"] == "volume")
        .count();
    let command = super::history::ellipsis(c["Command"].as_str().unwrap_or_default(), 20);
    json!({
        "ID": short_id(c["Id"].as_str().unwrap_or_default()),
        "Image": c["Image"], "Command": format!("\"{command}\""),
        "LocalVolumes": volumes.to_string(), "Size": size(int(c, "SizeRw")),
        "RunningFor": units::since(int(c, "Created")), "Status": c["Status"],
        "Names": names.join(","),
    })
}

// ------------------------------------------------------------------ prune

async fn prune(ctx: &Ctx, args: PruneArgs) -> anyhow::Result<i32> {
    if !args.force && !confirm(&prune_warning(&args))? {
        return Ok(0);
    }
    let (containers, mut space) = prune_containers(ctx, &args.filter).await?;
    print!("{containers}");
    if args.volumes {
        let (text, freed) = volume_section(ctx, &args.filter).await?;
        print!("{text}");
        space += freed;
    }
    let (images, freed) = prune_images(ctx, args.all, &args.filter).await?;
    print!("{images}{}", reclaimed(space + freed));
    Ok(0)
}

/// The volume part of `system prune --volumes` (anonymous volumes only,
/// as docker), without its own total line.
async fn volume_section(ctx: &Ctx, filter: &[String]) -> anyhow::Result<(String, u64)> {
    let (text, freed) = super::volume::prune(ctx, false, filter).await?;
    let section = text
        .strip_suffix(&reclaimed(freed))
        .unwrap_or(&text)
        .to_string();
    Ok((section, freed))
}

/// docker's list of what `system prune` removes. Berth has no networks
/// or build cache of its own, so there is nothing of theirs to prune.
fn prune_warning(args: &PruneArgs) -> String {
    let mut lines = vec!["WARNING! This will remove:", "  - all stopped containers"];
    if args.volumes {
        lines.push("  - all anonymous volumes not used by at least one container");
    }
    lines.push(if args.all {
        "  - all images without at least one container associated to them"
    } else {
        "  - all dangling images"
    });
    format!("{}\n", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_rows_like_docker() {
        let usage = json!({
            "LayersSize": 1_982_000,
            "Images": [{"Id": "sha256:aa", "Size": 1_982_000, "Containers": 0}],
            "Containers": [], "Volumes": [], "BuildCache": [],
        });
        let r = images_row(&usage);
        assert_eq!(r["Size"], "1.982MB");
        assert_eq!(r["Reclaimable"], "1.982MB (100%)");
        assert_eq!(containers_row(&usage)["Reclaimable"], "0B");
    }
}
