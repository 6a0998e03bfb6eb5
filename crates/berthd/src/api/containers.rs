//! `/containers/...` handlers: parse the request, call the container
//! service, answer in Docker's shapes.

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Value};

use super::hijack::{self, MULTIPLEXED_STREAM, RAW_STREAM};
use super::Call;
use crate::containers::lifecycle::{parse_signal, StopOutcome, WaitCondition};
use crate::containers::logs::{self, LogOptions};
use crate::containers::record::ContainerRecord;
use crate::containers::rootfs::RootfsPaths;
use crate::containers::shim;
use crate::containers::store::{Entry, PendingAttach};
use crate::containers::view;
use crate::daemon::Daemon;
use crate::filters::Filters;
use crate::http::{json as json_reply, ok_json, read_json, status, streamed, ApiError, ApiResult};

/// `POST /containers/create?name=`.
pub async fn create(call: Call) -> ApiResult {
    let name = call.query.get("name").map(str::to_string);
    let daemon = call.daemon.clone();
    let body: Value = read_json(call.req).await?;
    let entry = daemon.create_container(name.as_deref(), body).await?;
    Ok(json_reply(
        StatusCode::CREATED,
        &json!({ "Id": entry.id(), "Warnings": [] }),
    ))
}

/// `GET /containers/json`.
pub async fn list(call: Call) -> ApiResult {
    let all = call.query.bool("all");
    let limit = call.query.int("limit")?.filter(|l| *l > 0);
    let filters = Filters::parse(call.query.get("filters"))?;
    filters.only(&[
        "id",
        "name",
        "status",
        "label",
        "ancestor",
        "exited",
        "before",
        "since",
        "health",
        "isolation",
        "network",
        "volume",
        "publish",
        "expose",
        "is-task",
    ])?;
    let mut records: Vec<_> = call
        .daemon
        .containers
        .all()
        .iter()
        .map(|e| e.record())
        .collect();
    records.sort_by(|a, b| b.created.cmp(&a.created));
    let show_all = all || limit.is_some() || filters.has("status") || filters.has("exited");
    // `before`/`since`: created before/after the named container.
    let created_of = |name: &String| -> Result<String, ApiError> {
        Ok(call.daemon.containers.get(name)?.record().created)
    };
    let before = filters
        .values("before")
        .first()
        .map(created_of)
        .transpose()?;
    let since = filters
        .values("since")
        .first()
        .map(created_of)
        .transpose()?;
    let mut shown = Vec::new();
    for r in records {
        if !show_all && !r.state.running() {
            continue;
        }
        if !matches_filters(&filters, &r)
            || before.as_ref().is_some_and(|b| r.created >= *b)
            || since.as_ref().is_some_and(|s| r.created <= *s)
        {
            continue;
        }
        shown.push(r);
        if limit.is_some_and(|l| shown.len() as i64 >= l) {
            break;
        }
    }
    if call.query.bool("size") {
        return ok_json(&with_sizes(&call.daemon, shown).await?);
    }
    ok_json(&shown.iter().map(view::summary).collect::<Vec<_>>())
}

/// `ps -s`: the rows with the sizes of what each container wrote.
async fn with_sizes(
    daemon: &Arc<Daemon>,
    shown: Vec<ContainerRecord>,
) -> Result<Vec<Value>, ApiError> {
    let images = daemon
        .blocking(|images| images.list())
        .await?
        .map_err(|e| ApiError::internal(format!("listing images: {e}")))?;
    let records: Vec<_> = shown
        .into_iter()
        .map(|r| {
            let paths = RootfsPaths::new(&daemon.containers.dir_of(&r.id));
            (r, paths)
        })
        .collect();
    tokio::task::spawn_blocking(move || super::df::container_rows(&images, &records))
        .await
        .map_err(|e| ApiError::internal(format!("measuring containers: {e}")))
}

fn matches_filters(f: &Filters, r: &ContainerRecord) -> bool {
    f.any("id", |id| r.id.starts_with(id))
        && f.any("name", |n| r.name.contains(n.trim_start_matches('/')))
        && f.any("status", |s| s == r.state.status)
        && f.any("exited", |code| {
            code.parse() == Ok(r.state.exit_code) && r.state.status == "exited"
        })
        && f.any("ancestor", |a| {
            a == r.image_name
                || r.image_id
                    .trim_start_matches("sha256:")
                    .starts_with(a.trim_start_matches("sha256:"))
        })
        && f.any("health", |h| {
            r.state
                .health
                .as_ref()
                .map_or("none", |x| x.status.as_str())
                == h
        })
        && f.labels_match(&r.labels)
}

/// `GET /containers/{id}/json`.
pub async fn inspect(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    ok_json(&view::inspect(&entry))
}

/// `POST /containers/{id}/start`: 204, or 304 when already running.
pub async fn start(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    if call.daemon.start_container(&entry).await? {
        status(StatusCode::NO_CONTENT)
    } else {
        status(StatusCode::NOT_MODIFIED)
    }
}

