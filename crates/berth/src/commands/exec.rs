//! `berth exec`: run a command in a running container; exits with the
//! command's status.

use berth_api::types::{ExecConfig, ExecInspect, ExecStart, IdResponse};
use berth_api::Query;
use clap::Args;

use crate::context::{seg, Ctx};
use crate::error::{detached, Exit};
use crate::stdio::attach::{self, Ended};
use crate::stdio::{signals, tty};

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string", default_value = "")]
    pub detach_keys: String,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    pub container: String,
    /// COMMAND [ARG...]
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: ExecArgs) -> anyhow::Result<i32> {
    let attach_stdin = args.interactive && !args.detach;
    if attach_stdin && args.tty && !tty::stdin_is_terminal() {
        return Err(Exit::msg(1, "the input device is not a TTY"));
    }
    let input = attach::Input::new(attach_stdin, args.tty, &args.detach_keys)
        .map_err(|e| Exit::msg(125, format!("{e:#}")))?;
    let config = ExecConfig {
        attach_stdin,
        attach_stdout: !args.detach,
        attach_stderr: !args.detach,
        tty: args.tty,
        env: args.env.clone(),
        cmd: args.command.clone(),
        working_dir: args.workdir.clone().unwrap_or_default(),
        user: args.user.clone().unwrap_or_default(),
        privileged: args.privileged,
        detach_keys: args.detach_keys.clone(),
    };
    let path = format!("/containers/{}/exec", seg(&args.container));
    let created: IdResponse = ctx.client.post(&path, &Query::new(), Some(&config)).await?;
    let start = ExecStart {
        detach: args.detach,
        tty: args.tty,
    };
    let start_path = format!("/exec/{}/start", seg(&created.id));
    if args.detach {
        ctx.client
            .post_json_empty(&start_path, &Query::new(), &start)
            .await?;
        return Ok(0);
    }
    let conn = ctx
        .client
        .hijack(&start_path, &Query::new(), Some(&start))
        .await?;
    let raw = if args.tty && attach_stdin {
        tty::RawMode::enable()
    } else {
        None
    };
    let resize_path = format!("/exec/{}/resize", seg(&created.id));
    let pumped = tokio::select! {
        r = attach::pump(conn, args.tty, input) => r,
        () = signals::monitor_resize(ctx, &resize_path), if args.tty => Ok(Ended::Output),
    };
    drop(raw);
    if pumped? == Ended::Detached {
        return Err(detached());
    }
    exit_code(ctx, &created.id).await
}

/// The exec's exit code; the daemon may record it a moment after the
/// stream ends, so a still-running exec is asked again (bounded).
async fn exit_code(ctx: &Ctx, id: &str) -> anyhow::Result<i32> {
    let path = format!("/exec/{}/json", seg(id));
    for _ in 0..100 {
        let inspect: ExecInspect = ctx.client.get(&path, &Query::new()).await?;
        if let (false, Some(code)) = (inspect.running, inspect.exit_code) {
            return Ok(code as i32);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(0)
}
