//! `berth`: docker's command line over berthd's Docker Engine API.

mod cli;
mod commands;
mod context;
mod error;
mod output;
mod stdio;

use clap::error::ErrorKind;
use clap::Parser as _;

use crate::cli::{Cli, DEFAULT_HOST};
use crate::context::Ctx;
use crate::error::{is_connect, Exit};

fn main() {
    restore_sigpipe();
    let code = match Cli::try_parse() {
        Ok(cli) => run(cli),
        Err(e) => usage_error(e),
    };
    std::process::exit(code);
}

/// Rust ignores SIGPIPE, so `berth events | head` would fail on every
/// write; like docker (a Go program), die quietly of the signal instead.
fn restore_sigpipe() {
    // SAFETY: resetting one signal's disposition to the default, before
    // any thread is started; no handler is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Help and version exit 0; wrong argument counts exit 1 and flag errors
/// 125, as docker's do.
fn usage_error(e: clap::Error) -> i32 {
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        ErrorKind::MissingRequiredArgument
        | ErrorKind::MissingSubcommand
        | ErrorKind::InvalidSubcommand
        | ErrorKind::WrongNumberOfValues
        | ErrorKind::TooManyValues
        | ErrorKind::TooFewValues => 1,
        _ => 125,
    }
}

fn run(cli: Cli) -> i32 {
    let host = cli
        .host
        .clone()
        .or_else(|| std::env::var("BERTH_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    let client = match berth_api::Client::new(&host) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth: {e}");
            return 1;
        }
    };
    let ctx = Ctx {
        client,
        host,
        config_dir: cli.config.clone(),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: starting the async runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(commands::dispatch(&ctx, cli.command));
    // A stdin reader may still be blocked in a read: do not wait for it.
    rt.shutdown_background();
    match result {
        Ok(code) => code,
        Err(err) => report(&ctx, err),
    }
}

/// Prints an error the way docker does and returns the exit code.
fn report(ctx: &Ctx, err: anyhow::Error) -> i32 {
    if let Some(exit) = err.downcast_ref::<Exit>() {
        if let Some(m) = &exit.message {
            eprintln!("{m}");
        }
        return exit.code;
    }
    if is_connect(&err) {
        eprintln!(
            "Cannot connect to the Berth daemon at {}. Is berthd running? \
             (start it with: berthd --data-root /var/lib/berth)",
            ctx.host
        );
        return 1;
    }
    eprintln!("{err:#}");
    1
}
