//! `berth logs`: a container's output, demultiplexed unless it has a TTY.

use anyhow::Context as _;
use berth_api::stdcopy::{Demuxer, StreamKind};
use berth_api::types::ContainerInspect;
use berth_api::Query;
use clap::Args;

use crate::context::{seg, Ctx};
use crate::output::units::parse_timestamp;
use crate::stdio::attach::write_out;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

pub async fn run(ctx: &Ctx, args: LogsArgs) -> anyhow::Result<i32> {
    let inspect_path = format!("/containers/{}/json", seg(&args.container));
    let c: ContainerInspect = ctx.client.get(&inspect_path, &Query::new()).await?;
    let q = Query::new()
        .set("stdout", 1)
        .set("stderr", 1)
        .flag("follow", args.follow)
        .flag("timestamps", args.timestamps)
        .flag("details", args.details)
        .set("tail", &args.tail)
        .set_opt("since", timestamp("since", args.since.as_deref())?)
        .set_opt("until", timestamp("until", args.until.as_deref())?);
    let path = format!("/containers/{}/logs", seg(&c.id));
    let mut body = ctx.client.stream_raw(&path, &q).await?;
    let mut demux = Demuxer::new();
    while let Some(chunk) = body.next_chunk().await {
        let chunk = chunk.context("reading logs")?;
        if c.config.tty {
            write_out(StreamKind::Stdout, &chunk)?;
            continue;
        }
        demux.push(&chunk);
        while let Some((kind, data)) = demux.next_frame()? {
            write_out(kind, &data)?;
        }
    }
    Ok(0)
}

fn timestamp(flag: &str, value: Option<&str>) -> anyhow::Result<Option<String>> {
    value
        .map(|v| parse_timestamp(v).with_context(|| format!("invalid value for \"{flag}\": {v:?}")))
        .transpose()
}
