//! `berth top`: the container's processes, as `ps` inside it shows them.

use berth_api::types::TopResponse;
use berth_api::Query;
use clap::Args;

use crate::context::{seg, Ctx};
use crate::output::table;

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
    /// [ps OPTIONS]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: TopArgs) -> anyhow::Result<i32> {
    let q = if args.ps_args.is_empty() {
        Query::new()
    } else {
        Query::new().set("ps_args", args.ps_args.join(" "))
    };
    let path = format!("/containers/{}/top", seg(&args.container));
    let top: TopResponse = ctx.client.get(&path, &q).await?;
    let mut text = top.titles.join("\t") + "\n";
    for p in &top.processes {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    // docker's top: tabwriter with min width 20, padding 3.
    print!("{}", table::align(&text, 20, 3));
    Ok(0)
}
