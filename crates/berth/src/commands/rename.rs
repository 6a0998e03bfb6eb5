//! `berth rename`.

use anyhow::bail;
use berth_api::Query;

use crate::cli::RenameArgs;
use crate::context::{seg, Ctx};

pub async fn run(ctx: &Ctx, args: RenameArgs) -> anyhow::Result<i32> {
    let new_name = args.new_name.trim();
    if new_name.is_empty() || args.container.trim().is_empty() {
        bail!("Error: Neither old nor new names may be empty");
    }
    let path = format!("/containers/{}/rename", seg(&args.container));
    ctx.client
        .post_empty(&path, &Query::new().set("name", new_name))
        .await?;
    Ok(0)
}
