//! `berth volume create|ls|inspect|rm|prune`: named volumes (the local
//! driver only).

use anyhow::bail;
use berth_api::Query;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::container_opts::parse_labels;
use super::inspect::print_found;
use super::prune::{confirm, reclaimed};
use super::{for_each, parse_filters};
use crate::context::{seg, Ctx};
use crate::output::format::Template;
use crate::output::listing;

const DEFAULT_FORMAT: &str = "table {{.Driver}}\t{{.Name}}";

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local", value_name = "string")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", value_name = "string")]
    pub name_flag: Option<String>,
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub async fn run(ctx: &Ctx, cmd: VolumeCommand) -> anyhow::Result<i32> {
    match cmd {
        VolumeCommand::Create(a) => create(ctx, a).await,
        VolumeCommand::Ls(a) => ls(ctx, a).await,
        VolumeCommand::Inspect(a) => inspect(ctx, a).await,
        VolumeCommand::Rm(a) => rm(ctx, a).await,
        VolumeCommand::Prune(a) => {
            if !a.force && !confirm(prune_warning(a.all))? {
                return Ok(0);
            }
            let (text, _) = prune(ctx, a.all, &a.filter).await?;
            print!("{text}");
            Ok(0)
        }
    }
}

async fn create(ctx: &Ctx, args: CreateArgs) -> anyhow::Result<i32> {
    let name = match (&args.name, &args.name_flag) {
        (Some(a), Some(b)) if a != b => bail!(
            "conflicting options: cannot specify a volume-name through both --name and as a positional arg"
        ),
        (a, b) => a.clone().or_else(|| b.clone()).unwrap_or_default(),
    };
    let body = json!({
        "Name": name,
        "Driver": args.driver,
        "DriverOpts": parse_labels(&args.opt),
        "Labels": parse_labels(&args.label),
    });
    let volume: Value = ctx
        .client
        .post("/volumes/create", &Query::new(), Some(&body))
        .await?;
    println!("{}", volume["Name"].as_str().unwrap_or_default());
    Ok(0)
}

async fn ls(ctx: &Ctx, args: LsArgs) -> anyhow::Result<i32> {
    let q = Query::new().filters(&parse_filters(&args.filter)?);
    let list: Value = ctx.client.get("/volumes", &q).await?;
    let rows: Vec<Value> = list["Volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(row)
        .collect();
    let format = match (&args.format, args.quiet) {
        (_, true) => "{{.Name}}",
        (Some(f), false) => f.as_str(),
        (None, false) => DEFAULT_FORMAT,
    };
    let header = json!({
        "Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT",
        "Scope": "SCOPE", "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE",
    });
    listing::print(format, DEFAULT_FORMAT, &rows, &header)?;
    Ok(0)
}

/// The fields docker's volume formatter offers.
fn row(v: &Value) -> Value {
    let labels = v["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let usage = |key: &str| match v["UsageData"][key].as_i64() {
        Some(n) if n >= 0 => n.to_string(),
        _ => "N/A".to_string(),
    };
    json!({
        "Driver": v["Driver"], "Name": v["Name"], "Mountpoint": v["Mountpoint"],
        "Scope": v["Scope"], "Labels": labels, "Links": usage("RefCount"), "Size": usage("Size"),
        "CreatedAt": v["CreatedAt"],
    })
}

async fn inspect(ctx: &Ctx, args: InspectArgs) -> anyhow::Result<i32> {
    let template = args.format.as_deref().map(Template::parse).transpose()?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        let path = format!("/volumes/{}", seg(name));
        match ctx.client.get::<Value>(&path, &Query::new()).await {
            Ok(v) => found.push(v),
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    print_found(found, template.as_ref(), errors)
}

async fn rm(ctx: &Ctx, args: RmArgs) -> anyhow::Result<i32> {
    let force = args.force;
    for_each(&args.names, |name| async move {
        let path = format!("/volumes/{}", seg(&name));
        match ctx
            .client
            .delete(&path, &Query::new().flag("force", force))
            .await
        {
            // -f: a volume that is not there is not an error.
            Err(e) if force && e.api().is_some_and(|a| a.is_not_found()) => Ok(()),
            other => other.map_err(Into::into),
        }
    })
    .await
}

fn prune_warning(all: bool) -> &'static str {
    if all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    }
}

/// `POST /volumes/prune`: the report's text and the space reclaimed (for
/// `system prune`).
pub async fn prune(ctx: &Ctx, all: bool, filter: &[String]) -> anyhow::Result<(String, u64)> {
    let mut filters = parse_filters(filter)?;
    if all {
        filters.insert("all".into(), vec!["true".into()]);
    }
    let q = Query::new().filters(&filters);
    let report: Value = ctx.client.post::<(), _>("/volumes/prune", &q, None).await?;
    let space = report["SpaceReclaimed"].as_u64().unwrap_or(0);
    let mut text = String::new();
    let deleted: Vec<&str> = report["VolumesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !deleted.is_empty() {
        text.push_str("Deleted Volumes:\n");
        for name in deleted {
            text.push_str(name);
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str(&reclaimed(space));
    Ok((text, space))
}