fn stop_args(call: &Call) -> Result<(Option<nix::sys::signal::Signal>, Option<i64>), ApiError> {
    let signal = match call.query.get("signal").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            parse_signal(s).ok_or_else(|| ApiError::bad_request(format!("Invalid signal: {s}")))?,
        ),
        None => None,
    };
    Ok((signal, call.query.int("t")?))
}

/// `POST /containers/{id}/stop`.
pub async fn stop(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let (signal, timeout) = stop_args(&call)?;
    match call.daemon.stop_container(&entry, signal, timeout).await? {
        StopOutcome::Stopped => status(StatusCode::NO_CONTENT),
        StopOutcome::AlreadyStopped => status(StatusCode::NOT_MODIFIED),
    }
}

/// `POST /containers/{id}/restart`.
pub async fn restart(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let (signal, timeout) = stop_args(&call)?;
    call.daemon.stop_container(&entry, signal, timeout).await?;
    entry.update(|r| r.state.stopped_by_user = false)?;
    call.daemon.start_container(&entry).await?;
    status(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let name = call
        .query
        .get("signal")
        .filter(|s| !s.is_empty())
        .unwrap_or("SIGKILL");
    let signal = parse_signal(name)
        .ok_or_else(|| ApiError::bad_request(format!("Invalid signal: {name}")))?;
    call.daemon.kill_container(&entry, signal).await?;
    status(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/wait?condition=`: the headers go at once, the
/// status when the condition holds.
pub async fn wait(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let condition = match call.query.get("condition").unwrap_or("not-running") {
        "" | "not-running" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid condition: {other:?}"
            )))
        }
    };
    let wait = crate::containers::lifecycle::begin_wait(&entry, condition);
    let (tx, resp) = streamed("application/json", 1);
    let daemon = call.daemon.clone();
    tokio::spawn(async move {
        let code = daemon.finish_wait(&entry, wait).await;
        let error = entry.record().state.error;
        let error = if error.is_empty() {
            Value::Null
        } else {
            json!({ "Message": error })
        };
        let mut body =
            serde_json::to_vec(&json!({ "StatusCode": code, "Error": error })).unwrap_or_default();
        body.push(b'\n');
        let _ = tx.send(Bytes::from(body)).await;
    });
    Ok(resp)
}

/// `DELETE /containers/{id}?force=&v=`.
pub async fn remove(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    call.daemon
        .remove_container(&entry, call.query.bool("force"))
        .await?;
    status(StatusCode::NO_CONTENT)
}

/// `POST /containers/prune`: removes stopped containers.
pub async fn prune(call: Call) -> ApiResult {
    let filters = Filters::parse(call.query.get("filters"))?;
    let mut deleted = Vec::new();
    for entry in call.daemon.containers.all() {
        let record = entry.record();
        if record.state.running() || !filters.labels_match(&record.labels) {
            continue;
        }
        if call.daemon.remove_container(&entry, false).await.is_ok() {
            deleted.push(record.id);
        }
    }
    ok_json(&json!({ "ContainersDeleted": deleted, "SpaceReclaimed": 0 }))
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let name = call.query.get("name").unwrap_or("");
    let name = crate::containers::names::validate(name).map_err(ApiError::bad_request)?;
    call.daemon.containers.rename(&entry, name)?;
    status(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/resize?h=&w=`.
pub async fn resize(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let (h, w) = size_args(&call)?;
    if !entry.record().state.running() {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            entry.id()
        )));
    }
    let socket =
        crate::containers::shim::ShimPaths::new(&call.daemon.config.exec_root, &entry.id()).socket;
    shim::resize(&socket, h, w).await?;
    status(StatusCode::OK)
}

/// `h` and `w` of a resize.
pub fn size_args(call: &Call) -> Result<(u16, u16), ApiError> {
    let h = call.query.int("h")?.unwrap_or(0);
    let w = call.query.int("w")?.unwrap_or(0);
    let fit =
        |v: i64| u16::try_from(v).map_err(|_| ApiError::bad_request(format!("invalid size {v}")));
    Ok((fit(h)?, fit(w)?))
}

/// `GET /containers/{id}/logs`.
pub async fn logs(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let q = &call.query;
    let opts = LogOptions {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        follow: q.bool("follow"),
        tail: match q.get("tail") {
            None | Some("all") | Some("") => None,
            Some(n) => Some(
                n.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid tail {n:?}")))?,
            ),
        },
        since: q
            .get("since")
            .and_then(|s| s.parse().ok())
            .filter(|s: &f64| *s > 0.0),
        until: q
            .get("until")
            .and_then(|s| s.parse().ok())
            .filter(|s: &f64| *s > 0.0),
        timestamps: q.bool("timestamps"),
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request("you must choose at least one stream"));
    }
    let record = entry.record();
    let tty = record.tty();
    let path = entry.dir().join(format!("{}-json.log", record.id));
    let content_type = if tty { RAW_STREAM } else { MULTIPLEXED_STREAM };
    let (tx, resp) = streamed(content_type, 64);
    tokio::spawn(logs::stream(entry, path, tty, opts, tx));
    Ok(resp)
}

