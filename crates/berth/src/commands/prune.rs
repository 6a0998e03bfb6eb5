//! `container prune` and `image prune`.

use std::io::{BufRead as _, Write as _};

use berth_api::types::PruneReport;
use berth_api::Query;
use clap::Args;

use super::{parse_filters, rmi::deleted_lines};
use crate::context::Ctx;
use crate::output::units;

#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

pub async fn containers(ctx: &Ctx, args: ContainerPruneArgs) -> anyhow::Result<i32> {
    if !args.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(0);
    }
    let q = Query::new().filters(&parse_filters(&args.filter)?);
    let report: PruneReport = ctx
        .client
        .post::<(), _>("/containers/prune", &q, None)
        .await?;
    let deleted = report.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in deleted {
            println!("{id}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        units::human_size(report.space_reclaimed as f64, 4)
    );
    Ok(0)
}

pub async fn images(ctx: &Ctx, args: ImagePruneArgs) -> anyhow::Result<i32> {
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !args.force && !confirm(warning)? {
        return Ok(0);
    }
    let mut filters = parse_filters(&args.filter)?;
    filters.insert("dangling".into(), vec![(!args.all).to_string()]);
    let q = Query::new().filters(&filters);
    let report: PruneReport = ctx.client.post::<(), _>("/images/prune", &q, None).await?;
    let deleted = report.images_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Images:");
        print!(
            "{}",
            deleted_lines(&deleted)
                .replace("Untagged:", "untagged:")
                .replace("Deleted:", "deleted:")
        );
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        units::human_size(report.space_reclaimed as f64, 4)
    );
    Ok(0)
}

/// docker's `[y/N]` prompt; anything but y/yes is no.
fn confirm(warning: &str) -> anyhow::Result<bool> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let answer = line.trim().to_lowercase();
    Ok(answer == "y" || answer == "yes")
}
