//! A container's filesystem: the image's layers with the container's own
//! writable layer on top (overlayfs), mounted while it runs, and the
//! /etc/hostname, /etc/hosts and /etc/resolv.conf files bound into it.

use std::fs;
use std::path::{Path, PathBuf};

use berth_image::overlay::{mount_overlay, unmount};

use super::record::ContainerRecord;
use super::spec::EtcFiles;
use crate::daemon::Daemon;
use crate::http::ApiError;

/// The paths of one container's filesystem.
pub struct RootfsPaths {
    pub rootfs: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub hostname: PathBuf,
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
}

impl RootfsPaths {
    pub fn new(dir: &Path) -> RootfsPaths {
        RootfsPaths {
            rootfs: dir.join("rootfs"),
            upper: dir.join("diff"),
            work: dir.join("work"),
            hostname: dir.join("hostname"),
            hosts: dir.join("hosts"),
            resolv_conf: dir.join("resolv.conf"),
        }
    }

    pub fn etc(&self) -> EtcFiles<'_> {
        EtcFiles {
            hostname: &self.hostname,
            hosts: &self.hosts,
            resolv_conf: &self.resolv_conf,
        }
    }
}

impl Daemon {
    /// Mounts the container's root filesystem (idempotent: an existing
    /// mount is kept) and writes its etc files.
    pub fn mount_rootfs(
        &self,
        record: &ContainerRecord,
        dir: &Path,
    ) -> Result<RootfsPaths, ApiError> {
        let paths = RootfsPaths::new(dir);
        for d in [&paths.rootfs, &paths.upper, &paths.work] {
            fs::create_dir_all(d)
                .map_err(|e| ApiError::internal(format!("creating {}: {e}", d.display())))?;
        }
        write_etc_files(record, &paths)?;
        if is_mountpoint(&paths.rootfs) {
            return Ok(paths);
        }
        let image = self
            .images
            .resolve(&record.image_id)
            .map_err(|e| ApiError::internal(format!("image of container {}: {e}", record.id)))?;
        let lowers = self
            .images
            .layer_paths(&image)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let links = self.images.links_dir();
        mount_overlay(
            &lowers,
            &paths.upper,
            &paths.work,
            &paths.rootfs,
            Some(&links),
        )
        .map_err(|e| {
            ApiError::internal(format!("mounting the filesystem of {}: {e}", record.id))
        })?;
        Ok(paths)
    }

    /// Unmounts it (if mounted).
    pub fn unmount_rootfs(&self, dir: &Path) {
        unmount_rootfs(dir);
    }
}

/// Unmounts the filesystem of the container whose directory is `dir` (if
/// mounted). Returns whether it is unmounted now.
pub fn unmount_rootfs(dir: &Path) -> bool {
    let rootfs = dir.join("rootfs");
    if !is_mountpoint(&rootfs) {
        return true;
    }
    match unmount(&rootfs) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("berthd: unmounting {}: {e}", rootfs.display());
            false
        }
    }
}

/// Whether `path` is a mount point (its device differs from its parent's,
/// or /proc/self/mountinfo lists it).
pub fn is_mountpoint(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mnt| unescape_mountinfo(mnt) == wanted)
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn write_etc_files(record: &ContainerRecord, paths: &RootfsPaths) -> Result<(), ApiError> {
    let hostname = record.config["Hostname"]
        .as_str()
        .filter(|h| !h.is_empty())
        .unwrap_or(record.short_id())
        .to_string();
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
    );
    let resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let write = |path: &Path, text: &str| {
        fs::write(path, text)
            .map_err(|e| ApiError::internal(format!("writing {}: {e}", path.display())))
    };
    write(&paths.hostname, &format!("{hostname}\n"))?;
    write(&paths.hosts, &hosts)?;
    write(&paths.resolv_conf, &resolv)
}