/// `GET /containers/{id}/top`: the processes of the container's cgroup.
pub async fn top(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let record = entry.record();
    if !record.state.running() {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            record.id
        )));
    }
    let root = berth_runtime::StateRoot::new(call.daemon.config.runtime_root())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let container = berth_runtime::Container::load(&root, &record.id)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let pids = container
        .processes()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let rows: Vec<Value> = pids
        .iter()
        .map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .trim()
                        .to_string()
                })
                .unwrap_or_default();
            json!(["root", pid.to_string(), cmd])
        })
        .collect();
    ok_json(&json!({ "Titles": ["UID", "PID", "CMD"], "Processes": rows }))
}

/// `POST /containers/{id}/attach?stream=1&stdin=&stdout=&stderr=`.
pub async fn attach(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let record = entry.record();
    let q = &call.query;
    let (stdin, stdout, stderr) = (q.bool("stdin"), q.bool("stdout"), q.bool("stderr"));
    let escape = hijack::escape_for(record.tty(), stdin, q.get("detachKeys").unwrap_or(""))?;
    let content_type = if record.tty() {
        RAW_STREAM
    } else {
        MULTIPLEXED_STREAM
    };
    let socket =
        crate::containers::shim::ShimPaths::new(&call.daemon.config.exec_root, &record.id).socket;
    let waiting = if record.state.running() {
        None
    } else {
        Some(register_pending(&entry))
    };
    Ok(hijack::upgrade(
        call.req,
        content_type,
        move |client| async move {
            let (socket, ack) = match waiting {
                None => (socket, None),
                Some(rx) => match rx.await {
                    Ok((socket, ack)) => (socket, Some(ack)),
                    Err(_) => return,
                },
            };
            let stream = shim::attach(&socket, stdin, stdout, stderr).await;
            if let Some(ack) = ack {
                let _ = ack.send(());
            }
            if let Ok(stream) = stream {
                hijack::splice(client, stream, escape, async {}).await;
            }
        },
    ))
}

/// Queues an attach until the container starts.
fn register_pending(
    entry: &Arc<Entry>,
) -> tokio::sync::oneshot::Receiver<(std::path::PathBuf, tokio::sync::oneshot::Sender<()>)> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if let Ok(mut pending) = entry.pending_attaches.lock() {
        pending.push(PendingAttach { socket: tx });
    }
    rx
}

/// `POST /containers/{id}/pause` and `/unpause`.
pub async fn pause(call: Call, id: &str, pause: bool) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    call.daemon.set_paused(&entry, pause)?;
    status(StatusCode::NO_CONTENT)
}

/// `GET /containers/{id}/stats?stream=&one-shot=`: one sample (with
/// `precpu_stats` from a sample a moment earlier unless `one-shot`), or one
/// per second.
pub async fn stats(call: Call, id: &str) -> ApiResult {
    let entry = call.daemon.containers.get(id)?;
    let stream = call
        .query
        .get("stream")
        .is_none_or(|_| call.query.bool("stream"));
    let one_shot = call.query.bool("one-shot");
    if !entry.record().state.running() {
        // Docker answers with an all-zero sample for a stopped container.
        let zero = json!({"id": entry.id(), "name": format!("/{}", entry.record().name), "read": "0001-01-01T00:00:00Z",
            "cpu_stats": {"cpu_usage": {"total_usage": 0}}, "precpu_stats": {"cpu_usage": {"total_usage": 0}},
            "memory_stats": {}, "pids_stats": {}});
        return ok_json(&zero);
    }
    let daemon = call.daemon.clone();
    let (tx, resp) = streamed("application/json", 4);
    tokio::spawn(async move {
        let mut previous = None;
        if !stream && !one_shot {
            previous = daemon.stats_sample(&entry, None).ok();
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        loop {
            let Ok(sample) = daemon.stats_sample(&entry, previous.as_ref()) else {
                return;
            };
            let mut line = serde_json::to_vec(&sample.json).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() || !stream {
                return;
            }
            previous = Some(sample);
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if !entry.record().state.running() {
                return;
            }
        }
    });
    Ok(resp)
}

/// `POST /containers/{id}/update`.
pub async fn update(call: Call, id: &str) -> ApiResult {
    // The body first: answering before reading it makes the client's
    // write fail (EPIPE) instead of showing the error.
    let daemon = call.daemon.clone();
    let body: Value = read_json(call.req).await?;
    let entry = daemon.containers.get(id)?;
    let warnings = daemon.update_container(&entry, &body)?;
    ok_json(&json!({ "Warnings": warnings }))
}
