//! A command-line front end to the image library, for tests and
//! benchmarks until berthd serves it (`berth pull` will):
//!
//! ```text
//! image-tool ROOT pull REF [--platform os/arch] [--user U --password P] [--concurrency N]
//! image-tool ROOT push REF [--user U --password P] [--chunk BYTES]
//! image-tool ROOT load PATH          (docker-archive tar or OCI layout dir)
//! image-tool ROOT images | rmi [-f] NAME | tag SOURCE TARGET | layers NAME
//! ```
//!
//! Progress events go to stdout, one per line: `<id> <status> [cur/total]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use berth_image::images::{Images, Progress, ProgressKind, PullOptions, RemoveAction};
use berth_image::manifest::Platform;
use berth_image::reference::Reference;
use berth_image::registry::{Credentials, RegistryClient};

fn print_progress(p: Progress) {
    let id = p.id.clone().unwrap_or_else(|| "-".into());
    let detail = match p.kind {
        ProgressKind::Downloading { current, total } => {
            format!(" {current}/{}", total.map_or("?".into(), |t| t.to_string()))
        }
        ProgressKind::Pushing { current, total } => format!(" {current}/{total}"),
        _ => String::new(),
    };
    println!("{id} {}{detail}", p.status());
}

/// `--name value` options after the positional arguments.
fn option(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn credentials(args: &[String]) -> Option<Credentials> {
    Some(Credentials {
        username: option(args, "--user")?,
        password: option(args, "--password")?,
    })
}

fn run(args: &[String]) -> Result<()> {
    let [root, command, rest @ ..] = args else {
        bail!("usage: image-tool ROOT COMMAND ARGS (see the source)");
    };
    let images = Images::open(&PathBuf::from(root), RegistryClient::default())
        .with_context(|| format!("opening image root {root}"))?;
    let first = rest.first().map(String::as_str).unwrap_or("");
    match command.as_str() {
        "pull" => {
            let reference = Reference::parse(first)?;
            let options = PullOptions {
                platform: option(rest, "--platform")
                    .map(|p| Platform::parse(&p))
                    .transpose()?,
                credentials: credentials(rest),
                concurrency: option(rest, "--concurrency")
                    .map(|c| c.parse())
                    .transpose()?
                    .unwrap_or(0),
            };
            let out = images.pull(&reference, &options, &print_progress)?;
            println!("pulled {} {}", out.image_id, out.digest);
        }
        "push" => {
            let reference = Reference::parse(first)?;
            let chunk = option(rest, "--chunk").map(|c| c.parse()).transpose()?;
            let out = images.push(&reference, credentials(rest), chunk, &print_progress)?;
            println!("pushed {} uploaded {}", out.digest, out.uploaded);
        }
        "load" => {
            for img in images.load(&PathBuf::from(first))? {
                println!("loaded {} {}", img.record.id, img.tags.join(","));
            }
        }
        "images" => {
            for img in images.list()? {
                println!("{} {} {}", img.record.id, img.size, img.tags.join(","));
            }
        }
        "layers" => {
            let image = images.resolve(first)?;
            for path in images.layer_paths(&image)? {
                println!("{}", path.display());
            }
        }
        "tag" => images.tag(first, rest.get(1).context("tag SOURCE TARGET")?)?,
        "rmi" => {
            let (force, name) = match first {
                "-f" => (true, rest.get(1).context("rmi -f NAME")?.as_str()),
                _ => (false, first),
            };
            for action in images.remove(name, force)? {
                match action {
                    RemoveAction::Untagged(t) => println!("Untagged: {t}"),
                    RemoveAction::Deleted(id) => println!("Deleted: {id}"),
                }
            }
        }
        other => bail!("unknown command {other:?}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("image-tool: {e:#}");
            ExitCode::FAILURE
        }
    }
}
