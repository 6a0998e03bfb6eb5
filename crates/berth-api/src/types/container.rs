//! Containers: list entries, inspect (the fields the CLI reads), the
//! create request (Config + HostConfig + NetworkingConfig) and small
//! answers (create, wait, top).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{is_empty, is_false};

/// An empty JSON object: docker's sets (`ExposedPorts`, `Volumes`) map
/// keys to `{}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Empty {}

/// `GET /containers/json` entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerSummary {
    pub id: String,
    #[serde(deserialize_with = "super::nullable")]
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    pub created: i64,
    #[serde(deserialize_with = "super::nullable")]
    pub ports: Vec<Port>,
    pub size_rw: Option<i64>,
    pub size_root_fs: Option<i64>,
    pub labels: Option<BTreeMap<String, String>>,
    pub state: String,
    pub status: String,
    #[serde(deserialize_with = "super::nullable")]
    pub mounts: Vec<MountPoint>,
    pub network_settings: Option<SummaryNetworkSettings>,
}

/// A published or exposed port of a list entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct Port {
    #[serde(rename = "IP", skip_serializing_if = "String::is_empty")]
    pub ip: String,
    pub private_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    pub name: String,
    pub source: String,
    pub destination: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SummaryNetworkSettings {
    #[serde(deserialize_with = "super::nullable")]
    pub networks: BTreeMap<String, serde_json::Value>,
}

/// `GET /containers/{id}/json`: what the CLI needs to decide how to
/// attach, wait and report (the full document is read as JSON for
/// `inspect`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerInspect {
    pub id: String,
    pub name: String,
    pub image: String,
    pub created: String,
    pub state: ContainerState,
    pub config: ContainerConfig,
    pub network_settings: NetworkSettings,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerState {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// `"80/tcp" -> [{HostIp, HostPort}]`, `null` when not published.
    #[serde(deserialize_with = "super::nullable")]
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
}

/// `HostConfig.PortBindings` and `NetworkSettings.Ports` values.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// The container's `Config`, in requests and in inspect answers.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domainname: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub exposed_ports: BTreeMap<String, Empty>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub env: Vec<String>,
    /// `None`: the image's CMD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    pub image: String,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub volumes: BTreeMap<String, Empty>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// `None`: the image's ENTRYPOINT; `[""]` resets it (`--entrypoint ""`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_false")]
    pub network_disabled: bool,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
}

/// `Config.Healthcheck`: the probe (`["CMD-SHELL", cmd]`, `["CMD", ...]`,
/// `["NONE"]`, or empty to inherit the image's) and its timing in
/// nanoseconds; zero means the default.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
}

/// `POST /containers/create` body: the Config fields at the top level,
/// plus `HostConfig` and `NetworkingConfig`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networking_config: Option<NetworkingConfig>,
}

/// The host side of a container.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HostConfig {
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub binds: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub network_mode: String,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(skip_serializing_if = "is_false")]
    pub auto_remove: bool,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub mounts: Vec<Mount>,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub publish_all_ports: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub readonly_rootfs: bool,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub security_opt: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// Bytes; 0 is unlimited.
    #[serde(skip_serializing_if = "is_zero")]
    pub memory: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub memory_swap: i64,
    /// Billionths of a CPU (`--cpus 1.5` is 1_500_000_000).
    #[serde(skip_serializing_if = "is_zero", rename = "NanoCpus")]
    pub nano_cpus: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    /// `--tmpfs`: mount point -> options (`rw,size=64m`).
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub tmpfs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub ulimits: Vec<Ulimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_config: Option<LogConfig>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure`.
    pub name: String,
    pub maximum_retry_count: i64,
}

/// `HostConfig.Mounts` entry (`--mount`; `-v` goes in `Binds`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Mount {
    #[serde(rename = "Type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct BindOptions {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(skip_serializing_if = "is_false")]
    pub non_recursive: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "is_false")]
    pub no_copy: bool,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<VolumeDriverConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeDriverConfig {
    pub name: String,
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct TmpfsOptions {
    #[serde(skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// `HostConfig.Ulimits` entry (`--ulimit nofile=1024:2048`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// `HostConfig.LogConfig` (`--log-driver`, `--log-opt`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(deserialize_with = "super::nullable")]
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkingConfig {
    #[serde(deserialize_with = "super::nullable")]
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct EndpointSettings {
    #[serde(skip_serializing_if = "is_empty", deserialize_with = "super::nullable")]
    pub aliases: Vec<String>,
}

/// `POST /containers/create` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateResponse {
    pub id: String,
    pub warnings: Option<Vec<String>>,
}

/// `POST /containers/{id}/wait` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct WaitResponse {
    pub status_code: i64,
    pub error: Option<WaitError>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct WaitError {
    pub message: String,
}

/// `GET /containers/{id}/top` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TopResponse {
    #[serde(deserialize_with = "super::nullable")]
    pub titles: Vec<String>,
    #[serde(deserialize_with = "super::nullable")]
    pub processes: Vec<Vec<String>>,
}

/// `POST /containers/prune` and `/images/prune` answers.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PruneReport {
    pub containers_deleted: Option<Vec<String>>,
    pub images_deleted: Option<Vec<super::ImageDeleteItem>>,
    pub space_reclaimed: u64,
}

/// The `X-Docker-Container-Path-Stat` header of a container archive
/// request: base64 of this JSON. `mode` holds Go's `os.FileMode` bits.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    /// The header's name.
    pub const HEADER: &'static str = "x-docker-container-path-stat";

    /// Decodes a header value; `None` when it is not base64 JSON.
    pub fn decode(value: &[u8]) -> Option<PathStat> {
        use base64::Engine as _;
        let json = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// Go's `os.ModeDir`.
    pub fn is_dir(&self) -> bool {
        self.mode & (1 << 31) != 0
    }

    /// Go's `os.ModeSymlink`.
    pub fn is_symlink(&self) -> bool {
        self.mode & (1 << 27) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_uses_docker_names_and_omits_unset() {
        let mut req = CreateRequest::default();
        req.config.image = "busybox".into();
        req.config.cmd = Some(vec!["echo".into(), "hi".into()]);
        req.config
            .exposed_ports
            .insert("80/tcp".into(), Empty::default());
        req.host_config.nano_cpus = 1_500_000_000;
        req.host_config.port_bindings.insert(
            "80/tcp".into(),
            vec![PortBinding {
                host_ip: String::new(),
                host_port: "8080".into(),
            }],
        );
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["Image"], "busybox");
        assert_eq!(v["Cmd"][1], "hi");
        assert_eq!(v["ExposedPorts"]["80/tcp"], serde_json::json!({}));
        assert_eq!(v["HostConfig"]["NanoCpus"], 1_500_000_000i64);
        assert_eq!(
            v["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
            "8080"
        );
        assert!(v.get("Entrypoint").is_none());
        assert!(v["HostConfig"].get("Memory").is_none());
    }

    #[test]
    fn summary_parses_docker_output() {
        let s: ContainerSummary = serde_json::from_str(
            r#"{"Id":"abc","Names":["/x"],"Image":"busybox","ImageID":"sha256:1",
               "Command":"sh","Created":1,"Ports":[{"PrivatePort":80,"Type":"tcp"}],
               "Labels":{},"State":"exited","Status":"Exited (0) 1 second ago",
               "HostConfig":{"NetworkMode":"none"},"Mounts":[]}"#,
        )
        .unwrap();
        assert_eq!(s.names, vec!["/x"]);
        assert_eq!(s.ports[0].private_port, 80);
        assert_eq!(s.ports[0].public_port, None);
    }
}
