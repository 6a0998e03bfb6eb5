//! The shim's command line, as berthd writes it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "berth-shim",
    about = "Berth's per-container monitor (started by berthd)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub mode: Mode,
}

#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Create a container from a bundle and monitor it.
    Run(RunArgs),
    /// Run an extra process in a running container and monitor it.
    Exec(ExecArgs),
}

/// What both modes share.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The container id (as the runtime knows it).
    #[arg(long)]
    pub id: String,
    /// The runtime's state root.
    #[arg(long)]
    pub runtime_root: PathBuf,
    /// The socket to serve berthd on.
    #[arg(long)]
    pub socket: PathBuf,
    /// A directory of the shim's own: exit.json, shim.log, console.sock.
    #[arg(long)]
    pub dir: PathBuf,
    /// Give the process a terminal.
    #[arg(long)]
    pub tty: bool,
    /// Keep the process's stdin open for attach clients.
    #[arg(long)]
    pub stdin: bool,
    /// Cache compiled seccomp profiles in this directory.
    #[arg(long)]
    pub seccomp_cache: Option<PathBuf>,
    /// Wait for a line on stdin before doing anything (berthd starts us
    /// while it prepares the bundle); end quietly at EOF instead.
    #[arg(long)]
    pub await_go: bool,
}

impl Mode {
    /// The options both modes share.
    pub fn common(&self) -> &Common {
        match self {
            Mode::Run(a) => &a.common,
            Mode::Exec(a) => &a.common,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    /// The OCI bundle.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The json-file log to write.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Rotate the log at this size (bytes).
    #[arg(long)]
    pub log_max_size: Option<u64>,
    /// Keep this many log files (with rotation).
    #[arg(long, default_value_t = 1)]
    pub log_max_file: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub common: Common,
    /// The OCI process (JSON) to run.
    #[arg(long)]
    pub process: PathBuf,
}
