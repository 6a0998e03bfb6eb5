//! What berthd keeps about one container, persisted as
//! `<data-root>/containers/<id>/container.json` (written atomically).
//! `config` and `host_config` are the create request's, kept as Docker's
//! JSON so that inspect returns them as given.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The container's state, as `State` in inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    pub pid: i32,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    /// RFC 3339; Docker's zero time when never.
    pub started_at: String,
    pub finished_at: String,
    /// The shim serving the current run, if any.
    #[serde(default)]
    pub shim_pid: i32,
    /// Stopped by the user (stop/kill): restart policies do not apply.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// The health check's state, for containers that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// Inspect's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// starting, healthy, unhealthy.
    pub status: String,
    pub failing_streak: u32,
    /// The last probes (at most 5).
    pub log: Vec<HealthProbe>,
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthProbe {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// Docker's zero time, for times that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl RunState {
    pub fn created() -> RunState {
        RunState {
            status: "created".into(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            ..RunState::default()
        }
    }

    pub fn running(&self) -> bool {
        matches!(self.status.as_str(), "running" | "paused" | "restarting")
    }
}

/// One container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// RFC 3339.
    pub created: String,
    /// The image as the user named it (`busybox`).
    pub image_name: String,
    /// The image id (`sha256:...`).
    pub image_id: String,
    /// The program and its arguments, after entrypoint/cmd resolution.
    pub path: String,
    pub args: Vec<String>,
    /// Docker's container `Config` (with the image's defaults merged in).
    pub config: Value,
    /// Docker's `HostConfig`.
    pub host_config: Value,
    pub state: RunState,
    #[serde(default)]
    pub restart_count: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Exec ids created in this container (inspect's `ExecIDs`).
    #[serde(default)]
    pub exec_ids: Vec<String>,
    /// Volumes, binds and tmpfs mounts, resolved at create.
    #[serde(default)]
    pub mounts: Vec<MountPoint>,
}

/// One mount of a container (inspect's `Mounts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    /// `volume`, `bind` or `tmpfs`.
    pub kind: String,
    /// The volume's name (volumes only).
    #[serde(default)]
    pub name: String,
    /// The host path (binds and volumes).
    #[serde(default)]
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    /// tmpfs options (`size=64m,mode=1777`).
    #[serde(default)]
    pub options: String,
}

impl MountPoint {
    /// The API's shape.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "Type": self.kind,
            "Name": if self.name.is_empty() { serde_json::Value::Null } else { self.name.clone().into() },
            "Source": self.source,
            "Destination": self.destination,
            "Driver": if self.kind == "volume" { "local" } else { "" },
            "Mode": if self.read_only { "ro" } else { "" },
            "RW": !self.read_only,
            "Propagation": if self.kind == "bind" { "rprivate" } else { "" },
        })
    }
}

impl ContainerRecord {
    /// Whether it has a terminal.
    pub fn tty(&self) -> bool {
        self.config["Tty"].as_bool().unwrap_or(false)
    }

    /// Whether stdin stays open for attach.
    pub fn open_stdin(&self) -> bool {
        self.config["OpenStdin"].as_bool().unwrap_or(false)
    }

    /// `--rm`.
    pub fn auto_remove(&self) -> bool {
        self.host_config["AutoRemove"].as_bool().unwrap_or(false)
    }

    /// The short (12 hex) id.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}
