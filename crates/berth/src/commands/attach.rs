//! `berth attach`: our stdio on a running container's, until it exits
//! (its status is ours) or the user detaches.

use berth_api::client::read_json;
use berth_api::types::ContainerInspect;
use berth_api::Query;
use clap::Args;

use super::attached::{self, Foreground};
use crate::context::{seg, Ctx};
use crate::error::{detached, Exit};
use crate::stdio::{attach::Ended, tty};

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string", default_value = "")]
    pub detach_keys: String,
    pub container: String,
}

pub async fn run(ctx: &Ctx, args: AttachArgs) -> anyhow::Result<i32> {
    let path = format!("/containers/{}/json", seg(&args.container));
    let c: ContainerInspect = ctx.client.get(&path, &Query::new()).await?;
    if !c.state.running {
        return Err(Exit::msg(
            1,
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if c.state.paused {
        return Err(Exit::msg(
            1,
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    let how = Foreground {
        cmd: "attach",
        tty: c.config.tty,
        stdin: !args.no_stdin && c.config.open_stdin,
        auto_remove: false,
        sig_proxy: args.sig_proxy,
        detach_keys: &args.detach_keys,
    };
    if how.stdin && how.tty && !tty::stdin_is_terminal() {
        return Err(Exit::msg(1, "the input device is not a TTY"));
    }
    let input = attached::input(&how)?;
    let conn = attached::open(ctx, &c.id, &how).await?;
    // Registered after attaching, as docker: "not-running" also answers
    // when the container ended in between.
    let waiting = attached::register_wait(ctx, &c.id, "not-running").await?;
    let raw = attached::raw_mode(&how);
    match attached::follow(ctx, &c.id, &how, conn, input, raw).await? {
        Ended::Detached => Err(detached()),
        Ended::Output => attached::exit_status(read_json(waiting).await?),
    }
}
