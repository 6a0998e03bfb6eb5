//! What every command gets: the API client and where client-side
//! configuration lives.

use std::path::PathBuf;

use berth_api::Client;

pub struct Ctx {
    pub client: Client,
    /// The `-H` value as given (or the default), for messages.
    pub host: String,
    /// `--config DIR`; else `$DOCKER_CONFIG`, else `~/.docker`.
    pub config_dir: Option<PathBuf>,
}

impl Ctx {
    /// The docker-format `config.json` holding registry credentials.
    pub fn config_file(&self) -> Option<PathBuf> {
        match &self.config_dir {
            Some(dir) => Some(dir.join("config.json")),
            None => berth_image::registry::credentials::default_config_path(),
        }
    }
}

/// Percent-encodes a path segment taken from the user (a container or
/// image name), keeping the characters image references use.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/@+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
