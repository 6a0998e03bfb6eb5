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
                // A create that crashed before its record was written (or
                // a removal before the directory was deleted): nothing
                // refers to the directory. An empty record is an unsynced
                // one (see `write_record`) that a crash cut short.
                Err(e) if no_record(&path) && path.is_dir() => {
                    eprintln!("berthd: removing {} (no record: {e})", path.display());
                    delete_dir(&path);
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

    /// Forgets a container, unmounts its filesystem and deletes its
    /// directory.
    ///
    /// Only the record goes before this returns (and wakes the waiters for
    /// the removal): the unmount and the rest of the directory, the
    /// container's writable layer, go in the background, which spares
    /// `run --rm` and `rm` a dozen or more unlinks (milliseconds each on a
    /// busy disk). The record of a `--rm` container goes in the background
    /// too: if berthd dies first, it removes that container when it starts
    /// again, as it removes any `--rm` container it finds not running. A
    /// directory left without its record is deleted by
    /// [`ContainerStore::open`].
    pub fn remove(&self, id: &str) -> Result<(), ApiError> {
        let entry = self.lock().remove(id);
        if let Some(entry) = entry {
            if !entry.record().auto_remove() {
                if let Err(e) = remove_record(entry.dir()) {
                    // Still ours: put it back rather than lose track of it.
                    self.lock().insert(entry.id(), entry.clone());
                    return Err(ApiError::internal(format!(
                        "removing {}: {e}",
                        entry.dir().display()
                    )));
                }
            }
            entry.changed.send_modify(|n| *n += 1);
            delete_in_background(entry.dir().to_path_buf());
        }
        Ok(())
    }
}

fn remove_record(dir: &Path) -> std::io::Result<()> {
    match fs::remove_file(dir.join(RECORD_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Deletes a removed container's directory off the caller's path (on the
/// blocking pool; right here outside a runtime).
fn delete_in_background(dir: PathBuf) {
    let delete = move || {
        // The record first: a directory without one is garbage to `open`.
        if let Err(e) = remove_record(&dir) {
            eprintln!("berthd: removing {}: {e}", dir.display());
            return;
        }
        delete_dir(&dir);
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(delete)),
        Err(_) => delete(),
    }
}

/// Unmounts a container's filesystem and deletes its directory. Never
/// while the filesystem is still mounted: that would delete the files
/// through it.
fn delete_dir(dir: &Path) {
    if !super::rootfs::unmount_rootfs(dir) {
        return;
    }
    if let Err(e) = fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("berthd: removing {}: {e}", dir.display());
        }
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

/// The directory has no record, or an empty one.
fn no_record(dir: &Path) -> bool {
    match fs::metadata(dir.join(RECORD_FILE)) {
        Ok(m) => m.len() == 0,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

fn read_record(dir: &Path) -> Result<ContainerRecord, String> {
    let bytes = fs::read(dir.join(RECORD_FILE)).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Writes the record atomically (temporary file, fsync, rename).
///
/// The record of a `--rm` container is not synced: such a container does
/// not outlive a crash of the machine anyway (nothing runs after a reboot,
/// and one that is not running when berthd starts is removed, as dockerd
/// does), while waiting for the disk twice (create, start) would delay
/// every `run --rm`. A record that a crash left empty is dropped at open.
fn write_record(dir: &Path, record: &ContainerRecord) -> Result<(), ApiError> {
    let fail =
        |e: std::io::Error| ApiError::internal(format!("saving container {}: {e}", record.id));
    let bytes = serde_json::to_vec_pretty(record).map_err(|e| fail(std::io::Error::other(e)))?;
    let tmp = dir.join(format!("{RECORD_FILE}.tmp"));
    let mut file = fs::File::create(&tmp).map_err(fail)?;
    file.write_all(&bytes).map_err(fail)?;
    if !record.auto_remove() {
        file.sync_all().map_err(fail)?;
    }
    fs::rename(&tmp, dir.join(RECORD_FILE)).map_err(fail)
}
