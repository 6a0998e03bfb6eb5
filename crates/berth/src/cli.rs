//! The command line: docker's commands, flags and management forms
//! (`berth container ls` is `berth ps`), declared with clap.

use clap::{Args, Parser, Subcommand};

use crate::commands::{
    attach::AttachArgs, commit::CommitArgs, cp::CpArgs, diff::DiffArgs, export::ExportArgs,
    history::HistoryArgs, import::ImportArgs, search::SearchArgs, system::SystemCommand,
    update::UpdateArgs, volume::VolumeCommand,
};
use crate::commands::{
    container_opts::ContainerOpts, events::EventsArgs, exec::ExecArgs, images::ImagesArgs,
    inspect::InspectArgs, lifecycle::KillArgs, lifecycle::StopArgs, load::LoadArgs,
    login::LoginArgs, login::LogoutArgs, logs::LogsArgs, port::PortArgs, prune::ContainerPruneArgs,
    prune::ImagePruneArgs, ps::PsArgs, pull::PullArgs, push::PushArgs, rm::RmArgs, rmi::RmiArgs,
    save::SaveArgs, start::StartArgs, stats::StatsArgs, tag::TagArgs, top::TopArgs,
};

/// The default daemon socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    version,
    disable_version_flag = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path, /path or tcp://host:port)
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub host: Option<String>,
    /// Location of client config files (default ~/.docker)
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<std::path::PathBuf>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the Berth version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// List containers
    Ps(PsArgs),
    /// List images
    Images(ImagesArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Return low-level information on Berth objects
    Inspect(InspectArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Search Docker Hub for images
    Search(SearchArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Manage Berth
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Generate a shell completion script
    Completion(CompletionArgs),
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(PsArgs),
    Run(RunArgs),
    Create(CreateArgs),
    Start(StartArgs),
    Stop(StopArgs),
    Restart(StopArgs),
    Kill(KillArgs),
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    Logs(LogsArgs),
    Exec(ExecArgs),
    Inspect(InspectArgs),
    Wait(ContainersArgs),
    Pause(ContainersArgs),
    Unpause(ContainersArgs),
    Rename(RenameArgs),
    Top(TopArgs),
    Port(PortArgs),
    Stats(StatsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Remove all stopped containers
    Prune(ContainerPruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    Pull(PullArgs),
    Push(PushArgs),
    Tag(TagArgs),
    Save(SaveArgs),
    Load(LoadArgs),
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// Commands taking one or more containers and nothing else.
#[derive(Debug, Args)]
pub struct ContainersArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    pub shell: clap_complete::Shell,
}

/// `run`: create flags plus how to run it.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "string", default_value = "")]
    pub detach_keys: String,
    #[command(flatten)]
    pub opts: ContainerOpts,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE] [COMMAND] [ARG..."
    )]
    pub args: Vec<String>,
}

/// `create`: the same flags as run, minus running.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOpts,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE] [COMMAND] [ARG..."
    )]
    pub args: Vec<String>,
}
