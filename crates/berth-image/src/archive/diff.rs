//! A container's changes: its overlay upper directory as an OCI layer tar
//! (what `docker commit` stores) and as a list of changes relative to the
//! image's layers (what `docker diff` shows).
//!
//! # The upper directory
//!
//! overlayfs records a deletion as a whiteout, a 0/0 character device with
//! the deleted name, and a directory that replaced a lower one (after an
//! `rm -rf` and `mkdir`) as an opaque directory, with the xattr
//! `trusted.overlay.opaque=y`. In a layer tar these become `.wh.<name>`
//! and `<dir>/.wh..wh..opq` entries (the format [`crate::unpack`] reads
//! back into the overlay one).
//!
//! # Walking it safely
//!
//! The upper directory belongs to a container, which may be running: every
//! directory is opened relative to its parent with `O_NOFOLLOW`, every entry
//! is `lstat`ed relative to its directory, file content is read through a
//! descriptor opened with `O_NOFOLLOW` (and checked to be the regular file
//! that was `lstat`ed), symlinks are read with `readlinkat` and xattrs are
//! read without following the entry (through the directory's
//! `/proc/self/fd` link). Nothing outside the upper directory is ever read.
//! Sockets are skipped, as Docker does.

use std::collections::{BTreeSet, HashMap};
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode};

use super::{io_err, ArchiveError};
use crate::unpack::OPAQUE_XATTR;

/// The prefix of overlayfs' own xattrs, never written to a layer.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
/// The name prefix of a whiteout entry in a layer tar.
const WHITEOUT_PREFIX: &str = ".wh.";
/// The entry marking an opaque directory in a layer tar.
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";

/// [`Change::kind`]: the path exists in a lower layer and was changed.
pub const CHANGE_MODIFY: u8 = 0;
/// [`Change::kind`]: the path is new.
pub const CHANGE_ADD: u8 = 1;
/// [`Change::kind`]: the path was deleted.
pub const CHANGE_DELETE: u8 = 2;

/// One line of `docker diff`: an absolute path (`/etc/passwd`) and what
/// happened to it ([`CHANGE_MODIFY`], [`CHANGE_ADD`], [`CHANGE_DELETE`],
/// the numbers of the Engine API).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub path: String,
    pub kind: u8,
}

/// One entry of the upper directory.
struct Node<'a> {
    /// Its directory.
    parent: BorrowedFd<'a>,
    name: &'a OsStr,
    /// Path relative to the upper directory.
    rel: &'a Path,
    st: FileStat,
}

