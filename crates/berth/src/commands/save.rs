//! `berth save`: images as a tar archive, to a file or stdout.

use std::io::Write;

use anyhow::{bail, Context as _};
use berth_api::Query;
use clap::Args;

use crate::context::Ctx;
use crate::stdio::tty;

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<std::path::PathBuf>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: SaveArgs) -> anyhow::Result<i32> {
    if args.output.is_none() && tty::stdout_is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let q = args
        .images
        .iter()
        .fold(Query::new(), |q, name| q.set("names", name));
    let mut body = ctx.client.stream_raw("/images/get", &q).await?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("failed to save image: {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    while let Some(chunk) = body.next_chunk().await {
        out.write_all(&chunk.context("reading the archive")?)
            .context("writing the archive")?;
    }
    out.flush()?;
    Ok(0)
}
