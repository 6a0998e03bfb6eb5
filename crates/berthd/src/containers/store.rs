//! The set of containers: records in memory, each persisted atomically
//! under `<data-root>/containers/<id>/`, looked up the way Docker does
//! (full id, name, unique id prefix).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::record::ContainerRecord;
use crate::http::ApiError;

/// One container: its record and what waits on it.
pub struct Entry {
    record: Mutex<ContainerRecord>,
    dir: PathBuf,
    /// Bumped whenever the state changes; `wait` and `logs -f` watch it.
    pub changed: watch::Sender<u64>,
    /// Serializes start, stop, kill and remove of this container.
    pub lifecycle: tokio::sync::Mutex<()>,
    /// Attach requests waiting for the container to start: each gets the
    /// shim's socket, and answers once it is attached.
    pub pending_attaches: Mutex<Vec<PendingAttach>>,
}

/// An attach waiting for a start.
pub struct PendingAttach {
    pub socket: tokio::sync::oneshot::Sender<(PathBuf, tokio::sync::oneshot::Sender<()>)>,
}

impl Entry {
    /// A copy of the record.
    pub fn record(&self) -> ContainerRecord {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, ContainerRecord> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The container's id.
    pub fn id(&self) -> String {
        self.lock().id.clone()
    }

    /// The container's directory (its bundle: `config.json`, `rootfs/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Changes the record, writes it, and wakes watchers.
    pub fn update<T>(&self, f: impl FnOnce(&mut ContainerRecord) -> T) -> Result<T, ApiError> {
        let mut record = self.lock();
        let out = f(&mut record);
        write_record(&self.dir, &record)?;
        drop(record);
        self.changed.send_modify(|n| *n += 1);
        Ok(out)
    }

    /// Changes the record in memory only, and wakes watchers: for the exit
    /// of a container about to be removed (`--rm`), whose file goes with
    /// it. Waiting for the disk there would delay every `run --rm`; if
    /// berthd dies before the removal, the record on disk still says
    /// running, and the restore finds the shim gone and removes it.
    pub fn update_unsaved<T>(&self, f: impl FnOnce(&mut ContainerRecord) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed.send_modify(|n| *n += 1);
        out
    }
}

/// All containers.
pub struct ContainerStore {
    dir: PathBuf,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

impl ContainerStore {
    /// Loads every container under `dir` (skipping, with a warning,
    /// directories without a readable record: a create that crashed).
    pub fn open(dir: &Path) -> Result<ContainerStore, ApiError> {
        fs::create_dir_all(dir)
            .map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))?;
        let mut entries = HashMap::new();
        let listing =
            fs::read_dir(dir).map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))?;
        for item in listing.flatten() {
            let path = item.path();
            match read_record(&path) {
                Ok(record) => {
                    entries.insert(record.id.clone(), Arc::new(new_entry(record, path)));
                }
                // A create that crashed before its record was written:
                // nothing refers to the directory.
                Err(e) if !path.join(RECORD_FILE).exists() && path.is_dir() => {
                    eprintln!("berthd: removing {} (no record: {e})", path.display());
                    let _ = fs::remove_dir_all(&path);
                }
                Err(e) => eprintln!("berthd: skipping {}: {e}", path.display()),
            }
        }
        Ok(ContainerStore {
            dir: dir.to_path_buf(),
            entries: Mutex::new(entries),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where a container's directory is.
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Adds a new container, refusing a name in use (409, Docker's text).
    pub fn insert(&self, record: ContainerRecord) -> Result<Arc<Entry>, ApiError> {
        let mut entries = self.lock();
        if let Some(other) = entries.values().find(|e| e.lock().name == record.name) {
            return Err(name_conflict(&record.name, &other.id()));
        }
        let dir = self.dir_of(&record.id);
        fs::create_dir_all(&dir)
            .map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))?;
        write_record(&dir, &record)?;
        let entry = Arc::new(new_entry(record, dir));
        entries.insert(entry.id(), entry.clone());
        Ok(entry)
    }

    /// Renames a container.
    pub fn rename(&self, entry: &Entry, name: &str) -> Result<(), ApiError> {
        let entries = self.lock();
        if let Some(other) = entries.values().find(|e| e.lock().name == name) {
            return Err(name_conflict(name, &other.id()));
        }
        entry.update(|r| r.name = name.to_string())
    }

    /// Finds a container by full id, name (with or without `/`), or unique
    /// id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Arc<Entry>, ApiError> {
        let entries = self.lock();
        let wanted = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if let Some(e) = entries.get(wanted) {
            return Ok(e.clone());
        }
        if let Some(e) = entries.values().find(|e| e.lock().name == wanted) {
            return Ok(e.clone());
        }
        let by_prefix: Vec<&Arc<Entry>> = if wanted.is_empty() {
            Vec::new()
        } else {
            entries
                .iter()
                .filter(|(id, _)| id.starts_with(wanted))
                .map(|(_, e)| e)
                .collect()
        };
        match by_prefix.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ApiError::not_found(format!(
                "No such container: {name_or_id}"
            ))),
            _ => Err(ApiError::bad_request(format!(
                "multiple IDs found with provided prefix: {name_or_id}"
            ))),
        }
    }

    /// Every container.
    pub fn all(&self) -> Vec<Arc<Entry>> {
        self.lock().values().cloned().collect()
    }

    /// Forgets a container and deletes its directory.
    pub fn remove(&self, id: &str) -> Result<(), ApiError> {
        let entry = self.lock().remove(id);
        if let Some(entry) = entry {
            match fs::remove_dir_all(entry.dir()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(ApiError::internal(format!(
                        "removing {}: {e}",
                        entry.dir().display()
                    )))
                }
            }
            entry.changed.send_modify(|n| *n += 1);
        }
        Ok(())
    }
}

fn new_entry(record: ContainerRecord, dir: PathBuf) -> Entry {
    Entry {
        record: Mutex::new(record),
        dir,
        changed: watch::channel(0).0,
        lifecycle: tokio::sync::Mutex::new(()),
        pending_attaches: Mutex::new(Vec::new()),
    }
}

fn name_conflict(name: &str, id: &str) -> ApiError {
    ApiError::conflict(format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

const RECORD_FILE: &str = "container.json";

fn read_record(dir: &Path) -> Result<ContainerRecord, String> {
    let bytes = fs::read(dir.join(RECORD_FILE)).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Writes the record atomically (temporary file, fsync, rename).
fn write_record(dir: &Path, record: &ContainerRecord) -> Result<(), ApiError> {
    let fail =
        |e: std::io::Error| ApiError::internal(format!("saving container {}: {e}", record.id));
    let bytes = serde_json::to_vec_pretty(record).map_err(|e| fail(std::io::Error::other(e)))?;
    let tmp = dir.join(format!("{RECORD_FILE}.tmp"));
    let mut file = fs::File::create(&tmp).map_err(fail)?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(fail)?;
    fs::rename(&tmp, dir.join(RECORD_FILE)).map_err(fail)
}
