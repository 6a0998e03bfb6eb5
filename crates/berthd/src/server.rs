//! The Unix socket server: one hyper HTTP/1.1 connection per client, with
//! upgrades (attach, exec) enabled.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use crate::daemon::Daemon;

/// Binds the API socket: mode 0660, group `berth` when that group exists
/// (as docker's `docker` group), replacing a stale socket.
pub fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        // Refuse to steal the socket of a live daemon.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!("{} is in use: is another berthd running?", path.display());
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Ok(Some(group)) = nix::unistd::Group::from_name("berth") {
        let _ = nix::unistd::chown(path, None, Some(group.gid));
    }
    Ok(listener)
}

/// Serves until the process ends.
pub async fn serve(listener: UnixListener, daemon: Arc<Daemon>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("berthd: accept: {e}");
                continue;
            }
        };
        let daemon = daemon.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let daemon = daemon.clone();
                async move {
                    let line = format!("{} {}", req.method(), req.uri());
                    let started = std::time::Instant::now();
                    let reply = crate::api::handle(daemon, req).await;
                    if debug_enabled() {
                        eprintln!(
                            "berthd: {line} -> {} in {:.1} ms",
                            reply.status().as_u16(),
                            started.elapsed().as_secs_f64() * 1000.0
                        );
                    }
                    Ok::<_, std::convert::Infallible>(reply)
                }
            });
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                if !e.is_incomplete_message() {
                    eprintln!("berthd: connection: {e}");
                }
            }
        });
    }
}

/// Request logging, with `BERTHD_DEBUG=1`.
fn debug_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("BERTHD_DEBUG").is_some_and(|v| v != "0"))
}
