//! A content-addressed blob store (sha256).
//!
//! Layout under the root directory (mode 0700):
//!
//! ```text
//! <root>/blobs/sha256/<64 hex>   complete, verified blobs only
//! <root>/ingest/<unique name>    partial writes in progress
//! ```
//!
//! Blobs stream in through a [`BlobWriter`], which hashes while it writes
//! into a private ingest file; [`BlobWriter::commit`] checks the size and the
//! digest, fsyncs the file, renames it into `blobs/sha256/` (atomic on one
//! filesystem) and fsyncs that directory. A process killed mid-write can
//! therefore only leave files under `ingest/`, never a partial blob; those
//! leftovers are removed by [`BlobStore::open`].
//!
//! Every digest given to the store is checked strictly
//! (`sha256:[0-9a-f]{64}`, see [`BlobDigest::parse`]) before it becomes part
//! of a path.
//!
//! One store root belongs to one process (the daemon): `open` removes every
//! ingest file it finds, including those of another live process using the
//! same root.

mod digest;
mod writer;

#[cfg(test)]
mod tests;

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

pub use digest::{BlobDigest, ALGORITHM};
pub use writer::BlobWriter;

/// Errors from the blob store. Each names the digest or the path involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A digest string that is not `sha256:` followed by 64 lowercase hex
    /// digits.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest {
        digest: String,
        reason: &'static str,
    },

    /// The bytes written for a blob hash to something else than expected.
    #[error("blob {expected}: content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },

    /// The number of bytes written for a blob is not the expected size.
    #[error("blob {digest}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },

    /// A stored blob no longer hashes to its name.
    #[error("blob {digest} is corrupt: {path} hashes to {actual}")]
    Corrupt {
        digest: String,
        actual: String,
        path: PathBuf,
    },

    /// The store does not hold the blob.
    #[error("blob {digest} not found")]
    NotFound { digest: String },

    /// A filesystem operation failed.
    #[error("blob store: {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

pub(crate) fn io_err(op: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// fsyncs a directory, making renames and removals in it durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("fsync directory", dir, e))
}

/// Sequence number making ingest names unique within this process.
static INGEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// How many names `writer` tries before giving up on creating an ingest file.
const INGEST_ATTEMPTS: u32 = 16;

/// Read buffer size for hashing stored blobs.
const HASH_BUF: usize = 64 * 1024;

/// A content-addressed blob store rooted at one directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    /// `<root>/blobs/sha256`
    blob_dir: PathBuf,
    /// `<root>/ingest`
    ingest_dir: PathBuf,
}

