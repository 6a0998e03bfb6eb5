//! `berth completion bash|zsh|fish`: a completion script on stdout.

use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionArgs};

pub fn run(args: CompletionArgs) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "berth", &mut std::io::stdout());
    Ok(0)
}
