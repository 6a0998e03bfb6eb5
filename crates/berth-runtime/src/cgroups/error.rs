//! The cgroup error type. Every variant names the file, path or setting that
//! failed, so a CLI can print it as is.

use std::path::PathBuf;

/// Everything that can go wrong while detecting, creating, limiting, joining,
/// freezing, reading or removing a container's cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Reading a cgroup file or listing a directory failed.
    #[error("cgroup {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Writing a value to a cgroup control file failed.
    #[error("cgroup: write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },

    /// Creating a cgroup directory failed.
    #[error("cgroup: mkdir {path}: {source}")]
    Mkdir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Removing a cgroup directory failed.
    #[error("cgroup: rmdir {path}: {source}")]
    Rmdir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A cgroup file held something we could not understand.
    #[error("cgroup: {path}: unexpected content {content:?}: {reason}")]
    Parse {
        path: PathBuf,
        content: String,
        reason: &'static str,
    },

    /// A line of /proc/self/mountinfo could not be parsed.
    #[error("mountinfo line {line}: {reason}: {text:?}")]
    Mountinfo {
        line: usize,
        text: String,
        reason: &'static str,
    },

    /// Neither a cgroup v1 nor a cgroup2 filesystem is mounted.
    #[error("no cgroup filesystem is mounted (no `cgroup` or `cgroup2` entry in mountinfo)")]
    NoCgroupFs,

    /// `linux.cgroupsPath` is malformed or unsafe.
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },

    /// A value in `linux.resources` is out of range or inconsistent.
    #[error("invalid linux.resources.{setting}: {reason}")]
    InvalidResource {
        setting: &'static str,
        reason: String,
    },

    /// The spec asks for a limit whose controller exists in no hierarchy.
    #[error(
        "linux.resources.{setting} is set but no {controller} controller is available \
         (not a mounted v1 hierarchy, not in cgroup2's cgroup.controllers; layout: {layout})"
    )]
    ControllerMissing {
        controller: &'static str,
        setting: &'static str,
        layout: &'static str,
    },

    /// The kernel or the layout cannot do what was asked.
    #[error("cgroup: unsupported: {0}")]
    Unsupported(String),

    /// The cgroup did not reach the wanted freezer state in time.
    #[error("cgroup {path}: did not become {wanted} within {waited_ms} ms (last state {last:?})")]
    FreezeTimeout {
        path: PathBuf,
        wanted: &'static str,
        last: String,
        waited_ms: u128,
    },
}

/// Result alias for this module.
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;
