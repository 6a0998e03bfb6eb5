//! `berth login` / `berth logout`: credentials checked by the daemon
//! (`POST /auth`) and kept in docker's `config.json` (berth-image owns
//! the file format), so berth and docker share them.

use std::io::{BufRead as _, Read as _, Write as _};

use anyhow::{bail, Context as _};
use berth_api::types::{AuthConfig, AuthResponse};
use berth_api::Query;
use berth_image::reference::DEFAULT_REGISTRY;
use berth_image::registry::credentials::{config_key, DOCKER_HUB_KEY};
use berth_image::registry::{CredentialStore, Credentials};
use clap::Args;

use crate::context::Ctx;
use crate::stdio::tty;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// SERVER (default: Docker Hub)
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// SERVER (default: Docker Hub)
    pub server: Option<String>,
}

pub async fn login(ctx: &Ctx, args: LoginArgs) -> anyhow::Result<i32> {
    let registry = registry_of(args.server.as_deref());
    let (username, password) = credentials(&args)?;
    let auth = AuthConfig {
        username: username.clone(),
        password: password.clone(),
        serveraddress: server_address(&registry),
        ..Default::default()
    };
    let resp: AuthResponse = ctx.client.post("/auth", &Query::new(), Some(&auth)).await?;
    let path = ctx
        .config_file()
        .context("cannot find the config file: set HOME or DOCKER_CONFIG")?;
    let mut store = CredentialStore::load(&path)?;
    store.store(&registry, &Credentials { username, password })?;
    eprintln!(
        "WARNING! Your password will be stored unencrypted in {}.",
        path.display()
    );
    let status = if resp.status.is_empty() {
        "Login Succeeded"
    } else {
        resp.status.as_str()
    };
    println!("{status}");
    Ok(0)
}

pub fn logout(ctx: &Ctx, args: LogoutArgs) -> anyhow::Result<i32> {
    let registry = registry_of(args.server.as_deref());
    let shown = args
        .server
        .clone()
        .unwrap_or_else(|| DOCKER_HUB_KEY.to_string());
    let path = ctx
        .config_file()
        .context("cannot find the config file: set HOME or DOCKER_CONFIG")?;
    let mut store = CredentialStore::load(&path)?;
    if store.erase(&registry)? {
        println!("Removing login credentials for {shown}");
    } else {
        println!("Not logged in to {shown}");
    }
    Ok(0)
}

/// `https://host/v1/` or `host` → `host`; nothing, or Docker Hub's
/// aliases → `docker.io`.
fn registry_of(server: Option<&str>) -> String {
    let Some(server) = server else {
        return DEFAULT_REGISTRY.to_string();
    };
    let bare = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = bare.split('/').next().unwrap_or(bare);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DEFAULT_REGISTRY.to_string(),
        other => other.to_string(),
    }
}

/// What docker sends as `serveraddress`.
fn server_address(registry: &str) -> String {
    config_key(registry)
}

/// The username and password from flags, stdin or prompts.
fn credentials(args: &LoginArgs) -> anyhow::Result<(String, String)> {
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        if args.password_stdin {
            bail!("--password and --password-stdin are mutually exclusive");
        }
    }
    if args.password_stdin && args.username.is_none() {
        bail!("Must provide --username with --password-stdin");
    }
    let username = match &args.username {
        Some(u) => u.clone(),
        None => prompt("Username: ", false)?,
    };
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text.trim_end_matches(['\n', '\r']).to_string()
    } else {
        match &args.password {
            Some(p) => p.clone(),
            None => prompt("Password: ", true)?,
        }
    };
    if username.is_empty() {
        bail!("Error: Non-null Username Required");
    }
    if password.is_empty() {
        bail!("Error: Password Required");
    }
    Ok((username, password))
}

/// Asks on the terminal; `secret` turns echo off.
fn prompt(label: &str, secret: bool) -> anyhow::Result<String> {
    if !tty::stdin_is_terminal() {
        bail!("Error: Cannot perform an interactive login from a non TTY device");
    }
    eprint!("{label}");
    std::io::stderr().flush()?;
    let guard = if secret { tty::NoEcho::enable() } else { None };
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if guard.is_some() {
        eprintln!();
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