impl Node<'_> {
    fn shown(&self) -> String {
        format!("/{}", self.rel.display())
    }

    fn ifmt(&self) -> libc::mode_t {
        self.st.st_mode & libc::S_IFMT
    }

    fn is_dir(&self) -> bool {
        self.ifmt() == libc::S_IFDIR
    }

    /// An overlayfs whiteout: a character device 0/0.
    fn is_whiteout(&self) -> bool {
        self.ifmt() == libc::S_IFCHR && self.st.st_rdev == 0
    }

    /// The path to reach the entry without following it, for the `l*xattr`
    /// calls (which have no `*at` form).
    fn xattr_path(&self) -> CString {
        let mut p = format!("/proc/self/fd/{}/", self.parent.as_raw_fd()).into_bytes();
        p.extend_from_slice(self.name.as_bytes());
        // A directory entry name never contains a NUL byte.
        CString::new(p).unwrap_or_default()
    }

    fn is_opaque(&self) -> Result<bool, ArchiveError> {
        if !self.is_dir() {
            return Ok(false);
        }
        let value = get_xattr(&self.xattr_path(), OPAQUE_XATTR.as_bytes())
            .map_err(|e| io_err("read opaque xattr", self.shown(), e))?;
        Ok(value.as_deref() == Some(b"y"))
    }
}

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Opens a directory of the walk, never following a symlink.
fn open_dir_at(parent: BorrowedFd<'_>, name: &OsStr) -> nix::Result<OwnedFd> {
    nix::fcntl::openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// The names in a directory, sorted bytewise.
fn sorted_names(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    // The magic link names the very directory the descriptor holds.
    let mut names: Vec<OsString> = fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Visits everything below `dir` depth first, parents before children,
/// names sorted.
fn walk(
    dir: BorrowedFd<'_>,
    rel: &Path,
    visit: &mut dyn FnMut(&Node<'_>) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let shown = format!("/{}", rel.display());
    let names = sorted_names(dir).map_err(|e| io_err("read directory", &shown, e))?;
    for name in &names {
        let child_rel = rel.join(name);
        let st = nix::sys::stat::fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| io_err("lstat", format!("/{}", child_rel.display()), errno_io(e)))?;
        let node = Node {
            parent: dir,
            name,
            rel: &child_rel,
            st,
        };
        visit(&node)?;
        if node.is_dir() {
            let child = open_dir_at(dir, name)
                .map_err(|e| io_err("open directory", node.shown(), errno_io(e)))?;
            walk(child.as_fd(), &child_rel, visit)?;
        }
    }
    Ok(())
}

fn open_root(upper: &Path) -> Result<OwnedFd, ArchiveError> {
    nix::fcntl::open(
        upper,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        io_err(
            "open upper directory",
            upper.display().to_string(),
            errno_io(e),
        )
    })
}

/// Runs an `l*xattr` call that fills a buffer, growing it as needed.
/// `Ok(None)` when the attribute (or xattr support) is absent.
fn xattr_call(mut call: impl FnMut(&mut [u8]) -> isize) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        let n = call(&mut buf);
        if let Ok(n) = usize::try_from(n) {
            buf.truncate(n);
            return Ok(Some(buf));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ERANGE) if buf.len() < (1 << 24) => {
                let needed = usize::try_from(call(&mut [])).unwrap_or(0);
                buf.resize(needed.max(buf.len() * 2), 0);
            }
            Some(libc::ENODATA | libc::ENOTSUP) => return Ok(None),
            _ => return Err(err),
        }
    }
}

fn get_xattr(path: &CStr, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let name = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    xattr_call(|buf| {
        // SAFETY: NUL-terminated strings; the pointer and length describe
        // `buf` (a null pointer with length 0 asks for the size).
        unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                name.as_ptr(),
                if buf.is_empty() {
                    std::ptr::null_mut()
                } else {
                    buf.as_mut_ptr().cast()
                },
                buf.len(),
            )
        }
    })
}

/// An xattr's name and value.
type Xattr = (Vec<u8>, Vec<u8>);

/// The xattrs of an entry worth keeping in a layer (overlayfs' own
/// `trusted.overlay.*` left out), sorted by name.
fn layer_xattrs(node: &Node<'_>) -> Result<Vec<Xattr>, ArchiveError> {
    let path = node.xattr_path();
    let fail = |e| io_err("read xattrs", node.shown(), e);
    let list = xattr_call(|buf| {
        // SAFETY: a NUL-terminated path; the pointer and length describe
        // `buf` (a null pointer with length 0 asks for the size).
        unsafe {
            libc::llistxattr(
                path.as_ptr(),
                if buf.is_empty() {
                    std::ptr::null_mut()
                } else {
                    buf.as_mut_ptr().cast()
                },
                buf.len(),
            )
        }
    })
    .map_err(fail)?
    .unwrap_or_default();
    let names: BTreeSet<&[u8]> = list
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty() && !n.starts_with(OVERLAY_XATTR_PREFIX))
        .collect();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        // Removed since listed: nothing to keep.
        if let Some(value) = get_xattr(&path, name).map_err(fail)? {
            out.push((name.to_vec(), value));
        }
    }
    Ok(out)
}

