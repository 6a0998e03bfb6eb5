//! `/images/...`: list, pull (`create?fromImage`), import (`fromSrc`),
//! inspect, history, tag, remove, push, save (`get`), load, prune. The
//! image library is blocking; it runs on blocking threads and streams
//! progress back through a channel.

use std::path::PathBuf;

use base64::Engine as _;
use berth_image::images::{ImageError, Images, Progress, ProgressKind, PullOptions, RemoveAction};
use berth_image::manifest::Platform;
use berth_image::reference::Reference;
use berth_image::registry::{Credentials, RegistryError};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::Call;
use crate::containers::view::unix;
use crate::filters::Filters;
use crate::http::{
    json as json_reply, ok_json, status, streamed, ApiError, ApiResult, ChannelWriter,
};

/// Routes `/images/...`. Image names contain `/`, so the name is
/// everything between `images/` and the last segment.
pub async fn dispatch(method: &Method, seg: &[&str], call: Call) -> ApiResult {
    use Method as M;
    let name = |skip_last: bool| -> String {
        let end = if skip_last { seg.len() - 1 } else { seg.len() };
        seg[1..end].join("/")
    };
    match (method, seg) {
        (&M::GET, ["images", "json"]) => list(call).await,
        (&M::POST, ["images", "create"]) => create(call).await,
        (&M::POST, ["images", "load"]) => load(call).await,
        (&M::GET, ["images", "get"]) => save(call, None).await,
        (&M::POST, ["images", "prune"]) => prune(call).await,
        (&M::GET, ["images", "search"]) => search(call).await,
        (&M::GET, ["images", .., "json"]) if seg.len() > 2 => inspect(call, &name(true)).await,
        (&M::GET, ["images", .., "history"]) if seg.len() > 2 => history(call, &name(true)).await,
        (&M::GET, ["images", .., "get"]) if seg.len() > 2 => save(call, Some(name(true))).await,
        (&M::POST, ["images", .., "tag"]) if seg.len() > 2 => tag(call, &name(true)).await,
        (&M::POST, ["images", .., "push"]) if seg.len() > 2 => push(call, &name(true)).await,
        (&M::DELETE, ["images", ..]) if seg.len() > 1 => remove(call, &name(false)).await,
        _ => Err(ApiError::not_found(format!(
            "page not found: {method} /{}",
            seg.join("/")
        ))),
    }
}

/// Maps image errors to Docker's statuses.
fn api_error(e: ImageError) -> ApiError {
    let status = match &e {
        ImageError::NotFound(_) => StatusCode::NOT_FOUND,
        ImageError::Conflict(_) => StatusCode::CONFLICT,
        ImageError::Reference(_) => StatusCode::BAD_REQUEST,
        ImageError::Manifest(_) => StatusCode::NOT_FOUND,
        ImageError::Registry(
            RegistryError::ManifestUnknown { .. } | RegistryError::NameUnknown { .. },
        ) => StatusCode::NOT_FOUND,
        // Not 401: the docker CLI takes a 401 from the daemon as "log in
        // first" and prompts for a password (dockerd answers 500 here).
        ImageError::Registry(RegistryError::Unauthorized { .. }) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

fn familiar(reference: &str) -> String {
    Reference::parse(reference).map_or_else(|_| reference.to_string(), |r| r.familiar())
}

/// `GET /images/json`.
async fn list(call: Call) -> ApiResult {
    let filters = Filters::parse(call.query.get("filters"))?;
    filters.only(&["dangling", "label", "reference", "before", "since"])?;
    let summaries = call
        .daemon
        .blocking(|images| images.list())
        .await?
        .map_err(api_error)?;
    let mut rows = Vec::new();
    for s in summaries {
        let tags: Vec<String> = s.tags.iter().map(|t| familiar(t)).collect();
        let dangling = tags.is_empty();
        if !filters.any("dangling", |d| (d == "true") == dangling) {
            continue;
        }
        if !filters.any("reference", |pattern| {
            tags.iter().any(|t| reference_matches(pattern, t))
        }) {
            continue;
        }
        let config = call.daemon.images.config(&s.record.id).unwrap_or_default();
        let labels = config["config"]["Labels"].clone();
        let label_map = labels
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if !filters.labels_match(&label_map) {
            continue;
        }
        rows.push(json!({
            "Id": s.record.id,
            "ParentId": "",
            "RepoTags": tags,
            "RepoDigests": s.record.repo_digests.iter().map(|d| familiar(d)).collect::<Vec<_>>(),
            "Created": s.created.as_deref().map_or(0, unix),
            "Size": s.size,
            "SharedSize": -1,
            "VirtualSize": s.size,
            "Labels": if labels.is_null() { json!({}) } else { labels },
            "Containers": -1,
        }));
    }
    ok_json(&rows)
}

/// `reference=busybox` or `busybox:*` style patterns (`*` matches within
/// a path component, as Docker's).
fn reference_matches(pattern: &str, tag: &str) -> bool {
    let (name, _) = tag.rsplit_once(':').unwrap_or((tag, ""));
    glob(pattern, tag) || glob(pattern, name)
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((prefix, rest)) => {
            let Some(remaining) = text.strip_prefix(prefix) else {
                return false;
            };
            (0..=remaining.len())
                .filter(|i| remaining.is_char_boundary(*i))
                .any(|i| !remaining[..i].contains('/') && glob(rest, &remaining[i..]))
        }
    }
}

/// Credentials from `X-Registry-Auth` (base64url JSON).
fn registry_auth(call: &Call) -> Option<Credentials> {
    let header = call.req.headers().get("x-registry-auth")?.to_str().ok()?;
    let decoded = base64::engine::general_purpose::URL_SAFE
        .decode(header.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header.trim()))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(header.trim()))
        .ok()?;
    let auth: Value = serde_json::from_slice(&decoded).ok()?;
    let username = auth["username"].as_str().unwrap_or("");
    if username.is_empty() {
        return None;
    }
    Some(Credentials {
        username: username.to_string(),
        password: auth["password"].as_str().unwrap_or("").to_string(),
    })
}

