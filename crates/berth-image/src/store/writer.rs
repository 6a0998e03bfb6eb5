//! Streaming a blob into the store: bytes go to a private ingest file and
//! through sha256 at the same time; only a blob whose size and digest check
//! out is fsynced and renamed under `blobs/`.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{fsync_dir, io_err, BlobDigest, StoreError};

/// A [`Write`] into the store for one expected blob.
///
/// Made by [`BlobStore::writer`](super::BlobStore::writer). Nothing is
/// visible under `blobs/` until [`commit`](Self::commit) succeeds; dropping
/// the writer without committing (or a failed commit) removes its ingest
/// file.
#[derive(Debug)]
pub struct BlobWriter {
    expected: BlobDigest,
    expected_size: Option<u64>,
    /// `None` once closed (after commit).
    file: Option<File>,
    ingest_path: PathBuf,
    blob_dir: PathBuf,
    hasher: Sha256,
    /// Bytes hashed and written to the ingest file.
    written: u64,
    /// Bytes offered to `write`, including any refused for exceeding the
    /// expected size; what a size mismatch reports.
    offered: u64,
    committed: bool,
}

impl BlobWriter {
    pub(super) fn new(
        expected: BlobDigest,
        expected_size: Option<u64>,
        file: File,
        ingest_path: PathBuf,
        blob_dir: PathBuf,
    ) -> Self {
        BlobWriter {
            expected,
            expected_size,
            file: Some(file),
            ingest_path,
            blob_dir,
            hasher: Sha256::new(),
            written: 0,
            offered: 0,
            committed: false,
        }
    }

    /// The digest this writer was opened for.
    pub fn expected(&self) -> &BlobDigest {
        &self.expected
    }

    /// The size this writer was opened for, if one was given.
    pub fn expected_size(&self) -> Option<u64> {
        self.expected_size
    }

    /// How many bytes have been written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The partial file this writer fills (under `<root>/ingest/`).
    pub fn ingest_path(&self) -> &Path {
        &self.ingest_path
    }

    /// Checks the size and the digest of what was written, fsyncs the data,
    /// renames it to `blobs/sha256/<hex>` and fsyncs that directory. Returns
    /// the blob's path.
    ///
    /// Committing a blob the store already holds is fine: the verified copy
    /// atomically replaces the existing one, whose content is the same.
    ///
    /// On any error nothing is left behind: the ingest file is removed and
    /// `blobs/` is untouched.
    pub fn commit(mut self) -> Result<PathBuf, StoreError> {
        if let Some(expected) = self.expected_size {
            if self.offered != expected {
                return Err(StoreError::SizeMismatch {
                    digest: self.expected.to_string(),
                    expected,
                    actual: self.offered,
                });
            }
        }
        let hasher = std::mem::take(&mut self.hasher);
        let actual = BlobDigest::from_hasher(hasher);
        if actual != self.expected {
            return Err(StoreError::DigestMismatch {
                expected: self.expected.to_string(),
                actual: actual.to_string(),
            });
        }

        let Some(mut file) = self.file.take() else {
            // `file` is only taken here, and `commit` consumes the writer.
            return Err(io_err(
                "commit (writer already closed)",
                &self.ingest_path,
                io::Error::other("ingest file already closed"),
            ));
        };
        file.flush()
            .map_err(|e| io_err("flush ingest file", &self.ingest_path, e))?;
        file.sync_all()
            .map_err(|e| io_err("fsync ingest file", &self.ingest_path, e))?;
        drop(file);

        let target = self.blob_dir.join(self.expected.hex());
        std::fs::rename(&self.ingest_path, &target)
            .map_err(|e| io_err("rename ingest file into place", &self.ingest_path, e))?;
        // From here on the ingest file no longer exists; Drop must not try
        // to remove a path somebody else's writer may since have reused.
        self.committed = true;
        fsync_dir(&self.blob_dir)?;
        Ok(target)
    }

    fn refuse_overflow(&self, offered: u64) -> io::Error {
        let expected = self.expected_size.unwrap_or(0);
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "blob {}: {offered} bytes offered, more than the expected {expected}",
                self.expected
            ),
        )
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("blob writer is closed"));
        };
        if let Some(limit) = self.expected_size {
            let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
            if self.written.saturating_add(len) > limit {
                // Refuse instead of storing an unbounded stream from a
                // hostile source; commit reports the size mismatch.
                self.offered = self.written.saturating_add(len);
                return Err(self.refuse_overflow(self.offered));
            }
        }
        let n = file.write(buf)?;
        let chunk = buf.get(..n).unwrap_or(buf);
        self.hasher.update(chunk);
        self.written += u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        self.offered = self.offered.max(self.written);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.committed {
            drop(self.file.take());
            // Best effort: a leftover is removed by the next `open` anyway.
            let _ = std::fs::remove_file(&self.ingest_path);
        }
    }
}
