//! `berth create`, and the create step of `run`: docker's "Unable to find
//! image" → pull → create again.

use berth_api::types::CreateResponse;
use berth_api::Query;

use super::container_opts::CreateSpec;
use super::pull::{parse_reference, pull, ProgressTo};
use crate::cli::CreateArgs;
use crate::context::Ctx;
use crate::error::refused;

pub async fn run(ctx: &Ctx, args: CreateArgs) -> anyhow::Result<i32> {
    let spec = args
        .opts
        .to_spec(&args.args, false)
        .map_err(|e| refused("create", e, true))?;
    let id = create_container(ctx, &spec, &args.opts.pull)
        .await
        .map_err(|e| refused("create", e, true))?;
    println!("{id}");
    Ok(0)
}

/// Creates the container, pulling its image first when `pull` is
/// "always", or when it is "missing" and the daemon has no such image.
/// Returns the container's id.
pub async fn create_container(
    ctx: &Ctx,
    spec: &CreateSpec,
    pull_policy: &str,
) -> anyhow::Result<String> {
    if pull_policy == "always" {
        pull_image(ctx, spec).await?;
    }
    match post_create(ctx, spec).await {
        Err(e) if pull_policy == "missing" && is_missing_image(&e) => {
            eprintln!("Unable to find image '{}' locally", familiar(&spec.image));
            pull_image(ctx, spec).await?;
            post_create(ctx, spec).await
        }
        other => other,
    }
}

async fn post_create(ctx: &Ctx, spec: &CreateSpec) -> anyhow::Result<String> {
    let q = Query::new()
        .set_opt("name", spec.name.as_deref())
        .set_opt("platform", spec.platform.as_deref());
    let resp: CreateResponse = ctx
        .client
        .post("/containers/create", &q, Some(&spec.request))
        .await?;
    for w in resp.warnings.iter().flatten() {
        eprintln!("WARNING: {w}");
    }
    Ok(resp.id)
}

async fn pull_image(ctx: &Ctx, spec: &CreateSpec) -> anyhow::Result<()> {
    let reference = parse_reference(&spec.image)?;
    pull(
        ctx,
        &reference,
        false,
        spec.platform.as_deref(),
        ProgressTo::Stderr,
    )
    .await
}

fn is_missing_image(err: &anyhow::Error) -> bool {
    err.downcast_ref::<berth_api::Error>()
        .and_then(berth_api::Error::api)
        .is_some_and(|e| e.is_not_found() && e.message.contains("No such image"))
}

/// `busybox` → `busybox:latest`, as docker names it in the message.
fn familiar(image: &str) -> String {
    parse_reference(image)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| image.to_string())
}