impl BlobStore {
    /// Opens the store at `root`, creating `root` (mode 0700),
    /// `blobs/sha256/` and `ingest/` as needed, and removes every leftover
    /// ingest file (partial writes of a process that died).
    pub fn open(root: impl AsRef<Path>) -> Result<BlobStore, StoreError> {
        let root = root.as_ref().to_path_buf();
        let blob_dir = root.join("blobs").join(ALGORITHM);
        let ingest_dir = root.join("ingest");

        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|e| io_err("create directory", &root, e))?;
        // An existing root may have looser permissions; the store's is 0700.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err("chmod 0700", &root, e))?;
        for dir in [&blob_dir, &ingest_dir] {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io_err("create directory", dir, e))?;
        }

        let store = BlobStore {
            root,
            blob_dir,
            ingest_dir,
        };
        store.gc_ingest()?;
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes everything under `ingest/`. [`open`](Self::open) does this;
    /// calling it while writers of this store are live breaks them.
    /// Returns how many entries were removed.
    pub fn gc_ingest(&self) -> Result<usize, StoreError> {
        let entries =
            fs::read_dir(&self.ingest_dir).map_err(|e| io_err("list", &self.ingest_dir, e))?;
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| io_err("list", &self.ingest_dir, e))?;
            let path = entry.path();
            let is_dir = entry
                .file_type()
                .map_err(|e| io_err("stat", &path, e))?
                .is_dir();
            let result = if is_dir {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match result {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove leftover ingest file", &path, e)),
            }
        }
        if removed > 0 {
            fsync_dir(&self.ingest_dir)?;
        }
        Ok(removed)
    }

    /// The path a blob has (or would have) in the store. Checks the digest
    /// but not whether the blob exists.
    pub fn blob_path(&self, digest: impl AsRef<str>) -> Result<PathBuf, StoreError> {
        let digest = BlobDigest::parse(digest.as_ref())?;
        Ok(self.path_of(&digest))
    }

    fn path_of(&self, digest: &BlobDigest) -> PathBuf {
        self.blob_dir.join(digest.hex())
    }

    /// Whether the store holds the blob.
    pub fn contains(&self, digest: impl AsRef<str>) -> Result<bool, StoreError> {
        let path = self.blob_path(digest)?;
        match fs::symlink_metadata(&path) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("stat", &path, e)),
        }
    }

    /// Starts writing the blob `expected`, optionally of `expected_size`
    /// bytes (a write beyond that size is refused). Use
    /// [`contains`](Self::contains) first to skip blobs already stored;
    /// writing one again is harmless.
    pub fn writer(
        &self,
        expected: impl AsRef<str>,
        expected_size: Option<u64>,
    ) -> Result<BlobWriter, StoreError> {
        let expected = BlobDigest::parse(expected.as_ref())?;
        let (file, ingest_path) = self.create_ingest_file(&expected)?;
        Ok(BlobWriter::new(
            expected,
            expected_size,
            file,
            ingest_path,
            self.blob_dir.clone(),
        ))
    }

    /// Creates a new, exclusive ingest file (mode 0600).
    fn create_ingest_file(&self, digest: &BlobDigest) -> Result<(File, PathBuf), StoreError> {
        let pid = std::process::id();
        let mut last_err = None;
        for _ in 0..INGEST_ATTEMPTS {
            let seq = INGEST_SEQ.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let hex = digest.hex();
            let name = format!("{}-{pid}-{seq}-{nanos:08x}", &hex[..12]);
            let path = self.ingest_dir.join(name);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
            {
                Ok(file) => return Ok((file, path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some((path, e)),
                Err(e) => return Err(io_err("create ingest file", &path, e)),
            }
        }
        let (path, e) = last_err.unwrap_or_else(|| {
            (
                self.ingest_dir.clone(),
                io::Error::other("no ingest name tried"),
            )
        });
        Err(io_err("create ingest file", &path, e))
    }

    /// Stores `data`, returning its digest. Idempotent.
    pub fn put_bytes(&self, data: &[u8]) -> Result<BlobDigest, StoreError> {
        let digest = BlobDigest::of_bytes(data);
        let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
        let mut w = self.writer(&digest, Some(size))?;
        io::Write::write_all(&mut w, data).map_err(|e| io_err("write", w.ingest_path(), e))?;
        w.commit()?;
        Ok(digest)
    }

    /// Opens a stored blob for reading (the digest's format is checked; the
    /// content is not re-hashed, see [`verify`](Self::verify)). Symlinks
    /// are not followed.
    pub fn open_blob(&self, digest: impl AsRef<str>) -> Result<File, StoreError> {
        let digest = BlobDigest::parse(digest.as_ref())?;
        self.open_parsed(&digest)
    }

    fn open_parsed(&self, digest: &BlobDigest) -> Result<File, StoreError> {
        let path = self.path_of(digest);
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StoreError::NotFound {
                    digest: digest.to_string(),
                },
                _ => io_err("open", &path, e),
            })
    }

    /// Reads a whole blob, checking that its content still hashes to
    /// `digest` ([`StoreError::Corrupt`] if not).
    pub fn get(&self, digest: impl AsRef<str>) -> Result<Vec<u8>, StoreError> {
        let digest = BlobDigest::parse(digest.as_ref())?;
        let mut file = self.open_parsed(&digest)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| io_err("read", &self.path_of(&digest), e))?;
        let actual = BlobDigest::of_bytes(&data);
        if actual != digest {
            return Err(StoreError::Corrupt {
                path: self.path_of(&digest),
                digest: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(data)
    }

    /// The size in bytes of a stored blob.
    pub fn size(&self, digest: impl AsRef<str>) -> Result<u64, StoreError> {
        let digest = BlobDigest::parse(digest.as_ref())?;
        let path = self.path_of(&digest);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(meta.len()),
            Ok(_) => Err(StoreError::NotFound {
                digest: digest.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound {
                digest: digest.to_string(),
            }),
            Err(e) => Err(io_err("stat", &path, e)),
        }
    }

    /// Removes a blob. Returns whether it was there.
    pub fn delete(&self, digest: impl AsRef<str>) -> Result<bool, StoreError> {
        let path = self.blob_path(digest)?;
        match fs::remove_file(&path) {
            Ok(()) => {
                fsync_dir(&self.blob_dir)?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("remove", &path, e)),
        }
    }

    /// Every stored blob, sorted. Entries under `blobs/sha256/` whose name is
    /// not 64 lowercase hex digits are skipped.
    pub fn list(&self) -> Result<Vec<BlobDigest>, StoreError> {
        let entries =
            fs::read_dir(&self.blob_dir).map_err(|e| io_err("list", &self.blob_dir, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err("list", &self.blob_dir, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let is_file = entry
                .file_type()
                .map_err(|e| io_err("stat", &entry.path(), e))?
                .is_file();
            if !is_file {
                continue;
            }
            if let Ok(digest) = BlobDigest::parse(&format!("{ALGORITHM}:{name}")) {
                out.push(digest);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Re-hashes a stored blob: `Ok(())` if it still matches its digest,
    /// [`StoreError::Corrupt`] if not, [`StoreError::NotFound`] if absent.
    pub fn verify(&self, digest: impl AsRef<str>) -> Result<(), StoreError> {
        let digest = BlobDigest::parse(digest.as_ref())?;
        let path = self.path_of(&digest);
        let mut file = self.open_parsed(&digest)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; HASH_BUF];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("read", &path, e)),
            };
            hasher.update(buf.get(..n).unwrap_or(&buf));
        }
        let actual = BlobDigest::from_hasher(hasher);
        if actual != digest {
            return Err(StoreError::Corrupt {
                digest: digest.to_string(),
                actual: actual.to_string(),
                path,
            });
        }
        Ok(())
    }
}
