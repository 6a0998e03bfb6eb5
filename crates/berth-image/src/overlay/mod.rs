//! Overlay mounts: unpacked layer snapshots (see [`crate::unpack`], whose
//! whiteouts are already in overlayfs format) stacked into a container
//! rootfs.
//!
//! # Layer order
//!
//! Every function here takes the lower layers **topmost first**, as
//! overlayfs wants them. An image manifest (and `rootfs.diff_ids`) lists
//! layers bottom first, so callers reverse it.
//!
//! # Many layers
//!
//! The legacy `mount(2)` option string is limited to one page (4096
//! bytes), so `lowerdir=/long/snapshot/path:...` for 128 layers does not
//! fit. [`OverlayMount::mount`] tries, in order, and reports which one
//! worked as a [`MountMethod`]:
//!
//! 1. [`MountMethod::Plain`]: `mount(2)` with absolute paths, when the
//!    whole option string fits in a page.
//! 2. [`MountMethod::LowerdirPlus`]: the new mount API (`fsopen("overlay")`,
//!    one `fsconfig(FSCONFIG_SET_STRING, "lowerdir+", path)` per layer,
//!    `fsmount`, `move_mount`). `lowerdir+` exists since Linux 6.8; older
//!    kernels answer `EINVAL` (or `ENOSYS`/`EPERM` for `fsopen` itself) and
//!    we fall through. Each path must be shorter than 256 bytes.
//! 3. [`MountMethod::ShortLinks`]: like Docker's overlay2 `l/` directory,
//!    a short symlink `<links_dir>/<8 base32 chars>` per snapshot (derived
//!    from a hash of its path, reused across mounts), and `mount(2)` with
//!    those link paths. overlayfs resolves (and follows) the symlinks once,
//!    at mount time. The links are absolute paths (no `chdir`, which is
//!    process-wide and unsafe in a multithreaded daemon), so `links_dir`
//!    must itself be short: [`OverlayError::OptionsTooLong`] says by how
//!    much it does not fit.
//!
//! Without an upper layer the mount is read-only (for `docker image
//! inspect`-style access); a single read-only layer is a read-only bind
//! mount ([`MountMethod::Bind`]), since overlayfs needs two lowers then.

mod sys;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use sha2::{Digest, Sha256};

/// Length of the short link names, in base32 characters (40 bits).
const LINK_NAME_LEN: usize = 8;
/// How many alternative names to try when a link name is already taken by
/// a link to another snapshot.
const LINK_ATTEMPTS: u32 = 16;
/// Longest value `fsconfig(FSCONFIG_SET_STRING)` accepts, NUL excluded.
const FSCONFIG_MAX_STRING: usize = 255;

/// How an overlay was mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountMethod {
    /// `mount(2)` with `lowerdir=` absolute snapshot paths.
    Plain,
    /// New mount API, one `lowerdir+` per layer (Linux 6.8+).
    LowerdirPlus,
    /// `mount(2)` with `lowerdir=` short symlinks under the links dir.
    ShortLinks,
    /// Read-only bind mount of a single layer.
    Bind,
}

impl fmt::Display for MountMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MountMethod::Plain => "mount(2) with lowerdir=",
            MountMethod::LowerdirPlus => "fsopen/fsconfig with lowerdir+",
            MountMethod::ShortLinks => "mount(2) with short links",
            MountMethod::Bind => "read-only bind mount",
        })
    }
}

