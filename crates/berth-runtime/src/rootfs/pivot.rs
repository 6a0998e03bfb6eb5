//! Switching the container's root to the rootfs.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use super::safe_path::Root;
use crate::error::{Error, Result};

/// pivot_root into `root`, then detach the old root.
///
/// Uses `pivot_root(".", ".")`: the old root is stacked under the new one
/// at the same place, so no put_old directory has to exist in the image.
/// The old root is made a recursive slave first, so detaching it cannot
/// propagate an unmount back to the host.
pub fn pivot(root: &Root) -> Result<()> {
    fchdir(root.fd()).map_err(|e| Error::sys(format!("chdir {}", root.path().display()), e))?;
    pivot_root(".", ".")
        .map_err(|e| Error::sys(format!("pivot_root {}", root.path().display()), e))?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::sys("make old root a slave", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("detach old root", e))?;
    chdir("/").map_err(|e| Error::sys("chdir /", e))
}

/// The fallback when the current root cannot be pivoted away from (a ramfs
/// or initramfs root, where pivot_root returns EINVAL): move the rootfs
/// mount over `/` and chroot into it. The old root stays reachable to a
/// process with CAP_SYS_CHROOT, which is why it is only used when asked
/// for (`--no-pivot`) or when the host root is a ramfs.
pub fn move_and_chroot(rootfs: &Path) -> Result<()> {
    chdir(rootfs).map_err(|e| Error::sys(format!("chdir {}", rootfs.display()), e))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(|e| Error::sys(format!("move {} to /", rootfs.display()), e))?;
    chroot(".").map_err(|e| Error::sys("chroot .", e))?;
    chdir("/").map_err(|e| Error::sys("chdir /", e))
}

/// Whether the host root is a ramfs/tmpfs "rootfs", where pivot_root fails.
pub fn root_is_ramfs() -> bool {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let root_fstype = text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let sep = fields.iter().position(|f| *f == "-")?;
        (fields.get(4) == Some(&"/")).then(|| fields.get(sep + 1).copied())?
    });
    root_fstype.is_some_and(|fstype| fstype == "rootfs" || fstype == "ramfs")
}
