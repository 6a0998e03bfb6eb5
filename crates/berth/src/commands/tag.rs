//! `berth tag SOURCE TARGET`.

use anyhow::bail;
use berth_api::Query;
use clap::Args;

use super::pull::parse_reference;
use crate::context::{seg, Ctx};

#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

pub async fn run(ctx: &Ctx, args: TagArgs) -> anyhow::Result<i32> {
    let target = parse_reference(&args.target)?;
    if target.digest().is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    let q = Query::new()
        .set("repo", target.familiar_name())
        .set_opt("tag", target.tag());
    let path = format!("/images/{}/tag", seg(&args.source));
    ctx.client.post_empty(&path, &q).await?;
    Ok(0)
}