/// Why an overlay could not be mounted or unmounted.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("overlay mount at {}: no lower layers", target.display())]
    NoLowers { target: PathBuf },
    #[error("overlay mount: {}: {reason}", path.display())]
    InvalidPath { path: PathBuf, reason: &'static str },
    #[error(
        "overlay mount at {} with {method} failed ({layers} layers, options {options_len} bytes): {errno}{}",
        target.display(),
        if detail.is_empty() { String::new() } else { format!(" ({detail})") }
    )]
    Mount {
        target: PathBuf,
        method: MountMethod,
        layers: usize,
        options_len: usize,
        errno: Errno,
        /// What the filesystem logged, when the new mount API was used.
        detail: String,
    },
    #[error(
        "overlay mount at {}: {layers} layers do not fit in the mount options even with short links \
         ({options_len} bytes, at most {max}; links dir: {})",
        target.display(),
        links_dir.as_ref().map_or_else(|| "none given".to_string(), |d| d.display().to_string())
    )]
    OptionsTooLong {
        target: PathBuf,
        layers: usize,
        options_len: usize,
        max: usize,
        links_dir: Option<PathBuf>,
    },
    #[error("overlay short link {} -> {}: {source}", link.display(), snapshot.display())]
    Link {
        link: PathBuf,
        snapshot: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unmount {}: {errno}", target.display())]
    Unmount { target: PathBuf, errno: Errno },
}

/// A writable container rootfs mount description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayMount {
    /// Lower snapshot directories, **topmost first**.
    pub lowers: Vec<PathBuf>,
    /// Upper and work directories (same filesystem); `None` for a
    /// read-only mount.
    pub upper: Option<UpperDirs>,
    /// Where to mount.
    pub target: PathBuf,
    /// Directory for short links (created on demand), used only when
    /// needed; should be short, e.g. `/var/lib/berth/l`.
    pub links_dir: Option<PathBuf>,
}

/// The writable part of an overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpperDirs {
    pub upper: PathBuf,
    pub work: PathBuf,
}

/// Mounts a writable overlay at `target`: `lowers` topmost first (reverse
/// manifest order), `upper` and `work` on the same filesystem. See
/// [`OverlayMount::mount`].
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    links_dir: Option<&Path>,
) -> Result<MountMethod, OverlayError> {
    OverlayMount {
        lowers: lowers.to_vec(),
        upper: Some(UpperDirs {
            upper: upper.to_path_buf(),
            work: work.to_path_buf(),
        }),
        target: target.to_path_buf(),
        links_dir: links_dir.map(Path::to_path_buf),
    }
    .mount()
}

/// Mounts `lowers` (topmost first) read-only at `target`.
pub fn mount_overlay_readonly(
    lowers: &[PathBuf],
    target: &Path,
    links_dir: Option<&Path>,
) -> Result<MountMethod, OverlayError> {
    OverlayMount {
        lowers: lowers.to_vec(),
        upper: None,
        target: target.to_path_buf(),
        links_dir: links_dir.map(Path::to_path_buf),
    }
    .mount()
}

/// Detaches the mount at `target` (`umount2(MNT_DETACH)`, as Docker does).
pub fn unmount(target: &Path) -> Result<(), OverlayError> {
    nix::mount::umount2(target, MntFlags::MNT_DETACH).map_err(|errno| OverlayError::Unmount {
        target: target.to_path_buf(),
        errno,
    })
}

/// The largest `mount(2)` option string, NUL excluded.
fn max_options_len() -> usize {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| usize::try_from(p).ok())
        .unwrap_or(4096);
    page - 1
}

