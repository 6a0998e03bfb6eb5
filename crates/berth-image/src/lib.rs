//! # berth-image
//!
//! The image side of Berth, as a library the daemon uses:
//! - [`mod@reference`]: Docker image references, normalized as Docker does
//!   (`busybox` is `docker.io/library/busybox:latest`).
//! - [`store`]: a content-addressed blob store (sha256), verified while
//!   blobs stream in and committed atomically.
//! - [`unpack`]: layer tars unpacked into snapshot directories, with
//!   whiteouts turned into overlayfs whiteouts, and hostile layers refused
//!   without writing anything outside the snapshot.
//! - [`overlay`]: snapshots stacked into a rootfs with overlayfs, up to 128+ layers.
//! - [`archive`]: `docker load` input (docker-archive tars and OCI image
//!   layouts) loaded into the blob store.
//!
//! Registry pull/push, the image metadata store (tags, reference counts),
//! and `save` (writing the archive formats) come next.

pub mod archive;
pub mod images;
pub mod manifest;
pub mod metadata;
pub mod overlay;
pub mod reference;
pub mod registry;
pub mod snapshots;
pub mod store;
pub mod unpack;

#[cfg(test)]
mod test_support;
