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
//!
//! Registry pull/push, the image metadata store, overlay mounts and the
//! archive formats (docker-archive, OCI layout) come next.

pub mod reference;
pub mod store;
pub mod unpack;