/// A PAX extended header carrying `SCHILY.xattr.*` records, for the entry
/// that follows.
fn pax_xattrs(xattrs: &[Xattr]) -> Vec<u8> {
    let mut data = Vec::new();
    for (name, value) in xattrs {
        // "<len> SCHILY.xattr.<name>=<value>\n", <len> counting itself.
        let rest = b" SCHILY.xattr.".len() + name.len() + 1 + value.len() + 1;
        let mut len = rest;
        while len.to_string().len() + rest != len {
            len = len.to_string().len() + rest;
        }
        data.extend_from_slice(len.to_string().as_bytes());
        data.extend_from_slice(b" SCHILY.xattr.");
        data.extend_from_slice(name);
        data.push(b'=');
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    data
}

/// A reader yielding exactly `remaining` bytes of `inner`, failing if it
/// ends early (a file shrinking while archived would corrupt the tar).
struct Exact<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 && max > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being archived",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Writes the upper directory of an overlay as an uncompressed OCI layer
/// tar: whiteouts (0/0 character devices) become `.wh.<name>` entries,
/// opaque directories get a `.wh..wh..opq` entry, everything else is
/// archived as it is: symlinks are not followed, files linked to each other
/// inside the upper directory are archived as hardlinks, and owner, mode,
/// mtime (seconds) and xattrs (but overlayfs' `trusted.overlay.*`) are kept.
/// Entries come in a fixed order (depth first, names sorted), so the same
/// directory always gives the same tar, hence the same DiffID. The upper
/// directory itself gets no entry.
pub fn write_upper_as_layer(upper: &Path, out: impl Write) -> Result<(), ArchiveError> {
    let root = open_root(upper)?;
    let mut builder = tar::Builder::new(out);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(root.as_fd(), Path::new(""), &mut |node| {
        append_node(&mut builder, node, &mut links)
    })?;
    let mut out = builder
        .into_inner()
        .map_err(|e| io_err("finish layer tar", upper.display().to_string(), e))?;
    out.flush()
        .map_err(|e| io_err("write layer tar", upper.display().to_string(), e))
}

/// A header with an entry's owner, permissions and mtime.
fn header_of(st: &FileStat, kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(0);
    h
}

fn append_node<W: Write>(
    builder: &mut tar::Builder<W>,
    node: &Node<'_>,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), ArchiveError> {
    let fail = |op: &'static str| move |e: io::Error| io_err(op, node.shown(), e);
    let perms = node.st.st_mode & 0o7777;
    let rel = node.rel;
    // Whiteouts first: overlayfs may hardlink them all to one inode.
    if node.is_whiteout() {
        let mut h = header_of(&node.st, tar::EntryType::Regular, 0o600);
        let mut name = OsString::from(WHITEOUT_PREFIX);
        name.push(node.name);
        return builder
            .append_data(&mut h, rel.with_file_name(name), io::empty())
            .map_err(fail("write whiteout"));
    }
    let kind = match node.ifmt() {
        libc::S_IFDIR => tar::EntryType::Directory,
        libc::S_IFREG => tar::EntryType::Regular,
        libc::S_IFLNK => tar::EntryType::Symlink,
        libc::S_IFCHR => tar::EntryType::Char,
        libc::S_IFBLK => tar::EntryType::Block,
        libc::S_IFIFO => tar::EntryType::Fifo,
        _ => return Ok(()), // sockets
    };
    if kind != tar::EntryType::Directory && node.st.st_nlink > 1 {
        let key = (node.st.st_dev, node.st.st_ino);
        if let Some(target) = links.get(&key) {
            let mut h = header_of(&node.st, tar::EntryType::Link, perms);
            return builder
                .append_link(&mut h, rel, target)
                .map_err(fail("write hardlink"));
        }
        links.insert(key, rel.to_path_buf());
    }
    let xattrs = layer_xattrs(node)?;
    if !xattrs.is_empty() {
        let data = pax_xattrs(&xattrs);
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        builder
            .append_data(&mut h, "././@PaxHeader", &data[..])
            .map_err(fail("write xattrs"))?;
    }
    let mut h = header_of(&node.st, kind, perms);
    match kind {
        tar::EntryType::Regular => {
            let file = nix::fcntl::openat(
                node.parent,
                node.name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| fail("open")(errno_io(e)))?;
            let file = File::from(file);
            let st = nix::sys::stat::fstat(&file).map_err(|e| fail("stat")(errno_io(e)))?;
            if st.st_ino != node.st.st_ino || st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Err(fail("open")(io::Error::other(
                    "file replaced while being archived",
                )));
            }
            let size = u64::try_from(st.st_size).unwrap_or(0);
            h.set_size(size);
            builder
                .append_data(
                    &mut h,
                    rel,
                    Exact {
                        inner: file,
                        remaining: size,
                    },
                )
                .map_err(fail("write file"))
        }
        tar::EntryType::Symlink => {
            let target = nix::fcntl::readlinkat(node.parent, node.name)
                .map_err(|e| fail("readlink")(errno_io(e)))?;
            builder
                .append_link(&mut h, rel, target)
                .map_err(fail("write symlink"))
        }
        tar::EntryType::Char | tar::EntryType::Block => {
            let rdev = node.st.st_rdev;
            h.set_device_major(libc::major(rdev))
                .and_then(|()| h.set_device_minor(libc::minor(rdev)))
                .map_err(fail("write device"))?;
            builder
                .append_data(&mut h, rel, io::empty())
                .map_err(fail("write device"))
        }
        tar::EntryType::Directory => {
            builder
                .append_data(&mut h, rel, io::empty())
                .map_err(fail("write directory"))?;
            if node.is_opaque()? {
                let mut h = header_of(&node.st, tar::EntryType::Regular, perms & 0o777);
                builder
                    .append_data(&mut h, rel.join(WHITEOUT_OPAQUE), io::empty())
                    .map_err(fail("write opaque marker"))?;
            }
            Ok(())
        }
        _ => builder
            .append_data(&mut h, rel, io::empty())
            .map_err(fail("write fifo")),
    }
}

