//! `docker cp` and `docker export` handlers. A stopped container's
//! filesystem is mounted for the duration of the request.

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use tokio::io::AsyncWriteExt;

use super::Call;
use crate::containers::archive::{open_in_root, path_stat, write_tar};
use crate::containers::store::Entry;
use crate::daemon::Daemon;
use crate::http::{status, streamed, ApiError, ApiResult, ChannelWriter};

/// Keeps a stopped container's rootfs mounted while alive.
struct Mounted {
    daemon: Arc<Daemon>,
    entry: Arc<Entry>,
    temporary: bool,
}

impl Mounted {
    fn new(
        daemon: &Arc<Daemon>,
        entry: &Arc<Entry>,
    ) -> Result<(Mounted, std::path::PathBuf), ApiError> {
        let record = entry.record();
        let temporary = !record.state.running();
        let paths = daemon.mount_rootfs(&record, entry.dir())?;
        Ok((
            Mounted {
                daemon: daemon.clone(),
                entry: entry.clone(),
                temporary,
            },
            paths.rootfs,
        ))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.temporary && !self.entry.record().state.running() {
            self.daemon.unmount_rootfs(self.entry.dir());
        }
    }
}

/// `GET|HEAD /containers/{id}/archive?path=`.
pub async fn get(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let path = call.query.get("path").unwrap_or("").to_string();
    if path.is_empty() {
        return Err(ApiError::bad_request("path is required"));
    }
    let (mounted, rootfs) = Mounted::new(&call.daemon, &entry)?;
    let target = open_in_root(&rootfs, &path)?;
    let stat = path_stat(&target)?;
    let header = HeaderValue::from_str(&stat).map_err(|e| ApiError::internal(e.to_string()))?;
    if call.req.method() == Method::HEAD {
        let mut resp = status(StatusCode::OK)?;
        resp.headers_mut()
            .insert("x-docker-container-path-stat", header);
        return Ok(resp);
    }
    let (tx, mut resp) = streamed("application/x-tar", 16);
    resp.headers_mut()
        .insert("x-docker-container-path-stat", header);
    tokio::task::spawn_blocking(move || {
        let _mounted = mounted;
        let name = target.name.clone();
        if let Err(e) = write_tar(&target.proc_path(), &name, ChannelWriter(tx)) {
            eprintln!("berthd: archive: {e}");
        }
    });
    Ok(resp)
}

/// `GET /containers/{id}/export`: the whole filesystem.
pub async fn export(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let (mounted, rootfs) = Mounted::new(&call.daemon, &entry)?;
    let (tx, resp) = streamed("application/x-tar", 16);
    tokio::task::spawn_blocking(move || {
        let _mounted = mounted;
        if let Err(e) = write_tar(&rootfs, ".", ChannelWriter(tx)) {
            eprintln!("berthd: export: {e}");
        }
    });
    Ok(resp)
}

/// `PUT /containers/{id}/archive?path=`: a tar extracted into the
/// directory `path`, safely (no entry lands outside it).
pub async fn put(call: Call, id: &str) -> ApiResult {
    let daemon = call.daemon.clone();
    let entry = daemon.containers.get(id)?;
    let path = call.query.get("path").unwrap_or("").to_string();
    let spool = daemon
        .config
        .data_root
        .join("tmp")
        .join(format!("cp-{}", crate::ids::random_hex(16)));
    tokio::fs::create_dir_all(daemon.config.data_root.join("tmp"))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut file = tokio::fs::File::create(&spool)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut body = call.req.into_body();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            file.write_all(data)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
    }
    drop(file);
    let (mounted, rootfs) = Mounted::new(&daemon, &entry)?;
    let target = open_in_root(&rootfs, &path)?;
    let spooled = spool.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _mounted = mounted;
        let input = std::fs::File::open(&spooled)?;
        let mut reader = std::io::BufReader::new(input);
        let head = std::io::BufRead::fill_buf(&mut reader)?.to_vec();
        let compression = berth_image::unpack::detect_compression(None, &head);
        berth_image::unpack::unpack_layer(reader, &target.proc_path(), compression)
            .map(|_| ())
            .map_err(std::io::Error::other)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let _ = std::fs::remove_file(&spool);
    result.map_err(|e| ApiError::bad_request(format!("extracting into {path}: {e}")))?;
    status(StatusCode::OK)
}

