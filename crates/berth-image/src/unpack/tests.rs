use super::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

const MTIME: u64 = 1_600_000_000;

/// A tar under construction, with raw (unvalidated) names.
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Self {
        Layer(tar::Builder::new(Vec::new()))
    }

    fn entry(&mut self, name: &str, kind: tar::EntryType, mode: u32, link: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_mtime(MTIME);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, tar::EntryType::Regular, mode, "", data);
    }

    fn dir(&mut self, name: &str, mode: u32) {
        self.entry(name, tar::EntryType::Directory, mode, "", b"");
    }

    fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, tar::EntryType::Symlink, 0o777, target, b"");
    }

    fn hardlink(&mut self, name: &str, target: &str) {
        self.entry(name, tar::EntryType::Link, 0o644, target, b"");
    }

    fn device(&mut self, name: &str, kind: tar::EntryType, major: u32, minor: u32) {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_mode(0o620);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_mtime(MTIME);
        h.set_size(0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.0.append(&h, &b""[..]).unwrap();
    }

    /// A PAX extended header for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) {
        let mut data = Vec::new();
        for (k, v) in records {
            let body_len = k.len() + v.len() + 3;
            let mut len = body_len + 1;
            while format!("{len}").len() + body_len != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        self.entry("././@PaxHeader", tar::EntryType::XHeader, 0o644, "", &data);
    }

    fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A snapshot dir and a sentinel "outside" dir next to it.
struct Env {
    _tmp: tempfile::TempDir,
    snap: PathBuf,
    outside: PathBuf,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let snap = tmp.path().join("snap");
        let outside = tmp.path().join("outside");
        fs::create_dir(&snap).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"secret").unwrap();
        fs::set_permissions(outside.join("keep"), fs::Permissions::from_mode(0o600)).unwrap();
        Env {
            _tmp: tmp,
            snap,
            outside,
        }
    }

    fn unpack(&self, tar: &[u8]) -> Result<UnpackStats, UnpackError> {
        unpack_layer(tar, &self.snap, Compression::None)
    }

    /// The sentinel dir holds exactly `keep`, unchanged.
    fn assert_outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("keep")]);
        let keep = self.outside.join("keep");
        let md = fs::symlink_metadata(&keep).unwrap();
        assert!(md.is_file());
        assert_eq!(md.mode() & 0o7777, 0o600);
        assert_eq!((md.uid(), md.gid()), (0, 0));
        assert_eq!(fs::read(&keep).unwrap(), b"secret");
    }

    fn assert_rejected(&self, tar: &[u8], entry: &str) {
        let err = self.unpack(tar).expect_err("hostile layer accepted");
        let msg = err.to_string();
        assert!(msg.contains(entry), "error {msg:?} does not name {entry:?}");
        self.assert_outside_untouched();
    }
}

fn getxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid NUL-terminated strings and a buffer of the given size.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return None;
    }
    buf.truncate(r as usize);
    Some(buf)
}

fn normal_layer() -> Vec<u8> {
    let mut l = Layer::new();
    l.dir("bin/", 0o755);
    l.pax(&[
        ("SCHILY.xattr.user.foo", b"bar"),
        ("mtime", b"1600000000.5"),
    ]);
    l.file("bin/su", 0o4755, b"#!/bin/sh\n");
    l.dir("tmp/", 0o1777);
    l.dir("sgid/", 0o2775);
    l.symlink("bin/sh", "/bin/busybox");
    l.hardlink("bin/su2", "bin/su");
    l.entry("run/fifo", tar::EntryType::Fifo, 0o640, "", b"");
    l.device("dev/null", tar::EntryType::Char, 1, 3);
    l.device("dev/loop0", tar::EntryType::Block, 7, 0);
    l.file("tmp/a", 0o600, b"hello");
    l.finish()
}

