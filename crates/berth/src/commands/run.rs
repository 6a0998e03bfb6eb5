//! `berth run`: create (pulling if needed), then start detached or in the
//! foreground.

use berth_api::Query;

use super::attached::{self, Foreground};
use super::create::create_container;
use crate::cli::RunArgs;
use crate::context::{seg, Ctx};
use crate::error::{refused, Exit};
use crate::stdio::tty;

pub async fn run(ctx: &Ctx, args: RunArgs) -> anyhow::Result<i32> {
    let opts = &args.opts;
    let attach = !args.detach;
    if attach && opts.tty && opts.interactive && !tty::stdin_is_terminal() {
        return Err(Exit::msg(1, "the input device is not a TTY"));
    }
    // Refused before the container is created (docker finds out later).
    if let Err(e) = berth_api::detach_keys::parse(&args.detach_keys) {
        return Err(refused("run", e.into(), true));
    }
    let spec = opts
        .to_spec(&args.args, attach)
        .map_err(|e| refused("run", e, true))?;
    let id = create_container(ctx, &spec, &opts.pull)
        .await
        .map_err(|e| refused("run", e, true))?;
    if args.detach {
        let path = format!("/containers/{}/start", seg(&id));
        ctx.client
            .post_empty(&path, &Query::new())
            .await
            .map_err(|e| refused("run", e.into(), false))?;
        println!("{id}");
        return Ok(0);
    }
    let how = Foreground {
        cmd: "run",
        tty: opts.tty,
        stdin: opts.interactive,
        auto_remove: opts.rm,
        sig_proxy: args.sig_proxy,
        detach_keys: &args.detach_keys,
    };
    attached::run(ctx, &id, how).await
}