/// Appends `path` to a legacy option string, escaping the characters
/// overlayfs splits on.
fn push_escaped(out: &mut Vec<u8>, path: &Path) {
    for &b in path.as_os_str().as_bytes() {
        if matches!(b, b'\\' | b':' | b',') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

fn check_path(path: &Path) -> Result<(), OverlayError> {
    let bytes = path.as_os_str().as_bytes();
    let reason = if !path.is_absolute() {
        "path must be absolute"
    } else if bytes.contains(&0) {
        "path contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(OverlayError::InvalidPath {
        path: path.to_path_buf(),
        reason,
    })
}

impl OverlayMount {
    /// Mounts the overlay, trying the methods described in the module docs
    /// in order, and says which one worked.
    pub fn mount(&self) -> Result<MountMethod, OverlayError> {
        self.validate()?;
        if self.upper.is_none() && self.lowers.len() == 1 {
            return self.mount_bind();
        }
        let options = self.options(&self.lowers);
        if options.len() <= max_options_len() {
            return self.mount_legacy(MountMethod::Plain, &options);
        }
        if self.mount_lowerdir_plus()? {
            return Ok(MountMethod::LowerdirPlus);
        }
        self.mount_short_links()
    }

    fn validate(&self) -> Result<(), OverlayError> {
        if self.lowers.is_empty() {
            return Err(OverlayError::NoLowers {
                target: self.target.clone(),
            });
        }
        self.lowers.iter().try_for_each(|l| check_path(l))?;
        if let Some(u) = &self.upper {
            check_path(&u.upper)?;
            check_path(&u.work)?;
        }
        check_path(&self.target)
    }

    fn flags(&self) -> MsFlags {
        if self.upper.is_some() {
            MsFlags::empty()
        } else {
            MsFlags::MS_RDONLY
        }
    }

    /// The legacy option string with these lower paths.
    fn options(&self, lowers: &[PathBuf]) -> Vec<u8> {
        let mut out = b"lowerdir=".to_vec();
        for (i, l) in lowers.iter().enumerate() {
            if i > 0 {
                out.push(b':');
            }
            push_escaped(&mut out, l);
        }
        if let Some(u) = &self.upper {
            out.extend_from_slice(b",upperdir=");
            push_escaped(&mut out, &u.upper);
            out.extend_from_slice(b",workdir=");
            push_escaped(&mut out, &u.work);
        }
        out
    }

    fn mount_error(&self, method: MountMethod, options_len: usize, errno: Errno) -> OverlayError {
        OverlayError::Mount {
            target: self.target.clone(),
            method,
            layers: self.lowers.len(),
            options_len,
            errno,
            detail: String::new(),
        }
    }

    fn mount_legacy(
        &self,
        method: MountMethod,
        options: &[u8],
    ) -> Result<MountMethod, OverlayError> {
        nix::mount::mount(
            Some("overlay"),
            &self.target,
            Some("overlay"),
            self.flags(),
            Some(OsStr::from_bytes(options)),
        )
        .map_err(|errno| self.mount_error(method, options.len(), errno))?;
        Ok(method)
    }

    fn mount_bind(&self) -> Result<MountMethod, OverlayError> {
        let err = |errno| self.mount_error(MountMethod::Bind, 0, errno);
        nix::mount::mount(
            Some(&self.lowers[0]),
            &self.target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(err)?;
        let remount = nix::mount::mount(
            None::<&str>,
            &self.target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        );
        if let Err(errno) = remount {
            let _ = nix::mount::umount2(&self.target, MntFlags::MNT_DETACH);
            return Err(err(errno));
        }
        Ok(MountMethod::Bind)
    }

    /// Method 2: the new mount API with one `lowerdir+` per layer.
    /// `Ok(false)` when this kernel (or a seccomp filter) does not support
    /// it, or a path is too long for `fsconfig`: nothing was mounted.
    fn mount_lowerdir_plus(&self) -> Result<bool, OverlayError> {
        let method = MountMethod::LowerdirPlus;
        let fs = match sys::fsopen(c"overlay") {
            Ok(fs) => fs,
            Err(Errno::ENOSYS | Errno::EPERM | Errno::EINVAL) => return Ok(false),
            Err(errno) => return Err(self.mount_error(method, 0, errno)),
        };
        let fail = |errno| OverlayError::Mount {
            target: self.target.clone(),
            method,
            layers: self.lowers.len(),
            options_len: 0,
            errno,
            detail: sys::fs_messages(&fs),
        };
        for lower in &self.lowers {
            let bytes = lower.as_os_str().as_bytes();
            if bytes.len() > FSCONFIG_MAX_STRING {
                return Ok(false);
            }
            match sys::fsconfig_set_string(&fs, "lowerdir+", bytes) {
                Ok(()) => {}
                // Unknown parameter before Linux 6.8.
                Err(Errno::EINVAL) => return Ok(false),
                Err(errno) => return Err(fail(errno)),
            }
        }
        if let Some(u) = &self.upper {
            for (key, path) in [("upperdir", &u.upper), ("workdir", &u.work)] {
                let bytes = path.as_os_str().as_bytes();
                if bytes.len() > FSCONFIG_MAX_STRING {
                    return Ok(false);
                }
                sys::fsconfig_set_string(&fs, key, bytes).map_err(fail)?;
            }
        }
        sys::fsconfig_create(&fs).map_err(fail)?;
        let attrs = if self.upper.is_some() {
            0
        } else {
            sys::MOUNT_ATTR_RDONLY
        };
        let mnt = sys::fsmount(&fs, attrs).map_err(fail)?;
        sys::move_mount_to(&mnt, &self.target).map_err(fail)?;
        Ok(true)
    }

    /// Method 3: short links under `links_dir`, then `mount(2)`.
    fn mount_short_links(&self) -> Result<MountMethod, OverlayError> {
        let max = max_options_len();
        let too_long = |options_len| OverlayError::OptionsTooLong {
            target: self.target.clone(),
            layers: self.lowers.len(),
            options_len,
            max,
            links_dir: self.links_dir.clone(),
        };
        let Some(links_dir) = &self.links_dir else {
            return Err(too_long(self.options(&self.lowers).len()));
        };
        check_path(links_dir)?;
        // Check the length before creating anything: every link path has
        // the same length.
        let sample = links_dir.join("x".repeat(LINK_NAME_LEN));
        let estimate = self.options(&vec![sample; self.lowers.len()]).len();
        if estimate > max {
            return Err(too_long(estimate));
        }
        let links = self
            .lowers
            .iter()
            .map(|l| short_link(links_dir, l))
            .collect::<Result<Vec<_>, _>>()?;
        let options = self.options(&links);
        if options.len() > max {
            return Err(too_long(options.len()));
        }
        self.mount_legacy(MountMethod::ShortLinks, &options)
    }
}

/// A short name for `snapshot`: base32 of a hash of its path (and of
/// `attempt`, to get past a name taken by another snapshot).
fn link_name(snapshot: &Path, attempt: u32) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut h = Sha256::new();
    h.update(snapshot.as_os_str().as_bytes());
    h.update(attempt.to_le_bytes());
    let digest = h.finalize();
    let mut bits = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (0..LINK_NAME_LEN)
        .map(|_| {
            let c = ALPHABET[(bits >> 59) as usize];
            bits <<= 5;
            char::from(c)
        })
        .collect()
}

/// Returns the path of the short link to `snapshot` in `links_dir`,
/// creating the directory and the link when needed.
fn short_link(links_dir: &Path, snapshot: &Path) -> Result<PathBuf, OverlayError> {
    use std::os::unix::fs::DirBuilderExt;
    let link_err = |link: &Path, source| OverlayError::Link {
        link: link.to_path_buf(),
        snapshot: snapshot.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(links_dir)
        .map_err(|e| link_err(links_dir, e))?;
    for attempt in 0..LINK_ATTEMPTS {
        let link = links_dir.join(link_name(snapshot, attempt));
        match std::os::unix::fs::symlink(snapshot, &link) {
            Ok(()) => return Ok(link),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                match std::fs::read_link(&link) {
                    Ok(existing) if existing == snapshot => return Ok(link),
                    // Taken by another snapshot (or not a link): next name.
                    Ok(_) => continue,
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => continue,
                    Err(e) => return Err(link_err(&link, e)),
                }
            }
            Err(e) => return Err(link_err(&link, e)),
        }
    }
    Err(link_err(
        links_dir,
        io::Error::new(io::ErrorKind::AlreadyExists, "no free short link name"),
    ))
}

/// Removes the short link to `snapshot`, if any (call when deleting the
/// snapshot). Returns whether a link was removed.
pub fn remove_short_link(links_dir: &Path, snapshot: &Path) -> Result<bool, OverlayError> {
    for attempt in 0..LINK_ATTEMPTS {
        let link = links_dir.join(link_name(snapshot, attempt));
        match std::fs::read_link(&link) {
            Ok(existing) if existing == snapshot => {
                std::fs::remove_file(&link).map_err(|source| OverlayError::Link {
                    link: link.clone(),
                    snapshot: snapshot.to_path_buf(),
                    source,
                })?;
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            _ => {}
        }
    }
    Ok(false)
}
