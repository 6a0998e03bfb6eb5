//! `berth search`: repositories of a registry matching a term (berthd
//! answers from the registry's catalog).

use berth_api::Query;
use clap::Args;
use serde::Deserialize;
use serde_json::{json, Value};

use super::history::ellipsis;
use super::parse_filters;
use crate::context::Ctx;
use crate::output::listing;

const DEFAULT_FORMAT: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";

/// The DESCRIPTION column's width when truncated.
const DESCRIPTION_WIDTH: usize = 45;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long, value_name = "int")]
    pub limit: Option<i64>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    pub term: String,
}

/// One `GET /images/search` result.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Result {
    name: String,
    description: String,
    star_count: i64,
    is_official: bool,
    is_automated: bool,
}

pub async fn run(ctx: &Ctx, args: SearchArgs) -> anyhow::Result<i32> {
    let q = Query::new()
        .set("term", &args.term)
        .set_opt("limit", args.limit.filter(|l| *l > 0))
        .filters(&parse_filters(&args.filter)?);
    let results: Option<Vec<Result>> = ctx.client.get("/images/search", &q).await?;
    let rows: Vec<Value> = results
        .unwrap_or_default()
        .iter()
        .map(|r| row(r, !args.no_trunc))
        .collect();
    let format = args.format.as_deref().unwrap_or(DEFAULT_FORMAT);
    listing::print(format, DEFAULT_FORMAT, &rows, &header())?;
    Ok(0)
}

fn header() -> Value {
    json!({
        "Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
        "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED",
    })
}

fn row(r: &Result, trunc: bool) -> Value {
    let description = r.description.replace('\n', " ");
    let ok = |b: bool| if b { "[OK]" } else { "" };
    json!({
        "Name": r.name,
        "Description": if trunc { ellipsis(&description, DESCRIPTION_WIDTH) } else { description },
        "StarCount": r.star_count.to_string(),
        "IsOfficial": ok(r.is_official),
        "IsAutomated": ok(r.is_automated),
    })
}