/// What `docker diff` shows: the changes the upper directory makes to the
/// lower layers (`lowers` topmost first, as overlayfs stacks them), sorted
/// by path. As Docker computes them for overlay2:
///
/// - a whiteout is a deletion ([`CHANGE_DELETE`]); so is an opaque
///   directory that exists below (it was deleted and made again; what is
///   in it now is listed as added or modified);
/// - anything else is a modification ([`CHANGE_MODIFY`]) if the path exists
///   in the lowers and an addition ([`CHANGE_ADD`]) if not; except that a
///   directory that exists below with the same mode, owner and mtime (an
///   overlayfs copy-up to reach a changed file) is not listed by itself;
/// - the directory of an added or deleted entry is listed as modified
///   (unless it is the root).
///
/// Unlike Docker, a path "exists below" as overlayfs would show it: a
/// whiteout or an opaque directory in one lower layer hides the layers
/// under it.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>, ArchiveError> {
    let root = open_root(upper)?;
    let mut out: Vec<Change> = Vec::new();
    let mut listed_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    walk(root.as_fd(), Path::new(""), &mut |node| {
        let below = lookup_lowers(lowers, node.rel)?;
        let kind = if node.is_whiteout() || (below.is_some() && node.is_opaque()?) {
            CHANGE_DELETE
        } else if let Some(lower) = below {
            if node.is_dir() && same_dir(&node.st, &lower) {
                return Ok(());
            }
            CHANGE_MODIFY
        } else {
            CHANGE_ADD
        };
        if node.is_dir() {
            listed_dirs.insert(node.rel.to_path_buf());
        }
        if kind != CHANGE_MODIFY {
            if let Some(parent) = node.rel.parent().filter(|p| !p.as_os_str().is_empty()) {
                if listed_dirs.insert(parent.to_path_buf()) {
                    out.push(Change {
                        path: format!("/{}", parent.display()),
                        kind: CHANGE_MODIFY,
                    });
                }
            }
        }
        out.push(Change {
            path: node.shown(),
            kind,
        });
        Ok(())
    })?;
    out.sort();
    Ok(out)
}

/// Whether an upper directory is a plain copy-up of the lower one.
fn same_dir(upper: &FileStat, lower: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let same_time = upper.st_mtime == lower.mtime()
        && (upper.st_mtime_nsec == lower.mtime_nsec()
            || upper.st_mtime_nsec == 0
            || lower.mtime_nsec() == 0);
    lower.is_dir()
        && upper.st_mode == lower.mode()
        && upper.st_uid == lower.uid()
        && upper.st_gid == lower.gid()
        && same_time
}

