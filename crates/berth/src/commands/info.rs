//! `berth info`: the daemon's configuration and counts.

use berth_api::types::Info;
use berth_api::Query;
use serde_json::Value;

use crate::cli::FormatArgs;
use crate::context::Ctx;
use crate::output::format::Template;
use crate::output::units;

pub async fn run(ctx: &Ctx, args: FormatArgs) -> anyhow::Result<i32> {
    let raw: Value = ctx.client.get("/info", &Query::new()).await?;
    if let Some(format) = &args.format {
        println!("{}", Template::parse(format)?.render(&raw)?);
        return Ok(0);
    }
    let info: Info = serde_json::from_value(raw)?;
    print!("{}", text(&info));
    for w in &info.warnings {
        eprintln!("{w}");
    }
    Ok(0)
}

fn text(i: &Info) -> String {
    let mut runtimes: Vec<&str> = i.runtimes.keys().map(String::as_str).collect();
    runtimes.sort();
    let mut out = String::from("Client:\n Context:    default\n Debug Mode: false\n\nServer:\n");
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(" Containers: {}", i.containers));
    line(format!("  Running: {}", i.containers_running));
    line(format!("  Paused: {}", i.containers_paused));
    line(format!("  Stopped: {}", i.containers_stopped));
    line(format!(" Images: {}", i.images));
    line(format!(" Server Version: {}", i.server_version));
    line(format!(" Storage Driver: {}", i.driver));
    for pair in &i.driver_status {
        if let [k, v] = pair.as_slice() {
            line(format!("  {k}: {v}"));
        }
    }
    line(format!(" Logging Driver: {}", i.logging_driver));
    line(format!(" Cgroup Driver: {}", i.cgroup_driver));
    line(format!(" Cgroup Version: {}", i.cgroup_version));
    line(format!(" Runtimes: {}", runtimes.join(" ")));
    line(format!(" Default Runtime: {}", i.default_runtime));
    if !i.security_options.is_empty() {
        line(" Security Options:".into());
        for opt in &i.security_options {
            line(format!("  {}", opt.trim_start_matches("name=")));
        }
    }
    line(format!(" Kernel Version: {}", i.kernel_version));
    line(format!(" Operating System: {}", i.operating_system));
    line(format!(" OSType: {}", i.os_type));
    line(format!(" Architecture: {}", i.architecture));
    line(format!(" CPUs: {}", i.ncpu));
    line(format!(
        " Total Memory: {}",
        units::bytes_size(i.mem_total as f64)
    ));
    line(format!(" Name: {}", i.name));
    line(format!(" ID: {}", i.id));
    line(format!(" Docker Root Dir: {}", i.docker_root_dir));
    line(format!(" Debug Mode: {}", i.debug));
    out
}
