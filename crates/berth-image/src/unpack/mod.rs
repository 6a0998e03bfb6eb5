//! Layer unpacking: a (compressed) layer tar applied to a snapshot
//! directory that overlayfs will later use as a lower or upper layer.
//!
//! - Regular files, directories, symlinks, hardlinks, character and block
//!   devices and fifos are created with their mode (setuid, setgid and
//!   sticky bits included), numeric owner, mtime/atime and `SCHILY.xattr.*`
//!   extended attributes. Directory times are set last, once their
//!   children are in place.
//! - Whiteouts become overlayfs whiteouts: `.wh.<name>` is a 0/0 character
//!   device `<name>`, and `.wh..wh..opq` sets `trusted.overlay.opaque=y` on
//!   its directory (entries of the same layer stay, wherever the marker is
//!   in the tar). Other `.wh..wh.*` (aufs metadata) entries are skipped.
//! - Everything is done fd-relative: each parent directory is opened with
//!   openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
//!   from the snapshot, the final component is created with
//!   `*at(parent, name)` calls that never follow a symlink, and metadata
//!   is set on an `O_PATH | O_NOFOLLOW` descriptor (never chmod through a
//!   symlink, CVE-2021-32760).
//! - Hostile layers are refused with an error naming the entry: absolute
//!   paths, `..` components, entries below a symlink, hardlinks to anything
//!   that is not already inside the snapshot, whiteouts naming `""`, `.` or
//!   `..`, and truncated streams.
//!
//! On error the snapshot is left half-written: callers must unpack into a
//! fresh temporary directory, delete it on error, and rename it into place
//! only on success (after checking [`UnpackStats::diff_id`] against the
//! image config's `rootfs.diff_ids`).

mod fsops;
mod gzip;
mod read_ahead;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};
use sha2::{Digest, Sha256};

use fsops::Root;
use read_ahead::ReadAhead;

/// The xattr overlayfs reads to make a directory opaque.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The compression of a layer: from the magic bytes at its start when they
/// are recognizable (as Docker does), else from its media type
/// (`...tar+gzip`, `...tar.gzip`, `...tar+zstd`, `...tar`), else none.
pub fn detect_compression(media_type: Option<&str>, first_bytes: &[u8]) -> Compression {
    if first_bytes.starts_with(&[0x1f, 0x8b]) {
        return Compression::Gzip;
    }
    if first_bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Compression::Zstd;
    }
    match media_type {
        Some(m) if m.ends_with("+gzip") || m.ends_with(".gzip") || m.ends_with("+gz") => {
            Compression::Gzip
        }
        Some(m) if m.ends_with("+zstd") || m.ends_with(".zstd") => Compression::Zstd,
        _ => Compression::None,
    }
}

impl Compression {
    /// A reader of `source`'s decompressed bytes.
    pub fn decoder<R: Read>(self, source: R) -> io::Result<Decoder<R>> {
        Ok(match self {
            Compression::None => Decoder::Plain(source),
            Compression::Gzip => Decoder::Gzip(gzip::GzipDecoder::new(source)),
            Compression::Zstd => Decoder::Zstd(zstd::stream::read::Decoder::new(source)?),
        })
    }
}

/// A layer's decompressed bytes: gzip by ISA-L (see `gzip.rs`), zstd by
/// libzstd. `Send` whenever its source is.
pub enum Decoder<R: Read> {
    Plain(R),
    Gzip(gzip::GzipDecoder<R>),
    Zstd(zstd::stream::read::Decoder<'static, io::BufReader<R>>),
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(r) => r.read(buf),
            Decoder::Zstd(r) => r.read(buf),
        }
    }
}

/// A reader that hashes (sha256) and counts what is read through it: over
/// the decompressed stream, its digest is the layer's DiffID.
pub struct DiffIdReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    eof: bool,
}

impl<R: Read> DiffIdReader<R> {
    pub fn new(inner: R) -> Self {
        DiffIdReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            eof: false,
        }
    }

    /// `sha256:<hex>` of everything read so far.
    pub fn diff_id(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }

    /// How many bytes were read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Whether the inner reader has reported end of stream.
    pub fn at_eof(&self) -> bool {
        self.eof
    }
}

