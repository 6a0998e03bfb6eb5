//! Loading images from the archive formats `docker load` and skopeo
//! produce, into a [`BlobStore`].
//!
//! - [`load_docker_archive`]: the tar `docker save` writes (`manifest.json`,
//!   a config JSON per image, uncompressed layer tars under any paths
//!   `manifest.json` names, e.g. `<id>/layer.tar` or `blobs/sha256/<hex>`).
//!   Each image gets a synthesized OCI image manifest, stored with its config
//!   and layers.
//! - [`load_oci_layout`]: an OCI image layout directory (`oci-layout`,
//!   `index.json`, `blobs/sha256/...`). Every blob reachable from
//!   `index.json` is imported, nested indexes included.
//! - [`save_docker_archive`] and [`save_oci_layout`]: the reverse, images
//!   written out of the store in those two formats (`save.rs` explains how).
//!
//! # Docker archives: two passes over a seekable reader
//!
//! The store's writer needs a blob's digest before the first byte, and
//! `manifest.json` may come after the layers, so a docker archive is read
//! twice (it must be `Read + Seek`, e.g. a [`File`]; a caller receiving a
//! stream, as `POST /images/load` does, spools it to a file first):
//!
//! 1. every entry is hashed (nothing is stored), `manifest.json` kept in
//!    memory; then the configs are read back, and everything is checked:
//!    every path `manifest.json` names is a regular file of the archive (or
//!    a link to one inside it), every layer's sha256 equals the DiffID the
//!    config lists;
//! 2. only then are the referenced files copied into the store, through the
//!    store's verifying writer, seeking straight to each one's data. The
//!    manifest of each image is stored last.
//!
//! So a rejected archive stores nothing, and files `manifest.json` does not
//! reference are never stored (nothing needs deleting). An I/O failure in
//! pass 2 can leave the config and layers of an image whose manifest was not
//! stored: unreferenced, content-addressed blobs for a later garbage
//! collection.
//!
//! # Hostile input
//!
//! Entry paths and names in `manifest.json` / `index.json` are data only,
//! looked up in a map of the archive's entries, never used as filesystem
//! paths; blob paths of an OCI layout are built from strictly checked
//! digests only. JSON documents are bounded to [`MAX_JSON_SIZE`] and an
//! archive to [`MAX_ENTRIES`] entries. Errors name the entry or blob.

pub mod diff;
mod docker;
mod oci;
mod save;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::File;
use std::io;

use serde::{Deserialize, Serialize};

use crate::reference::ReferenceError;
use crate::store::{BlobDigest, BlobStore, StoreError};

pub use diff::{changes, write_upper_as_layer, Change};
pub use docker::{load_docker_archive, load_docker_archive_file};
pub use oci::load_oci_layout;
pub use save::{save_docker_archive, save_oci_layout, SaveImage, SaveLayer, ANNOTATION_IMAGE_NAME};

/// The largest JSON document (`manifest.json`, an image config, an OCI
/// manifest or index) accepted, in bytes.
pub const MAX_JSON_SIZE: u64 = 16 * 1024 * 1024;

/// The most entries a docker archive may have.
pub const MAX_ENTRIES: usize = 1_000_000;

/// How deep OCI indexes may nest, and how many links are followed when
/// resolving one archive path.
pub const MAX_DEPTH: usize = 8;

/// OCI image manifest media type.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer media type.
pub const MEDIA_TYPE_OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Docker schema 2 manifest media type.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// The annotation naming an image in an OCI layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI content descriptor. Serializes with the OCI field names, in a
/// fixed order, leaving out absent optional fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// The blob's media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// The blob's digest, `sha256:<hex>`.
    pub digest: String,
    /// The blob's size in bytes.
    pub size: u64,
    /// The platform (of a manifest in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
    /// Annotations, sorted by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    fn new(media_type: &str, digest: &BlobDigest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            platform: None,
            annotations: None,
        }
    }
}

/// An OCI image manifest as written by [`load_docker_archive`] (and read
/// back from an OCI layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// [`MEDIA_TYPE_OCI_MANIFEST`] when written here.
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
}

/// One image loaded into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// The image manifest (synthesized for a docker archive).
    pub manifest_digest: BlobDigest,
    /// The image config.
    pub config_digest: BlobDigest,
    /// The normalized references the image is tagged with
    /// (`docker.io/library/busybox:latest`); may be empty.
    pub tags: Vec<String>,
    /// For an OCI layout: the raw `org.opencontainers.image.ref.name` of the
    /// `index.json` entry the image was found under, e.g. a bare `latest`
    /// that could not be turned into a tag without a name. `None` for a
    /// docker archive.
    pub ref_name: Option<String>,
    /// For an OCI layout image found in a nested index: the digests of the
    /// indexes leading to it, outermost first. Empty otherwise.
    pub index_digests: Vec<BlobDigest>,
    /// The layer descriptors of the manifest, base first.
    pub layers: Vec<Descriptor>,
    /// The config's `rootfs.diff_ids`.
    pub diff_ids: Vec<String>,
}