/// One progress event as Docker's JSON message.
fn progress_json(p: &Progress) -> Value {
    let mut msg = json!({ "status": p.status() });
    if let Some(id) = &p.id {
        msg["id"] = json!(id);
    }
    match p.kind {
        ProgressKind::Downloading { current, total } => {
            msg["progressDetail"] = json!({ "current": current, "total": total });
        }
        ProgressKind::Pushing { current, total } => {
            msg["progressDetail"] = json!({ "current": current, "total": total });
        }
        ProgressKind::Message(_) => {}
        _ => msg["progressDetail"] = json!({}),
    }
    msg
}

fn line(value: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\r');
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn error_line(message: &str) -> Bytes {
    line(&json!({ "errorDetail": { "message": message }, "error": message }))
}

/// Runs a progress-reporting image operation: errors before the first
/// event become an error status; later ones an error line in the stream.
async fn progress_stream<F>(call: &Call, op: F) -> ApiResult
where
    F: FnOnce(&Images, &(dyn Fn(Progress) + Sync)) -> Result<Option<Value>, ImageError>
        + Send
        + 'static,
{
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<Result<Value, ImageError>>();
    let images = call.daemon.images.clone();
    tokio::task::spawn_blocking(move || {
        let sink_tx = events_tx.clone();
        let sink = move |p: Progress| {
            let _ = sink_tx.send(Ok(progress_json(&p)));
        };
        match op(&images, &sink) {
            Ok(Some(last)) => {
                let _ = events_tx.send(Ok(last));
            }
            Ok(None) => {}
            Err(e) => {
                let _ = events_tx.send(Err(e));
            }
        }
    });
    let first = match events_rx.recv().await {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(api_error(e)),
        None => return Err(ApiError::internal("the image task ended without a result")),
    };
    let (tx, resp) = streamed("application/json", 64);
    tokio::spawn(async move {
        if tx.send(line(&first)).await.is_err() {
            return;
        }
        while let Some(item) = events_rx.recv().await {
            let bytes = match item {
                Ok(v) => line(&v),
                Err(e) => error_line(&e.to_string()),
            };
            if tx.send(bytes).await.is_err() {
                return;
            }
        }
    });
    Ok(resp)
}

/// `POST /images/create`: `fromImage` (pull) or `fromSrc` (import).
async fn create(call: Call) -> ApiResult {
    if call.query.get("fromSrc").is_some() {
        return import(call).await;
    }
    let from = call.query.get("fromImage").unwrap_or("").to_string();
    let tag = call.query.get("tag").unwrap_or("").to_string();
    let full = match tag.as_str() {
        "" => from.clone(),
        t if t.starts_with("sha256:") => format!("{from}@{t}"),
        t => format!("{from}:{t}"),
    };
    let reference = Reference::parse(&full).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let platform = match call.query.get("platform").filter(|p| !p.is_empty()) {
        Some(p) => Some(Platform::parse(p).map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
    let options = PullOptions {
        platform,
        credentials: registry_auth(&call),
        concurrency: 0,
    };
    let daemon = call.daemon.clone();
    let id = reference.to_string();
    let reply = progress_stream(&call, move |images, sink| {
        images.pull(&reference, &options, sink).map(|_| None)
    })
    .await;
    if reply.is_ok() {
        daemon.event("image", "pull", &id, json!({"name": id}));
    }
    reply
}

/// Spools a request body to a file under the data root.
async fn spool(call: Call, what: &str) -> Result<(PathBuf, crate::daemon::Config), ApiError> {
    let config = call.daemon.config.clone();
    let dir = config.data_root.join("tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))?;
    let path = dir.join(format!("{what}-{}", crate::ids::random_hex(16)));
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
    let mut body = call.req.into_body();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            if let Err(e) = file.write_all(data).await {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(ApiError::internal(format!(
                    "writing {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok((path, config))
}

/// `POST /images/create?fromSrc=-&repo=&tag=`: a rootfs tar in the body.
async fn import(call: Call) -> ApiResult {
    let repo = call.query.get("repo").unwrap_or("").to_string();
    let tag = call.query.get("tag").unwrap_or("").to_string();
    let message = call.query.get("message").unwrap_or("").to_string();
    let daemon = call.daemon.clone();
    let (path, _) = spool(call, "import").await?;
    let reference = if repo.is_empty() {
        None
    } else {
        let full = if tag.is_empty() {
            repo
        } else {
            format!("{repo}:{tag}")
        };
        Some(Reference::parse(&full).map_err(|e| ApiError::bad_request(e.to_string()))?)
    };
    let spooled = path.clone();
    let result = daemon
        .blocking(move |images| {
            let file =
                std::fs::File::open(&spooled).map_err(|e| ImageError::Worker(e.to_string()))?;
            images.import(file, reference.as_ref(), None, &message)
        })
        .await?;
    let _ = std::fs::remove_file(&path);
    let record = result.map_err(api_error)?;
    ok_json(&json!({ "status": record.id }))
}

/// `POST /images/load`: a docker-archive (or OCI layout tar) in the body.
async fn load(call: Call) -> ApiResult {
    let quiet = call.query.bool("quiet");
    let daemon = call.daemon.clone();
    let (path, _) = spool(call, "load").await?;
    let spooled = path.clone();
    let result = daemon.blocking(move |images| images.load(&spooled)).await?;
    let _ = std::fs::remove_file(&path);
    let loaded = result.map_err(api_error)?;
    let (tx, resp) = streamed("application/json", 16);
    let mut lines = Vec::new();
    for image in loaded {
        if image.tags.is_empty() {
            lines.push(format!("Loaded image ID: {}\n", image.record.id));
        }
        for tag in &image.tags {
            lines.push(format!("Loaded image: {}\n", familiar(tag)));
        }
    }
    tokio::spawn(async move {
        for l in lines {
            let _ = tx.send(line(&json!({ "stream": l }))).await;
        }
    });
    let _ = quiet;
    Ok(resp)
}

/// `GET /images/get?names=...` or `GET /images/{name}/get`: a
/// docker-archive tar.
async fn save(call: Call, name: Option<String>) -> ApiResult {
    let names: Vec<String> = match name {
        Some(n) => vec![n],
        None => call
            .query
            .all("names")
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    if names.is_empty() {
        return Err(ApiError::bad_request("no images named"));
    }
    let daemon = call.daemon.clone();
    // Resolve first, so an unknown name is a 404 rather than a broken tar.
    let check = names.clone();
    daemon
        .blocking(move |images| check.iter().try_for_each(|n| images.resolve(n).map(|_| ())))
        .await?
        .map_err(api_error)?;
    let (tx, resp) = streamed("application/x-tar", 16);
    let images = daemon.images.clone();
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter(tx);
        if let Err(e) = images.save(&names, writer) {
            eprintln!("berthd: save: {e}");
        }
    });
    Ok(resp)
}

/// `GET /images/{name}/json`.
async fn inspect(call: Call, name: &str) -> ApiResult {
    let name = name.to_string();
    let value = call
        .daemon
        .blocking(move |images| images.resolve(&name).and_then(|r| images.inspect(&r)))
        .await?
        .map_err(api_error)?;
    ok_json(&value)
}

/// `GET /images/{name}/history`.
async fn history(call: Call, name: &str) -> ApiResult {
    let name = name.to_string();
    let rows = call
        .daemon
        .blocking(move |images| images.resolve(&name).and_then(|r| images.history(&r)))
        .await?
        .map_err(api_error)?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|h| {
            json!({
                "Id": h.id, "Created": h.created, "CreatedBy": h.created_by,
                "Tags": if h.tags.is_empty() { Value::Null } else { json!(h.tags) },
                "Size": h.size, "Comment": h.comment,
            })
        })
        .collect();
    ok_json(&rows)
}

/// `POST /images/{name}/tag?repo=&tag=`.
async fn tag(call: Call, name: &str) -> ApiResult {
    let repo = call.query.get("repo").unwrap_or("");
    let tag = call
        .query
        .get("tag")
        .filter(|t| !t.is_empty())
        .unwrap_or("latest");
    if repo.is_empty() {
        return Err(ApiError::bad_request(
            "repository name must have at least one component",
        ));
    }
    let target = format!("{repo}:{tag}");
    let source = name.to_string();
    call.daemon
        .blocking(move |images| images.tag(&source, &target))
        .await?
        .map_err(api_error)?;
    status(StatusCode::CREATED)
}

/// `DELETE /images/{name}?force=`.
async fn remove(call: Call, name: &str) -> ApiResult {
    let force = call.query.bool("force");
    let wanted = name.to_string();
    let actions = call
        .daemon
        .blocking(move |images| images.remove(&wanted, force))
        .await?
        .map_err(api_error)?;
    let rows: Vec<Value> = actions
        .iter()
        .map(|a| match a {
            RemoveAction::Untagged(t) => json!({ "Untagged": t }),
            RemoveAction::Deleted(id) => json!({ "Deleted": id }),
        })
        .collect();
    for a in &actions {
        let (action, id) = match a {
            RemoveAction::Untagged(t) => ("untag", t),
            RemoveAction::Deleted(id) => ("delete", id),
        };
        call.daemon.event("image", action, id, json!({"name": id}));
    }
    ok_json(&rows)
}

/// `POST /images/{name}/push?tag=`.
async fn push(call: Call, name: &str) -> ApiResult {
    let tag = call
        .query
        .get("tag")
        .filter(|t| !t.is_empty())
        .unwrap_or("latest");
    let full = if name.contains('@') {
        name.to_string()
    } else {
        format!("{name}:{tag}")
    };
    let reference = Reference::parse(&full).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let credentials = registry_auth(&call);
    let intro = format!("The push refers to repository [{}]", reference.name());
    let tag = reference.tag().unwrap_or("latest").to_string();
    progress_stream(&call, move |images, sink| {
        images.resolve(&reference.to_string())?;
        sink(Progress::message(intro));
        let out = images.push(&reference, credentials, None, sink)?;
        Ok(Some(json!({
            "progressDetail": {},
            "aux": { "Tag": tag, "Digest": out.digest, "Size": out.size }
        })))
    })
    .await
}

/// `GET /images/search?term=`: the repositories of the registry the term
/// names (`127.0.0.1:5000/bus`), from its catalog, matching the rest.
async fn search(call: Call) -> ApiResult {
    let term = call.query.get("term").unwrap_or("").to_string();
    let limit = call.query.int("limit")?.filter(|l| *l > 0).unwrap_or(25) as usize;
    let (registry, wanted) = match term.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => {
            (host.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), term.clone()),
    };
    let credentials = registry_auth(&call);
    let names = call
        .daemon
        .blocking(move |images| {
            let reference = Reference::parse(&format!("{registry}/search"))?;
            let session = images.registry().session(&reference, credentials, false)?;
            Ok::<_, ImageError>(
                session
                    .catalog(1000)?
                    .into_iter()
                    .map(|r| (registry.clone(), r))
                    .collect::<Vec<_>>(),
            )
        })
        .await?
        .map_err(api_error)?;
    let rows: Vec<Value> = names
        .into_iter()
        .filter(|(_, repo)| repo.contains(&wanted))
        .take(limit)
        .map(|(registry, repo)| {
            json!({"name": format!("{registry}/{repo}"), "description": "", "star_count": 0, "is_official": false, "is_automated": false})
        })
        .collect();
    ok_json(&rows)
}

/// `POST /images/prune`: unused dangling images (all unused ones with
/// `dangling=false`).
async fn prune(call: Call) -> ApiResult {
    let filters = Filters::parse(call.query.get("filters"))?;
    let all = filters
        .values("dangling")
        .iter()
        .any(|d| d == "false" || d == "0");
    let (deleted, reclaimed) = call
        .daemon
        .blocking(move |images| {
            let mut deleted = Vec::new();
            let mut reclaimed = 0u64;
            for s in images.list()? {
                let in_use = !images.metadata().containers_using(&s.record.id)?.is_empty();
                if in_use || (!all && !s.tags.is_empty()) {
                    continue;
                }
                for action in images.remove(&s.record.id, true)? {
                    if let RemoveAction::Deleted(id) = &action {
                        reclaimed += s.size;
                        deleted.push(json!({ "Deleted": id }));
                    } else if let RemoveAction::Untagged(t) = &action {
                        deleted.push(json!({ "Untagged": t }));
                    }
                }
            }
            images.prune_blobs()?;
            Ok::<_, ImageError>((deleted, reclaimed))
        })
        .await?
        .map_err(api_error)?;
    Ok(json_reply(
        StatusCode::OK,
        &json!({ "ImagesDeleted": deleted, "SpaceReclaimed": reclaimed }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filters() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:*", "busybox:1.36"));
        assert!(!reference_matches("bus", "busybox:latest"));
        assert!(!reference_matches("*", "a/b:latest"));
    }
}
