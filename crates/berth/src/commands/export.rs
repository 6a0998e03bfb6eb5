//! `berth export`: a container's filesystem as a tar archive.

use anyhow::bail;
use berth_api::Query;
use clap::Args;

use super::save::write_stream;
use crate::context::{seg, Ctx};
use crate::stdio::tty;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<std::path::PathBuf>,
    pub container: String,
}

pub async fn run(ctx: &Ctx, args: ExportArgs) -> anyhow::Result<i32> {
    if args.output.is_none() && tty::stdout_is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let path = format!("/containers/{}/export", seg(&args.container));
    let body = ctx.client.stream_raw(&path, &Query::new()).await?;
    write_stream(body, args.output.as_deref(), "failed to export container").await?;
    Ok(0)
}
