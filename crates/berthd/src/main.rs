//! `berthd`: see the library documentation.

use std::path::PathBuf;

use anyhow::{Context, Result};
use berthd::daemon::{Config, Daemon};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "berthd",
    version,
    about = "The Berth daemon: the Docker Engine API on a Unix socket"
)]
struct Args {
    /// Persistent state (images, containers).
    #[arg(long, default_value = "/var/lib/berth")]
    data_root: PathBuf,
    /// Runtime state (shim sockets, the runtime's state).
    #[arg(long, default_value = "/run/berth")]
    exec_root: PathBuf,
    /// The API socket (`unix:///path` or a path).
    #[arg(short = 'H', long = "host", default_value = "/run/berth/berth.sock")]
    host: String,
    /// The shim program (default: berth-shim next to berthd).
    #[arg(long)]
    shim: Option<PathBuf>,
    /// A registry reached over plain HTTP (repeatable).
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
    /// A JSON config file with the same keys (`data-root`, `exec-root`,
    /// `hosts`, `insecure-registries`); flags win.
    #[arg(long)]
    config_file: Option<PathBuf>,
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if let Some(path) = args.config_file.clone() {
        apply_config_file(&mut args, &path)?;
    }
    let socket = PathBuf::from(args.host.strip_prefix("unix://").unwrap_or(&args.host));
    let shim_bin = match args.shim {
        Some(p) => p,
        None => std::env::current_exe()
            .context("locating berthd")?
            .with_file_name("berth-shim"),
    };
    let config = Config {
        data_root: args.data_root,
        exec_root: args.exec_root,
        socket: socket.clone(),
        shim_bin,
        insecure_registries: args.insecure_registries,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let daemon = Daemon::open(config).map_err(|e| anyhow::anyhow!(e.message))?;
        let listener = berthd::server::bind(&socket)?;
        daemon.restore();
        eprintln!("berthd: API listening on {}", socket.display());
        tokio::select! {
            _ = berthd::server::serve(listener, daemon) => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate() => {}
        }
        let _ = std::fs::remove_file(&socket);
        Ok(())
    })
}

/// SIGTERM. Containers keep running (their shims outlive us).
async fn terminate() {
    if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        sig.recv().await;
    }
}

/// Fills options the command line left at their defaults from a JSON
/// config file (daemon.json style keys).
fn apply_config_file(args: &mut Args, path: &std::path::Path) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    if let Some(root) = value["data-root"].as_str() {
        args.data_root = PathBuf::from(root);
    }
    if let Some(root) = value["exec-root"].as_str() {
        args.exec_root = PathBuf::from(root);
    }
    if let Some(host) = value["hosts"]
        .as_array()
        .and_then(|h| h.first())
        .and_then(|h| h.as_str())
    {
        args.host = host.to_string();
    }
    if let Some(list) = value["insecure-registries"].as_array() {
        args.insecure_registries
            .extend(list.iter().filter_map(|v| v.as_str().map(str::to_string)));
    }
    Ok(())
}
