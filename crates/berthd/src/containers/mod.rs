//! Containers: records and their store, the create request merged with
//! the image, the OCI spec, the root filesystem, the shim, and the
//! lifecycle (start, stop, kill, wait, remove, exit handling).

pub mod archive;
pub mod commit_changes;
pub mod create;
pub mod exec;
pub mod fs_view;
pub mod health;
pub mod healthcheck_instruction;
pub mod lifecycle;
pub mod logs;
pub mod mounts;
pub mod names;
pub mod record;
pub mod rootfs;
pub mod seccomp;
pub mod shim;
pub mod spec;
pub mod stats;
pub mod store;
pub mod tar_tree;
pub mod view;