fn check_normal(snap: &Path) {
    let su = snap.join("bin/su");
    let md = fs::symlink_metadata(&su).unwrap();
    assert!(md.is_file());
    assert_eq!(md.mode() & 0o7777, 0o4755);
    assert_eq!((md.uid(), md.gid()), (1000, 1000));
    assert_eq!((md.mtime(), md.mtime_nsec()), (MTIME as i64, 500_000_000));
    assert_eq!(md.nlink(), 2);
    assert_eq!(getxattr(&su, "user.foo").as_deref(), Some(&b"bar"[..]));
    assert_eq!(fs::read(&su).unwrap(), b"#!/bin/sh\n");
    let su2 = fs::symlink_metadata(snap.join("bin/su2")).unwrap();
    assert_eq!(su2.ino(), md.ino());

    let tmp = fs::symlink_metadata(snap.join("tmp")).unwrap();
    assert!(tmp.is_dir());
    assert_eq!(tmp.mode() & 0o7777, 0o1777);
    assert_eq!(tmp.mtime(), MTIME as i64, "dir mtime set after children");
    assert_eq!((tmp.uid(), tmp.gid()), (1000, 1000));
    let sgid = fs::symlink_metadata(snap.join("sgid")).unwrap();
    assert_eq!(sgid.mode() & 0o7777, 0o2775);
    assert_eq!(
        fs::symlink_metadata(snap.join("bin")).unwrap().mtime(),
        MTIME as i64
    );

    let sh = fs::symlink_metadata(snap.join("bin/sh")).unwrap();
    assert!(sh.file_type().is_symlink());
    assert_eq!(
        fs::read_link(snap.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!((sh.uid(), sh.gid(), sh.mtime()), (1000, 1000, MTIME as i64));

    let fifo = fs::symlink_metadata(snap.join("run/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o640);
    // A parent missing from the tar is made 0755.
    assert_eq!(
        fs::symlink_metadata(snap.join("run")).unwrap().mode() & 0o7777,
        0o755
    );

    let null = fs::symlink_metadata(snap.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o620);
    assert_eq!(null.uid(), 1000);
    let lp = fs::symlink_metadata(snap.join("dev/loop0")).unwrap();
    assert!(lp.file_type().is_block_device());
    assert_eq!(lp.rdev(), nix::sys::stat::makedev(7, 0));

    assert_eq!(fs::read(snap.join("tmp/a")).unwrap(), b"hello");
}

fn sha256_hex(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

#[test]
fn normal_layer_is_preserved() {
    let env = Env::new();
    let tar = normal_layer();
    let stats = env.unpack(&tar).unwrap();
    check_normal(&env.snap);
    assert_eq!(stats.diff_id, sha256_hex(&tar));
    assert_eq!(stats.tar_size, tar.len() as u64);
    assert_eq!(stats.files, 2);
    assert_eq!(stats.hardlinks, 1);
    assert_eq!(stats.symlinks, 1);
    assert_eq!(stats.special, 3);
    env.assert_outside_untouched();
}

#[test]
fn gzip_and_zstd_give_the_same_result_and_diff_id() {
    let tar = normal_layer();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    assert_eq!(detect_compression(None, &gz), Compression::Gzip);
    assert_eq!(detect_compression(None, &zst), Compression::Zstd);

    let plain = Env::new();
    let a = plain.unpack(&tar).unwrap();
    let genv = Env::new();
    let b = unpack_layer(&gz[..], &genv.snap, Compression::Gzip).unwrap();
    let zenv = Env::new();
    let c = unpack_layer(&zst[..], &zenv.snap, Compression::Zstd).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.diff_id, sha256_hex(&tar));
    check_normal(&genv.snap);
    check_normal(&zenv.snap);
}

#[test]
fn whiteout_becomes_a_0_0_char_device() {
    let env = Env::new();
    let mut l = Layer::new();
    l.dir("etc/", 0o755);
    l.file("etc/.wh.passwd", 0o644, b"");
    l.file(".wh.gone", 0o644, b"");
    let stats = env.unpack(&l.finish()).unwrap();
    assert_eq!(stats.whiteouts, 2);
    for p in ["etc/passwd", "gone"] {
        let md = fs::symlink_metadata(env.snap.join(p)).unwrap();
        assert!(md.file_type().is_char_device(), "{p}");
        assert_eq!(md.rdev(), 0);
        assert_eq!(md.uid(), 1000);
    }
    assert!(!env.snap.join("etc/.wh.passwd").exists());
    env.assert_outside_untouched();
}

#[test]
fn opaque_marker_before_or_after_siblings_keeps_them() {
    for marker_first in [true, false] {
        let env = Env::new();
        let mut l = Layer::new();
        l.dir("a/", 0o755);
        if marker_first {
            l.file("a/.wh..wh..opq", 0o644, b"");
        }
        l.file("a/x", 0o644, b"x");
        l.dir("a/sub/", 0o755);
        if !marker_first {
            l.file("a/.wh..wh..opq", 0o644, b"");
        }
        // A marker for a directory not listed: it is created.
        l.file("b/.wh..wh..opq", 0o644, b"");
        let stats = env.unpack(&l.finish()).unwrap();
        assert_eq!(stats.opaque_dirs, 2);
        for d in ["a", "b"] {
            assert_eq!(
                getxattr(&env.snap.join(d), OPAQUE_XATTR).as_deref(),
                Some(&b"y"[..])
            );
        }
        assert_eq!(fs::read(env.snap.join("a/x")).unwrap(), b"x");
        assert!(env.snap.join("a/sub").is_dir());
        assert!(!env.snap.join("a/.wh..wh..opq").exists());
        env.assert_outside_untouched();
    }
}

#[test]
fn rejects_parent_dir_paths() {
    let env = Env::new();
    let mut l = Layer::new();
    l.file("../outside/evil", 0o644, b"x");
    env.assert_rejected(&l.finish(), "../outside/evil");
    let mut l = Layer::new();
    l.file("a/../../outside/evil", 0o644, b"x");
    env.assert_rejected(&l.finish(), "a/../../outside/evil");
}

#[test]
fn rejects_absolute_paths() {
    let env = Env::new();
    let evil = format!("{}/evil", env.outside.display());
    let mut l = Layer::new();
    l.file(&evil, 0o644, b"x");
    env.assert_rejected(&l.finish(), &evil);
}

#[test]
fn rejects_writes_through_a_symlink() {
    for target in ["/etc", "../outside", "OUTSIDE"] {
        let env = Env::new();
        let target = target.replace("OUTSIDE", &env.outside.display().to_string());
        let mut l = Layer::new();
        l.symlink("link", &target);
        l.file("link/passwd", 0o644, b"root::0:0::/:/bin/sh\n");
        env.assert_rejected(&l.finish(), "link/passwd");
        assert!(!env.snap.join("etc/passwd").exists());
        // A directory entry through it too.
        let env = Env::new();
        let mut l = Layer::new();
        l.symlink("link", &target);
        l.dir("link/sub/", 0o755);
        env.assert_rejected(&l.finish(), "link/sub");
    }
}

#[test]
fn rejects_hardlinks_outside_the_snapshot() {
    let env = Env::new();
    let abs = format!("{}/keep", env.outside.display());
    for target in [
        "../../outside/keep",
        "../outside/keep",
        abs.as_str(),
        "missing",
    ] {
        let mut l = Layer::new();
        l.hardlink("shadow", target);
        env.assert_rejected(&l.finish(), "shadow");
    }
    // Through a symlink in the layer.
    let mut l = Layer::new();
    l.symlink("out", &env.outside.display().to_string());
    l.hardlink("shadow", "out/keep");
    env.assert_rejected(&l.finish(), "shadow");
}

#[test]
fn symlink_hardlink_chmod_trick_changes_nothing_outside() {
    // containerd CVE-2021-32760: symlink to outside, hardlink to the
    // symlink, then entries that would chmod/chown "through" the hardlink.
    let env = Env::new();
    let keep = format!("{}/keep", env.outside.display());
    let mut l = Layer::new();
    l.symlink("s", &keep);
    l.hardlink("h", "s");
    l.entry("h2", tar::EntryType::Link, 0o4777, "s", b"");
    l.file("h", 0o4777, b"");
    l.dir("s/", 0o777);
    env.unpack(&l.finish()).unwrap();
    env.assert_outside_untouched();
    // The hardlink to the symlink is a link to the symlink itself.
    assert!(fs::symlink_metadata(env.snap.join("h2"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::symlink_metadata(env.snap.join("h")).unwrap().is_file());
    assert!(fs::symlink_metadata(env.snap.join("s")).unwrap().is_dir());
}

#[test]
fn rejects_bad_whiteouts() {
    let env = Env::new();
    for name in [".wh.", "d/.wh..", "d/.wh..."] {
        let mut l = Layer::new();
        l.dir("d/", 0o755);
        l.file(name, 0o644, b"");
        env.assert_rejected(&l.finish(), name);
    }
}

#[test]
fn rejects_truncated_layers() {
    let mut l = Layer::new();
    l.file("a", 0o644, &[7u8; 3000]);
    l.file("b", 0o644, b"bbb");
    let tar = l.finish();
    // Inside a's data, inside b's header, at the boundary before the
    // end-of-archive marker.
    for cut in [1000, 512 + 3072 + 100, 512 + 3072 + 512 + 512] {
        let env = Env::new();
        let err = env
            .unpack(&tar[..cut])
            .expect_err("truncated layer accepted");
        assert!(
            matches!(
                err,
                UnpackError::Stream { .. }
                    | UnpackError::Truncated { .. }
                    | UnpackError::Rejected { .. }
            ),
            "{err}"
        );
        env.assert_outside_untouched();
    }
    // Truncated gzip.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    let env = Env::new();
    assert!(unpack_layer(&gz[..gz.len() / 2], &env.snap, Compression::Gzip).is_err());
}

#[test]
fn detects_compression() {
    assert_eq!(
        detect_compression(Some("application/vnd.oci.image.layer.v1.tar+gzip"), b""),
        Compression::Gzip
    );
    assert_eq!(
        detect_compression(
            Some("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            b""
        ),
        Compression::Gzip
    );
    assert_eq!(
        detect_compression(Some("application/vnd.oci.image.layer.v1.tar+zstd"), b""),
        Compression::Zstd
    );
    assert_eq!(
        detect_compression(Some("application/vnd.oci.image.layer.v1.tar"), b"abc"),
        Compression::None
    );
    assert_eq!(
        detect_compression(None, &[0x1f, 0x8b, 8]),
        Compression::Gzip
    );
    assert_eq!(
        detect_compression(None, &[0x28, 0xb5, 0x2f, 0xfd]),
        Compression::Zstd
    );
    assert_eq!(detect_compression(None, b"bin/"), Compression::None);
}

#[test]
fn parses_pax_times() {
    assert_eq!(parse_pax_time(b"12"), Some(TimeSpec::new(12, 0)));
    assert_eq!(
        parse_pax_time(b"12.5"),
        Some(TimeSpec::new(12, 500_000_000))
    );
    assert_eq!(
        parse_pax_time(b"-1.5"),
        Some(TimeSpec::new(-2, 500_000_000))
    );
    assert_eq!(parse_pax_time(b"x"), None);
}
