//! `berth rm`: remove containers.

use berth_api::Query;
use clap::Args;

use super::for_each;
use crate::context::{seg, Ctx};

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: RmArgs) -> anyhow::Result<i32> {
    let q = Query::new()
        .flag("force", args.force)
        .flag("v", args.volumes)
        .flag("link", args.link);
    for_each(&args.containers, |c| {
        let q = &q;
        async move {
            let path = format!("/containers/{}", seg(c.trim_start_matches('/')));
            ctx.client.delete(&path, q).await?;
            Ok(())
        }
    })
    .await
}
