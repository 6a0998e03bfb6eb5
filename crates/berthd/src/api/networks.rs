//! `/networks`: what is true of berthd's networking today. There are no
//! user networks and no bridge: a container either shares the host's
//! network namespace (`--network host`) or gets a namespace of its own
//! with loopback only, which is what docker's `none` network is. So the
//! list is dockerd's built-in `host` and `none` (and not `bridge`, which
//! dockerd also lists but berthd would have to fake); `docker network ls`
//! shows those two, and prune has nothing to delete.

use hyper::StatusCode;
use serde_json::{json, Value};

use super::Call;
use crate::filters::Filters;
use crate::http::{ok_json, ApiError, ApiResult};

/// A built-in network: name, driver, and a fixed id (they are never
/// created or removed, so the id never changes).
struct Builtin {
    name: &'static str,
    driver: &'static str,
    id: &'static str,
}

const BUILTIN: [Builtin; 2] = [
    Builtin {
        name: "host",
        driver: "host",
        id: "9c7a1f4e0b3d52a8e6f1c0d7b4a39e2f5c8d1b6a0e7f3c4d9b2a5e8f1c6d0b3a",
    },
    Builtin {
        name: "none",
        driver: "null",
        id: "3e5b8d0a6c1f4e7b9d2a5c8f0e3b6d1a4c7f9e2b5d8a0c3f6e1b4d7a9c2e5f8b",
    },
];

/// Docker's shape of a network.
fn view(call: &Call, n: &Builtin) -> Value {
    let created = humantime::format_rfc3339_nanos(call.daemon.started).to_string();
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv4": true,
        "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": null, "Config": null },
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": {},
        "Options": {},
        "Labels": {},
    })
}

fn matches(f: &Filters, n: &Builtin) -> bool {
    f.any("name", |v| n.name.contains(v))
        && f.any("id", |v| n.id.starts_with(v))
        && f.any("driver", |v| v == n.driver)
        && f.any("scope", |v| v == "local")
        && f.any("type", |v| v == "builtin")
        && f.labels_match(&Default::default())
}

/// `GET /networks?filters=`.
pub async fn list(call: Call) -> ApiResult {
    let filters = Filters::parse(call.query.get("filters"))?;
    filters.only(&["name", "id", "driver", "scope", "type", "label", "dangling"])?;
    let rows: Vec<Value> = BUILTIN
        .iter()
        .filter(|n| matches(&filters, n))
        .map(|n| view(&call, n))
        .collect();
    ok_json(&rows)
}

/// `GET /networks/{id}`: by name, full id or id prefix.
pub async fn inspect(call: Call, id: &str) -> ApiResult {
    let found = BUILTIN
        .iter()
        .find(|n| n.name == id || n.id == id)
        .or_else(|| {
            let mut by_prefix = BUILTIN
                .iter()
                .filter(|n| !id.is_empty() && n.id.starts_with(id));
            by_prefix.next()
        });
    match found {
        Some(n) => ok_json(&view(&call, n)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("network {id} not found"),
        )),
    }
}

/// `POST /networks/prune`: built-in networks are never pruned, and there
/// are no others.
pub async fn prune(call: Call) -> ApiResult {
    Filters::parse(call.query.get("filters"))?;
    ok_json(&json!({ "NetworksDeleted": null }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_pick_builtins() {
        let by = |raw: &str| {
            let f = Filters::parse(Some(raw)).unwrap();
            BUILTIN
                .iter()
                .filter(|n| matches(&f, n))
                .map(|n| n.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(by(r#"{"driver":{"null":true}}"#), ["none"]);
        assert_eq!(by(r#"{"type":{"custom":true}}"#), Vec::<&str>::new());
        assert_eq!(by(r#"{"name":["ho"]}"#), ["host"]);
        assert!(BUILTIN.iter().all(|n| n.id.len() == 64));
    }
}
