//! Start, stop, kill, remove, wait, and what happens when a container's
//! process exits (its shim tells us, or left `exit.json` if we were
//! down).

use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{Container, StateRoot};
use berth_shim::protocol::ExitRecord;
use nix::sys::signal::Signal;
use serde_json::json;
use tokio::net::UnixStream;

use super::record::RunState;
use super::shim::{self, Launch, ShimPaths};
use super::spec;
use super::store::Entry;
use crate::daemon::Daemon;
use crate::http::ApiError;

/// How long pending attaches may take to connect before a start goes on
/// without them.
const ATTACH_GRACE: Duration = Duration::from_secs(5);

/// What `stop` does when the container is already stopped.
pub enum StopOutcome {
    Stopped,
    AlreadyStopped,
}

/// What `wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl Daemon {
    fn shim_paths(&self, id: &str) -> ShimPaths {
        ShimPaths::new(&self.config.exec_root, id)
    }

    /// Starts a created or exited container.
    pub async fn start_container(self: &Arc<Self>, entry: &Arc<Entry>) -> Result<bool, ApiError> {
        let _guard = entry.lifecycle.lock().await;
        let record = entry.record();
        if record.state.running() {
            return Ok(false);
        }
        // The shim first: its exec and start-up (a millisecond or more)
        // overlap the mount and the bundle, which it waits for.
        let shim = self.prestart_shim(&record, entry.dir());
        let paths = self.mount_rootfs(&record, entry.dir())?;
        let result = self.launch_and_start(entry, &paths, shim).await;
        if let Err(e) = &result {
            self.unmount_rootfs(entry.dir());
            // A shim that failed to start the container has exited: its
            // files (its log) would stay behind in the exec root.
            let shim_paths = self.shim_paths(&record.id);
            if !shim_paths.served() {
                shim_paths.remove();
            }
            let message = e.message.clone();
            let code = if message.contains("not found") || message.contains("no such file") {
                127
            } else {
                128
            };
            // As Docker: the container stays "created", with the error and
            // the exit code the CLI reports (127: command not found).
            entry.update(|r| {
                r.state.status = "created".into();
                r.state.error = message;
                r.state.exit_code = code;
            })?;
            if record.auto_remove() {
                let _ = self.remove_container(entry, true).await;
            }
        }
        result.map(|()| true)
    }

    /// Starts the container's shim, which waits for its bundle (see
    /// [`shim::Prestarted`]).
    fn prestart_shim(
        &self,
        record: &super::record::ContainerRecord,
        dir: &std::path::Path,
    ) -> shim::Prestarted {
        let log_path = dir.join(format!("{}-json.log", record.id));
        let mut extra = vec![
            "--bundle".to_string(),
            dir.display().to_string(),
            "--log".to_string(),
            log_path.display().to_string(),
        ];
        extra.extend(log_options(&record.host_config));
        let runtime_root = self.config.runtime_root();
        shim::prestart(Launch {
            shim: &self.shim,
            mode: "run",
            id: &record.id,
            runtime_root: &runtime_root,
            paths: &self.shim_paths(&record.id),
            tty: record.tty(),
            stdin: record.open_stdin(),
            extra,
        })
    }

    async fn launch_and_start(
        self: &Arc<Self>,
        entry: &Arc<Entry>,
        paths: &super::rootfs::RootfsPaths,
        shim: shim::Prestarted,
    ) -> Result<(), ApiError> {
        let record = entry.record();
        for m in record.mounts.iter().filter(|m| m.kind == "volume") {
            crate::volumes::copy_up(
                &paths.rootfs,
                &m.destination,
                std::path::Path::new(&m.source),
            )?;
        }
        let spec = spec::build(&record, &paths.rootfs, &paths.etc())?;
        // Compact: only the runtime reads it, at every start.
        let spec_bytes =
            serde_json::to_vec(&spec).map_err(|e| ApiError::internal(e.to_string()))?;
        std::fs::write(entry.dir().join("config.json"), spec_bytes)
            .map_err(|e| ApiError::internal(format!("writing the bundle config: {e}")))?;
        let shim_paths = self.shim_paths(&record.id);
        let ready = shim.go().await?;
        self.connect_pending_attaches(entry, &shim_paths).await;
        // Before the start: a process that exits at once (`run --rm ...
        // true`) is then reported as soon as the shim reaps it. Without it
        // the monitor asks after the start and falls back on exit.json.
        let waiting = shim::register_wait(&shim_paths.socket).await.ok();
        shim::start(&shim_paths.socket).await?;
        let pid = ready.pid.unwrap_or(0);
        entry.update(|r| {
            r.state = RunState {
                status: "running".into(),
                pid,
                shim_pid: ready.shim_pid,
                started_at: now(),
                finished_at: r.state.finished_at.clone(),
                ..RunState::default()
            };
        })?;
        self.event(
            "container",
            "start",
            &record.id,
            json!({"name": record.name, "image": record.image_name}),
        );
        self.monitor_wait(entry.clone(), waiting);
        self.start_healthcheck(entry.clone());
        Ok(())
    }

    /// Hands the shim's socket to attaches that came before the start,
    /// and waits (briefly) until they are connected, so they see all the
    /// output.
    async fn connect_pending_attaches(&self, entry: &Entry, paths: &ShimPaths) {
        let pending: Vec<_> = entry
            .pending_attaches
            .lock()
            .map(|mut p| p.drain(..).collect())
            .unwrap_or_default();
        let mut acks = Vec::new();
        for attach in pending {
            let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
            if attach.socket.send((paths.socket.clone(), ack_tx)).is_ok() {
                acks.push(ack_rx);
            }
        }
        for ack in acks {
            let _ = tokio::time::timeout(ATTACH_GRACE, ack).await;
        }
    }

    /// Watches a running container's shim for the exit.
    pub fn monitor(self: &Arc<Self>, entry: Arc<Entry>) {
        self.monitor_wait(entry, None);
    }

    /// [`Daemon::monitor`], on a wait already registered with the shim if
    /// there is one.
    fn monitor_wait(self: &Arc<Self>, entry: Arc<Entry>, waiting: Option<UnixStream>) {
        let daemon = self.clone();
        tokio::spawn(async move {
            let paths = daemon.shim_paths(&entry.id());
            let waited = match waiting {
                Some(stream) => shim::wait_exit(stream).await,
                None => match shim::register_wait(&paths.socket).await {
                    Ok(stream) => shim::wait_exit(stream).await,
                    Err(e) => Err(e),
                },
            };
            let (exit, shim) = match waited {
                Ok((exit, stream)) => (exit, Some(stream)),
                Err(_) => (paths.exit_record().unwrap_or_else(lost_shim), None),
            };
            if entry.record().auto_remove() {
                // The shim deletes the container from the runtime beside
                // the removal (other paths), off the path of `run --rm`;
                // its own files go once it is done.
                tokio::spawn(async move {
                    if let Some(stream) = shim {
                        shim::closed(stream).await;
                    }
                    let _ = tokio::task::spawn_blocking(move || paths.remove()).await;
                });
            } else {
                // One that may start again needs the old one gone first.
                if let Some(stream) = shim {
                    shim::closed(stream).await;
                }
                paths.remove();
            }
            daemon.exited(&entry, exit).await;
        });
    }

    /// Records an exit, cleans up, and applies `--rm` or the restart
    /// policy.
    async fn exited(self: &Arc<Self>, entry: &Arc<Entry>, exit: ExitRecord) {
        let record = entry.record();
        if !record.auto_remove() {
            // (The removal of a `--rm` one unmounts it, in the background.)
            self.unmount_rootfs(entry.dir());
        }
        let record_exit = |r: &mut super::record::ContainerRecord| {
            r.state.status = "exited".into();
            r.state.exit_code = exit.exit_code;
            r.state.oom_killed = exit.oom_killed;
            r.state.finished_at = exit.finished_at.clone();
            r.state.pid = 0;
            r.state.shim_pid = 0;
            r.state.health = None;
            r.exec_ids.clear();
        };
        if record.auto_remove() {
            entry.update_unsaved(record_exit);
        } else {
            let _ = entry.update(record_exit);
        }
        if exit.oom_killed {
            self.event("container", "oom", &record.id, json!({"name": record.name}));
        }
        self.event(
            "container",
            "die",
            &record.id,
            json!({"name": record.name, "image": record.image_name, "exitCode": exit.exit_code.to_string()}),
        );
        if record.auto_remove() {
            let _ = self.remove_container(entry, true).await;
            return;
        }
        if self.should_restart(entry, exit.exit_code) {
            let daemon = self.clone();
            let entry = entry.clone();
            tokio::spawn(async move {
                let delay = 100u64 << entry.record().restart_count.min(6);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let _ = entry.update(|r| r.restart_count += 1);
                if let Err(e) = daemon.start_container(&entry).await {
                    eprintln!("berthd: restarting {}: {}", entry.id(), e.message);
                }
            });
        }
    }

    fn should_restart(&self, entry: &Entry, exit_code: i32) -> bool {
        let record = entry.record();
        if record.state.stopped_by_user {
            return false;
        }
        let policy = &record.host_config["RestartPolicy"];
        match policy["Name"].as_str().unwrap_or("no") {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                let max = policy["MaximumRetryCount"].as_u64().unwrap_or(0);
                exit_code != 0 && (max == 0 || u64::from(record.restart_count) < max)
            }
            _ => false,
        }
    }

    /// Sends a signal to the container's process (`all`: to every process
    /// in its cgroup).
    pub fn signal_container(
        &self,
        entry: &Entry,
        signal: Signal,
        all: bool,
    ) -> Result<(), ApiError> {
        let record = entry.record();
        if !record.state.running() {
            return Err(ApiError::conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                record.name, record.id
            )));
        }
        let root = StateRoot::new(self.config.runtime_root())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let container =
            Container::load(&root, &record.id).map_err(|e| ApiError::internal(e.to_string()))?;
        container
            .kill(signal, all)
            .map_err(|e| ApiError::internal(format!("signaling container {}: {e}", record.id)))
    }

    /// `kill`.
    pub async fn kill_container(&self, entry: &Entry, signal: Signal) -> Result<(), ApiError> {
        entry.update(|r| r.state.stopped_by_user = true)?;
        self.signal_container(entry, signal, signal == Signal::SIGKILL)?;
        let record = entry.record();
        self.event(
            "container",
            "kill",
            &record.id,
            json!({"name": record.name, "signal": (signal as i32).to_string()}),
        );
        Ok(())
    }

    /// `stop`: the stop signal, then SIGKILL after `timeout`.
    pub async fn stop_container(
        &self,
        entry: &Entry,
        signal: Option<Signal>,
        timeout: Option<i64>,
    ) -> Result<StopOutcome, ApiError> {
        let record = entry.record();
        if !record.state.running() {
            return Ok(StopOutcome::AlreadyStopped);
        }
        entry.update(|r| r.state.stopped_by_user = true)?;
        let signal = signal
            .or_else(|| record.config["StopSignal"].as_str().and_then(parse_signal))
            .unwrap_or(Signal::SIGTERM);
        let timeout = timeout
            .or_else(|| record.config["StopTimeout"].as_i64())
            .unwrap_or(10);
        let _ = self.signal_container(entry, signal, false);
        let wait = Duration::from_secs(timeout.max(0) as u64);
        if tokio::time::timeout(wait, wait_until_stopped(entry))
            .await
            .is_err()
        {
            let _ = self.signal_container(entry, Signal::SIGKILL, true);
            wait_until_stopped(entry).await;
        }
        self.event(
            "container",
            "stop",
            &record.id,
            json!({"name": record.name}),
        );
        Ok(StopOutcome::Stopped)
    }

    /// `rm -v`: also the container's anonymous volumes.
    pub async fn remove_container_and_volumes(
        &self,
        entry: &Entry,
        force: bool,
    ) -> Result<(), ApiError> {
        let record = entry.record();
        self.remove_container(entry, force).await?;
        for m in record.mounts.iter().filter(|m| m.kind == "volume") {
            if self.volumes.get(&m.name).is_ok_and(|v| v.anonymous)
                && self.volume_users(&m.name).is_empty()
            {
                let _ = self.volumes.remove(&m.name);
            }
        }
        Ok(())
    }

    /// The containers whose mounts use a volume.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.containers
            .all()
            .iter()
            .map(|e| e.record())
            .filter(|r| {
                r.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
            .map(|r| r.id)
            .collect()
    }

    /// `rm`: refuses a running container unless forced.
    pub async fn remove_container(&self, entry: &Entry, force: bool) -> Result<(), ApiError> {
        let record = entry.record();
        if record.state.running() {
            if !force {
                return Err(ApiError::conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    record.name
                )));
            }
            entry.update(|r| r.state.stopped_by_user = true)?;
            let _ = self.signal_container(entry, Signal::SIGKILL, true);
            wait_until_stopped(entry).await;
        }
        // The removal unmounts the filesystem (in the background).
        // Exec sessions stay inspectable after their container exits (a
        // client reads the exit code once the stream ends, which can be
        // after the container stopped), and go with the container.
        if let Ok(mut execs) = self.execs.lock() {
            execs.retain(|_, s| s.container_id != record.id);
        }
        let id = record.id.clone();
        let _ = self
            .blocking(move |images| images.remove_container(&id))
            .await;
        self.containers.remove(&record.id)?;
        self.event(
            "container",
            "destroy",
            &record.id,
            json!({"name": record.name, "image": record.image_name}),
        );
        Ok(())
    }

    /// `wait`: resolves to the exit code once `condition` holds. Removal
    /// while waiting for `removed` or `not-running` ends the wait too.
    pub async fn wait_container(&self, entry: &Entry, condition: WaitCondition) -> i32 {
        self.finish_wait(entry, begin_wait(entry, condition)).await
    }

    /// Waits from a snapshot taken by [`begin_wait`].
    pub async fn finish_wait(&self, entry: &Entry, mut wait: ContainerWait) -> i32 {
        loop {
            let record = entry.record();
            let removed = self.containers.get(&record.id).is_err();
            let running = record.state.running();
            wait.seen_running |= running;
            let done = match wait.condition {
                WaitCondition::NotRunning => !running,
                WaitCondition::NextExit => {
                    !running && (wait.seen_running || exit_marker(entry) != wait.initial_exit)
                }
                WaitCondition::Removed => removed,
            };
            if done || removed {
                return record.state.exit_code;
            }
            if wait.changes.changed().await.is_err() {
                return entry.record().state.exit_code;
            }
        }
    }

    /// After a daemon restart: reconnects to the shims of containers that
    /// were running; those whose shim is gone get the exit it recorded.
    pub fn restore(self: &Arc<Self>) {
        for entry in self.containers.all() {
            let record = entry.record();
            if !record.state.running() {
                // A crash between an exit and its cleanup leaves the
                // filesystem mounted and the shim's files behind.
                self.unmount_rootfs(entry.dir());
                self.shim_paths(&record.id).remove();
                // As dockerd: a `--rm` container that is not running is
                // removed (its exit came while we were down, or a crash
                // cut its removal short; its record is not synced either).
                if record.auto_remove() {
                    let daemon = self.clone();
                    tokio::spawn(async move {
                        let _ = daemon.remove_container(&entry, true).await;
                    });
                    continue;
                }
            }
            if record.state.running() {
                if self.shim_paths(&record.id).served() {
                    self.monitor(entry.clone());
                } else {
                    let paths = self.shim_paths(&record.id);
                    let exit = paths.exit_record().unwrap_or_else(lost_shim);
                    paths.remove();
                    let daemon = self.clone();
                    tokio::spawn(async move { daemon.exited(&entry, exit).await });
                }
            } else if !record.state.stopped_by_user
                && matches!(
                    record.host_config["RestartPolicy"]["Name"].as_str(),
                    Some("always" | "unless-stopped")
                )
                && record.state.status != "created"
            {
                let daemon = self.clone();
                tokio::spawn(async move {
                    let _ = daemon.start_container(&entry).await;
                });
            }
        }
    }
}

