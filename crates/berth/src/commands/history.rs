//! `berth history`: an image's layers, newest first, docker's columns.

use berth_api::Query;
use clap::Args;
use serde::Deserialize;
use serde_json::{json, Value};

use super::short_id;
use crate::context::{seg, Ctx};
use crate::output::{listing, units};

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

/// The CREATED BY column's width when truncated.
const CREATED_BY_WIDTH: usize = 45;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

/// One `GET /images/{name}/history` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Layer {
    id: String,
    created: i64,
    created_by: String,
    size: i64,
    comment: String,
}

pub async fn run(ctx: &Ctx, args: HistoryArgs) -> anyhow::Result<i32> {
    let path = format!("/images/{}/history", seg(&args.image));
    let layers: Vec<Layer> = ctx.client.get(&path, &Query::new()).await?;
    let trunc = !args.no_trunc;
    let rows: Vec<Value> = layers.iter().map(|l| row(l, trunc, args.human)).collect();
    let format = match (&args.format, args.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (Some(f), false) => f.clone(),
        (None, false) => DEFAULT_FORMAT.to_string(),
    };
    listing::print(&format, DEFAULT_FORMAT, &rows, &header())?;
    Ok(0)
}

fn header() -> Value {
    json!({
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
    })
}

fn row(l: &Layer, trunc: bool, human: bool) -> Value {
    let id = if trunc && l.id.starts_with("sha256:") {
        short_id(&l.id)
    } else {
        l.id.clone()
    };
    let created_at = units::rfc3339_nano(l.created * 1_000_000_000);
    let since = match (human, l.created) {
        (false, _) => created_at.clone(),
        (true, 0) => "N/A".to_string(),
        (true, t) => units::since(t),
    };
    let created_by = l.created_by.replace('\t', " ");
    let size = if human {
        units::human_size(l.size as f64, 3)
    } else {
        l.size.to_string()
    };
    json!({
        "ID": id, "CreatedSince": since, "CreatedAt": created_at,
        "CreatedBy": if trunc { ellipsis(&created_by, CREATED_BY_WIDTH) } else { created_by },
        "Size": size, "Comment": l.comment,
    })
}

/// docker's `formatter.Ellipsis`: at most `width` characters, the last
/// one `…` when cut.
pub fn ellipsis(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_like_docker() {
        let l = Layer {
            id: "sha256:3415513e64b93014e70be5e7db28fd1f559edd87".into(),
            created: 0,
            created_by: "sh -c echo hello > /hello; rm /etc/motd 2>/dev/null; mkdir /newdir".into(),
            size: 8,
            comment: String::new(),
        };
        let r = row(&l, true, true);
        assert_eq!(r["ID"], "3415513e64b9");
        assert_eq!(r["CreatedSince"], "N/A");
        assert_eq!(
            r["CreatedBy"],
            "sh -c echo hello > /hello; rm /etc/motd 2>/d…"
        );
        assert_eq!(r["Size"], "8B");
        let missing = Layer {
            id: "<missing>".into(),
            ..Default::default()
        };
        assert_eq!(row(&missing, true, true)["ID"], "<missing>");
    }
}
