//! Path resolution confined to a root directory.
//!
//! Every mount target, device node and symlink the runtime makes inside a
//! rootfs is resolved with openat2(RESOLVE_IN_ROOT) from a descriptor of
//! the rootfs, so symlinks in an image (`/dev -> /host/dev`, `../../etc`)
//! resolve *inside* it (CVE-2021-30465 and the /dev symlink class). The
//! result is an O_PATH descriptor; mounts then target `/proc/self/fd/N`,
//! which is exactly that inode, so a symlink swapped in afterwards changes
//! nothing.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::error::{Error, Result};
use crate::syscall::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};

/// How many dangling symlinks one resolution follows before giving up.
const MAX_SYMLINKS: u32 = 40;

/// What to create at a path that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Nothing,
    Directory,
    File,
}

/// A directory that paths are resolved inside of.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Opens `path` as a root (it must be a directory).
    pub fn open(path: &Path) -> Result<Self> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys(format!("open root {}", path.display()), e))?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `path` (absolute or relative, always taken inside the root)
    /// as an O_PATH descriptor, creating what is missing as asked.
    pub fn resolve(&self, path: &Path, create: Create) -> Result<OwnedFd> {
        let rel = relative(path);
        match self.open_in_root(&rel) {
            Ok(fd) => Ok(fd),
            Err(Errno::ENOENT) if create != Create::Nothing => self.create_path(&rel, create, 0),
            Err(e) => Err(self.error("resolve", &rel, e)),
        }
    }

    /// Opens an existing path inside the root.
    pub fn open_in_root(&self, rel: &Path) -> nix::Result<OwnedFd> {
        let c = to_cstring(rel)?;
        openat2(
            self.fd(),
            &c,
            libc::O_PATH,
            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        )
    }

    /// Creates the missing components of `rel`, one at a time. Each parent
    /// is re-resolved inside the root before the child is made in it.
    fn create_path(&self, rel: &Path, create: Create, depth: u32) -> Result<OwnedFd> {
        if depth > MAX_SYMLINKS {
            return Err(self.error("resolve", rel, Errno::ELOOP));
        }
        let parts: Vec<_> = rel.components().collect();
        let mut prefix = PathBuf::new();
        for (i, part) in parts.iter().enumerate() {
            let parent = self.parent_fd(&prefix)?;
            prefix.push(part);
            let last = i + 1 == parts.len();
            match self.open_in_root(&prefix) {
                Ok(fd) if last => return Ok(fd),
                Ok(_) => continue,
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(self.error("resolve", &prefix, e)),
            }
            let name = part.as_os_str();
            let made = if last && create == Create::File {
                make_file(parent.as_fd(), name)
            } else {
                nix::sys::stat::mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o755))
            };
            match made {
                Ok(()) => {}
                // Something is there but does not resolve: a dangling
                // symlink. Follow it, inside the root, and start again.
                Err(Errno::EEXIST) => {
                    if let Some(next) =
                        self.follow_dangling(parent.as_fd(), name, &prefix, &parts[i + 1..])
                    {
                        return self.create_path(&next, create, depth + 1);
                    }
                }
                Err(e) => return Err(self.error("create", &prefix, e)),
            }
        }
        self.open_in_root(&prefix)
            .map_err(|e| self.error("resolve", &prefix, e))
    }

    /// The path to resolve instead when `name` in `parent` is a symlink:
    /// its target (taken inside the root) followed by the remaining parts.
    fn follow_dangling(
        &self,
        parent: BorrowedFd<'_>,
        name: &std::ffi::OsStr,
        link_path: &Path,
        rest: &[Component<'_>],
    ) -> Option<PathBuf> {
        let target = nix::fcntl::readlinkat(parent, name).ok()?;
        let target = Path::new(&target);
        let mut next = if target.is_absolute() {
            relative(target)
        } else {
            link_path.parent().unwrap_or(Path::new("")).join(target)
        };
        next.extend(rest.iter());
        Some(next)
    }

    fn parent_fd(&self, prefix: &Path) -> Result<OwnedFd> {
        if prefix.as_os_str().is_empty() {
            return self
                .fd
                .try_clone()
                .map_err(|e| Error::io("dup", &self.path, e));
        }
        self.open_in_root(prefix)
            .map_err(|e| self.error("resolve", prefix, e))
    }

    fn error(&self, op: &str, rel: &Path, e: Errno) -> Error {
        Error::sys(
            format!("{op} {} in {}", rel.display(), self.path.display()),
            e,
        )
    }
}

/// Creates an empty regular file (a mount point for a file bind mount).
fn make_file(dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> nix::Result<()> {
    let flags =
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    nix::fcntl::openat(dir, name, flags, Mode::from_bits_truncate(0o644)).map(drop)
}

/// The path inside the root, without leading `/` or `.` components.
/// `..` is kept: openat2(RESOLVE_IN_ROOT) clamps it at the root.
pub fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect()
}

fn to_cstring(p: &Path) -> nix::Result<CString> {
    let bytes = p.as_os_str().as_bytes();
    let bytes = if bytes.is_empty() {
        b"." as &[u8]
    } else {
        bytes
    };
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

/// The `/proc/self/fd/N` path naming exactly the inode behind `fd`.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_cannot_leave_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root_dir = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&root_dir).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // An absolute link and a ../ link, both aimed outside the root.
        symlink(&outside, root_dir.join("abs")).unwrap();
        symlink("../../outside", root_dir.join("rel")).unwrap();
        let root = Root::open(&root_dir).unwrap();
        root.resolve(Path::new("/abs/made"), Create::Directory)
            .unwrap();
        root.resolve(Path::new("rel/made2"), Create::File).unwrap();
        assert!(
            std::fs::read_dir(&outside).unwrap().next().is_none(),
            "nothing outside"
        );
        assert!(root_dir
            .join(outside.strip_prefix("/").unwrap())
            .join("made")
            .is_dir());
    }

    #[test]
    fn missing_path_without_create_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::open(tmp.path()).unwrap();
        assert!(root.resolve(Path::new("/nope"), Create::Nothing).is_err());
    }
}