impl<R: Read> Read for DiffIdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof = true;
        }
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// What an unpack did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// `sha256:<hex>` of the uncompressed tar stream, to compare with the
    /// image config's `rootfs.diff_ids`.
    pub diff_id: String,
    /// Size of the uncompressed tar stream.
    pub tar_size: u64,
    /// Tar entries seen (skipped ones included).
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Character and block devices and fifos.
    pub special: u64,
    pub whiteouts: u64,
    pub opaque_dirs: u64,
    /// aufs metadata and global headers, not applied.
    pub skipped: u64,
    /// Bytes of regular file content written.
    pub file_bytes: u64,
    /// xattrs the file system refused (ENOTSUP/EPERM, ignored as Docker does).
    pub xattrs_ignored: u64,
}

fn after_entry(after: &Option<String>) -> String {
    match after {
        Some(e) => format!(" after entry {e:?}"),
        None => String::new(),
    }
}

/// Why an unpack failed. The snapshot directory must then be discarded.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("cannot open snapshot directory {}: {source}", path.display())]
    Snapshot { path: PathBuf, source: io::Error },
    #[error("reading the layer stream{}: {source}", after_entry(.after))]
    Stream {
        after: Option<String>,
        source: io::Error,
    },
    #[error("layer is truncated{}: no end-of-archive marker", after_entry(.after))]
    Truncated { after: Option<String> },
    #[error("layer entry {entry:?} rejected: {reason}")]
    Rejected { entry: String, reason: String },
    #[error("layer entry {entry:?}: {op}: {source}")]
    Entry {
        entry: String,
        op: &'static str,
        source: io::Error,
    },
}

