//! Exec instances: create, start and inspect.

use serde::{Deserialize, Serialize};

use super::is_empty;

/// `POST /containers/{id}/exec` body.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ExecConfig {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub env: Vec<String>,
    #[serde(deserialize_with = "super::nullable")]
    pub cmd: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    pub privileged: bool,
    /// The sequence that detaches from a TTY exec (empty: the default).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detach_keys: String,
}

/// Create answers carrying just an id (`exec`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct IdResponse {
    pub id: String,
}

/// `POST /exec/{id}/start` body.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ExecStart {
    pub detach: bool,
    pub tty: bool,
}

/// `GET /exec/{id}/json`: the fields the CLI reads.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}
