//! `berth import`: a filesystem tarball (a file or stdin) as a one-layer
//! image; prints its id.

use anyhow::{bail, Context as _};
use berth_api::types::JsonMessage;
use berth_api::{Method, Query, RequestBody};
use clap::Args;

use super::images::split_tag;
use crate::context::Ctx;
use crate::stdio::tty;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// file|URL|-
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    /// REPOSITORY[:TAG]
    pub repository: Option<String>,
}

pub async fn run(ctx: &Ctx, args: ImportArgs) -> anyhow::Result<i32> {
    let body = source(&args.source).await?;
    let (repo, tag) = match args.repository.as_deref() {
        Some(r) => split_tag(r),
        None => ("", ""),
    };
    let tag = if tag == "<none>" { "" } else { tag };
    let q = args
        .change
        .iter()
        .fold(Query::new(), |q, c| q.set("changes", c))
        .set("fromSrc", "-")
        .set("repo", repo)
        .set("tag", tag)
        .set("message", args.message.as_deref().unwrap_or(""))
        .set_opt("platform", args.platform.as_deref());
    let headers = [("Content-Type", "application/x-tar".to_string())];
    let mut stream = ctx
        .client
        .stream_json::<JsonMessage>(Method::POST, "/images/create", &q, &headers, body)
        .await?;
    while let Some(msg) = stream.next().await {
        let msg = msg?;
        if let Some(e) = msg.error_message() {
            bail!("{e}");
        }
        if !msg.status.is_empty() {
            println!("{}", msg.status);
        }
    }
    Ok(0)
}

/// The request body: the file, or stdin for `-`. URLs are not fetched.
async fn source(src: &str) -> anyhow::Result<RequestBody> {
    if src == "-" {
        if tty::stdin_is_terminal() {
            bail!("requested import from stdin, but stdin is a terminal");
        }
        return Ok(RequestBody::reader(tokio::io::stdin()));
    }
    if src.starts_with("http://") || src.starts_with("https://") {
        bail!("importing from a URL is not supported by berth: download it and import the file");
    }
    let file = tokio::fs::File::open(src)
        .await
        .with_context(|| format!("open {src}"))?;
    Ok(RequestBody::reader(file))
}
