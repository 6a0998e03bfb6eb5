//! A container's filesystem as its processes see it, for `docker cp`: the
//! root filesystem with the container's mounts over it (the etc files,
//! volumes and binds; tmpfs mounts are not seen, as with dockerd, whose
//! archive view mounts the same set). Nothing is mounted: a path under a
//! mount's destination is opened in the mount's source instead.
//!
//! Paths are resolved one component at a time. Each step opens a single
//! name with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS) from a
//! descriptor of the directory reached so far, and a symlink found on the
//! way is read and spliced into the rest of the path, interpreted against
//! the container's root, `..` clamped there. So a symlink can lead into a
//! mount (as in the container) but never out of the rootfs or a mount's
//! source, and a component swapped for a symlink meanwhile makes the open
//! fail (ELOOP) instead of being followed.

use std::collections::VecDeque;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::SFlag;

use crate::http::ApiError;

/// Linux's limit of symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

/// One mount as `docker cp` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewMount {
    /// Absolute, inside the container.
    pub destination: String,
    /// The host path mounted there (a directory, or a file for the etc
    /// files).
    pub source: PathBuf,
    pub read_only: bool,
}

/// The container's root and mounts.
pub struct FsView {
    root: File,
    /// (destination components, mount), longest destination first, so the
    /// first match is the innermost mount.
    mounts: Vec<(Vec<String>, ViewMount)>,
}

/// A resolved path, held open (`O_PATH`): it cannot be swapped afterwards.
pub struct Resolved {
    pub fd: OwnedFd,
    /// The path inside the container, symlinks resolved (`/` joined).
    pub container_path: String,
    /// Whether it is on a read-only mount.
    pub read_only: bool,
}

impl Resolved {
    /// `/proc/self/fd/N`: a path to the opened file or directory.
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// The file type and metadata of the object itself (a symlink is not
    /// followed).
    pub fn lstat(&self) -> Result<nix::sys::stat::FileStat, ApiError> {
        nix::sys::stat::fstat(self.fd.as_fd())
            .map_err(|e| ApiError::internal(format!("stat of {}: {e}", self.container_path)))
    }

    pub fn is_symlink(&self) -> Result<bool, ApiError> {
        Ok(file_kind(&self.lstat()?) == SFlag::S_IFLNK)
    }

    pub fn is_dir(&self) -> Result<bool, ApiError> {
        Ok(file_kind(&self.lstat()?) == SFlag::S_IFDIR)
    }
}

pub fn file_kind(stat: &nix::sys::stat::FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits())
}

/// Why a lookup failed, before it becomes an API error (the handlers word
/// them as dockerd does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("no such file or directory")]
    NotFound,
    #[error("not a directory")]
    NotADirectory,
    #[error("too many levels of symbolic links")]
    Loop,
    #[error("invalid path")]
    Invalid,
    #[error("{0}")]
    Io(String),
}

impl From<Errno> for LookupError {
    fn from(e: Errno) -> LookupError {
        match e {
            Errno::ENOENT => LookupError::NotFound,
            Errno::ENOTDIR => LookupError::NotADirectory,
            Errno::ELOOP => LookupError::Loop,
            Errno::EINVAL | Errno::ENAMETOOLONG => LookupError::Invalid,
            e => LookupError::Io(e.to_string()),
        }
    }
}

/// Whether an API path asks for the directory itself to be followed and
/// required: a trailing `/` or `/.` (as moby's archive code reads them).
pub fn wants_directory(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.") || path == "."
}

/// A path cleaned lexically, as Go's `path.Clean` of an absolute path
/// does: its components with `.` dropped and `..` applied (never above
/// the root).
pub fn clean(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// The components of a path, `.` and empty ones dropped (`..` kept).
fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
}

impl FsView {
    /// Opens the root; `mounts` as the container has them.
    pub fn open(rootfs: &Path, mounts: Vec<ViewMount>) -> Result<FsView, ApiError> {
        let root = File::open(rootfs)
            .map_err(|e| ApiError::internal(format!("opening the rootfs: {e}")))?;
        let mut mounts: Vec<(Vec<String>, ViewMount)> = mounts
            .into_iter()
            .map(|m| (components(&m.destination).collect(), m))
            .filter(|(dest, _): &(Vec<String>, ViewMount)| {
                !dest.is_empty() && !dest.iter().any(|c| c == "..")
            })
            .collect();
        // Innermost first; among equal destinations the later mount wins,
        // as the later mount covers the earlier one.
        mounts.reverse();
        mounts.sort_by_key(|(dest, _)| std::cmp::Reverse(dest.len()));
        Ok(FsView { root, mounts })
    }