/// `GET /containers/{id}/changes`: the container's layer against its
/// image (`docker diff`).
pub async fn changes(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let record = entry.record();
    let upper = crate::containers::rootfs::RootfsPaths::new(entry.dir()).upper;
    let image_id = record.image_id.clone();
    let result = call
        .daemon
        .blocking(move |images| {
            let image = images.resolve(&image_id)?;
            let lowers = images.layer_paths(&image)?;
            berth_image::archive::changes(&upper, &lowers)
                .map_err(berth_image::images::ImageError::from)
        })
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    // Mount targets the runtime created in the container's layer are not
    // the user's changes (Docker hides them too).
    let mut hidden: Vec<String> = [
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/proc",
        "/sys",
        "/dev",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    hidden.extend(record.mounts.iter().map(|m| m.destination.clone()));
    let rows: Vec<serde_json::Value> = result
        .iter()
        .filter(|c| {
            c.kind != 1
                || !hidden
                    .iter()
                    .any(|h| c.path == *h || c.path.starts_with(&format!("{h}/")))
        })
        .map(|c| serde_json::json!({ "Path": c.path, "Kind": c.kind }))
        .collect();
    crate::http::ok_json(&rows)
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=`: the
/// container's layer on top of its image, as a new image. The body (if
/// any) is a config merged over the container's.
pub async fn commit(call: Call) -> ApiResult {
    let q = call.query.clone();
    let daemon = call.daemon.clone();
    let entry = daemon.containers.get(q.get("container").unwrap_or(""))?;
    let overrides: serde_json::Value = crate::http::read_json(call.req).await?;
    let record = entry.record();
    let repo = q.get("repo").unwrap_or("").to_string();
    let tag = match (repo.as_str(), q.get("tag").filter(|t| !t.is_empty())) {
        ("", _) => None,
        (r, Some(t)) => Some(format!("{r}:{t}")),
        (r, None) => Some(r.to_string()),
    };
    let tag = tag
        .map(|t| {
            berth_image::reference::Reference::parse(&t)
                .map_err(|e| ApiError::bad_request(e.to_string()))
        })
        .transpose()?;
    let mut config = record.config.clone();
    if let (Some(base), Some(over)) = (config.as_object_mut(), overrides.as_object()) {
        for (k, v) in over {
            if !v.is_null() {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    let pause = record.state.status == "running" && q.get("pause").is_none_or(|_| q.bool("pause"));
    if pause {
        daemon.set_paused(&entry, true)?;
    }
    let opts = berth_image::images::CommitOptions {
        config: Some(config),
        comment: q.get("comment").unwrap_or("").to_string(),
        author: q.get("author").unwrap_or("").to_string(),
        tag,
        created_by: crate::containers::view::command_text(&record),
    };
    let upper = crate::containers::rootfs::RootfsPaths::new(entry.dir()).upper;
    let image_id = record.image_id.clone();
    let result = daemon
        .blocking(move |images| {
            let parent = images.resolve(&image_id)?;
            images.commit_container(&parent, &upper, &opts)
        })
        .await;
    if pause {
        let _ = daemon.set_paused(&entry, false);
    }
    let image = result?.map_err(|e| ApiError::internal(e.to_string()))?;
    daemon.event(
        "container",
        "commit",
        &record.id,
        serde_json::json!({"name": record.name}),
    );
    Ok(crate::http::json(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": image.id }),
    ))
}
