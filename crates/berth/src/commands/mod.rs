//! One module per command; `dispatch` maps the parsed command line
//! (including the `container`/`image` management forms) onto them.

pub mod attach;
pub mod attached;
pub mod commit;
pub mod completion;
pub mod container_opts;
pub mod cp;
pub mod cp_archive;
pub mod create;
pub mod credentials;
pub mod diff;
pub mod events;
pub mod exec;
pub mod export;
pub mod health_flags;
pub mod history;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod lifecycle;
pub mod load;
pub mod login;
pub mod logs;
pub mod mount_flag;
pub mod port;
pub mod prune;
pub mod ps;
pub mod pull;
pub mod push;
pub mod rename;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod search;
pub mod start;
pub mod stats;
pub mod system;
pub mod tag;
pub mod top;
pub mod update;
pub mod version;
pub mod volume;
pub mod wait;

use std::future::Future;

use crate::cli::{Command, ContainerCommand, ImageCommand};
use crate::context::Ctx;
use crate::error::{is_connect, Exit};

/// Runs a command; the result is the process' exit code.
pub async fn dispatch(ctx: &Ctx, cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Version(a) => version::run(ctx, a).await,
        Command::Info(a) => info::run(ctx, a).await,
        Command::Ps(a) => ps::run(ctx, a).await,
        Command::Images(a) => images::run(ctx, a).await,
        Command::Pull(a) => pull::run(ctx, a).await,
        Command::Push(a) => push::run(ctx, a).await,
        Command::Run(a) => run::run(ctx, a).await,
        Command::Create(a) => create::run(ctx, a).await,
        Command::Start(a) => start::run(ctx, a).await,
        Command::Stop(a) => lifecycle::stop(ctx, a).await,
        Command::Restart(a) => lifecycle::restart(ctx, a).await,
        Command::Kill(a) => lifecycle::kill(ctx, a).await,
        Command::Rm(a) => rm::run(ctx, a).await,
        Command::Rmi(a) => rmi::run(ctx, a).await,
        Command::Logs(a) => logs::run(ctx, a).await,
        Command::Exec(a) => exec::run(ctx, a).await,
        Command::Inspect(a) => inspect::run(ctx, a, None).await,
        Command::Wait(a) => wait::run(ctx, a).await,
        Command::Tag(a) => tag::run(ctx, a).await,
        Command::Save(a) => save::run(ctx, a).await,
        Command::Load(a) => load::run(ctx, a).await,
        Command::Login(a) => login::login(ctx, a).await,
        Command::Logout(a) => login::logout(ctx, a),
        Command::Pause(a) => lifecycle::pause(ctx, a, "pause").await,
        Command::Unpause(a) => lifecycle::pause(ctx, a, "unpause").await,
        Command::Rename(a) => rename::run(ctx, a).await,
        Command::Top(a) => top::run(ctx, a).await,
        Command::Port(a) => port::run(ctx, a).await,
        Command::Stats(a) => stats::run(ctx, a).await,
        Command::Events(a) => events::run(ctx, a).await,
        Command::Attach(a) => attach::run(ctx, a).await,
        Command::Cp(a) => cp::run(ctx, a).await,
        Command::Commit(a) => commit::run(ctx, a).await,
        Command::Diff(a) => diff::run(ctx, a).await,
        Command::Export(a) => export::run(ctx, a).await,
        Command::Update(a) => update::run(ctx, a).await,
        Command::History(a) => history::run(ctx, a).await,
        Command::Import(a) => import::run(ctx, a).await,
        Command::Search(a) => search::run(ctx, a).await,
        Command::Volume(c) => volume::run(ctx, c).await,
        Command::System(c) => system::run(ctx, c).await,
        Command::Container(c) => container(ctx, c).await,
        Command::Image(c) => image(ctx, c).await,
        Command::Completion(a) => completion::run(a),
    }
}

async fn container(ctx: &Ctx, cmd: ContainerCommand) -> anyhow::Result<i32> {
    use ContainerCommand as C;
    match cmd {
        C::Ls(a) => ps::run(ctx, a).await,
        C::Run(a) => run::run(ctx, a).await,
        C::Create(a) => create::run(ctx, a).await,
        C::Start(a) => start::run(ctx, a).await,
        C::Stop(a) => lifecycle::stop(ctx, a).await,
        C::Restart(a) => lifecycle::restart(ctx, a).await,
        C::Kill(a) => lifecycle::kill(ctx, a).await,
        C::Rm(a) => rm::run(ctx, a).await,
        C::Logs(a) => logs::run(ctx, a).await,
        C::Exec(a) => exec::run(ctx, a).await,
        C::Inspect(a) => inspect::run(ctx, a, Some("container")).await,
        C::Wait(a) => wait::run(ctx, a).await,
        C::Pause(a) => lifecycle::pause(ctx, a, "pause").await,
        C::Unpause(a) => lifecycle::pause(ctx, a, "unpause").await,
        C::Rename(a) => rename::run(ctx, a).await,
        C::Top(a) => top::run(ctx, a).await,
        C::Port(a) => port::run(ctx, a).await,
        C::Stats(a) => stats::run(ctx, a).await,
        C::Attach(a) => attach::run(ctx, a).await,
        C::Cp(a) => cp::run(ctx, a).await,
        C::Commit(a) => commit::run(ctx, a).await,
        C::Diff(a) => diff::run(ctx, a).await,
        C::Export(a) => export::run(ctx, a).await,
        C::Update(a) => update::run(ctx, a).await,
        C::Prune(a) => prune::containers(ctx, a).await,
    }
}

async fn image(ctx: &Ctx, cmd: ImageCommand) -> anyhow::Result<i32> {
    use ImageCommand as I;
    match cmd {
        I::Ls(a) => images::run(ctx, a).await,
        I::Rm(a) => rmi::run(ctx, a).await,
        I::Pull(a) => pull::run(ctx, a).await,
        I::Push(a) => push::run(ctx, a).await,
        I::Tag(a) => tag::run(ctx, a).await,
        I::Save(a) => save::run(ctx, a).await,
        I::Load(a) => load::run(ctx, a).await,
        I::Inspect(a) => inspect::run(ctx, a, Some("image")).await,
        I::History(a) => history::run(ctx, a).await,
        I::Import(a) => import::run(ctx, a).await,
        I::Prune(a) => prune::images(ctx, a).await,
    }
}

/// docker's pattern for commands over several objects: act on each,
/// print each one that succeeded as it was named, collect the errors and
/// print them at the end (exit 1). An unreachable daemon stops at once.
pub async fn for_each<F, Fut>(items: &[String], mut act: F) -> anyhow::Result<i32>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut errors = Vec::new();
    for item in items {
        match act(item.clone()).await {
            Ok(()) => println!("{item}"),
            Err(e) if is_connect(&e) => return Err(e),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Exit::msg(1, errors.join("\n")))
    }
}

/// `-f key=value` filters as the API's map of lists.
pub fn parse_filters(
    list: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, Vec<String>>> {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in list {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        map.entry(k.trim().to_lowercase())
            .or_default()
            .push(v.to_string());
    }
    Ok(map)
}

/// The first 12 hex digits of an id (`sha256:` dropped), as docker shows.
pub fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}
