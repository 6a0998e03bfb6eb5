//! berth-runtime: a runc-compatible command line over the berth-runtime
//! library. It stays single-threaded (no async runtime, no thread pool) so
//! the library can clone container processes straight from it.

mod cli;
mod commands;
mod log;
mod signals;
mod templates;
mod tty_proxy;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let logger = log::Logger::new(cli.log.clone(), cli.log_format);
    let code = match commands::run(&cli, &logger) {
        Ok(code) => code,
        Err(e) => {
            logger.error(&format!("{e:#}"));
            1
        }
    };
    std::process::exit(code);
}
