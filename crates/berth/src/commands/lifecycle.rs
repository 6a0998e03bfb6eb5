//! `stop`, `restart`, `kill`, `pause`, `unpause`: one request per
//! container, each name printed as it succeeds.

use berth_api::Query;
use clap::Args;

use super::for_each;
use crate::cli::ContainersArgs;
use crate::context::{seg, Ctx};

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn stop(ctx: &Ctx, args: StopArgs) -> anyhow::Result<i32> {
    post_each(ctx, &args.containers, "stop", &stop_query(&args)).await
}

pub async fn restart(ctx: &Ctx, args: StopArgs) -> anyhow::Result<i32> {
    post_each(ctx, &args.containers, "restart", &stop_query(&args)).await
}

pub async fn kill(ctx: &Ctx, args: KillArgs) -> anyhow::Result<i32> {
    let q = Query::new().set("signal", &args.signal);
    post_each(ctx, &args.containers, "kill", &q).await
}

/// `pause` or `unpause`.
pub async fn pause(ctx: &Ctx, args: ContainersArgs, action: &str) -> anyhow::Result<i32> {
    post_each(ctx, &args.containers, action, &Query::new()).await
}

fn stop_query(args: &StopArgs) -> Query {
    Query::new()
        .set_opt("t", args.time)
        .set_opt("signal", args.signal.as_deref())
}

/// `POST /containers/{c}/{action}` for each container.
async fn post_each(
    ctx: &Ctx,
    containers: &[String],
    action: &str,
    q: &Query,
) -> anyhow::Result<i32> {
    for_each(containers, |c| async move {
        let path = format!("/containers/{}/{action}", seg(&c));
        ctx.client.post_empty(&path, q).await?;
        Ok(())
    })
    .await
}