/// Why loading an archive failed. Each variant names the archive entry, the
/// file or the blob involved.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading the archive or a layout file failed.
    #[error("{what}: {op}: {source}")]
    Io {
        op: &'static str,
        what: String,
        #[source]
        source: io::Error,
    },
    /// The blob store refused an operation (a digest or size mismatch
    /// while importing included).
    #[error("{what}: {source}")]
    Store {
        what: String,
        #[source]
        source: StoreError,
    },
    /// A JSON document is malformed.
    #[error("{what}: invalid JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A JSON document is larger than [`MAX_JSON_SIZE`].
    #[error("{what}: {size} bytes, more than the {limit} allowed")]
    TooLarge { what: String, size: u64, limit: u64 },
    /// The archive has more than [`MAX_ENTRIES`] entries.
    #[error("archive has more than {limit} entries")]
    TooManyEntries { limit: usize },
    /// The archive has no `manifest.json`.
    #[error("archive has no manifest.json (not a docker-archive?)")]
    NoManifest,
    /// `manifest.json` lists no image.
    #[error("manifest.json lists no image")]
    Empty,
    /// A path `manifest.json` names is not a file of the archive.
    #[error("{referenced_by} names {path:?}, which is not a file in the archive")]
    MissingEntry { path: String, referenced_by: String },
    /// A link in the archive cannot be followed.
    #[error("archive entry {path:?}: {reason}")]
    BadLink { path: String, reason: &'static str },
    /// A layer's content does not hash to the DiffID its config lists.
    #[error("layer {layer:?} (#{index}): DiffID mismatch: config {config} expects {expected}, layer is {actual}")]
    DiffIdMismatch {
        layer: String,
        index: usize,
        config: String,
        expected: String,
        actual: String,
    },
    /// The number of layers differs from the number of DiffIDs.
    #[error("{what}: {layers} layers but the config {config} lists {diff_ids} DiffIDs")]
    LayerCount {
        what: String,
        config: String,
        layers: usize,
        diff_ids: usize,
    },
    /// A digest in the input is malformed or not sha256.
    #[error("{what}: {source}")]
    InvalidDigest {
        what: String,
        #[source]
        source: StoreError,
    },
    /// A blob read from an OCI layout does not match its descriptor.
    #[error("blob {digest}: {reason}")]
    BlobMismatch { digest: String, reason: String },
    /// An image name is not a valid reference.
    #[error("{what}: invalid image name {name:?}: {source}")]
    InvalidReference {
        what: String,
        name: String,
        #[source]
        source: ReferenceError,
    },
    /// Not an OCI image layout, or one of an unsupported version.
    #[error("{path}: {reason}")]
    BadLayout { path: String, reason: String },
    /// A descriptor has a media type this loader does not know.
    #[error("blob {digest}: unsupported media type {media_type:?}")]
    UnsupportedMediaType { digest: String, media_type: String },
    /// OCI indexes nest deeper than [`MAX_DEPTH`].
    #[error("blob {digest}: indexes nested more than {limit} deep")]
    TooDeep { digest: String, limit: usize },
    /// An image to save does not agree with what the store holds (config,
    /// layers, DiffIDs), is an index, or shares a tag with another image.
    #[error("{what}: {reason}")]
    BadSaveImage { what: String, reason: String },
    /// The directory to save an OCI layout into is not empty, or not a
    /// directory.
    #[error("{path}: {reason}")]
    BadDestination { path: String, reason: &'static str },
}

fn io_err(op: &'static str, what: impl Into<String>, source: io::Error) -> ArchiveError {
    ArchiveError::Io {
        op,
        what: what.into(),
        source,
    }
}

fn store_err(what: impl Into<String>, source: StoreError) -> ArchiveError {
    ArchiveError::Store {
        what: what.into(),
        source,
    }
}

fn parse_digest(what: impl Into<String>, s: &str) -> Result<BlobDigest, ArchiveError> {
    BlobDigest::parse(s).map_err(|source| ArchiveError::InvalidDigest {
        what: what.into(),
        source,
    })
}

fn check_json_size(what: &str, size: u64) -> Result<(), ArchiveError> {
    if size > MAX_JSON_SIZE {
        return Err(ArchiveError::TooLarge {
            what: what.to_string(),
            size,
            limit: MAX_JSON_SIZE,
        });
    }
    Ok(())
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, data: &[u8]) -> Result<T, ArchiveError> {
    serde_json::from_slice(data).map_err(|source| ArchiveError::Json {
        what: what.to_string(),
        source,
    })
}

/// The parts of an image config this module reads.
#[derive(Debug, Deserialize)]
struct ConfigRootfs {
    #[serde(default)]
    rootfs: Option<Rootfs>,
}

#[derive(Debug, Deserialize)]
struct Rootfs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

fn diff_ids_of(what: &str, config: &[u8]) -> Result<Vec<String>, ArchiveError> {
    let parsed: ConfigRootfs = parse_json(what, config)?;
    Ok(parsed.rootfs.map(|r| r.diff_ids).unwrap_or_default())
}

/// Stores `data` (a JSON document) and returns its digest.
fn put_json(store: &BlobStore, what: &str, data: &[u8]) -> Result<BlobDigest, ArchiveError> {
    store.put_bytes(data).map_err(|e| store_err(what, e))
}

/// Copies `reader` into the store as `digest` of `size` bytes, verified by
/// the store's writer. Skips blobs the store already holds.
fn import_blob(
    store: &BlobStore,
    what: &str,
    digest: &BlobDigest,
    size: u64,
    reader: &mut dyn io::Read,
) -> Result<(), ArchiveError> {
    if store.contains(digest).map_err(|e| store_err(what, e))? {
        return Ok(());
    }
    let mut w = store
        .writer(digest, Some(size))
        .map_err(|e| store_err(what, e))?;
    io::copy(reader, &mut w).map_err(|e| io_err("copy into the store", what, e))?;
    w.commit().map_err(|e| store_err(what, e))?;
    Ok(())
}

/// Opens a file for reading without following a symlink as last component.
fn open_nofollow(path: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}
