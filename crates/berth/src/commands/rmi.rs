//! `berth rmi`: remove images, printing what was untagged and deleted.

use berth_api::types::ImageDeleteItem;
use berth_api::Query;
use clap::Args;

use crate::context::{seg, Ctx};
use crate::error::{is_connect, Exit};

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: RmiArgs) -> anyhow::Result<i32> {
    let q = Query::new()
        .flag("force", args.force)
        .flag("noprune", args.no_prune);
    let mut errors = Vec::new();
    for image in &args.images {
        let path = format!("/images/{}", seg(image));
        match ctx
            .client
            .delete_json::<Vec<ImageDeleteItem>>(&path, &q)
            .await
        {
            Ok(items) => print!("{}", deleted_lines(&items)),
            Err(e) => {
                let e = anyhow::Error::from(e);
                if is_connect(&e) {
                    return Err(e);
                }
                errors.push(format!("{e:#}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Exit::msg(1, errors.join("\n")))
    }
}

/// `Untagged: busybox:latest` / `Deleted: sha256:...` lines.
pub fn deleted_lines(items: &[ImageDeleteItem]) -> String {
    let mut out = String::new();
    for item in items {
        if let Some(u) = &item.untagged {
            out.push_str(&format!("Untagged: {u}\n"));
        }
        if let Some(d) = &item.deleted {
            out.push_str(&format!("Deleted: {d}\n"));
        }
    }
    out
}