/// The entry `rel` names in the merged lower layers (topmost first), as
/// overlayfs resolves it: a whiteout hides the name in the layers below, a
/// non-directory hides everything below it, an opaque directory hides the
/// directories of the layers below. `None` if nothing is there.
fn lookup_lowers(lowers: &[PathBuf], rel: &Path) -> Result<Option<fs::Metadata>, ArchiveError> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::MetadataExt;
    let comps: Vec<&OsStr> = rel.iter().collect();
    // The lower directories merged at the current depth, topmost first.
    let mut dirs: Vec<PathBuf> = lowers.to_vec();
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for dir in &dirs {
            let path = dir.join(comp);
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => continue,
                Err(e) => return Err(io_err("lstat", path.display().to_string(), e)),
            };
            if meta.file_type().is_char_device() && meta.rdev() == 0 {
                break; // a whiteout
            }
            if last {
                return Ok(Some(meta));
            }
            if !meta.is_dir() {
                break;
            }
            let cpath = CString::new(path.as_os_str().as_bytes()).unwrap_or_default();
            let opaque = get_xattr(&cpath, OPAQUE_XATTR.as_bytes())
                .map_err(|e| io_err("read opaque xattr", path.display().to_string(), e))?;
            next.push(path);
            if opaque.as_deref() == Some(b"y") {
                break;
            }
        }
        if next.is_empty() {
            return Ok(None);
        }
        dirs = next;
    }
    Ok(None)
}

/// Sets `trusted.overlay.opaque=y` on a directory.
#[cfg(test)]
pub(crate) fn make_opaque(dir: &Path) {
    set_xattr(dir, OPAQUE_XATTR, b"y");
}

/// Sets an xattr on `path` (not following a symlink).
#[cfg(test)]
pub(crate) fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings and a value of the given length.
    let r = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(r, 0, "{}", io::Error::last_os_error());
}