/// Something that changes on each exit, to tell a new exit from an old.
/// Where a wait starts from: taken when the request comes, before its
/// answer's headers go out, so an exit that follows at once (the client
/// starts the container as soon as it has the headers) is not missed by a
/// `next-exit` wait.
pub struct ContainerWait {
    condition: WaitCondition,
    changes: tokio::sync::watch::Receiver<u64>,
    seen_running: bool,
    initial_exit: String,
}

pub fn begin_wait(entry: &Entry, condition: WaitCondition) -> ContainerWait {
    ContainerWait {
        condition,
        changes: entry.changed.subscribe(),
        seen_running: entry.record().state.running(),
        initial_exit: exit_marker(entry),
    }
}

fn exit_marker(entry: &Entry) -> String {
    entry.record().state.finished_at
}

async fn wait_until_stopped(entry: &Entry) {
    let mut changes = entry.changed.subscribe();
    while entry.record().state.running() {
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// The exit of a container whose shim died without a record.
fn lost_shim() -> ExitRecord {
    ExitRecord {
        exit_code: 137,
        oom_killed: false,
        finished_at: now(),
    }
}

fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// `--log-opt max-size=10m max-file=3` as shim arguments.
fn log_options(host: &serde_json::Value) -> Vec<String> {
    let config = &host["LogConfig"]["Config"];
    let mut out = Vec::new();
    if let Some(size) = config["max-size"].as_str().and_then(parse_size) {
        out.extend(["--log-max-size".to_string(), size.to_string()]);
    }
    if let Some(files) = config["max-file"]
        .as_str()
        .and_then(|f| f.parse::<u32>().ok())
    {
        out.extend(["--log-max-file".to_string(), files.to_string()]);
    }
    out
}

/// `10m`, `1g`, `500k`, `123` (bytes).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1024),
        'm' => (&s[..s.len() - 1], 1024 * 1024),
        'g' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        'b' => (&s[..s.len() - 1], 1),
        _ => (s.as_str(), 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

/// `SIGTERM`, `TERM`, `15`.
pub fn parse_signal(s: &str) -> Option<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_and_sizes() {
        assert_eq!(parse_signal("TERM"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("9"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_size("10m"), Some(10 * 1024 * 1024));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("x"), None);
    }
}
