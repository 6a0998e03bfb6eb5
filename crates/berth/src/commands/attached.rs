//! A container run in the foreground (`run` without -d, `start -a`):
//! attach before starting so no output is lost, register the wait before
//! starting so a fast exit is not missed, then start, pump the streams,
//! and exit with the container's status.

use berth_api::client::read_json;
use berth_api::types::WaitResponse;
use berth_api::Query;

use crate::context::{seg, Ctx};
use crate::error::{refused, Exit};
use crate::stdio::{attach, signals, tty::RawMode};

pub struct Foreground<'a> {
    /// The command reporting errors (`run`, `start`).
    pub cmd: &'a str,
    pub tty: bool,
    /// Forward our stdin.
    pub stdin: bool,
    /// Wait for removal rather than exit (`--rm`).
    pub auto_remove: bool,
    /// Forward signals to the container (no TTY only).
    pub sig_proxy: bool,
}

/// Runs container `id` in the foreground; returns its exit status.
pub async fn run(ctx: &Ctx, id: &str, how: Foreground<'_>) -> anyhow::Result<i32> {
    let q = Query::new()
        .set("stream", 1)
        .flag("stdin", how.stdin)
        .set("stdout", 1)
        .set("stderr", 1);
    let path = format!("/containers/{}/attach", seg(id));
    let conn = ctx
        .client
        .hijack::<()>(&path, &q, None)
        .await
        .map_err(|e| refused(how.cmd, e.into(), false))?;

    let condition = if how.auto_remove {
        "removed"
    } else {
        "next-exit"
    };
    let wait_path = format!("/containers/{}/wait", seg(id));
    let waiting = ctx
        .client
        .post_response::<()>(&wait_path, &Query::new().set("condition", condition), None)
        .await?;

    let raw = if how.tty && how.stdin {
        RawMode::enable()
    } else {
        None
    };
    let start_path = format!("/containers/{}/start", seg(id));
    if let Err(e) = ctx.client.post_empty(&start_path, &Query::new()).await {
        drop(raw);
        return Err(refused(how.cmd, e.into(), false));
    }

    let resize_path = format!("/containers/{}/resize", seg(id));
    let pumped = tokio::select! {
        r = attach::pump(conn, how.tty, how.stdin) => r,
        () = signals::monitor_resize(ctx, &resize_path), if how.tty => Ok(()),
        () = signals::proxy(ctx, id), if how.sig_proxy && !how.tty => Ok(()),
    };
    drop(raw);
    pumped?;
    exit_status(read_json(waiting).await?)
}

/// The wait's status code; a wait that failed is docker's exit 125.
fn exit_status(wait: WaitResponse) -> anyhow::Result<i32> {
    if let Some(e) = wait.error.filter(|e| !e.message.is_empty()) {
        return Err(Exit::msg(
            125,
            format!("berth: error waiting for container: {}", e.message),
        ));
    }
    Ok(wait.status_code as i32)
}
