//! `/_ping`, `/version`, `/info`, `/events`, `/auth`, `/build/prune`.

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::Call;
use crate::filters::Filters;
use crate::http::{full, ok_json, read_json, streamed, ApiError, ApiResult};
use crate::version::{API_VERSION, MIN_API_VERSION};

/// The daemon's version (the Engine's `Version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET|HEAD /_ping`: "OK" and the headers clients negotiate with.
pub fn ping(call: Call) -> ApiResult {
    let body = if call.req.method() == Method::HEAD {
        ""
    } else {
        "OK"
    };
    let mut resp = Response::new(full(body));
    for (name, value) in [
        ("api-version", API_VERSION),
        ("ostype", "linux"),
        ("docker-experimental", "false"),
        ("builder-version", "1"),
        ("cache-control", "no-cache, no-store, must-revalidate"),
        ("pragma", "no-cache"),
        ("content-type", "text/plain; charset=utf-8"),
    ] {
        resp.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    Ok(resp)
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `GET /version`.
pub fn version(_call: Call) -> ApiResult {
    let kernel = kernel_version();
    ok_json(&json!({
        "Platform": { "Name": "Berth" },
        "Components": [{
            "Name": "Engine",
            "Version": VERSION,
            "Details": {
                "ApiVersion": API_VERSION,
                "MinAPIVersion": MIN_API_VERSION,
                "Os": "linux",
                "Arch": arch(),
                "KernelVersion": kernel,
                "GitCommit": "",
                "GoVersion": "",
                "BuildTime": "",
            }
        }],
        "Version": VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": arch(),
        "KernelVersion": kernel,
        "BuildTime": "",
    }))
}

fn cgroup_version() -> &'static str {
    match berth_runtime::cgroups::CgroupLayout::detect().map(|l| l.kind()) {
        Ok(berth_runtime::cgroups::LayoutKind::V2) => "2",
        _ => "1",
    }
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// `GET /info`.
pub async fn info(call: Call) -> ApiResult {
    let daemon = call.daemon;
    let records: Vec<_> = daemon.containers.all().iter().map(|e| e.record()).collect();
    let running = records
        .iter()
        .filter(|r| r.state.status == "running")
        .count();
    let paused = records
        .iter()
        .filter(|r| r.state.status == "paused")
        .count();
    let images = daemon
        .blocking(|images| images.metadata().images().map(|i| i.len()).unwrap_or(0))
        .await?;
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    ok_json(&json!({
        "ID": "",
        "Containers": records.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": records.len() - running - paused,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"]],
        "DockerRootDir": daemon.config.data_root,
        "MemoryLimit": true,
        "SwapLimit": true,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "OomKillDisable": false,
        "IPv4Forwarding": true,
        "Debug": false,
        "NFd": 0,
        "NGoroutines": 0,
        "SystemTime": humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "KernelVersion": kernel_version(),
        "OperatingSystem": "Berth",
        "OSType": "linux",
        "OSVersion": "",
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": mem_total(),
        "Name": hostname,
        "ServerVersion": VERSION,
        "DefaultRuntime": "berth",
        "Runtimes": { "berth": { "path": "berth-runtime (built in)" } },
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["host", "null"],
            "Log": ["json-file"],
        },
        "RegistryConfig": {
            "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"],
            "IndexConfigs": {},
            "Mirrors": [],
        },
        "Labels": [],
        "ExperimentalBuild": false,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Warnings": [],
    }))
}

/// `GET /events?since=&until=&filters=`: Docker's event objects
/// (newline-delimited JSON): past ones from `since` (replayed from the
/// daemon's recent events), then live ones until `until`.
pub async fn events(call: Call) -> ApiResult {
    let filters = Filters::parse(call.query.get("filters"))?;
    let since = seconds(call.query.get("since"))?;
    let until = seconds(call.query.get("until"))?;
    // Subscribe before replaying, so nothing falls in between.
    let mut rx = call.daemon.events.subscribe();
    let past: Vec<Value> = match since {
        Some(s) => call
            .daemon
            .event_log
            .lock()
            .map(|log| {
                log.iter()
                    .filter(|e| {
                        let t = e["time"].as_f64().unwrap_or(0.0);
                        t >= s && until.is_none_or(|u| t <= u)
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let (tx, resp) = streamed("application/json", 64);
    tokio::spawn(async move {
        for event in past.iter().filter(|e| event_matches(&filters, e)) {
            if tx.send(json_line(event)).await.is_err() {
                return;
            }
        }
        let now = unix_now();
        let remaining = match until {
            Some(u) if u <= now => return,
            Some(u) => Some(std::time::Duration::from_secs_f64(u - now)),
            None => None,
        };
        let sleep = async {
            match remaining {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return,
                event = rx.recv() => {
                    let Ok(event) = event else { return };
                    if !event_matches(&filters, &event) || since.is_some_and(|s| event["time"].as_f64().unwrap_or(0.0) < s) {
                        continue;
                    }
                    if tx.send(json_line(&event)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(resp)
}

fn json_line(event: &Value) -> Bytes {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `since`/`until`: unix seconds (`1700000000`, `1700000000.5`) or RFC
/// 3339; empty is none.
fn seconds(v: Option<&str>) -> Result<Option<f64>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(n) = v.parse::<f64>() {
        return Ok(Some(n));
    }
    humantime::parse_rfc3339_weak(v)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| Some(d.as_secs_f64()))
        .ok_or_else(|| ApiError::bad_request(format!("invalid time {v:?}")))
}

fn event_matches(filters: &Filters, event: &Value) -> bool {
    let kind = event["Type"].as_str().unwrap_or("");
    let action = event["Action"].as_str().unwrap_or("");
    let id = event["Actor"]["ID"].as_str().unwrap_or("");
    let name = event["Actor"]["Attributes"]["name"].as_str().unwrap_or("");
    filters.any("type", |t| t == kind)
        && filters.any("event", |e| e == action)
        && filters.any("action", |e| e == action)
        && filters.any("container", |c| c == name || id.starts_with(c))
}

/// `POST /auth`: checks credentials against the registry.
pub async fn auth(call: Call) -> ApiResult {
    let daemon = call.daemon.clone();
    let body: Value = read_json(call.req).await?;
    let server = body["serveraddress"]
        .as_str()
        .unwrap_or("docker.io")
        .to_string();
    let registry = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("docker.io")
        .to_string();
    let creds = berth_image::registry::Credentials {
        username: body["username"].as_str().unwrap_or("").to_string(),
        password: body["password"].as_str().unwrap_or("").to_string(),
    };
    let result = daemon
        .blocking(move |images| images.registry().login(&registry, creds))
        .await?;
    match result {
        Ok(()) => ok_json(&json!({"Status": "Login Succeeded", "IdentityToken": ""})),
        Err(e) => Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string())),
    }
}

/// `POST /build/prune`: berthd has no builder, so no build cache; the
/// answer is dockerd's when there is nothing to prune (`docker system
/// prune` calls it).
pub fn build_prune(_call: Call) -> ApiResult {
    ok_json(&json!({ "CachesDeleted": null, "SpaceReclaimed": 0 }))
}
