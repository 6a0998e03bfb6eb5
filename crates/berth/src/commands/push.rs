//! `berth push`: upload an image, showing docker's progress.

use berth_api::types::JsonMessage;
use berth_api::{Method, Query, RequestBody};
use clap::Args;

use super::credentials::registry_auth_header;
use super::pull::{parse_reference, show_progress, ProgressTo};
use crate::context::{seg, Ctx};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG]
    pub image: String,
}

pub async fn run(ctx: &Ctx, args: PushArgs) -> anyhow::Result<i32> {
    let reference = parse_reference(&args.image)?;
    let q = if args.all_tags {
        Query::new()
    } else {
        Query::new().set_opt("tag", reference.tag())
    };
    let path = format!("/images/{}/push", seg(&reference.familiar_name()));
    let auth = registry_auth_header(ctx, &reference);
    let stream = ctx
        .client
        .stream_json::<JsonMessage>(Method::POST, &path, &q, &[auth], RequestBody::empty())
        .await?;
    let to = if args.quiet {
        ProgressTo::Nowhere
    } else {
        ProgressTo::Stdout
    };
    show_progress(stream, to).await?;
    if args.quiet {
        println!("{reference}");
    }
    Ok(0)
}
