//! A container run in the foreground (`run` without -d, `start -a`,
//! `attach`): attach before starting so no output is lost, register the
//! wait before starting so a fast exit is not missed, then start, pump the
//! streams, and exit with the container's status.

use berth_api::client::read_json;
use berth_api::types::WaitResponse;
use berth_api::{Hijacked, HttpResponse, Query};

use crate::context::{seg, Ctx};
use crate::error::{refused, Exit};
use crate::stdio::attach::{self, Ended, Input};
use crate::stdio::{signals, tty::RawMode};

pub struct Foreground<'a> {
    /// The command reporting errors (`run`, `start`, `attach`).
    pub cmd: &'a str,
    pub tty: bool,
    /// Forward our stdin.
    pub stdin: bool,
    /// Wait for removal rather than exit (`--rm`).
    pub auto_remove: bool,
    /// Forward signals to the container (no TTY only).
    pub sig_proxy: bool,
    /// `--detach-keys` (empty: docker's default).
    pub detach_keys: &'a str,
}

/// Runs container `id` in the foreground; returns its exit status.
pub async fn run(ctx: &Ctx, id: &str, how: Foreground<'_>) -> anyhow::Result<i32> {
    let input = input(&how)?;
    let condition = if how.auto_remove {
        "removed"
    } else {
        "next-exit"
    };
    // Both before the start, in no particular order: one round trip.
    let (conn, waiting) = tokio::try_join!(open(ctx, id, &how), register_wait(ctx, id, condition))?;
    let raw = raw_mode(&how);
    let start_path = format!("/containers/{}/start", seg(id));
    if let Err(e) = ctx.client.post_empty(&start_path, &Query::new()).await {
        drop(raw);
        return Err(refused(how.cmd, e.into(), false));
    }
    // Detached: the container goes on, and docker's run/start say nothing.
    match follow(ctx, id, &how, conn, input, raw).await? {
        Ended::Detached => Ok(0),
        Ended::Output => exit_status(read_json(waiting).await?),
    }
}

/// What of our stdin to forward; a bad `--detach-keys` is a usage error.
pub fn input(how: &Foreground<'_>) -> anyhow::Result<Option<Input>> {
    Input::new(how.stdin, how.tty, how.detach_keys).map_err(|e| {
        Exit::msg(
            125,
            format!("berth: {e:#}.\nSee 'berth {} --help'.", how.cmd),
        )
    })
}

/// The hijacked attach stream of container `id`.
pub async fn open(ctx: &Ctx, id: &str, how: &Foreground<'_>) -> anyhow::Result<Hijacked> {
    let keys = Some(how.detach_keys).filter(|k| !k.is_empty());
    let q = Query::new()
        .set("stream", 1)
        .flag("stdin", how.stdin)
        .set("stdout", 1)
        .set("stderr", 1)
        // The daemon would detect them too; we do it first, client-side.
        .set_opt("detachKeys", keys);
    let path = format!("/containers/{}/attach", seg(id));
    ctx.client
        .hijack::<()>(&path, &q, None)
        .await
        .map_err(|e| refused(how.cmd, e.into(), false))
}

/// `POST /wait?condition=`, its answer left to read when the container ends.
pub async fn register_wait(ctx: &Ctx, id: &str, condition: &str) -> anyhow::Result<HttpResponse> {
    let wait_path = format!("/containers/{}/wait", seg(id));
    Ok(ctx
        .client
        .post_response::<()>(&wait_path, &Query::new().set("condition", condition), None)
        .await?)
}

/// Raw mode on our terminal while a TTY container reads it.
pub fn raw_mode(how: &Foreground<'_>) -> Option<RawMode> {
    if how.tty && how.stdin {
        RawMode::enable()
    } else {
        None
    }
}

/// Pumps the streams (with resizes or signals forwarded) until the output
/// ends or the user detaches; the terminal is restored before returning.
pub async fn follow(
    ctx: &Ctx,
    id: &str,
    how: &Foreground<'_>,
    conn: Hijacked,
    input: Option<Input>,
    raw: Option<RawMode>,
) -> anyhow::Result<Ended> {
    let resize_path = format!("/containers/{}/resize", seg(id));
    let pumped = tokio::select! {
        r = attach::pump(conn, how.tty, input) => r,
        () = signals::monitor_resize(ctx, &resize_path), if how.tty => Ok(Ended::Output),
        () = signals::proxy(ctx, id), if how.sig_proxy && !how.tty => Ok(Ended::Output),
    };
    drop(raw);
    pumped
}

/// The wait's status code; a wait that failed is docker's exit 125.
pub fn exit_status(wait: WaitResponse) -> anyhow::Result<i32> {
    if let Some(e) = wait.error.filter(|e| !e.message.is_empty()) {
        return Err(Exit::msg(
            125,
            format!("berth: error waiting for container: {}", e.message),
        ));
    }
    Ok(wait.status_code as i32)
}
