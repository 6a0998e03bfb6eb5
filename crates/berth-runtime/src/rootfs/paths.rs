//! Masked and read-only paths, applied after pivot_root.

use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use super::mounts::remount;
use super::safe_path::{fd_path, Root};
use crate::error::{Error, Result};

/// Hides `path`: /dev/null over a file, an empty read-only tmpfs over a
/// directory. A path that does not exist needs no masking.
pub fn mask(root: &Root, path: &Path) -> Result<()> {
    let fd = match root.open_in_root(&super::safe_path::relative(path)) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => {
            return Err(Error::sys(
                format!("open masked path {}", path.display()),
                e,
            ))
        }
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
    let fd = match root.open_in_root(&super::safe_path::relative(path)) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => {
            return Err(Error::sys(
                format!("open read-only path {}", path.display()),
                e,
            ))
        }
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
    let on_top = root
        .open_in_root(&super::safe_path::relative(path))
        .map_err(|e| Error::sys(format!("reopen {}", path.display()), e))?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    remount(&on_top, flags, path)
}
