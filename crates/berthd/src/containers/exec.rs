//! `docker exec`: an extra process in a running container, run by a shim
//! of its own (`berth-shim exec`). Sessions live in memory (as Docker's
//! do): they are gone after a daemon restart.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::sync::watch;

use super::shim::{self, Launch, ShimPaths};
use super::store::Entry;
use crate::daemon::Daemon;
use crate::http::ApiError;

/// One `exec` instance.
pub struct ExecSession {
    pub id: String,
    pub container_id: String,
    /// The create request (`Cmd`, `Env`, `Tty`, `AttachStdin`, ...).
    pub config: Value,
    pub state: Mutex<ExecState>,
    pub changed: watch::Sender<u64>,
}

/// Where an exec is in its life.
#[derive(Debug, Clone, Default)]
pub struct ExecState {
    pub running: bool,
    pub started: bool,
    pub pid: i32,
    pub exit_code: Option<i32>,
}

impl ExecSession {
    pub fn state(&self) -> ExecState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn set(&self, f: impl FnOnce(&mut ExecState)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn tty(&self) -> bool {
        self.config["Tty"].as_bool().unwrap_or(false)
    }

    /// `GET /exec/{id}/json`.
    pub fn inspect(&self) -> Value {
        let s = self.state();
        json!({
            "ID": self.id,
            "Running": s.running,
            "ExitCode": s.exit_code,
            "ProcessConfig": {
                "tty": self.tty(),
                "entrypoint": self.config["Cmd"][0],
                "arguments": self.config["Cmd"].as_array().map(|a| a[1.min(a.len())..].to_vec()),
                "privileged": self.config["Privileged"].as_bool().unwrap_or(false),
                "user": self.config["User"].as_str().unwrap_or(""),
            },
            "OpenStdin": self.config["AttachStdin"].as_bool().unwrap_or(false),
            "OpenStderr": self.config["AttachStderr"].as_bool().unwrap_or(false),
            "OpenStdout": self.config["AttachStdout"].as_bool().unwrap_or(false),
            "CanRemove": false,
            "ContainerID": self.container_id,
            "DetachKeys": self.config["DetachKeys"].as_str().unwrap_or(""),
            "Pid": s.pid,
        })
    }
}

impl Daemon {
    /// `POST /containers/{id}/exec`.
    pub fn create_exec(&self, entry: &Entry, config: Value) -> Result<Arc<ExecSession>, ApiError> {
        let record = entry.record();
        if !record.state.running() {
            return Err(ApiError::conflict(format!(
                "container {} is not running",
                record.id
            )));
        }
        if config["Cmd"].as_array().is_none_or(|c| c.is_empty()) {
            return Err(ApiError::bad_request("No exec command specified"));
        }
        let id = crate::ids::new_id();
        let session = Arc::new(ExecSession {
            id: id.clone(),
            container_id: record.id.clone(),
            config,
            state: Mutex::new(ExecState::default()),
            changed: watch::channel(0).0,
        });
        if let Ok(mut execs) = self.execs.lock() {
            execs.insert(id.clone(), session.clone());
        }
        entry.update(|r| r.exec_ids.push(id))?;
        Ok(session)
    }

    /// Finds an exec session.
    pub fn exec_session(&self, id: &str) -> Result<Arc<ExecSession>, ApiError> {
        self.execs
            .lock()
            .ok()
            .and_then(|e| e.get(id).cloned())
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }

    /// Launches the exec's shim; returns its paths (attach, then start).
    pub async fn launch_exec(&self, session: &ExecSession) -> Result<ShimPaths, ApiError> {
        if session.state().started {
            return Err(ApiError::conflict(format!(
                "Exec {} has already been started",
                session.id
            )));
        }
        let entry = self.containers.get(&session.container_id)?;
        let process = self.exec_process(&entry, &session.config)?;
        let paths = ShimPaths::new(&self.config.exec_root, &session.id);
        let process_file = self
            .config
            .exec_root
            .join(format!("{}.process.json", &session.id[..12]));
        std::fs::write(
            &process_file,
            serde_json::to_vec(&process).unwrap_or_default(),
        )
        .map_err(|e| ApiError::internal(format!("writing {}: {e}", process_file.display())))?;
        let runtime_root = self.config.runtime_root();
        let launched = shim::launch(Launch {
            shim: &self.shim,
            mode: "exec",
            id: &session.container_id,
            runtime_root: &runtime_root,
            paths: &paths,
            tty: session.tty(),
            stdin: session.config["AttachStdin"].as_bool().unwrap_or(false),
            extra: vec!["--process".into(), process_file.display().to_string()],
        })
        .await;
        let _ = std::fs::remove_file(&process_file);
        launched?;
        session.set(|s| s.started = true);
        Ok(paths)
    }

    /// Starts a launched exec and records its end in the background.
    pub async fn start_exec(
        &self,
        session: &Arc<ExecSession>,
        paths: &ShimPaths,
    ) -> Result<(), ApiError> {
        let reply = shim::start(&paths.socket).await?;
        session.set(|s| {
            s.running = true;
            s.pid = reply.pid.unwrap_or(0);
        });
        Ok(())
    }

    /// Waits for the exec's exit and records it.
    pub async fn finish_exec(&self, session: &ExecSession, paths: &ShimPaths) {
        let code = match shim::wait(&paths.socket).await {
            Ok(exit) => exit.exit_code,
            Err(_) => paths.exit_record().map_or(126, |e| e.exit_code),
        };
        session.set(|s| {
            s.running = false;
            s.exit_code = Some(code);
        });
        paths.remove();
    }

    /// The OCI process for an exec: the container's, with the exec's
    /// command, environment, working directory, user and terminal.
    fn exec_process(&self, entry: &Entry, config: &Value) -> Result<Value, ApiError> {
        let spec_bytes = std::fs::read(entry.dir().join("config.json"))
            .map_err(|e| ApiError::internal(format!("reading the container's spec: {e}")))?;
        let spec: Value =
            serde_json::from_slice(&spec_bytes).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut process = spec["process"].clone();
        process["args"] = config["Cmd"].clone();
        process["terminal"] = json!(config["Tty"].as_bool().unwrap_or(false));
        process.as_object_mut().map(|p| p.remove("consoleSize"));
        if let Some(env) = config["Env"].as_array() {
            let mut merged: Vec<Value> = process["env"].as_array().cloned().unwrap_or_default();
            for item in env.iter().filter_map(Value::as_str) {
                let key = item.split('=').next().unwrap_or("");
                merged.retain(|e| e.as_str().and_then(|s| s.split('=').next()) != Some(key));
                merged.push(json!(item));
            }
            process["env"] = json!(merged);
        }
        if let Some(dir) = config["WorkingDir"].as_str().filter(|d| !d.is_empty()) {
            process["cwd"] = json!(dir);
        }
        if let Some(user) = config["User"].as_str().filter(|u| !u.is_empty()) {
            let resolved = super::spec::user_in(&entry.dir().join("rootfs"), user)?;
            process["user"] = json!({"uid": resolved.uid, "gid": resolved.gid, "additionalGids": resolved.additional_gids});
        }
        if config["Privileged"].as_bool().unwrap_or(false) {
            let all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
            process["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
        }
        Ok(process)
    }
}
