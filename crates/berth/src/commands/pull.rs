//! `berth pull`, and the pull `run`/`create` do for a missing image.

use std::io::Write;

use anyhow::Context as _;
use berth_api::types::JsonMessage;
use berth_api::Query;
use berth_image::reference::Reference;
use clap::Args;

use super::credentials::registry_auth_header;
use crate::context::Ctx;
use crate::output::progress::ProgressPrinter;
use crate::stdio::tty;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG|@DIGEST]
    pub image: String,
}

/// Where progress goes: `pull` shows it on stdout, `run` on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressTo {
    Stdout,
    Stderr,
    Nowhere,
}

pub async fn run(ctx: &Ctx, args: PullArgs) -> anyhow::Result<i32> {
    let reference = parse_reference(&args.image)?;
    let to = if args.quiet {
        ProgressTo::Nowhere
    } else {
        ProgressTo::Stdout
    };
    pull(ctx, &reference, args.all_tags, args.platform.as_deref(), to).await?;
    // docker prints the canonical reference last (the quiet output too).
    let shown = if args.all_tags {
        reference.name()
    } else {
        reference.to_string()
    };
    println!("{shown}");
    Ok(0)
}

/// Parses an image reference as docker's CLI does.
pub fn parse_reference(image: &str) -> anyhow::Result<Reference> {
    Reference::parse(image).map_err(|_| anyhow::anyhow!("invalid reference format"))
}

/// `POST /images/create?fromImage=NAME&tag=TAG`, showing the progress.
pub async fn pull(
    ctx: &Ctx,
    image: &Reference,
    all_tags: bool,
    platform: Option<&str>,
    to: ProgressTo,
) -> anyhow::Result<()> {
    let tag = match image.digest() {
        Some(d) => Some(d.to_string()),
        None => image.tag().map(str::to_string),
    };
    let mut q = Query::new().set("fromImage", image.familiar_name());
    if !all_tags {
        q = q.set_opt("tag", tag);
    }
    let q = q.set_opt("platform", platform);
    let auth = registry_auth_header(ctx, image);
    let stream = ctx
        .client
        .stream_json::<JsonMessage>(
            berth_api::Method::POST,
            "/images/create",
            &q,
            &[auth],
            berth_api::RequestBody::empty(),
        )
        .await?;
    show_progress(stream, to).await
}

/// Draws a progress stream where it belongs; its error ends the command.
pub async fn show_progress(
    mut stream: berth_api::JsonStream<JsonMessage>,
    to: ProgressTo,
) -> anyhow::Result<()> {
    let (out, terminal): (Box<dyn Write>, bool) = match to {
        ProgressTo::Stdout => (Box::new(std::io::stdout()), tty::stdout_is_terminal()),
        ProgressTo::Stderr => (Box::new(std::io::stderr()), tty::stderr_is_terminal()),
        ProgressTo::Nowhere => (Box::new(std::io::sink()), false),
    };
    let mut printer = ProgressPrinter::new(out, terminal, tty::width());
    while let Some(msg) = stream.next().await {
        let msg = msg.context("reading the progress stream")?;
        printer.show(&msg)?;
    }
    Ok(())
}
