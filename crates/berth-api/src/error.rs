//! Errors of the client: the daemon's refusals ([`ApiError`]) are kept
//! apart from transport failures, because the CLI reports them differently
//! (docker's "Error response from daemon: ..." and exit codes).

use std::io;

/// A non-2xx answer from the daemon: its status and the `message` of its
/// JSON error body (or the body's text when it is not JSON).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Error response from daemon: {message}")]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    /// Whether the daemon said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }
}

/// Everything that can go wrong talking to the daemon.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost { host: String, reason: &'static str },
    /// The socket is missing or refuses connections: the daemon is not
    /// running (the CLI turns this into its "Cannot connect" message).
    #[error("cannot connect to {host}: {source}")]
    Connect {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("building the request: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    #[error("invalid JSON from the daemon: {0}")]
    Json(#[from] serde_json::Error),
    #[error("encoding the request: {0}")]
    Encode(serde_json::Error),
    /// The daemon answered an attach/exec without switching protocols.
    #[error("the daemon did not upgrade the connection (status {status})")]
    NotUpgraded { status: u16 },
    /// A progress stream (pull, push, load) ended with an error message.
    #[error("{0}")]
    Stream(String),
}

impl Error {
    /// The daemon's refusal, if that is what this is.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the daemon could not be reached at all.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
