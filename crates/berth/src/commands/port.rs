//! `berth port`: published ports of a container.

use anyhow::bail;
use berth_api::types::ContainerInspect;
use berth_api::Query;
use clap::Args;

use crate::context::{seg, Ctx};

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

pub async fn run(ctx: &Ctx, args: PortArgs) -> anyhow::Result<i32> {
    let path = format!("/containers/{}/json", seg(&args.container));
    let c: ContainerInspect = ctx.client.get(&path, &Query::new()).await?;
    let ports = &c.network_settings.ports;
    if let Some(wanted) = &args.port {
        let key = if wanted.contains('/') {
            wanted.clone()
        } else {
            format!("{wanted}/tcp")
        };
        let Some(Some(bindings)) = ports.get(&key) else {
            bail!(
                "Error: No public port '{key}' published for {}",
                args.container
            );
        };
        for b in bindings {
            println!("{}", host_addr(&b.host_ip, &b.host_port));
        }
        return Ok(0);
    }
    for (port, bindings) in ports {
        for b in bindings.iter().flatten() {
            println!("{port} -> {}", host_addr(&b.host_ip, &b.host_port));
        }
    }
    Ok(0)
}

/// `0.0.0.0:55001`, `[::]:55001`.
fn host_addr(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}
