//! Containers as the Engine API shows them: `GET /containers/json` rows
//! and `GET /containers/{id}/json`.

use std::time::SystemTime;

use serde_json::{json, Value};

use super::record::ContainerRecord;
use super::rootfs::RootfsPaths;
use super::store::Entry;

/// Unix seconds of an RFC 3339 time (0 if it does not parse).
pub fn unix(time: &str) -> i64 {
    humantime::parse_rfc3339_weak(time)
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

/// "3 seconds", "About a minute", "2 hours": Docker's human durations.
pub fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 48 * 3600 => format!("{} hours", s / 3600),
        s if s < 14 * 86400 => format!("{} days", s / 86400),
        s if s < 60 * 86400 => format!("{} weeks", s / (7 * 86400)),
        s if s < 730 * 86400 => format!("{} months", s / (30 * 86400)),
        s => format!("{} years", s / (365 * 86400)),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `Up 5 seconds`, `Exited (0) 3 minutes ago`, `Created`.
pub fn status_text(record: &ContainerRecord) -> String {
    let s = &record.state;
    match s.status.as_str() {
        "running" => {
            let up = format!("Up {}", human_duration(now() - unix(&s.started_at)));
            match s.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => format!("{up} (health: starting)"),
                Some(status) => format!("{up} ({status})"),
                None => up,
            }
        }
        "paused" => format!(
            "Up {} (Paused)",
            human_duration(now() - unix(&s.started_at))
        ),
        "exited" => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            human_duration(now() - unix(&s.finished_at))
        ),
        "created" => "Created".into(),
        other => {
            let mut c = other.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_uppercase().collect::<String>() + c.as_str()
            })
        }
    }
}

/// The command as `ps` shows it.
pub fn command_text(record: &ContainerRecord) -> String {
    let mut words = vec![record.path.clone()];
    words.extend(record.args.iter().cloned());
    words.join(" ")
}

/// A `GET /containers/json` row.
pub fn summary(record: &ContainerRecord) -> Value {
    json!({
        "Id": record.id,
        "Names": [format!("/{}", record.name)],
        "Image": record.image_name,
        "ImageID": record.image_id,
        "Command": command_text(record),
        "Created": unix(&record.created),
        "Ports": [],
        "Labels": record.labels,
        "State": record.state.status,
        "Status": status_text(record),
        "HostConfig": { "NetworkMode": record.host_config["NetworkMode"] },
        "NetworkSettings": { "Networks": {} },
        "Mounts": record.mounts.iter().map(|m| m.view()).collect::<Vec<_>>(),
    })
}

/// A `GET /containers/json?size=1` row: `SizeRw` the bytes of the
/// container's writable layer, `SizeRootFs` those plus its image's.
pub fn summary_with_size(record: &ContainerRecord, size_rw: u64, image_size: u64) -> Value {
    let mut row = summary(record);
    row["SizeRw"] = json!(size_rw);
    row["SizeRootFs"] = json!(size_rw + image_size);
    row
}

/// `GET /containers/{id}/json`.
pub fn inspect(entry: &Entry) -> Value {
    let record = entry.record();
    let paths = RootfsPaths::new(entry.dir());
    let s = &record.state;
    json!({
        "Id": record.id,
        "Created": record.created,
        "Path": record.path,
        "Args": record.args,
        "State": {
            "Status": s.status,
            "Running": s.running(),
            "Paused": s.status == "paused",
            "Restarting": s.status == "restarting",
            "OOMKilled": s.oom_killed,
            "Dead": s.status == "dead",
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
            "Health": s.health.as_ref().map(|h| json!({
                "Status": h.status,
                "FailingStreak": h.failing_streak,
                "Log": h.log.iter().map(|p| json!({
                    "Start": p.start, "End": p.end, "ExitCode": p.exit_code, "Output": p.output,
                })).collect::<Vec<_>>(),
            })),
        },
        "Image": record.image_id,
        "ResolvConfPath": paths.resolv_conf,
        "HostnamePath": paths.hostname,
        "HostsPath": paths.hosts,
        "LogPath": entry.dir().join(format!("{}-json.log", record.id)),
        "Name": format!("/{}", record.name),
        "RestartCount": record.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": if record.exec_ids.is_empty() { Value::Null } else { json!(record.exec_ids) },
        "HostConfig": record.host_config,
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                "MergedDir": paths.rootfs,
                "UpperDir": paths.upper,
                "WorkDir": paths.work,
            }
        },
        "Mounts": record.mounts.iter().map(|m| m.view()).collect::<Vec<_>>(),
        "Config": record.config,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "Ports": {},
            "IPAddress": "",
            "Gateway": "",
            "MacAddress": "",
            "Networks": {},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(unix("1970-01-01T00:01:00Z"), 60);
        assert_eq!(unix("garbage"), 0);
    }
}
