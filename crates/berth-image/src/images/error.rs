//! Errors of the image service, worded as Docker words them where a user
//! sees them (`No such image`, `conflict: unable to remove ...`).

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
}
