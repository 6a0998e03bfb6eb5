//! Masked and read-only paths, applied after pivot_root.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use super::mounts::remount;
use super::safe_path::{fd_path, Root};
use crate::error::{Error, Result};

/// Hides `path`: /dev/null over a file, an empty read-only tmpfs over a
/// directory. A path that does not exist needs no masking.
pub fn mask(root: &Root, path: &Path) -> Result<()> {
    let Some(fd) = open_existing(root, path)? else {
        return Ok(());
    };
    let target = fd_path(fd.as_fd());
    let is_dir = nix::sys::stat::fstat(fd.as_fd())
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
    let result = if is_dir {
        mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            Some("size=0,mode=555"),
        )
    } else {
        mount(
            Some("/dev/null"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    result.map_err(|e| Error::sys(format!("mask {}", path.display()), e))
}

/// Makes `path` read-only with a bind mount onto itself.
pub fn make_readonly(root: &Root, path: &Path) -> Result<()> {
    let Some(fd) = open_existing(root, path)? else {
        return Ok(());
    };
    let target = fd_path(fd.as_fd());
    mount(
        Some(&target),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::sys(format!("bind read-only path {}", path.display()), e))?;
    let on_top = open_existing(root, path)?.ok_or_else(|| {
        Error::InitFailed(format!("{} vanished while made read-only", path.display()))
    })?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    remount(&on_top, flags, path)
}

/// Opens `path` inside the root; a path the image does not have is None
/// (nothing to mask or protect).
fn open_existing(root: &Root, path: &Path) -> Result<Option<OwnedFd>> {
    match root.open_in_root(&super::safe_path::relative(path)) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(Error::sys(format!("open {}", path.display()), e)),
    }
}
