//! `berth commit`: a container's changes as a new image.

use berth_api::types::IdResponse;
use berth_api::Query;
use clap::Args;
use serde_json::Value;

use super::images::split_tag;
use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub repository: Option<String>,
}

/// The `--change` instructions go to the daemon as `changes`, which
/// applies them as dockerd does (berthd's `commit_changes.rs`); the
/// config body stays null, as docker's CLI sends it.
pub async fn run(ctx: &Ctx, args: CommitArgs) -> anyhow::Result<i32> {
    let (repo, tag) = match args.repository.as_deref() {
        Some(r) => split_tag(r),
        None => ("", ""),
    };
    let tag = if tag == "<none>" { "" } else { tag };
    let q = Query::new()
        .set("container", &args.container)
        .set("repo", repo)
        .set("tag", tag)
        .set("comment", args.message.as_deref().unwrap_or(""))
        .set("author", args.author.as_deref().unwrap_or(""))
        .set("pause", args.pause);
    let q = args.change.iter().fold(q, |q, c| q.set("changes", c));
    let resp: IdResponse = ctx.client.post("/commit", &q, Some(&Value::Null)).await?;
    println!("{}", resp.id);
    Ok(0)
}
