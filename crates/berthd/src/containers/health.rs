//! `HEALTHCHECK` / `--health-*`: the probe runs as an exec in the
//! container every interval; its exit code makes the container healthy or,
//! after `Retries` failures in a row, unhealthy. The state shows in
//! inspect (`State.Health`) and in `ps` (`Up 5 minutes (healthy)`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use super::record::{Health, HealthProbe};
use super::shim;
use super::store::Entry;
use crate::daemon::Daemon;

/// The probe and its timing, from the container's `Healthcheck`.
struct Probe {
    command: Vec<String>,
    interval: Duration,
    timeout: Duration,
    start_period: Duration,
    retries: u32,
}

fn duration(v: &Value, default: Duration) -> Duration {
    v.as_u64()
        .filter(|n| *n > 0)
        .map_or(default, Duration::from_nanos)
}

fn probe_of(config: &Value) -> Option<Probe> {
    let hc = config.get("Healthcheck")?;
    let test: Vec<String> = hc["Test"]
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let command = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
        _ => return None,
    };
    if command.is_empty() {
        return None;
    }
    Some(Probe {
        command,
        interval: duration(&hc["Interval"], Duration::from_secs(30)),
        timeout: duration(&hc["Timeout"], Duration::from_secs(30)),
        start_period: duration(&hc["StartPeriod"], Duration::ZERO),
        retries: hc["Retries"].as_u64().filter(|r| *r > 0).unwrap_or(3) as u32,
    })
}

fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

impl Daemon {
    /// Starts probing a container that has a health check.
    pub fn start_healthcheck(self: &Arc<Self>, entry: Arc<Entry>) {
        let Some(probe) = probe_of(&entry.record().config) else {
            return;
        };
        let _ = entry.update(|r| {
            r.state.health = Some(Health {
                status: "starting".into(),
                ..Health::default()
            })
        });
        let daemon = self.clone();
        let started = std::time::Instant::now();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(probe.interval).await;
                if !entry.record().state.running() {
                    return;
                }
                let result = daemon.run_probe(&entry, &probe).await;
                let in_start_period = started.elapsed() < probe.start_period;
                let _ = entry.update(|r| {
                    record_probe(
                        r.state.health.get_or_insert_with(Health::default),
                        result,
                        probe.retries,
                        in_start_period,
                    )
                });
            }
        });
    }

    /// Runs the probe as an exec; a timeout counts as a failure.
    async fn run_probe(&self, entry: &Entry, probe: &Probe) -> HealthProbe {
        let start = now();
        let config = json!({"Cmd": probe.command, "AttachStdout": true, "AttachStderr": true});
        let outcome = tokio::time::timeout(probe.timeout, self.exec_collect(entry, config)).await;
        let (exit_code, output) = match outcome {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => (-1, e.message),
            Err(_) => (
                -1,
                format!("Health check exceeded timeout ({:?})", probe.timeout),
            ),
        };
        HealthProbe {
            start,
            end: now(),
            exit_code,
            output,
        }
    }

    /// Runs an exec to its end; returns its exit code and output (up to
    /// 4 KiB, stdcopy frames unwrapped).
    async fn exec_collect(
        &self,
        entry: &Entry,
        config: Value,
    ) -> Result<(i32, String), crate::http::ApiError> {
        let session = self.create_exec(entry, config)?;
        let paths = self.launch_exec(&session).await?;
        let mut stream = shim::attach(&paths.socket, false, true, true).await?;
        self.start_exec(&session, &paths).await?;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        self.finish_exec(&session, &paths).await;
        if let Ok(mut execs) = self.execs.lock() {
            execs.remove(&session.id);
        }
        let _ = entry.update(|r| r.exec_ids.retain(|id| *id != session.id));
        let mut output = Vec::new();
        let mut rest = raw.as_slice();
        while rest.len() >= 8 {
            let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            let end = (8 + len).min(rest.len());
            output.extend_from_slice(&rest[8..end]);
            rest = &rest[end..];
        }
        output.truncate(4096);
        Ok((
            session.state().exit_code.unwrap_or(-1),
            String::from_utf8_lossy(&output).into_owned(),
        ))
    }
}

/// Folds one probe into the health state.
fn record_probe(health: &mut Health, probe: HealthProbe, retries: u32, in_start_period: bool) {
    if probe.exit_code == 0 {
        health.status = "healthy".into();
        health.failing_streak = 0;
    } else if !in_start_period {
        health.failing_streak += 1;
        if health.failing_streak >= retries {
            health.status = "unhealthy".into();
        }
    }
    health.log.push(probe);
    if health.log.len() > 5 {
        health.log.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(code: i32) -> HealthProbe {
        HealthProbe {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn streaks_and_statuses() {
        let mut h = Health {
            status: "starting".into(),
            ..Health::default()
        };
        record_probe(&mut h, probe(1), 2, true);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        record_probe(&mut h, probe(1), 2, false);
        assert_eq!(h.status, "starting");
        record_probe(&mut h, probe(1), 2, false);
        assert_eq!(h.status, "unhealthy");
        record_probe(&mut h, probe(0), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
        for _ in 0..10 {
            record_probe(&mut h, probe(0), 2, false);
        }
        assert_eq!(h.log.len(), 5);
        let c =
            json!({"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000u64}});
        let p = probe_of(&c).unwrap();
        assert_eq!(p.command, vec!["/bin/sh", "-c", "true"]);
        assert_eq!(p.interval, Duration::from_secs(1));
        assert!(probe_of(&json!({"Healthcheck": {"Test": ["NONE"]}})).is_none());
    }
}