    /// Resolves `path` (as inside the container). The last component is
    /// followed when it is a symlink only if `follow_last`.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<Resolved, LookupError> {
        if path.contains('\0') {
            return Err(LookupError::Invalid);
        }
        let mut done: Vec<String> = Vec::new();
        let mut todo: VecDeque<String> = components(path).collect();
        let mut links = 0;
        while let Some(name) = todo.pop_front() {
            if name == ".." {
                done.pop();
                continue;
            }
            done.push(name);
            let fd = self.open_resolved(&done)?;
            let is_last = todo.is_empty();
            let stat = nix::sys::stat::fstat(fd.as_fd())?;
            if file_kind(&stat) != SFlag::S_IFLNK || (is_last && !follow_last) {
                continue;
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(LookupError::Loop);
            }
            let target = nix::fcntl::readlinkat(fd.as_fd(), "")?;
            let target = target.to_string_lossy().into_owned();
            done.pop();
            if target.starts_with('/') {
                done.clear();
            }
            for c in components(&target).collect::<Vec<_>>().into_iter().rev() {
                todo.push_front(c);
            }
        }
        let fd = self.open_resolved(&done)?;
        Ok(Resolved {
            fd,
            read_only: self.mount_of(&done).is_some_and(|(_, m)| m.read_only),
            container_path: format!("/{}", done.join("/")),
        })
    }

    /// The source of the innermost mount holding a container path.
    pub fn mount_source_of(&self, container_path: &str) -> Option<&Path> {
        let path: Vec<String> = components(container_path).collect();
        self.mount_of(&path).map(|(_, m)| m.source.as_path())
    }

    /// The innermost mount holding `path`, with the rest of the path.
    fn mount_of<'a, 'p>(&'a self, path: &'p [String]) -> Option<(&'p [String], &'a ViewMount)> {
        self.mounts
            .iter()
            .find(|(dest, _)| path.starts_with(dest))
            .map(|(dest, m)| (&path[dest.len()..], m))
    }

    /// Opens a path of plain components none of which is a symlink (the
    /// last may be one: it is opened, not followed). Any symlink met on the
    /// way, e.g. one swapped in since the walk checked, fails with ELOOP.
    fn open_resolved(&self, path: &[String]) -> Result<OwnedFd, LookupError> {
        let (rest, source) = match self.mount_of(path) {
            Some((rest, m)) => (rest, Some(&m.source)),
            None => (path, None),
        };
        let source_dir;
        let base: BorrowedFd<'_> = match source {
            // The mount itself (also a file: `.` under a file is ENOTDIR).
            Some(source) if rest.is_empty() => return open_source(source),
            Some(source) => {
                source_dir = open_source(source)?;
                source_dir.as_fd()
            }
            None => self.root.as_fd(),
        };
        let relative = if rest.is_empty() {
            ".".to_string()
        } else {
            rest.join("/")
        };
        let c = CString::new(relative).map_err(|_| LookupError::Invalid)?;
        Ok(berth_sys::openat2(
            base,
            &c,
            libc::O_PATH | libc::O_NOFOLLOW,
            berth_sys::RESOLVE_IN_ROOT | berth_sys::RESOLVE_NO_SYMLINKS,
        )?)
    }
}

/// A mount's source, as the kernel mounted it (a symlink in the host path
/// was followed at mount time, so it is here too).
fn open_source(source: &Path) -> Result<OwnedFd, LookupError> {
    let c =
        CString::new(source.as_os_str().as_encoded_bytes()).map_err(|_| LookupError::Invalid)?;
    let fd = nix::fcntl::open(
        c.as_c_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Fixture {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        volume: PathBuf,
        hostname: PathBuf,
    }

    /// rootfs/{etc/hostname (image's), data/under, link -> /data, up -> ../../..}
    /// and a volume at /data, a file mounted at /etc/hostname.
    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("rootfs");
        let volume = tmp.path().join("volume");
        let hostname = tmp.path().join("hostname");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::create_dir_all(&volume).unwrap();
        std::fs::write(root.join("etc/hostname"), "image\n").unwrap();
        std::fs::write(root.join("data/under"), "hidden\n").unwrap();
        std::fs::write(volume.join("f"), "volume\n").unwrap();
        std::fs::write(&hostname, "ctr\n").unwrap();
        std::fs::write(tmp.path().join("secret"), "host\n").unwrap();
        symlink("/data", root.join("link")).unwrap();
        symlink("../../../secret", root.join("up")).unwrap();
        symlink("../../secret", volume.join("out")).unwrap();
        Fixture {
            root,
            volume,
            hostname,
            _tmp: tmp,
        }
    }

    fn view(f: &Fixture) -> FsView {
        let mounts = vec![
            ViewMount {
                destination: "/etc/hostname".into(),
                source: f.hostname.clone(),
                read_only: false,
            },
            ViewMount {
                destination: "/data".into(),
                source: f.volume.clone(),
                read_only: true,
            },
        ];
        FsView::open(&f.root, mounts).unwrap()
    }

    fn read(v: &FsView, path: &str) -> Result<String, LookupError> {
        let r = v.resolve(path, true)?;
        Ok(std::fs::read_to_string(r.proc_path()).unwrap_or_default())
    }

    #[test]
    fn mounts_cover_the_rootfs() {
        let f = fixture();
        let v = view(&f);
        assert_eq!(read(&v, "/etc/hostname").unwrap(), "ctr\n");
        assert_eq!(read(&v, "/data/f").unwrap(), "volume\n");
        assert_eq!(read(&v, "/data/under"), Err(LookupError::NotFound));
        assert_eq!(read(&v, "/link/f").unwrap(), "volume\n");
        assert!(v.resolve("/data/f", true).unwrap().read_only);
        assert!(!v.resolve("/etc", true).unwrap().read_only);
    }

    #[test]
    fn symlinks_stay_inside() {
        let f = fixture();
        let v = view(&f);
        assert_eq!(read(&v, "/up"), Err(LookupError::NotFound));
        assert_eq!(read(&v, "/data/out"), Err(LookupError::NotFound));
        assert_eq!(read(&v, "/../../etc/hostname").unwrap(), "ctr\n");
        let link = v.resolve("/link", false).unwrap();
        assert!(link.is_symlink().unwrap());
        assert_eq!(v.resolve("/link/", true).unwrap().container_path, "/data");
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let f = fixture();
        let v = view(&f);
        assert!(matches!(
            v.resolve("/etc/hostname/x", true),
            Err(LookupError::NotADirectory)
        ));
        assert!(wants_directory("/etc/hostname/") && wants_directory("/etc/."));
        assert!(!wants_directory("/etc"));
    }
}
