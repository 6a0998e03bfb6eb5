//! What berthd and the shim say to each other. Each connection to the
//! shim's socket starts with one [`Request`] as a JSON line; the shim
//! answers with one [`Reply`] line, after which an `attach` connection is a
//! byte stream.

use serde::{Deserialize, Serialize};

/// A request from berthd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Stream the chosen outputs to this connection, and feed what it
    /// sends to the process's stdin.
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Start the process (it was created and waits).
    Start,
    /// Resize the terminal.
    Resize { height: u16, width: u16 },
    /// Answer when the process has exited.
    Wait,
    /// The current state.
    State,
}

/// The shim's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitRecord>,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            ok: true,
            ..Reply::default()
        }
    }

    pub fn error(message: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(message.into()),
            ..Reply::default()
        }
    }
}

/// How the process ended; also written to `exit.json` in the shim
/// directory, so berthd learns it even if it was down at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The exit code, or 128 + signal.
    pub exit_code: i32,
    /// The cgroup saw an OOM kill.
    pub oom_killed: bool,
    /// RFC 3339 (UTC, nanoseconds).
    pub finished_at: String,
}

/// The line the shim prints on its stdout once the container is created
/// (or creating it failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The shim's own pid (it outlives the process berthd started).
    pub shim_pid: i32,
    /// The container's (or exec'd process's) pid, once known.
    pub pid: Option<i32>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Docker's stdcopy stream ids.
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// The 8-byte stdcopy header of a frame of `len` bytes on `stream`.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let len = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [stream, 0, 0, 0, len[0], len[1], len[2], len[3]]
}
