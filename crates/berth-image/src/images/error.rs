//! Errors of the image service, worded as Docker words them where a user
//! sees them (`No such image`, `conflict: unable to remove ...`).

use std::io;
use std::path::{Path, PathBuf};

use crate::archive::ArchiveError;
use crate::manifest::ManifestError;
use crate::metadata::MetadataError;
use crate::reference::ReferenceError;
use crate::registry::RegistryError;
use crate::snapshots::SnapshotError;
use crate::store::StoreError;
use crate::unpack::UnpackError;

/// Why an image operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The name or id matches no image.
    #[error("No such image: {0}")]
    NotFound(String),
    /// The operation would break something (an image in use, a tag shared
    /// by several repositories) unless forced.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid reference format: {0}")]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A layer could not be unpacked (hostile, truncated, or the disk).
    #[error("layer {layer}: {source}")]
    Unpack {
        layer: String,
        #[source]
        source: UnpackError,
    },
    /// A layer's uncompressed content is not what the config says.
    #[error(
        "layer {layer}: DiffID mismatch: the image config says {expected}, the content is {actual}"
    )]
    DiffIdMismatch {
        layer: String,
        expected: String,
        actual: String,
    },
    /// The image config is malformed or disagrees with the manifest.
    #[error("image config {digest}: {what}")]
    InvalidConfig { digest: String, what: String },
    /// A layer worker thread panicked (a bug); reported rather than
    /// propagated.
    #[error("internal error: a layer worker failed: {0}")]
    Worker(String),
    /// The filesystem under the image root is full (or over quota). What
    /// had been written for the operation was removed again.
    #[error("no space left on device under {}: {source}", root.display())]
    DiskFull {
        root: PathBuf,
        #[source]
        source: Box<ImageError>,
    },
}

impl ImageError {
    /// This error, as [`ImageError::DiskFull`] if a full disk caused it
    /// (ENOSPC or EDQUOT anywhere in its chain of sources).
    pub fn or_disk_full(self, root: &Path) -> ImageError {
        if matches!(self, ImageError::DiskFull { .. }) || !caused_by_full_disk(&self) {
            return self;
        }
        ImageError::DiskFull {
            root: root.to_path_buf(),
            source: Box::new(self),
        }
    }
}

fn caused_by_full_disk(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        let errno = e
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
            .or_else(|| e.downcast_ref::<nix::errno::Errno>().map(|n| *n as i32));
        if matches!(errno, Some(libc::ENOSPC | libc::EDQUOT)) {
            return true;
        }
        next = e.source();
    }
    false
}
