//! The spec's `mounts`, made inside the rootfs before pivot_root.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use oci_spec::runtime::Mount;

use super::mount_options::{self, MountOptions};
use super::safe_path::{fd_path, Create, Root};
use crate::error::{Error, Result};

/// How the container sees its cgroups at a `cgroup` mount.
#[derive(Debug, Clone, Default)]
pub enum CgroupView {
    /// Mount a cgroup2 filesystem (pure v2 host, container has a cgroupns).
    #[default]
    Unified,
    /// A tmpfs with one read-only bind per v1 hierarchy: (name, host dir).
    PerHierarchy(Vec<(String, PathBuf)>),
}

/// Makes one spec mount inside `root`.
pub fn mount_one(root: &Root, bundle: &Path, m: &Mount, cgroups: &CgroupView) -> Result<()> {
    let options = mount_options::parse(m.options().as_deref().unwrap_or_default())?;
    let kind = m.typ().as_deref().unwrap_or("");
    if kind == "cgroup" || kind == "cgroup2" {
        return mount_cgroups(root, m.destination(), &options, cgroups);
    }
    if options.is_bind() || kind == "bind" {
        return bind_mount(root, bundle, m, options);
    }
    let target = root.resolve(m.destination(), Create::Directory)?;
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(kind));
    mount_fs(&source, &target, kind, &options, m.destination())?;
    apply_propagation(root, m.destination(), &options)
}

fn bind_mount(root: &Root, bundle: &Path, m: &Mount, mut options: MountOptions) -> Result<()> {
    let source = m.source().as_ref().ok_or_else(|| {
        Error::InvalidSpec(format!(
            "bind mount {} has no source",
            m.destination().display()
        ))
    })?;
    let source = bundle.join(source);
    let meta =
        std::fs::metadata(&source).map_err(|e| Error::io("bind mount source", &source, e))?;
    let create = if meta.is_dir() {
        Create::Directory
    } else {
        Create::File
    };
    let target = root.resolve(m.destination(), create)?;
    options.flags.insert(MsFlags::MS_BIND);
    let bind_flags = options.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
    mount(
        Some(&source),
        &fd_path(target.as_fd()),
        None::<&str>,
        bind_flags,
        None::<&str>,
    )
    .map_err(|e| mount_error(&source, m.destination(), e))?;
    // A bind ignores every flag but MS_BIND|MS_REC: apply the rest by remount.
    if !(options.flags - bind_flags).is_empty() {
        let on_top = root.resolve(m.destination(), Create::Nothing)?;
        remount(&on_top, options.flags, m.destination())?;
    }
    apply_propagation(root, m.destination(), &options)
}

/// Remounts the bind mount behind `fd` with `flags`, keeping the flags the
/// kernel locked (nodev, nosuid, noexec...) so this also works in a user
/// namespace.
pub fn remount(fd: &OwnedFd, flags: MsFlags, what: &Path) -> Result<()> {
    let locked = locked_flags(fd);
    let flags = flags | locked | MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
    let flags = flags - MsFlags::MS_REC;
    mount(
        None::<&str>,
        &fd_path(fd.as_fd()),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .map_err(|e| Error::sys(format!("remount {} with {flags:?}", what.display()), e))
}

fn locked_flags(fd: &OwnedFd) -> MsFlags {
    let Ok(st) = fstatvfs(fd) else {
        return MsFlags::empty();
    };
    let pairs = [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    pairs
        .iter()
        .filter(|(st_flag, _)| st.flags().contains(*st_flag))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms)
}

fn mount_fs(
    source: &Path,
    target: &OwnedFd,
    kind: &str,
    options: &MountOptions,
    dest: &Path,
) -> Result<()> {
    let data = (!options.data.is_empty()).then_some(options.data.as_str());
    mount(
        Some(source),
        &fd_path(target.as_fd()),
        Some(kind),
        options.flags,
        data,
    )
    .map_err(|e| mount_error(source, dest, e))
}

fn apply_propagation(root: &Root, dest: &Path, options: &MountOptions) -> Result<()> {
    if options.propagation.is_empty() {
        return Ok(());
    }
    let fd = root.resolve(dest, Create::Nothing)?;
    for flag in &options.propagation {
        mount(
            None::<&str>,
            &fd_path(fd.as_fd()),
            None::<&str>,
            *flag,
            None::<&str>,
        )
        .map_err(|e| Error::sys(format!("set propagation {flag:?} on {}", dest.display()), e))?;
    }
    Ok(())
}

fn mount_cgroups(
    root: &Root,
    dest: &Path,
    options: &MountOptions,
    view: &CgroupView,
) -> Result<()> {
    let target = root.resolve(dest, Create::Directory)?;
    let flags = options.flags - MsFlags::MS_BIND - MsFlags::MS_REC;
    match view {
        CgroupView::Unified => mount(
            Some("cgroup2"),
            &fd_path(target.as_fd()),
            Some("cgroup2"),
            flags,
            None::<&str>,
        )
        .map_err(|e| mount_error(Path::new("cgroup2"), dest, e)),
        CgroupView::PerHierarchy(dirs) => {
            let tmpfs_flags = flags - MsFlags::MS_RDONLY;
            mount(
                Some("tmpfs"),
                &fd_path(target.as_fd()),
                Some("tmpfs"),
                tmpfs_flags,
                Some("mode=755"),
            )
            .map_err(|e| mount_error(Path::new("tmpfs"), dest, e))?;
            for (name, host_dir) in dirs {
                let sub = dest.join(name);
                let fd = root.resolve(&sub, Create::Directory)?;
                mount(
                    Some(host_dir),
                    &fd_path(fd.as_fd()),
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(|e| mount_error(host_dir, &sub, e))?;
                let on_top = root.resolve(&sub, Create::Nothing)?;
                remount(&on_top, flags, &sub)?;
            }
            if options.is_readonly() {
                let top = root.resolve(dest, Create::Nothing)?;
                remount(&top, flags, dest)?;
            }
            Ok(())
        }
    }
}

fn mount_error(source: &Path, dest: &Path, e: nix::Error) -> Error {
    Error::sys(
        format!("mount {} on {}", source.display(), dest.display()),
        e,
    )
}
