//! `docker cp` and `docker export` handlers. A stopped container's
//! filesystem is mounted for the duration of the request; `cp` sees the
//! container's mounts over it ([`FsView`]), as dockerd's does.

use std::path::PathBuf;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use tokio::io::AsyncWriteExt;

use serde_json::Value;

use super::Call;
use crate::containers::archive::{self as cp, path_stat, write_tar, write_target_tar, Target};
use crate::containers::commit_changes;
use crate::containers::fs_view::FsView;
use crate::containers::rootfs::RootfsPaths;
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
    fn new(daemon: &Arc<Daemon>, entry: &Arc<Entry>) -> Result<(Mounted, PathBuf), ApiError> {
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

    /// The container's filesystem with its mounts, as `cp` sees it.
    fn view(daemon: &Arc<Daemon>, entry: &Arc<Entry>) -> Result<(Mounted, FsView), ApiError> {
        let (mounted, rootfs) = Mounted::new(daemon, entry)?;
        let record = entry.record();
        let etc = RootfsPaths::new(entry.dir());
        let mounts = crate::containers::mounts::view_mounts(&record.mounts, &etc);
        Ok((mounted, FsView::open(&rootfs, mounts)?))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.temporary && !self.entry.record().state.running() {
            self.daemon.unmount_rootfs(self.entry.dir());
        }
    }
}

/// The `path` query parameter (required).
fn path_param(call: &Call) -> Result<String, ApiError> {
    match call.query.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::bad_request("path is required")),
    }
}

/// The stat header of a target; a symlink's names where it leads.
fn stat_header(view: &FsView, target: &Target, path: &str) -> Result<HeaderValue, ApiError> {
    let link_target = if target.resolved.is_symlink()? {
        view.resolve(&format!("/{path}"), true)
            .map(|r| r.container_path)
            .unwrap_or_default()
    } else {
        String::new()
    };
    let stat = path_stat(target, &link_target)?;
    HeaderValue::from_str(&stat).map_err(|e| ApiError::internal(e.to_string()))
}

/// `GET|HEAD /containers/{id}/archive?path=`.
pub async fn get(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let path = path_param(&call)?;
    let (mounted, view) = Mounted::view(&call.daemon, &entry)?;
    let target = cp::resolve(&view, &path, id)?;
    let header = stat_header(&view, &target, &path)?;
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
        if let Err(e) = write_target_tar(&target.resolved, &target.name, ChannelWriter(tx)) {
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

/// A request body spooled to a file under the data root, removed on drop.
struct Spool(PathBuf);

impl Spool {
    async fn receive(daemon: &Daemon, body: Incoming) -> Result<Spool, ApiError> {
        let tmp = daemon.config.data_root.join("tmp");
        tokio::fs::create_dir_all(&tmp)
            .await
            .map_err(|e| ApiError::internal(format!("creating {}: {e}", tmp.display())))?;
        let spool = Spool(tmp.join(format!("cp-{}", crate::ids::random_hex(16))));
        let io = |e: std::io::Error| ApiError::internal(format!("spooling the archive: {e}"));
        let mut file = tokio::fs::File::create(&spool.0).await.map_err(io)?;
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
            if let Some(data) = frame.data_ref() {
                file.write_all(data).await.map_err(io)?;
            }
        }
        Ok(spool)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Where a PUT may extract, as dockerd checks it: an existing directory
/// (symlinks followed), not on a read-only mount or root filesystem.
fn extraction_point(
    view: &FsView,
    path: &str,
    id: &str,
    readonly_rootfs: bool,
) -> Result<Target, ApiError> {
    let resolved = view
        .resolve(&format!("/{path}"), true)
        .map_err(|e| cp::lookup_error(e, path, id))?;
    if !resolved.is_dir()? {
        return Err(ApiError::bad_request("extraction point is not a directory"));
    }
    if resolved.read_only {
        return Err(ApiError::bad_request("mounted volume is marked read-only"));
    }
    let on_rootfs = view.mount_source_of(&resolved.container_path).is_none();
    if readonly_rootfs && on_rootfs {
        return Err(ApiError::bad_request(
            "container rootfs is marked read-only",
        ));
    }
    Ok(Target {
        resolved,
        name: cp::rebase_name(path),
    })
}

/// `PUT /containers/{id}/archive?path=`: a tar extracted into the
/// directory `path`, safely (no entry lands outside it).
pub async fn put(call: Call, id: &str) -> ApiResult {
    let daemon = call.daemon.clone();
    let entry = daemon.containers.get(id)?;
    let path = path_param(&call)?;
    let spool = Spool::receive(&daemon, call.req.into_body()).await?;
    let (mounted, view) = Mounted::view(&daemon, &entry)?;
    let readonly_rootfs = entry.record().host_config["ReadonlyRootfs"]
        .as_bool()
        .unwrap_or(false);
    let target = extraction_point(&view, &path, id, readonly_rootfs)?;
    let result = tokio::task::spawn_blocking(move || {
        let _mounted = mounted;
        let input = std::fs::File::open(&spool.0)?;
        let mut reader = std::io::BufReader::new(input);
        let head = std::io::BufRead::fill_buf(&mut reader)?.to_vec();
        let compression = berth_image::unpack::detect_compression(None, &head);
        berth_image::unpack::unpack_layer(reader, &target.resolved.proc_path(), compression)
            .map(|_| ())
            .map_err(std::io::Error::other)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
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
    // The body first, as in `update`.
    let overrides: Value = crate::http::read_json(call.req).await?;
    let entry = daemon.containers.get(q.get("container").unwrap_or(""))?;
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
    // As dockerd: the body's config (the container's when none), the
    // changes applied to it, then merged with the container's config.
    let mut config = match overrides {
        Value::Object(o) if !o.is_empty() => Value::Object(o),
        _ => record.config.clone(),
    };
    commit_changes::apply(&mut config, &q.all("changes"))?;
    commit_changes::merge(&mut config, &record.config);
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
