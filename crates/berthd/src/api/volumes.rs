//! `/volumes/...`: the local driver.

use std::collections::BTreeMap;

use hyper::StatusCode;
use serde_json::{json, Value};

use super::Call;
use crate::filters::Filters;
use crate::http::{json as json_reply, ok_json, read_json, status, ApiError, ApiResult};

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `POST /volumes/create`.
pub async fn create(call: Call) -> ApiResult {
    let daemon = call.daemon.clone();
    let body: Value = read_json(call.req).await?;
    if let Some(driver) = body["Driver"]
        .as_str()
        .filter(|d| !d.is_empty() && *d != "local")
    {
        return Err(ApiError::not_found(format!(
            "plugin \"{driver}\" not found"
        )));
    }
    let volume = daemon.volumes.create(
        body["Name"].as_str(),
        string_map(&body["Labels"]),
        string_map(&body["DriverOpts"]),
    )?;
    daemon.event("volume", "create", &volume.name, json!({"driver": "local"}));
    Ok(json_reply(
        StatusCode::CREATED,
        &daemon.volumes.view(&volume),
    ))
}

/// `GET /volumes?filters=` (`dangling`, `name`, `label`, `driver`).
pub async fn list(call: Call) -> ApiResult {
    let filters = Filters::parse(call.query.get("filters"))?;
    filters.only(&["dangling", "name", "label", "driver"])?;
    let daemon = &call.daemon;
    let rows: Vec<Value> = daemon
        .volumes
        .list()
        .iter()
        .filter(|v| {
            let dangling = daemon.volume_users(&v.name).is_empty();
            filters.any("dangling", |d| (d == "true" || d == "1") == dangling)
                && filters.any("name", |n| v.name.contains(n))
                && filters.any("driver", |d| d == "local")
                && filters.labels_match(&v.labels)
        })
        .map(|v| daemon.volumes.view(v))
        .collect();
    ok_json(&json!({ "Volumes": rows, "Warnings": [] }))
}

/// `GET /volumes/{name}`.
pub async fn inspect(call: Call, name: &str) -> ApiResult {
    let volume = call.daemon.volumes.get(name)?;
    ok_json(&call.daemon.volumes.view(&volume))
}

/// `DELETE /volumes/{name}?force=`: 409 while a container uses it. With
/// `force`, a missing volume is no error (moby: `docker volume rm -f`).
pub async fn remove(call: Call, name: &str) -> ApiResult {
    if let Err(e) = call.daemon.volumes.get(name) {
        if e.status == StatusCode::NOT_FOUND && call.query.bool("force") {
            return status(StatusCode::NO_CONTENT);
        }
        return Err(e);
    }
    let users = call.daemon.volume_users(name);
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "remove {name}: volume is in use - [{}]",
            users.join(", ")
        )));
    }
    call.daemon.volumes.remove(name)?;
    call.daemon
        .event("volume", "destroy", name, json!({"driver": "local"}));
    status(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune`: unused anonymous volumes (all unused ones with
/// the `all=true` filter, as Docker 23+).
pub async fn prune(call: Call) -> ApiResult {
    let filters = Filters::parse(call.query.get("filters"))?;
    let all = filters
        .values("all")
        .iter()
        .any(|v| v == "true" || v == "1");
    let daemon = &call.daemon;
    let mut deleted = Vec::new();
    for v in daemon.volumes.list() {
        let unused = daemon.volume_users(&v.name).is_empty();
        if (v.anonymous || all)
            && unused
            && filters.labels_match(&v.labels)
            && daemon.volumes.remove(&v.name).is_ok()
        {
            deleted.push(v.name);
        }
    }
    ok_json(&json!({ "VolumesDeleted": deleted, "SpaceReclaimed": 0 }))
}