/// Makes an overlayfs whiteout at `path`.
#[cfg(test)]
pub(crate) fn make_whiteout(path: &Path) {
    nix::sys::stat::mknod(path, nix::sys::stat::SFlag::S_IFCHR, Mode::empty(), 0).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Path, type and PAX records of each entry.
    type Listed = (String, tar::EntryType, Vec<(String, Vec<u8>)>);

    fn entries(tar_bytes: &[u8]) -> Vec<Listed> {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut out = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let kind = e.header().entry_type();
            let mut xattrs = Vec::new();
            if let Some(exts) = e.pax_extensions().unwrap() {
                for ext in exts {
                    let ext = ext.unwrap();
                    xattrs.push((ext.key().unwrap().to_string(), ext.value_bytes().to_vec()));
                }
            }
            out.push((path, kind, xattrs));
        }
        out
    }

    fn c(path: &str, kind: u8) -> Change {
        Change {
            path: path.into(),
            kind,
        }
    }

    #[test]
    fn upper_as_layer_and_changes() {
        let dir = tempfile::tempdir().unwrap();
        let lower = dir.path().join("lower");
        let upper = dir.path().join("upper");
        for d in ["etc", "bin", "var/cache", "old", "hidden"] {
            fs::create_dir_all(lower.join(d)).unwrap();
        }
        fs::write(lower.join("etc/passwd"), "root").unwrap();
        fs::write(lower.join("bin/ls"), "ls").unwrap();
        fs::write(lower.join("old/a"), "a").unwrap();
        fs::write(lower.join("hidden/x"), "x").unwrap();
        // An upper layer below: hidden/ deleted there.
        let mid = dir.path().join("mid");
        fs::create_dir_all(&mid).unwrap();
        make_whiteout(&mid.join("hidden"));

        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::create_dir_all(upper.join("bin")).unwrap();
        fs::create_dir_all(upper.join("old")).unwrap();
        fs::create_dir_all(upper.join("newdir/sub")).unwrap();
        fs::create_dir_all(upper.join("hidden")).unwrap();
        fs::write(upper.join("etc/passwd"), "root\nme").unwrap();
        fs::write(upper.join("etc/new"), "new").unwrap();
        fs::hard_link(upper.join("etc/new"), upper.join("newdir/link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", upper.join("newdir/sym")).unwrap();
        set_xattr(&upper.join("etc/new"), "user.note", b"hi");
        make_whiteout(&upper.join("bin/ls"));
        make_opaque(&upper.join("old"));
        fs::write(upper.join("old/b"), "b").unwrap();

        let mut tar_bytes = Vec::new();
        write_upper_as_layer(&upper, &mut tar_bytes).unwrap();
        let got = entries(&tar_bytes);
        let names: Vec<&str> = got.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/.wh.ls",
                "etc",
                "etc/new",
                "etc/passwd",
                "hidden",
                "newdir",
                "newdir/link",
                "newdir/sub",
                "newdir/sym",
                "old",
                "old/.wh..wh..opq",
                "old/b",
            ]
        );
        let kind = |p: &str| got.iter().find(|e| e.0 == p).unwrap().1;
        assert_eq!(kind("newdir/link"), tar::EntryType::Link);
        assert_eq!(kind("newdir/sym"), tar::EntryType::Symlink);
        assert_eq!(kind("bin/.wh.ls"), tar::EntryType::Regular);
        let new = got.iter().find(|e| e.0 == "etc/new").unwrap();
        assert_eq!(
            new.2,
            vec![("SCHILY.xattr.user.note".to_string(), b"hi".to_vec())]
        );
        let old = got.iter().find(|e| e.0 == "old").unwrap();
        assert!(old.2.is_empty(), "overlay xattr leaked: {:?}", old.2);

        // The same directory gives the same bytes.
        let mut again = Vec::new();
        write_upper_as_layer(&upper, &mut again).unwrap();
        assert_eq!(again, tar_bytes);

        // And it unpacks back to the overlay format.
        let back = dir.path().join("back");
        fs::create_dir(&back).unwrap();
        crate::unpack::unpack_layer(&tar_bytes[..], &back, crate::unpack::Compression::None)
            .unwrap();
        let wh = fs::symlink_metadata(back.join("bin/ls")).unwrap();
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
        let opq = get_xattr(
            &CString::new(back.join("old").as_os_str().as_bytes()).unwrap(),
            OPAQUE_XATTR.as_bytes(),
        )
        .unwrap();
        assert_eq!(opq.as_deref(), Some(&b"y"[..]));
        assert_eq!(
            fs::metadata(back.join("newdir/link")).unwrap().ino(),
            fs::metadata(back.join("etc/new")).unwrap().ino()
        );

        // Make etc/ look like a copy-up of the lower one except for the
        // added file: it is listed because of etc/new.
        let got = changes(&upper, &[mid.clone(), lower.clone()]).unwrap();
        assert_eq!(
            got,
            vec![
                c("/bin", CHANGE_MODIFY),
                c("/bin/ls", CHANGE_DELETE),
                c("/etc", CHANGE_MODIFY),
                c("/etc/new", CHANGE_ADD),
                c("/etc/passwd", CHANGE_MODIFY),
                c("/hidden", CHANGE_ADD),
                c("/newdir", CHANGE_ADD),
                c("/newdir/link", CHANGE_ADD),
                c("/newdir/sub", CHANGE_ADD),
                c("/newdir/sym", CHANGE_ADD),
                c("/old", CHANGE_DELETE),
                c("/old/b", CHANGE_ADD),
            ]
        );
    }

    #[test]
    fn copied_up_directory_is_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let lower = dir.path().join("lower");
        let upper = dir.path().join("upper");
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::write(lower.join("etc/passwd"), "root").unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/passwd"), "root\nme").unwrap();
        let st = fs::metadata(lower.join("etc")).unwrap();
        fs::set_permissions(upper.join("etc"), st.permissions()).unwrap();
        let f = File::open(upper.join("etc")).unwrap();
        f.set_modified(st.modified().unwrap()).unwrap();
        assert_eq!(
            changes(&upper, &[lower]).unwrap(),
            vec![c("/etc/passwd", CHANGE_MODIFY)]
        );
    }
}
