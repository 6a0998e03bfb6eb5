//! `berth ps`: the container list, with docker's columns and truncation.

use berth_api::types::{ContainerSummary, Port};
use berth_api::Query;
use clap::Args;
use serde_json::{json, Value};

use super::{parse_filters, short_id};
use crate::context::Ctx;
use crate::output::{listing, units};

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

pub async fn run(ctx: &Ctx, args: PsArgs) -> anyhow::Result<i32> {
    let limit = if args.latest && args.last == -1 {
        1
    } else {
        args.last
    };
    let mut q = Query::new()
        .flag("all", args.all)
        .filters(&parse_filters(&args.filter)?);
    if limit > 0 {
        q = q.set("limit", limit);
    }
    let format = args.format.clone().unwrap_or_else(|| {
        if args.quiet {
            "{{.ID}}".into()
        } else if args.size {
            format!("{DEFAULT_FORMAT}\t{{{{.Size}}}}")
        } else {
            DEFAULT_FORMAT.into()
        }
    });
    let format = if args.quiet {
        "{{.ID}}".to_string()
    } else {
        format
    };
    let wants_size = args.size || format.contains(".Size");
    let q = q.flag("size", wants_size);
    let list: Vec<ContainerSummary> = ctx.client.get("/containers/json", &q).await?;
    let rows: Vec<Value> = list.iter().map(|c| row(c, !args.no_trunc)).collect();
    listing::print(&format, DEFAULT_FORMAT, &rows, &header())?;
    Ok(0)
}

fn header() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
        "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS",
        "State": "STATE", "Status": "STATUS", "Size": "SIZE", "Names": "NAMES",
        "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
        "LocalVolumes": "LOCAL VOLUMES",
    })
}

/// The fields docker's container formatter offers.
fn row(c: &ContainerSummary, trunc: bool) -> Value {
    let labels = c.labels.clone().unwrap_or_default();
    let label_text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let networks: Vec<String> = c
        .network_settings
        .as_ref()
        .map(|n| n.networks.keys().cloned().collect())
        .unwrap_or_default();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let name = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.clone()
            }
        })
        .collect();
    let local_volumes = c.mounts.iter().filter(|m| m.kind == "volume").count();
    json!({
        "ID": if trunc { short_id(&c.id) } else { c.id.clone() },
        "Image": image(c, trunc),
        "Command": command(&c.command, trunc),
        "CreatedAt": units::go_time(c.created),
        "RunningFor": units::since(c.created),
        "Ports": display_ports(&c.ports),
        "State": c.state,
        "Status": c.status,
        "Size": size(c),
        "Names": names(&c.names, trunc),
        "Labels": label_text.join(","),
        "Mounts": mounts.join(","),
        "Networks": networks.join(","),
        "LocalVolumes": local_volumes.to_string(),
    })
}

fn image(c: &ContainerSummary, trunc: bool) -> String {
    if c.image.is_empty() {
        return "<no image>".into();
    }
    if trunc && c.image.starts_with("sha256:") {
        return short_id(&c.image);
    }
    // `name:tag@digest`: the digest is noise in a table.
    match (trunc, c.image.split_once('@')) {
        (true, Some((named, _))) if named.rsplit('/').next().is_some_and(|l| l.contains(':')) => {
            named.to_string()
        }
        _ => c.image.clone(),
    }
}

/// `"sh -c 'while…"`: quoted like Go's strconv.Quote, cut at 20 characters.
fn command(cmd: &str, trunc: bool) -> String {
    let cmd = if trunc {
        ellipsis(cmd, 20)
    } else {
        cmd.to_string()
    };
    go_quote(&cmd)
}

/// Go's `strconv.Quote` (printable characters kept as they are).
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// docker's `Ellipsis`: at most `max` characters, the last one `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Names without the leading `/`; truncated output shows only the first
/// name that is not a link (`/other/alias`).
fn names(list: &[String], trunc: bool) -> String {
    let stripped: Vec<&str> = list.iter().map(|n| n.trim_start_matches('/')).collect();
    if trunc {
        if let Some(first) = stripped.iter().find(|n| !n.contains('/')) {
            return first.to_string();
        }
    }
    stripped.join(",")
}

fn size(c: &ContainerSummary) -> String {
    let Some(rw) = c.size_rw else {
        return "0B".into();
    };
    let rw_text = units::human_size(rw as f64, 3);
    match c.size_root_fs {
        Some(root) if root > 0 => {
            format!("{rw_text} (virtual {})", units::human_size(root as f64, 3))
        }
        _ => rw_text,
    }
}

/// `0.0.0.0:8080->80/tcp, 443/tcp`. Docker also folds consecutive ports
/// into ranges (`8000-8001->80-81/tcp`); that is not done here.
pub fn display_ports(ports: &[Port]) -> String {
    let mut items: Vec<(u16, String)> = ports
        .iter()
        .map(|p| {
            let text = match p.public_port {
                Some(public) if !p.ip.is_empty() => {
                    let ip = if p.ip.contains(':') {
                        format!("[{}]", p.ip)
                    } else {
                        p.ip.clone()
                    };
                    format!("{ip}:{public}->{}/{}", p.private_port, p.kind)
                }
                Some(public) => format!("{public}->{}/{}", p.private_port, p.kind),
                None => format!("{}/{}", p.private_port, p.kind),
            };
            (p.private_port, text)
        })
        .collect();
    items.sort();
    items.dedup();
    items
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_like_docker() {
        assert_eq!(command("echo hi", true), "\"echo hi\"");
        assert_eq!(
            command("sh -c 'while true; do date; done'", true),
            "\"sh -c 'while true; …\""
        );
        assert_eq!(names(&["/a".into(), "/b/alias".into()], true), "a");
        let ports = vec![
            Port {
                ip: "0.0.0.0".into(),
                private_port: 80,
                public_port: Some(8080),
                kind: "tcp".into(),
            },
            Port {
                ip: String::new(),
                private_port: 443,
                public_port: None,
                kind: "tcp".into(),
            },
        ];
        assert_eq!(display_ports(&ports), "0.0.0.0:8080->80/tcp, 443/tcp");
    }
}
