//! `container prune` and `image prune` (and their parts of `system
//! prune`), with docker's confirmation prompt and reports.

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
    let (text, space) = prune_containers(ctx, &args.filter).await?;
    print!("{text}{}", reclaimed(space));
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
    let (text, space) = prune_images(ctx, args.all, &args.filter).await?;
    print!("{text}{}", reclaimed(space));
    Ok(0)
}

/// `POST /containers/prune`: the "Deleted Containers" section and the
/// space reclaimed.
pub async fn prune_containers(ctx: &Ctx, filter: &[String]) -> anyhow::Result<(String, u64)> {
    let q = Query::new().filters(&parse_filters(filter)?);
    let report: PruneReport = ctx
        .client
        .post::<(), _>("/containers/prune", &q, None)
        .await?;
    let deleted = report.containers_deleted.unwrap_or_default();
    let mut text = String::new();
    if !deleted.is_empty() {
        text.push_str("Deleted Containers:\n");
        for id in deleted {
            text.push_str(&id);
            text.push('\n');
        }
        text.push('\n');
    }
    Ok((text, report.space_reclaimed))
}

/// `POST /images/prune`: the "Deleted Images" section and the space
/// reclaimed.
pub async fn prune_images(
    ctx: &Ctx,
    all: bool,
    filter: &[String],
) -> anyhow::Result<(String, u64)> {
    let mut filters = parse_filters(filter)?;
    filters.insert("dangling".into(), vec![(!all).to_string()]);
    let q = Query::new().filters(&filters);
    let report: PruneReport = ctx.client.post::<(), _>("/images/prune", &q, None).await?;
    let deleted = report.images_deleted.unwrap_or_default();
    let mut text = String::new();
    if !deleted.is_empty() {
        text.push_str("Deleted Images:\n");
        text.push_str(
            &deleted_lines(&deleted)
                .replace("Untagged:", "untagged:")
                .replace("Deleted:", "deleted:"),
        );
        text.push('\n');
    }
    Ok((text, report.space_reclaimed))
}

/// docker's last line of every prune.
pub fn reclaimed(space: u64) -> String {
    format!(
        "Total reclaimed space: {}\n",
        units::human_size(space as f64, 4)
    )
}

/// docker's `[y/N]` prompt; anything but y/yes is no.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let answer = line.trim().to_lowercase();
    Ok(answer == "y" || answer == "yes")
}
