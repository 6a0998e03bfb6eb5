//! `berth start`: start containers, or one in the foreground with -a.

use anyhow::bail;
use berth_api::types::ContainerInspect;
use berth_api::Query;
use clap::Args;

use super::attached::{self, Foreground};
use super::for_each;
use crate::context::{seg, Ctx};
use crate::error::refused;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string", default_value = "")]
    pub detach_keys: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: StartArgs) -> anyhow::Result<i32> {
    if !args.attach && !args.interactive {
        return for_each(&args.containers, |c| async move {
            let path = format!("/containers/{}/start", seg(&c));
            ctx.client.post_empty(&path, &Query::new()).await?;
            Ok(())
        })
        .await;
    }
    if args.containers.len() > 1 {
        bail!("you cannot start and attach multiple containers at once");
    }
    let name = &args.containers[0];
    let path = format!("/containers/{}/json", seg(name));
    let c: ContainerInspect = ctx
        .client
        .get(&path, &Query::new())
        .await
        .map_err(|e| refused("start", e.into(), false))?;
    let how = Foreground {
        cmd: "start",
        tty: c.config.tty,
        stdin: args.interactive && c.config.open_stdin,
        auto_remove: false,
        sig_proxy: true,
        detach_keys: &args.detach_keys,
    };
    attached::run(ctx, &c.id, how).await
}
