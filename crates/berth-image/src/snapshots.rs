//! Layer snapshots: each layer unpacked once, into a directory named by its
//! DiffID, shared by every image that uses it.
//!
//! ```text
//! <root>/snapshots/<64 hex>   finished snapshots (the overlayfs lowers)
//! <root>/snapshots-tmp/<n>    unpacks in progress
//! ```
//!
//! A layer is unpacked into a fresh directory under `snapshots-tmp/` and
//! renamed into `snapshots/` only once its DiffID has been checked, so a
//! directory under `snapshots/` is always a complete layer. What a crash
//! leaves (temporary directories, snapshots no image record names yet) is
//! removed by [`SnapshotStore::collect_garbage`].

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::BlobDigest;

/// Why a snapshot operation failed; names the path.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot {}: {op}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid layer DiffID {0:?}")]
    InvalidDiffId(String),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SnapshotError + 'a {
    move |source| SnapshotError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The snapshot directories under one image root.
#[derive(Debug)]
pub struct SnapshotStore {
    done: PathBuf,
    tmp: PathBuf,
    counter: AtomicU64,
}

impl SnapshotStore {
    /// Opens (creating) the snapshot directories under `root`.
    pub fn open(root: &Path) -> Result<SnapshotStore, SnapshotError> {
        let done = root.join("snapshots");
        let tmp = root.join("snapshots-tmp");
        for dir in [&done, &tmp] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err("create", dir))?;
        }
        Ok(SnapshotStore {
            done,
            tmp,
            counter: AtomicU64::new(0),
        })
    }

    /// The directory of a finished snapshot (which may not exist).
    pub fn path(&self, diff_id: &str) -> Result<PathBuf, SnapshotError> {
        let digest = BlobDigest::parse(diff_id)
            .map_err(|_| SnapshotError::InvalidDiffId(diff_id.to_string()))?;
        Ok(self.done.join(digest.hex()))
    }

    /// Whether the layer is unpacked.
    pub fn exists(&self, diff_id: &str) -> Result<bool, SnapshotError> {
        Ok(self.path(diff_id)?.is_dir())
    }

    /// A fresh, empty directory to unpack a layer into. Removed on drop
    /// unless committed.
    pub fn prepare(&self) -> Result<PreparedSnapshot, SnapshotError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = self.tmp.join(format!("{}-{n}", std::process::id()));
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .map_err(io_err("create", &path))?;
        Ok(PreparedSnapshot {
            path,
            committed: false,
        })
    }

    /// Moves a prepared snapshot into place as the layer `diff_id`. If
    /// another unpack of the same layer got there first, that one is kept.
    pub fn commit(
        &self,
        mut prepared: PreparedSnapshot,
        diff_id: &str,
    ) -> Result<PathBuf, SnapshotError> {
        let target = self.path(diff_id)?;
        match fs::rename(&prepared.path, &target) {
            Ok(()) => prepared.committed = true,
            // ENOTEMPTY/EEXIST: already there (a concurrent pull); the
            // prepared copy is dropped (and removed) below.
            Err(e) if target.is_dir() => drop(e),
            Err(e) => return Err(io_err("rename into place", &target)(e)),
        }
        Ok(target)
    }

    /// Flushes everything written under the snapshot root to disk, so that
    /// a record committed afterwards never names a snapshot lost in a power
    /// cut. One `syncfs` for a whole pull, rather than an fsync per file.
    pub fn sync(&self) -> Result<(), SnapshotError> {
        let dir = fs::File::open(&self.done).map_err(io_err("open", &self.done))?;
        nix::unistd::syncfs(&dir).map_err(|e| io_err("syncfs", &self.done)(e.into()))
    }

    /// Removes a finished snapshot.
    pub fn remove(&self, diff_id: &str) -> Result<(), SnapshotError> {
        let path = self.path(diff_id)?;
        remove_tree(&path)
    }

    /// Removes every temporary directory, and every snapshot whose DiffID
    /// is not in `keep`. Returns how many were removed. Only call this when
    /// no pull is in progress (at start-up).
    pub fn collect_garbage(&self, keep: &BTreeSet<String>) -> Result<usize, SnapshotError> {
        let mut removed = 0;
        for entry in read_dir(&self.tmp)? {
            remove_tree(&entry)?;
            removed += 1;
        }
        for entry in read_dir(&self.done)? {
            let name = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !keep.contains(&format!("sha256:{name}")) {
                remove_tree(&entry)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, SnapshotError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("read", dir))? {
        out.push(entry.map_err(io_err("read", dir))?.path());
    }
    Ok(out)
}

/// `remove_dir_all` (which never follows symlinks), tolerating a tree that
/// is already gone.
fn remove_tree(path: &Path) -> Result<(), SnapshotError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", path)(e)),
    }
}

/// A directory a layer is being unpacked into.
#[derive(Debug)]
pub struct PreparedSnapshot {
    path: PathBuf,
    committed: bool,
}

impl PreparedSnapshot {
    /// Where to unpack.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PreparedSnapshot {
    fn drop(&mut self) {
        if !self.committed {
            let _ = remove_tree(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn prepared_snapshots_vanish_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path()).unwrap();
        let p = store.prepare().unwrap();
        let tmp = p.path().to_path_buf();
        fs::write(tmp.join("f"), "x").unwrap();
        drop(p);
        assert!(!tmp.exists());

        let p = store.prepare().unwrap();
        fs::write(p.path().join("f"), "x").unwrap();
        let done = store.commit(p, A).unwrap();
        assert_eq!(fs::read_to_string(done.join("f")).unwrap(), "x");
        assert!(store.exists(A).unwrap());

        // A second unpack of the same layer keeps the first.
        let p = store.prepare().unwrap();
        let tmp = p.path().to_path_buf();
        fs::write(p.path().join("g"), "y").unwrap();
        store.commit(p, A).unwrap();
        assert!(!tmp.exists());
        assert!(!done.join("g").exists());
    }

    #[test]
    fn garbage_collection_keeps_only_named_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path()).unwrap();
        for id in [A, B] {
            let p = store.prepare().unwrap();
            store.commit(p, id).unwrap();
        }
        let leftover = store.prepare().unwrap();
        std::mem::forget(leftover);
        let keep = BTreeSet::from([A.to_string()]);
        assert_eq!(store.collect_garbage(&keep).unwrap(), 2);
        assert!(store.exists(A).unwrap());
        assert!(!store.exists(B).unwrap());
        assert!(store.path("../etc").is_err());
    }
}
