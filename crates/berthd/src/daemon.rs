//! The daemon's shared state: configuration, the image service, the
//! containers, exec sessions, and the event stream.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use berth_image::images::Images;
use berth_image::registry::RegistryClient;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::containers::exec::ExecSession;
use crate::containers::store::ContainerStore;
use crate::http::ApiError;

/// How many past events `events --since` can replay: dockerd's limit.
/// (Each is a JSON tree of a few KiB; 4096 of them cost berthd 10 MiB.)
const EVENT_LOG_SIZE: usize = 256;

/// berthd's settings (command line and config file).
#[derive(Debug, Clone)]
pub struct Config {
    /// Persistent state: images, containers.
    pub data_root: PathBuf,
    /// Runtime state that does not survive a reboot: shim sockets, the
    /// runtime's state root.
    pub exec_root: PathBuf,
    /// The API socket.
    pub socket: PathBuf,
    /// The shim program.
    pub shim_bin: PathBuf,
    /// Registries reached over plain HTTP.
    pub insecure_registries: Vec<String>,
}

impl Config {
    /// The runtime library's state root.
    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root.join("runtime")
    }
}

/// Everything the handlers share.
pub struct Daemon {
    pub config: Config,
    pub images: Arc<Images>,
    pub containers: ContainerStore,
    pub volumes: crate::volumes::VolumeStore,
    pub execs: Mutex<HashMap<String, Arc<ExecSession>>>,
    pub events: broadcast::Sender<Value>,
    /// The latest events, replayed to `events --since`.
    pub event_log: Mutex<std::collections::VecDeque<Value>>,
    pub started: SystemTime,
    /// What containers and execs are started with.
    pub shim: crate::containers::shim::ShimProgram,
}

impl Daemon {
    /// Opens the state under the data root and the exec root.
    pub fn open(config: Config) -> Result<Arc<Daemon>, ApiError> {
        for dir in [&config.data_root, &config.exec_root, &config.runtime_root()] {
            std::fs::create_dir_all(dir)
                .map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
        }
        let registry = RegistryClient::new(config.insecure_registries.clone());
        let images = Images::open(&config.data_root.join("image"), registry)
            .map_err(|e| ApiError::internal(format!("opening the image store: {e}")))?;
        let containers = ContainerStore::open(&config.data_root.join("containers"))?;
        // Which containers use which image is written without waiting for
        // the disk (see Metadata::add_container): rebuild it from the
        // container records, which are.
        let uses: Vec<(String, String)> = containers
            .all()
            .iter()
            .map(|e| {
                let r = e.record();
                (r.id, r.image_id)
            })
            .collect();
        images
            .set_containers(&uses)
            .map_err(|e| ApiError::internal(format!("recording image users: {e}")))?;
        let volumes = crate::volumes::VolumeStore::open(&config.data_root.join("volumes"))?;
        let shim = crate::containers::shim::ShimProgram::new(config.shim_bin.clone());
        Ok(Arc::new(Daemon {
            shim,
            config,
            images: Arc::new(images),
            containers,
            volumes,
            execs: Mutex::new(HashMap::new()),
            events: broadcast::channel(1024).0,
            event_log: Mutex::new(std::collections::VecDeque::new()),
            started: SystemTime::now(),
        }))
    }

    /// Publishes an event (`docker events`) in Docker's format.
    pub fn event(&self, kind: &str, action: &str, id: &str, attributes: Value) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let event = serde_json::json!({
            "Type": kind,
            "Action": action,
            "Actor": { "ID": id, "Attributes": attributes },
            "scope": "local",
            "time": now.as_secs(),
            "timeNano": now.as_nanos() as u64,
            // Older clients read these.
            "status": action,
            "id": id,
            "from": attributes.get("image").cloned().unwrap_or(Value::Null),
        });
        if let Ok(mut log) = self.event_log.lock() {
            if log.len() >= EVENT_LOG_SIZE {
                log.pop_front();
            }
            log.push_back(event.clone());
        }
        let _ = self.events.send(event);
    }

    /// Runs blocking image work off the async threads.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Images) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || f(&images))
            .await
            .map_err(|e| ApiError::internal(format!("image task failed: {e}")))
    }
}
