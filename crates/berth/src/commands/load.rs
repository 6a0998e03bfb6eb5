//! `berth load`: images from a tar archive (a file or stdin).

use anyhow::{bail, Context as _};
use berth_api::types::JsonMessage;
use berth_api::{Method, Query, RequestBody};
use clap::Args;

use super::pull::{show_progress, ProgressTo};
use crate::context::Ctx;
use crate::stdio::tty;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<std::path::PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub async fn run(ctx: &Ctx, args: LoadArgs) -> anyhow::Result<i32> {
    let body = match &args.input {
        Some(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("open {}", path.display()))?;
            RequestBody::reader(file)
        }
        None => {
            if tty::stdin_is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            RequestBody::reader(tokio::io::stdin())
        }
    };
    // As docker: no progress bars when stdout is not a terminal.
    let quiet = args.quiet || !tty::stdout_is_terminal();
    let headers = [("Content-Type", "application/x-tar".to_string())];
    let stream = ctx
        .client
        .stream_json::<JsonMessage>(
            Method::POST,
            "/images/load",
            &Query::new().flag("quiet", quiet),
            &headers,
            body,
        )
        .await?;
    show_progress(stream, ProgressTo::Stdout).await?;
    Ok(0)
}
