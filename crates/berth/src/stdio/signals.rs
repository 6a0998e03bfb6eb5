//! Signals: forwarded to a container without a TTY (docker's sig-proxy),
//! and terminal resizes sent to the daemon.

use berth_api::Query;
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::context::{seg, Ctx};

/// The signals forwarded to the container, with docker's names for them.
const PROXIED: [(i32, &str); 6] = [
    (libc::SIGINT, "INT"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGHUP, "HUP"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGUSR2, "USR2"),
];

/// Forwards the signals we receive to the container until cancelled
/// (never returns on its own).
pub async fn proxy(ctx: &Ctx, id: &str) {
    let mut streams: Vec<(Signal, &str)> = PROXIED
        .iter()
        .filter_map(|&(n, name)| signal(SignalKind::from_raw(n)).ok().map(|s| (s, name)))
        .collect();
    if streams.is_empty() {
        return std::future::pending().await;
    }
    loop {
        let name = next_signal(&mut streams).await;
        let path = format!("/containers/{}/kill", seg(id));
        // The container may be gone already: nothing to report.
        let _ = ctx
            .client
            .post_empty(&path, &Query::new().set("signal", name))
            .await;
    }
}

/// The name of the next signal received on any of `streams`.
async fn next_signal<'a>(streams: &mut [(Signal, &'a str)]) -> &'a str {
    let futures = streams.iter_mut().map(|(s, name)| {
        Box::pin(async move {
            s.recv().await;
            *name
        })
    });
    futures_util::future::select_all(futures).await.0
}

/// Sends our terminal size to `resize_path` now and on every SIGWINCH,
/// until cancelled.
pub async fn monitor_resize(ctx: &Ctx, resize_path: &str) {
    resize(ctx, resize_path).await;
    let Ok(mut winch) = signal(SignalKind::window_change()) else {
        return std::future::pending().await;
    };
    while winch.recv().await.is_some() {
        resize(ctx, resize_path).await;
    }
    std::future::pending().await
}

/// One resize request (`POST .../resize?h=ROWS&w=COLS`).
pub async fn resize(ctx: &Ctx, resize_path: &str) {
    let Some((rows, cols)) = super::tty::size() else {
        return;
    };
    let q = Query::new().set("h", rows).set("w", cols);
    // A container that already exited cannot be resized: not an error.
    let _ = ctx.client.post_empty(resize_path, &q).await;
}
