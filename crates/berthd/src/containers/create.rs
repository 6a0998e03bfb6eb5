//! `POST /containers/create`: the request merged with the image's config
//! (Docker's rules for Entrypoint, Cmd, Env, labels), a name, an id, and a
//! record on disk.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_image::images::{format_rfc3339, ImageError};
use serde_json::{json, Map, Value};

use super::names;
use super::record::{ContainerRecord, RunState};
use super::store::Entry;
use crate::daemon::Daemon;
use crate::http::ApiError;

impl Daemon {
    /// Creates a container from a create request. A missing image is a
    /// 404 (the docker CLI then pulls and retries).
    pub async fn create_container(
        &self,
        name: Option<&str>,
        mut body: Value,
    ) -> Result<Arc<Entry>, ApiError> {
        let Some(request) = body.as_object_mut() else {
            return Err(ApiError::bad_request(
                "invalid JSON: the body must be an object",
            ));
        };
        let host_config = request.remove("HostConfig").unwrap_or_else(|| json!({}));
        request.remove("NetworkingConfig");
        let image_name = request
            .get("Image")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request("config cannot be empty in order to create a container")
            })?
            .to_string();
        let (image_id, image_config) = self.image_for(&image_name).await?;
        let id = crate::ids::new_id();
        let mut config = merge_config(request.clone(), &image_config);
        if config["Hostname"].as_str().is_none_or(str::is_empty) {
            // Docker's default hostname: the short id.
            config["Hostname"] = json!(&id[..12]);
        }
        let (path, args) = command_of(&config)?;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => names::validate(n)
                .map_err(ApiError::bad_request)?
                .to_string(),
            None => names::generate(|candidate| self.containers.get(candidate).is_ok()),
        };
        let labels = labels_of(&config);
        let mounts = super::mounts::resolve(&config, &host_config, &self.volumes)?;
        let record = ContainerRecord {
            id: id.clone(),
            name,
            created: format_rfc3339_nanos_now(),
            image_name,
            image_id: image_id.clone(),
            path,
            args,
            config,
            host_config: normalize_host_config(host_config),
            state: RunState::created(),
            restart_count: 0,
            labels,
            exec_ids: Vec::new(),
            mounts,
        };
        let entry = self.containers.insert(record)?;
        let images_id = id.clone();
        self.blocking(move |images| images.add_container(&images_id, &image_id))
            .await?
            .map_err(|e| ApiError::internal(e.to_string()))?;
        self.event(
            "container",
            "create",
            &id,
            json!({"name": entry.record().name, "image": entry.record().image_name}),
        );
        Ok(entry)
    }

    /// The image's id and config, or Docker's 404.
    async fn image_for(&self, name: &str) -> Result<(String, Value), ApiError> {
        let wanted = name.to_string();
        self.blocking(move |images| {
            let record = images.resolve(&wanted)?;
            let config = images.config(&record.id)?;
            Ok::<_, ImageError>((record.id, config))
        })
        .await?
        .map_err(|e| match e {
            ImageError::NotFound(_) => {
                ApiError::not_found(format!("No such image: {}", familiar(name)))
            }
            other => ApiError::internal(other.to_string()),
        })
    }
}

/// `busybox` -> `busybox:latest`, as Docker's messages show it.
fn familiar(name: &str) -> String {
    berth_image::reference::Reference::parse(name)
        .map_or_else(|_| name.to_string(), |r| r.familiar())
}

