//! `berth save`: images as a tar archive, to a file or stdout.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context as _};
use berth_api::{Query, RawStream};
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
    let body = ctx.client.stream_raw("/images/get", &q).await?;
    write_stream(body, args.output.as_deref(), "failed to save image").await?;
    Ok(0)
}

/// Writes an archive body to `output` (else stdout); `what` starts the
/// message when the file cannot be created.
pub async fn write_stream(
    mut body: RawStream,
    output: Option<&Path>,
    what: &str,
) -> anyhow::Result<()> {
    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("{what}: {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    while let Some(chunk) = body.next_chunk().await {
        out.write_all(&chunk.context("reading the archive")?)
            .context("writing the archive")?;
    }
    out.flush()?;
    Ok(())
}
