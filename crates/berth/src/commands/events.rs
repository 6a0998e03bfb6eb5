//! `berth events`: the daemon's event stream, one line per event.

use anyhow::Context as _;
use berth_api::types::EventMessage;
use berth_api::{Method, Query, RequestBody};
use clap::Args;

use super::parse_filters;
use crate::context::Ctx;
use crate::output::format::Template;
use crate::output::units::{parse_timestamp, rfc3339_nano};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

pub async fn run(ctx: &Ctx, args: EventsArgs) -> anyhow::Result<i32> {
    let since = args.since.as_deref().map(time_arg).transpose()?;
    let until = args.until.as_deref().map(time_arg).transpose()?;
    let q = Query::new()
        .set_opt("since", since)
        .set_opt("until", until)
        .filters(&parse_filters(&args.filter)?);
    let template = match args.format.as_deref() {
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
        None => None,
    };
    let mut stream = ctx
        .client
        .stream_json::<serde_json::Value>(Method::GET, "/events", &q, &[], RequestBody::empty())
        .await?;
    while let Some(event) = stream.next().await {
        let event = event.context("reading events")?;
        match &template {
            Some(t) => println!("{}", t.render(&event)?),
            None => println!("{}", line(&serde_json::from_value(event)?)),
        }
    }
    Ok(0)
}

fn time_arg(v: &str) -> anyhow::Result<String> {
    parse_timestamp(v).with_context(|| format!("invalid timestamp {v:?}"))
}

/// `2024-01-02T03:04:05.000000000Z container start ID (image=busybox, name=x)`.
fn line(e: &EventMessage) -> String {
    let nanos = if e.time_nano != 0 {
        e.time_nano
    } else {
        e.time * 1_000_000_000
    };
    let mut out = format!(
        "{} {} {} {}",
        rfc3339_nano(nanos),
        e.kind,
        e.action,
        e.actor.id
    );
    if !e.actor.attributes.is_empty() {
        let attrs: Vec<String> = e
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!(" ({})", attrs.join(", ")));
    }
    out
}
