//! The library's error type. Every variant says which container, file or
//! step failed, so a CLI can print it as is.

use std::path::PathBuf;

use crate::cgroups::CgroupError;
use crate::security::seccomp::SeccompError;

/// Result alias used across the runtime library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },

    #[error("container {0:?} already exists")]
    AlreadyExists(String),

    #[error("container {0:?} does not exist")]
    NotFound(String),

    #[error("container {id:?} is {status}, {action} needs it {wanted}")]
    WrongState {
        id: String,
        status: crate::state::Status,
        action: &'static str,
        wanted: &'static str,
    },

    #[error("bundle config {path}: {reason}")]
    Config { path: PathBuf, reason: String },

    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    // The cause is part of the message and deliberately not a `source`, so
    // error chains (anyhow's `{:#}`) do not print it twice.
    #[error("{op} {path}: {cause}")]
    Io {
        op: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("{op}: {cause}")]
    Sys { op: String, cause: nix::Error },

    #[error(transparent)]
    Cgroup(#[from] CgroupError),

    #[error(transparent)]
    Seccomp(#[from] SeccompError),

    #[error("container init failed: {0}")]
    InitFailed(String),

    #[error("hook {path} ({kind}) failed: {reason}")]
    Hook {
        kind: &'static str,
        path: PathBuf,
        reason: String,
    },

    #[error("state file {path}: {reason}")]
    State { path: PathBuf, reason: String },

    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    /// An I/O error with the operation and the path it was about.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            cause: source,
        }
    }

    /// A failed system call, described by what it was trying to do.
    pub fn sys(op: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            op: op.into(),
            cause: source,
        }
    }
}