fn reject(entry: &str, reason: impl Into<String>) -> UnpackError {
    UnpackError::Rejected {
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

/// An errno from an operation on `entry`; ELOOP means a symlink was in the
/// way, which only a hostile layer does.
fn sys(entry: &str, op: &'static str, e: Errno) -> UnpackError {
    if e == Errno::ELOOP {
        return reject(entry, format!("{op}: path goes through a symlink"));
    }
    UnpackError::Entry {
        entry: entry.to_string(),
        op,
        source: e.into(),
    }
}

/// Unpacks a layer into `snapshot_dir` (an existing, normally empty,
/// directory). See the module documentation for what is applied and
/// refused. The whole uncompressed stream is read, so the returned
/// `diff_id` is the layer's DiffID.
pub fn unpack_layer(
    reader: impl Read + Send,
    snapshot_dir: &Path,
    compression: Compression,
) -> Result<UnpackStats, UnpackError> {
    let decoder = compression
        .decoder(reader)
        .map_err(|source| UnpackError::Stream {
            after: None,
            source,
        })?;
    // Inflating on a helper thread while this one hashes and writes.
    std::thread::scope(|scope| unpack_tar(ReadAhead::spawn(scope, decoder), snapshot_dir))
}

/// Applies an uncompressed layer tar.
fn unpack_tar(tar: impl Read, snapshot_dir: &Path) -> Result<UnpackStats, UnpackError> {
    let stream_err = |after: Option<String>| move |source| UnpackError::Stream { after, source };
    let mut digest = DiffIdReader::new(tar);
    let root = Root::open(snapshot_dir).map_err(|e| UnpackError::Snapshot {
        path: snapshot_dir.to_path_buf(),
        source: e.into(),
    })?;
    let mut unpacker = Unpacker {
        root,
        stats: UnpackStats::default(),
        dir_times: Vec::new(),
        copy_buf: vec![0; COPY_BUF],
    };
    let mut last: Option<String> = None;
    {
        let mut archive = tar::Archive::new(&mut digest);
        let entries = archive.entries().map_err(stream_err(None))?;
        for entry in entries {
            let mut entry = entry.map_err(stream_err(last.clone()))?;
            let shown = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            unpacker.stats.entries += 1;
            unpacker.apply(&mut entry, &shown)?;
            last = Some(shown);
        }
    }
    // The tar reader stops at the first zero block; if it stopped because
    // the stream ended instead, the layer was cut at an entry boundary.
    if digest.at_eof() {
        return Err(UnpackError::Truncated { after: last });
    }
    // The DiffID covers the whole stream, padding after the marker too.
    io::copy(&mut digest, &mut io::sink()).map_err(stream_err(last))?;
    unpacker.finish_dirs()?;
    let mut stats = unpacker.stats;
    stats.diff_id = digest.diff_id();
    stats.tar_size = digest.bytes_read();
    Ok(stats)
}

/// Ownership, mode, times and xattrs of one entry.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    atime: TimeSpec,
    mtime: TimeSpec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A PAX time: `secs[.frac]`, possibly negative.
fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    for c in frac.bytes().chain(std::iter::repeat(b'0')).take(9) {
        if !c.is_ascii_digit() {
            return None;
        }
        nanos = nanos * 10 + i64::from(c - b'0');
    }
    let total = if neg {
        -(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
    } else {
        i128::from(secs) * 1_000_000_000 + i128::from(nanos)
    };
    let secs = total.div_euclid(1_000_000_000) as i64;
    let nanos = total.rem_euclid(1_000_000_000) as i64;
    Some(TimeSpec::new(secs, nanos))
}

fn parse_pax_u32(v: &[u8]) -> Option<u32> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, shown: &str) -> Result<Meta, UnpackError> {
    let bad = |what: &'static str| move |e: io::Error| sys_io(shown, what, e);
    let h = entry.header();
    let mode = h.mode().map_err(bad("reading mode"))?;
    let uid = h.uid().map_err(bad("reading uid"))?;
    let gid = h.gid().map_err(bad("reading gid"))?;
    let mtime = h.mtime().map_err(bad("reading mtime"))?;
    let atime = h.as_gnu().and_then(|g| g.atime().ok()).filter(|&a| a != 0);
    let to_ts = |s: u64| TimeSpec::new(i64::try_from(s).unwrap_or(i64::MAX), 0);
    let mut meta = Meta {
        uid: u32::try_from(uid).map_err(|_| reject(shown, "uid out of range"))?,
        gid: u32::try_from(gid).map_err(|_| reject(shown, "gid out of range"))?,
        mode,
        atime: to_ts(atime.unwrap_or(mtime)),
        mtime: to_ts(mtime),
        xattrs: Vec::new(),
    };
    let mut pax_atime = None;
    if let Some(exts) = entry.pax_extensions().map_err(bad("reading PAX header"))? {
        for ext in exts {
            let ext = ext.map_err(bad("reading PAX header"))?;
            let key = ext.key_bytes();
            let value = ext.value_bytes();
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                meta.xattrs.push((name.to_vec(), value.to_vec()));
                continue;
            }
            match key {
                b"mtime" => {
                    meta.mtime =
                        parse_pax_time(value).ok_or_else(|| reject(shown, "bad PAX mtime"))?
                }
                b"atime" => {
                    pax_atime =
                        Some(parse_pax_time(value).ok_or_else(|| reject(shown, "bad PAX atime"))?)
                }
                b"uid" => {
                    meta.uid = parse_pax_u32(value).ok_or_else(|| reject(shown, "bad PAX uid"))?
                }
                b"gid" => {
                    meta.gid = parse_pax_u32(value).ok_or_else(|| reject(shown, "bad PAX gid"))?
                }
                _ => {}
            }
        }
    }
    meta.atime = pax_atime.unwrap_or(if atime.is_some() {
        meta.atime
    } else {
        meta.mtime
    });
    Ok(meta)
}

fn sys_io(entry: &str, op: &'static str, source: io::Error) -> UnpackError {
    UnpackError::Entry {
        entry: entry.to_string(),
        op,
        source,
    }
}

/// A tar path made relative to the snapshot: `.` components dropped;
/// absolute paths and `..` refused.
fn clean_path(raw: &[u8]) -> Result<PathBuf, &'static str> {
    if raw.starts_with(b"/") {
        return Err("absolute path");
    }
    if raw.contains(&0) {
        return Err("NUL byte in path");
    }
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("`..` in path"),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path"),
        }
    }
    Ok(out)
}

/// Splits a cleaned, non-empty path into parent and final name.
fn split(rel: &Path) -> (&Path, &OsStr) {
    let parent = rel.parent().unwrap_or(Path::new(""));
    let name = rel.file_name().unwrap_or(OsStr::new("."));
    (parent, name)
}