fn format_rfc3339_nanos_now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// The request's config with the image's defaults: Docker's rules.
/// - Env: the image's, then the request's (same key: the request wins);
/// - Entrypoint given: the image's Cmd is dropped unless Cmd is given too;
/// - WorkingDir, User, StopSignal, ExposedPorts, Healthcheck: the image's
///   when the request has none; Labels merged.
pub fn merge_config(mut request: Map<String, Value>, image: &Value) -> Value {
    let image_cfg = image.get("config").cloned().unwrap_or_else(|| json!({}));
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    };
    let entrypoint_given = !empty(request.get("Entrypoint"));
    if empty(request.get("Cmd")) && !entrypoint_given {
        request.insert("Cmd".into(), image_cfg["Cmd"].clone());
    }
    if !entrypoint_given {
        request.insert("Entrypoint".into(), image_cfg["Entrypoint"].clone());
    }
    request.insert(
        "Env".into(),
        json!(merge_env(&image_cfg["Env"], request.get("Env"))),
    );
    for key in [
        "WorkingDir",
        "User",
        "StopSignal",
        "ExposedPorts",
        "Healthcheck",
        "Volumes",
        "OnBuild",
        "Shell",
    ] {
        if empty(request.get(key)) && !empty(image_cfg.get(key)) {
            request.insert(key.into(), image_cfg[key].clone());
        }
    }
    let mut labels = image_cfg["Labels"].as_object().cloned().unwrap_or_default();
    if let Some(own) = request.get("Labels").and_then(Value::as_object) {
        labels.extend(own.clone());
    }
    request.insert("Labels".into(), Value::Object(labels));
    Value::Object(request)
}

fn merge_env(image: &Value, request: Option<&Value>) -> Vec<String> {
    let list = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut env = list(Some(image));
    for item in list(request) {
        let key = item.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(item);
    }
    env
}

/// The program and its arguments: Entrypoint followed by Cmd.
pub fn command_of(config: &Value) -> Result<(String, Vec<String>), ApiError> {
    let words = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            Value::String(s) if !s.is_empty() => vec!["/bin/sh".into(), "-c".into(), s.clone()],
            _ => Vec::new(),
        }
    };
    let mut all = words(&config["Entrypoint"]);
    all.extend(words(&config["Cmd"]));
    let mut it = all.into_iter();
    match it.next() {
        Some(path) => Ok((path, it.collect())),
        None => Err(ApiError::bad_request("no command specified")),
    }
}

fn labels_of(config: &Value) -> BTreeMap<String, String> {
    config["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Fills the fields inspect always shows.
fn normalize_host_config(mut host: Value) -> Value {
    if !host.is_object() {
        host = json!({});
    }
    if host["NetworkMode"].as_str().unwrap_or("").is_empty() {
        host["NetworkMode"] = json!("bridge");
    }
    if host["LogConfig"]["Type"].as_str().unwrap_or("").is_empty() {
        host["LogConfig"] =
            json!({"Type": "json-file", "Config": host["LogConfig"]["Config"].clone()});
    }
    if host["RestartPolicy"]["Name"].as_str().is_none() {
        host["RestartPolicy"] = json!({"Name": "no", "MaximumRetryCount": 0});
    }
    host
}

/// RFC 3339 of a unix time (for inspect's `Created` of images).
pub fn rfc3339(secs: i64) -> String {
    format_rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Value {
        json!({"config": {"Cmd": ["sh"], "Env": ["PATH=/bin", "A=1"], "WorkingDir": "/w", "Labels": {"x": "1"}}})
    }

    #[test]
    fn cmd_and_entrypoint_rules() {
        let req = json!({"Image": "b", "Cmd": ["echo", "hi"], "Env": ["A=2", "B=3"]});
        let c = merge_config(req.as_object().unwrap().clone(), &image());
        assert_eq!(command_of(&c).unwrap(), ("echo".into(), vec!["hi".into()]));
        assert_eq!(c["Env"], json!(["PATH=/bin", "A=2", "B=3"]));
        assert_eq!(c["WorkingDir"], "/w");

        let req = json!({"Image": "b"});
        let c = merge_config(req.as_object().unwrap().clone(), &image());
        assert_eq!(command_of(&c).unwrap().0, "sh");

        // --entrypoint drops the image's Cmd.
        let req = json!({"Image": "b", "Entrypoint": ["/bin/true"]});
        let c = merge_config(req.as_object().unwrap().clone(), &image());
        assert_eq!(command_of(&c).unwrap(), ("/bin/true".into(), vec![]));

        let c = merge_config(Map::new(), &json!({}));
        assert!(command_of(&c).is_err());
    }
}
