//! The few fd-relative file system operations the unpacker needs.
//!
//! Every parent directory is opened with openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) from a descriptor of the
//! snapshot, so a path can neither leave the snapshot nor pass through a
//! symlink; the final component is then created or changed relative to that
//! parent descriptor without ever following a symlink.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};

use berth_sys::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS};

fn cstring(bytes: &[u8]) -> nix::Result<CString> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

/// The snapshot directory, as a descriptor everything is resolved from.
pub(super) struct Root {
    fd: OwnedFd,
}

impl Root {
    pub(super) fn open(path: &Path) -> nix::Result<Self> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd })
    }

    /// Opens the directory `rel` (relative, already free of `..`, may be
    /// empty for the root) as an O_PATH descriptor. Any symlink on the way
    /// fails with ELOOP.
    pub(super) fn dir(&self, rel: &Path) -> nix::Result<OwnedFd> {
        let bytes = rel.as_os_str().as_bytes();
        let c = cstring(if bytes.is_empty() { b"." } else { bytes })?;
        openat2(
            self.fd.as_fd(),
            &c,
            libc::O_PATH | libc::O_DIRECTORY,
            RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        )
    }

    /// Like [`Root::dir`], but creates missing directories (mode 0755, as
    /// Docker does for parents a layer does not list).
    pub(super) fn dir_all(&self, rel: &Path) -> nix::Result<OwnedFd> {
        match self.dir(rel) {
            Err(Errno::ENOENT) => {}
            other => return other,
        }
        let mut prefix = PathBuf::new();
        let mut parent = self.dir(&prefix)?;
        for part in rel.components() {
            prefix.push(part);
            match nix::sys::stat::mkdirat(
                parent.as_fd(),
                part.as_os_str(),
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
            parent = self.dir(&prefix)?;
        }
        Ok(parent)
    }
}

/// lstat of `name` in `dir`, or None if nothing is there.
pub(super) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<Option<FileStat>> {
    match nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn is_dir(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Removes whatever is at `name` in `dir` (never following it); an existing
/// directory must be empty.
pub(super) fn remove_at(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<()> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    let flag = if is_dir(&st) {
        nix::unistd::UnlinkatFlags::RemoveDir
    } else {
        nix::unistd::UnlinkatFlags::NoRemoveDir
    };
    nix::unistd::unlinkat(dir, name, flag)
}

/// Creates a new regular file, refusing to follow or reuse anything.
pub(super) fn create_file(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<OwnedFd> {
    nix::fcntl::openat(
        dir,
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
}

/// An O_PATH descriptor of `name` itself (a symlink is not followed).
pub(super) fn node_fd(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<OwnedFd> {
    nix::fcntl::openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// The `/proc/self/fd/N` path naming exactly the inode behind `fd`.
pub(super) fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// chmod of the inode behind an O_PATH descriptor. The descriptor was
/// opened with O_NOFOLLOW and is checked not to be a symlink, so the
/// magic link leads to that very inode and nothing else.
pub(super) fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> nix::Result<()> {
    let st = nix::sys::stat::fstat(fd)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(Errno::ELOOP);
    }
    let path = fd_path(fd);
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &path,
        Mode::from_bits_truncate(mode & 0o7777),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
}

/// Sets an xattr on the inode behind `fd` (through its magic link, which
/// names exactly that inode).
pub(super) fn setxattr_fd(fd: BorrowedFd<'_>, name: &[u8], value: &[u8]) -> nix::Result<()> {
    let path = cstring(fd_path(fd).as_os_str().as_bytes())?;
    let name = cstring(name)?;
    // SAFETY: both strings are NUL-terminated and `value` is a valid slice
    // of the given length; all outlive the call.
    let ret = unsafe {
        libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// Sets an xattr on `name` in `dir` without following it (for symlinks).
pub(super) fn lsetxattr_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    attr: &[u8],
    value: &[u8],
) -> nix::Result<()> {
    let mut p = fd_path(dir).into_os_string().into_vec();
    p.push(b'/');
    p.extend_from_slice(name.as_bytes());
    let path = cstring(&p)?;
    let attr = cstring(attr)?;
    // SAFETY: both strings are NUL-terminated and `value` is a valid slice
    // of the given length; all outlive the call.
    let ret = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            attr.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// mknodat for devices, fifos and whiteouts.
pub(super) fn mknod_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    kind: SFlag,
    major: u64,
    minor: u64,
) -> nix::Result<()> {
    nix::sys::stat::mknodat(
        dir,
        name,
        kind,
        Mode::from_bits_truncate(0o600),
        nix::sys::stat::makedev(major, minor),
    )
}
