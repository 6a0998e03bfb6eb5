//! `/version`, `/info` and `/auth`.

use serde::{Deserialize, Serialize};

/// `GET /version`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Version {
    pub platform: Platform,
    #[serde(deserialize_with = "super::nullable")]
    pub components: Vec<Component>,
    pub version: String,
    pub api_version: String,
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub experimental: bool,
    pub build_time: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Platform {
    pub name: String,
}

/// One part of the engine (`Engine`, `containerd`, `runc`, ...).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Component {
    pub name: String,
    pub version: String,
    #[serde(deserialize_with = "super::nullable")]
    pub details: std::collections::BTreeMap<String, serde_json::Value>,
}

/// `GET /info`: the fields `berth info` shows.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: i64,
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub images: i64,
    pub driver: String,
    #[serde(deserialize_with = "super::nullable")]
    pub driver_status: Vec<Vec<String>>,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    #[serde(deserialize_with = "super::nullable")]
    pub runtimes: std::collections::BTreeMap<String, serde_json::Value>,
    pub default_runtime: String,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: i64,
    pub mem_total: i64,
    pub name: String,
    pub docker_root_dir: String,
    pub debug: bool,
    pub server_version: String,
    #[serde(deserialize_with = "super::nullable")]
    pub security_options: Vec<String>,
    #[serde(deserialize_with = "super::nullable")]
    pub warnings: Vec<String>,
}

/// `POST /auth` request (and the decoded `X-Registry-Auth` header).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub struct AuthConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    #[serde(
        default,
        rename = "identitytoken",
        skip_serializing_if = "String::is_empty"
    )]
    pub identity_token: String,
}

impl AuthConfig {
    /// The `X-Registry-Auth` header value: base64url of the JSON.
    pub fn header_value(&self) -> String {
        use base64::Engine as _;
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }
}

/// `POST /auth` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AuthResponse {
    pub status: String,
    pub identity_token: String,
}
