//! `berth images`: one row per tag, docker's columns and sizes.

use berth_api::types::ImageSummary;
use berth_api::Query;
use clap::Args;
use serde_json::{json, Value};

use super::{parse_filters, short_id};
use crate::context::Ctx;
use crate::output::{listing, units};

const DEFAULT_FORMAT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DIGESTS_FORMAT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// REPOSITORY[:TAG]
    pub repository: Option<String>,
}

pub async fn run(ctx: &Ctx, args: ImagesArgs) -> anyhow::Result<i32> {
    let mut filters = parse_filters(&args.filter)?;
    if let Some(r) = &args.repository {
        filters
            .entry("reference".into())
            .or_default()
            .push(r.clone());
    }
    let q = Query::new().flag("all", args.all).filters(&filters);
    let list: Vec<ImageSummary> = ctx.client.get("/images/json", &q).await?;
    if args.quiet {
        print!("{}", quiet_ids(&list, args.no_trunc));
        return Ok(0);
    }
    let default = if args.digests {
        DIGESTS_FORMAT
    } else {
        DEFAULT_FORMAT
    };
    let format = args.format.clone().unwrap_or_else(|| default.to_string());
    let rows: Vec<Value> = list
        .iter()
        .flat_map(|img| rows(img, !args.no_trunc))
        .collect();
    print!("{}", listing::render(&format, default, &rows, &header())?);
    Ok(0)
}

/// `-q`: each image once, in the daemon's order.
fn quiet_ids(list: &[ImageSummary], no_trunc: bool) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    for img in list {
        let id = display_id(&img.id, !no_trunc);
        if seen.insert(id.clone()) {
            out.push_str(&id);
            out.push('\n');
        }
    }
    out
}

fn display_id(id: &str, trunc: bool) -> String {
    if trunc {
        short_id(id)
    } else {
        id.to_string()
    }
}

fn header() -> Value {
    json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE",
        "UniqueSize": "UNIQUE SIZE", "VirtualSize": "SIZE",
    })
}

/// One row per tag; an untagged image is one `<none>` row (with its
/// repository when it has a digest).
pub fn rows(img: &ImageSummary, trunc: bool) -> Vec<Value> {
    let tags: Vec<&String> = img
        .repo_tags
        .iter()
        .flatten()
        .filter(|t| t.as_str() != "<none>:<none>")
        .collect();
    let digests: Vec<&String> = img
        .repo_digests
        .iter()
        .flatten()
        .filter(|d| d.as_str() != "<none>@<none>")
        .collect();
    let mut out = Vec::new();
    for tag in &tags {
        let (repo, tag) = split_tag(tag);
        let digest = digests
            .iter()
            .find_map(|d| d.strip_prefix(&format!("{repo}@")))
            .unwrap_or("<none>");
        out.push(row(img, repo, tag, digest, trunc));
    }
    if tags.is_empty() {
        match digests.first().and_then(|d| d.split_once('@')) {
            Some((repo, digest)) => out.push(row(img, repo, "<none>", digest, trunc)),
            None => out.push(row(img, "<none>", "<none>", "<none>", trunc)),
        }
    }
    out
}

/// `repo:tag` at the last `:` after the last `/` (a port is not a tag).
pub fn split_tag(reference: &str) -> (&str, &str) {
    let slash = reference.rfind('/').unwrap_or(0);
    match reference.rfind(':') {
        Some(colon) if colon > slash => (&reference[..colon], &reference[colon + 1..]),
        _ => (reference, "<none>"),
    }
}

fn row(img: &ImageSummary, repo: &str, tag: &str, digest: &str, trunc: bool) -> Value {
    let size = units::human_size(img.size as f64, 3);
    let containers = if img.containers < 0 {
        "N/A".to_string()
    } else {
        img.containers.to_string()
    };
    json!({
        "Repository": repo, "Tag": tag, "Digest": digest,
        "ID": display_id(&img.id, trunc),
        "CreatedSince": units::since(img.created),
        "CreatedAt": units::go_time(img.created),
        "Size": size, "VirtualSize": size,
        "SharedSize": if img.shared_size < 0 { "N/A".into() } else { units::human_size(img.shared_size as f64, 3) },
        "UniqueSize": units::human_size((img.size - img.shared_size.max(0)) as f64, 3),
        "Containers": containers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_like_docker() {
        assert_eq!(split_tag("busybox:latest"), ("busybox", "latest"));
        assert_eq!(
            split_tag("localhost:5000/app:1.0"),
            ("localhost:5000/app", "1.0")
        );
        assert_eq!(
            split_tag("localhost:5000/app"),
            ("localhost:5000/app", "<none>")
        );
    }

    #[test]
    fn untagged_rows() {
        let img = ImageSummary {
            id: "sha256:0123456789abcdef".into(),
            size: 4_261_000,
            ..Default::default()
        };
        let r = rows(&img, true);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["Repository"], "<none>");
        assert_eq!(r[0]["ID"], "0123456789ab");
        assert_eq!(r[0]["Size"], "4.26MB");
    }
}
