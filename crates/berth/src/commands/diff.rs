//! `berth diff`: what changed in a container's filesystem, as docker's
//! `C /path`, `A /path` and `D /path` lines.

use berth_api::Query;
use clap::Args;
use serde::Deserialize;

use crate::context::{seg, Ctx};

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub container: String,
}

/// One `GET /containers/{id}/changes` entry (Kind 0 modified, 1 added,
/// 2 deleted).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Change {
    path: String,
    kind: u8,
}

pub async fn run(ctx: &Ctx, args: DiffArgs) -> anyhow::Result<i32> {
    let path = format!("/containers/{}/changes", seg(&args.container));
    let changes: Option<Vec<Change>> = ctx.client.get(&path, &Query::new()).await?;
    for c in changes.unwrap_or_default() {
        println!("{} {}", kind_letter(c.kind), c.path);
    }
    Ok(0)
}

fn kind_letter(kind: u8) -> char {
    match kind {
        1 => 'A',
        2 => 'D',
        _ => 'C',
    }
}