struct Unpacker {
    root: Root,
    stats: UnpackStats,
    dir_times: Vec<(PathBuf, String, TimeSpec, TimeSpec)>,
    /// File contents go through here: `io::copy`'s 8 KiB would cost one
    /// read and one write system call per 8 KiB of the layer.
    copy_buf: Vec<u8>,
}

/// Bytes per write of a file's contents.
const COPY_BUF: usize = 256 * 1024;

/// Copies `from` to `to` through `buf`; returns the bytes copied.
fn copy_through(from: &mut impl Read, to: &mut impl io::Write, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

impl Unpacker {
    fn apply<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        shown: &str,
    ) -> Result<(), UnpackError> {
        use tar::EntryType as T;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink
        ) {
            self.stats.skipped += 1;
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let rel = clean_path(&raw).map_err(|r| reject(shown, r))?;

        // Whiteouts and aufs metadata, decided by name whatever the type.
        let comps: Vec<&[u8]> = rel.iter().map(|c| c.as_bytes()).collect();
        if let Some((&last, dirs)) = comps.split_last() {
            if dirs.iter().any(|c| c.starts_with(WHITEOUT_PREFIX)) {
                if dirs.iter().any(|c| c.starts_with(WHITEOUT_META_PREFIX)) {
                    self.stats.skipped += 1;
                    return Ok(());
                }
                return Err(reject(shown, "entry below a whiteout"));
            }
            if last == WHITEOUT_OPAQUE {
                return self.opaque(rel.parent().unwrap_or(Path::new("")), shown);
            }
            if last.starts_with(WHITEOUT_META_PREFIX) {
                self.stats.skipped += 1;
                return Ok(());
            }
            if let Some(base) = last.strip_prefix(WHITEOUT_PREFIX) {
                let meta = read_meta(entry, shown)?;
                return self.whiteout(&rel, base, &meta, shown);
            }
        }

        let meta = read_meta(entry, shown)?;
        if rel.as_os_str().is_empty() {
            // The snapshot root itself (`./`).
            if kind != T::Directory {
                return Err(reject(shown, "root entry is not a directory"));
            }
            let node = self.root.dir(&rel).map_err(|e| sys(shown, "open", e))?;
            self.set_meta(node.as_fd(), &meta, shown)?;
            self.dir_times
                .push((rel, shown.to_string(), meta.atime, meta.mtime));
            self.stats.dirs += 1;
            return Ok(());
        }
        let (parent_rel, name) = split(&rel);
        let parent = self
            .root
            .dir_all(parent_rel)
            .map_err(|e| sys(shown, "open parent directory", e))?;
        let parent = parent.as_fd();

        match kind {
            T::Directory => {
                let existing = fsops::lstat_at(parent, name).map_err(|e| sys(shown, "lstat", e))?;
                if !existing.as_ref().is_some_and(fsops::is_dir) {
                    fsops::remove_at(parent, name).map_err(|e| sys(shown, "remove existing", e))?;
                    nix::sys::stat::mkdirat(parent, name, Mode::from_bits_truncate(0o700))
                        .map_err(|e| sys(shown, "mkdir", e))?;
                }
                let node = self.root.dir(&rel).map_err(|e| sys(shown, "open", e))?;
                self.set_meta(node.as_fd(), &meta, shown)?;
                self.dir_times
                    .push((rel.clone(), shown.to_string(), meta.atime, meta.mtime));
                self.stats.dirs += 1;
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                fsops::remove_at(parent, name).map_err(|e| sys(shown, "remove existing", e))?;
                let fd = fsops::create_file(parent, name).map_err(|e| sys(shown, "create", e))?;
                let mut file = std::fs::File::from(fd);
                let n = copy_through(entry, &mut file, &mut self.copy_buf)
                    .map_err(|e| sys_io(shown, "write", e))?;
                if kind != T::GNUSparse && n != entry.size() {
                    return Err(reject(
                        shown,
                        format!("truncated: {n} of {} bytes", entry.size()),
                    ));
                }
                drop(file);
                self.stats.file_bytes += n;
                self.node_meta(parent, name, libc::S_IFREG, &meta, shown)?;
                self.stats.files += 1;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| reject(shown, "symlink without a target"))?
                    .into_owned();
                if target.is_empty() || target.contains(&0) {
                    return Err(reject(shown, "bad symlink target"));
                }
                fsops::remove_at(parent, name).map_err(|e| sys(shown, "remove existing", e))?;
                nix::unistd::symlinkat(OsStr::from_bytes(&target), parent, name)
                    .map_err(|e| sys(shown, "symlink", e))?;
                self.symlink_meta(parent, name, &meta, shown)?;
                self.stats.symlinks += 1;
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| reject(shown, "hardlink without a target"))?
                    .into_owned();
                self.hardlink(&rel, &target, shown)?;
                self.stats.hardlinks += 1;
            }
            T::Char | T::Block | T::Fifo => {
                let (sflag, ifmt) = match kind {
                    T::Char => (SFlag::S_IFCHR, libc::S_IFCHR),
                    T::Block => (SFlag::S_IFBLK, libc::S_IFBLK),
                    _ => (SFlag::S_IFIFO, libc::S_IFIFO),
                };
                let h = entry.header();
                let (major, minor) = if kind == T::Fifo {
                    (None, None)
                } else {
                    (
                        h.device_major()
                            .map_err(|e| sys_io(shown, "reading device major", e))?,
                        h.device_minor()
                            .map_err(|e| sys_io(shown, "reading device minor", e))?,
                    )
                };
                fsops::remove_at(parent, name).map_err(|e| sys(shown, "remove existing", e))?;
                fsops::mknod_at(
                    parent,
                    name,
                    sflag,
                    u64::from(major.unwrap_or(0)),
                    u64::from(minor.unwrap_or(0)),
                )
                .map_err(|e| sys(shown, "mknod", e))?;
                self.node_meta(parent, name, ifmt, &meta, shown)?;
                self.stats.special += 1;
            }
            other => {
                return Err(reject(shown, format!("unsupported entry type {other:?}")));
            }
        }
        Ok(())
    }

    /// `.wh.<base>` at `rel`: a 0/0 character device `<base>` beside it.
    fn whiteout(
        &mut self,
        rel: &Path,
        base: &[u8],
        meta: &Meta,
        shown: &str,
    ) -> Result<(), UnpackError> {
        if base.is_empty() || base == b"." || base == b".." {
            return Err(reject(shown, "whiteout of an invalid name"));
        }
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let parent = self
            .root
            .dir_all(parent_rel)
            .map_err(|e| sys(shown, "open parent directory", e))?;
        let name = OsStr::from_bytes(base);
        fsops::remove_at(parent.as_fd(), name)
            .map_err(|e| sys(shown, "remove whited-out entry", e))?;
        fsops::mknod_at(parent.as_fd(), name, SFlag::S_IFCHR, 0, 0)
            .map_err(|e| sys(shown, "mknod whiteout", e))?;
        nix::unistd::fchownat(
            parent.as_fd(),
            name,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| sys(shown, "chown whiteout", e))?;
        self.stats.whiteouts += 1;
        Ok(())
    }

    /// `.wh..wh..opq` in `dir`: mark the directory opaque. Nothing is
    /// deleted: the layer's own entries in it stay, before or after.
    fn opaque(&mut self, dir: &Path, shown: &str) -> Result<(), UnpackError> {
        let fd = self
            .root
            .dir_all(dir)
            .map_err(|e| sys(shown, "open opaque directory", e))?;
        fsops::setxattr_fd(fd.as_fd(), OPAQUE_XATTR.as_bytes(), b"y")
            .map_err(|e| sys(shown, "set trusted.overlay.opaque", e))?;
        self.stats.opaque_dirs += 1;
        Ok(())
    }

    /// A hardlink at `rel` to `target_raw`, which must already exist in the
    /// snapshot (earlier in this layer). The link is made without following
    /// a symlink target, and no metadata is ever applied through it.
    fn hardlink(&mut self, rel: &Path, target_raw: &[u8], shown: &str) -> Result<(), UnpackError> {
        let target =
            clean_path(target_raw).map_err(|r| reject(shown, format!("hardlink target: {r}")))?;
        if target.as_os_str().is_empty() {
            return Err(reject(shown, "hardlink to the snapshot root"));
        }
        if target == rel {
            return Ok(());
        }
        let (tparent_rel, tname) = split(&target);
        let tparent = match self.root.dir(tparent_rel) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => {
                return Err(reject(shown, "hardlink target does not exist in the layer"))
            }
            Err(e) => return Err(sys(shown, "open hardlink target directory", e)),
        };
        match fsops::lstat_at(tparent.as_fd(), tname)
            .map_err(|e| sys(shown, "lstat hardlink target", e))?
        {
            None => return Err(reject(shown, "hardlink target does not exist in the layer")),
            Some(st) if fsops::is_dir(&st) => return Err(reject(shown, "hardlink to a directory")),
            Some(_) => {}
        }
        let (parent_rel, name) = split(rel);
        let parent = self
            .root
            .dir_all(parent_rel)
            .map_err(|e| sys(shown, "open parent directory", e))?;
        fsops::remove_at(parent.as_fd(), name).map_err(|e| sys(shown, "remove existing", e))?;
        nix::unistd::linkat(
            tparent.as_fd(),
            tname,
            parent.as_fd(),
            name,
            AtFlags::empty(),
        )
        .map_err(|e| sys(shown, "link", e))
    }

    /// Metadata of a non-symlink `name` in `parent`, which must be of type
    /// `ifmt`; times are set too.
    fn node_meta(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        ifmt: libc::mode_t,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), UnpackError> {
        let node = fsops::node_fd(parent, name).map_err(|e| sys(shown, "open", e))?;
        let st = nix::sys::stat::fstat(node.as_fd()).map_err(|e| sys(shown, "stat", e))?;
        if st.st_mode & libc::S_IFMT != ifmt {
            return Err(reject(shown, "file changed type while unpacking"));
        }
        self.set_meta(node.as_fd(), meta, shown)?;
        set_times_fd(node.as_fd(), meta.atime, meta.mtime).map_err(|e| sys(shown, "set times", e))
    }

    /// Owner, mode and xattrs of the (non-symlink) inode behind an O_PATH
    /// descriptor. Owner first: chown clears setuid/setgid bits.
    fn set_meta(
        &mut self,
        node: BorrowedFd<'_>,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), UnpackError> {
        nix::unistd::fchownat(
            node,
            "",
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::AT_EMPTY_PATH,
        )
        .map_err(|e| sys(shown, "chown", e))?;
        fsops::chmod_fd(node, meta.mode).map_err(|e| sys(shown, "chmod", e))?;
        for (attr, value) in &meta.xattrs {
            match fsops::setxattr_fd(node, attr, value) {
                Ok(()) => {}
                Err(Errno::ENOTSUP | Errno::EPERM) => self.stats.xattrs_ignored += 1,
                Err(e) => return Err(sys(shown, "set xattr", e)),
            }
        }
        Ok(())
    }

    /// Owner, xattrs and times of a symlink, never following it (and no
    /// mode: symlinks have none).
    fn symlink_meta(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), UnpackError> {
        nix::unistd::fchownat(
            parent,
            name,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| sys(shown, "lchown", e))?;
        for (attr, value) in &meta.xattrs {
            match fsops::lsetxattr_at(parent, name, attr, value) {
                Ok(()) => {}
                Err(Errno::ENOTSUP | Errno::EPERM) => self.stats.xattrs_ignored += 1,
                Err(e) => return Err(sys(shown, "set xattr", e)),
            }
        }
        nix::sys::stat::utimensat(
            parent,
            name,
            &meta.atime,
            &meta.mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| sys(shown, "set times", e))
    }

    /// Directory times, once nothing more is created in them.
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        for (rel, shown, atime, mtime) in self.dir_times.iter().rev() {
            let fd = self
                .root
                .dir(rel)
                .map_err(|e| sys(shown, "open directory", e))?;
            set_times_fd(fd.as_fd(), *atime, *mtime).map_err(|e| sys(shown, "set times", e))?;
        }
        Ok(())
    }
}

/// utimensat on the inode behind an O_PATH descriptor that is not a
/// symlink, through its magic link (which names exactly that inode).
fn set_times_fd(fd: BorrowedFd<'_>, atime: TimeSpec, mtime: TimeSpec) -> nix::Result<()> {
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &fsops::fd_path(fd),
        &atime,
        &mtime,
        UtimensatFlags::FollowSymlink,
    )
}
