use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use super::*;

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        true
    } else {
        eprintln!("skipping: overlay mount tests need root");
        false
    }
}

/// Mount points currently listed in /proc/self/mountinfo.
fn mount_points() -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .collect()
}

/// A temporary directory whose mounts are detached, and which is removed,
/// even when the test panics. On drop, checks that nothing below it is
/// still mounted.
struct Fixture {
    dir: Option<tempfile::TempDir>,
    mounts: Vec<PathBuf>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: Some(tempfile::tempdir().unwrap()),
            mounts: Vec::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path().join(rel);
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Registers `target` for unmounting on drop.
    fn mounted(&mut self, target: &Path) {
        self.mounts.push(target.to_path_buf());
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = nix::mount::umount2(m, MntFlags::MNT_DETACH);
        }
        let root = self.path().to_path_buf();
        let leftover: Vec<_> = mount_points()
            .into_iter()
            .filter(|m| m.starts_with(&root))
            .collect();
        drop(self.dir.take());
        if !std::thread::panicking() {
            assert!(leftover.is_empty(), "still mounted: {leftover:?}");
        }
    }
}

fn write(path: &Path, contents: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, contents).unwrap();
}

fn whiteout(path: &Path) {
    mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o600),
        makedev(0, 0),
    )
    .unwrap();
}

fn opaque(dir: &Path) {
    let path = CString::new(dir.as_os_str().as_bytes()).unwrap();
    let name = CString::new(crate::unpack::OPAQUE_XATTR).unwrap();
    // SAFETY: valid NUL-terminated strings and a 1-byte value buffer.
    let ret = unsafe { libc::lsetxattr(path.as_ptr(), name.as_ptr(), c"y".as_ptr().cast(), 1, 0) };
    assert_eq!(ret, 0, "{}", io::Error::last_os_error());
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

/// Three snapshots: bottom, middle (whiteout + opaque dir), top. Returned
/// topmost first.
fn three_layers(fx: &Fixture) -> Vec<PathBuf> {
    let l1 = fx.mkdir("snap/1");
    write(&l1.join("a.txt"), "1");
    write(&l1.join("b.txt"), "bottom");
    write(&l1.join("gone.txt"), "gone");
    write(&l1.join("dir/x"), "x");
    let l2 = fx.mkdir("snap/2");
    write(&l2.join("a.txt"), "2");
    whiteout(&l2.join("gone.txt"));
    write(&l2.join("dir/y"), "y");
    opaque(&l2.join("dir"));
    let l3 = fx.mkdir("snap/3");
    write(&l3.join("a.txt"), "3");
    vec![l3, l2, l1]
}

#[test]
fn three_layers_with_whiteout_and_opaque_dir() {
    if !is_root() {
        return;
    }
    let mut fx = Fixture::new();
    let lowers = three_layers(&fx);
    let (upper, work, target) = (fx.mkdir("upper"), fx.mkdir("work"), fx.mkdir("rootfs"));
    let method = mount_overlay(&lowers, &upper, &work, &target, None).unwrap();
    fx.mounted(&target);
    assert_eq!(method, MountMethod::Plain);
    assert!(mount_points().contains(&target));

    assert_eq!(read(&target.join("a.txt")), "3");
    assert_eq!(read(&target.join("b.txt")), "bottom");
    assert!(!target.join("gone.txt").exists());
    assert!(!target.join("dir/x").exists());
    assert_eq!(read(&target.join("dir/y")), "y");

    write(&target.join("new.txt"), "new");
    fs::write(target.join("b.txt"), "changed").unwrap();
    assert_eq!(read(&upper.join("new.txt")), "new");
    assert_eq!(read(&upper.join("b.txt")), "changed");
    assert_eq!(read(&lowers[2].join("b.txt")), "bottom");
    assert!(!lowers[0].join("new.txt").exists());

    unmount(&target).unwrap();
    assert!(!mount_points().contains(&target));
}

#[test]
fn readonly_overlay_and_single_layer_bind() {
    if !is_root() {
        return;
    }
    let mut fx = Fixture::new();
    let lowers = three_layers(&fx);
    let target = fx.mkdir("ro");
    let method = mount_overlay_readonly(&lowers, &target, None).unwrap();
    fx.mounted(&target);
    assert_eq!(method, MountMethod::Plain);
    assert_eq!(read(&target.join("a.txt")), "3");
    assert!(!target.join("gone.txt").exists());
    let err = fs::write(target.join("new.txt"), "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));

    let single = fx.mkdir("single");
    let method = mount_overlay_readonly(&lowers[2..], &single, None).unwrap();
    fx.mounted(&single);
    assert_eq!(method, MountMethod::Bind);
    assert_eq!(read(&single.join("a.txt")), "1");
    let err = fs::write(single.join("new.txt"), "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
}

/// 128 snapshots with long paths, topmost first: `layer-N` in each, and a
/// `which` file every layer overrides.
fn many_layers(fx: &Fixture) -> Vec<PathBuf> {
    let long = "a".repeat(60);
    let mut lowers: Vec<PathBuf> = (0..128)
        .map(|n| {
            let dir = fx.mkdir(&format!("{long}/{long}-{n}"));
            write(&dir.join(format!("layer-{n}")), &n.to_string());
            write(&dir.join("which"), &n.to_string());
            dir
        })
        .collect();
    lowers.reverse();
    lowers
}

fn check_many(target: &Path) {
    for n in 0..128 {
        assert_eq!(read(&target.join(format!("layer-{n}"))), n.to_string());
    }
    assert_eq!(read(&target.join("which")), "127");
}

#[test]
fn many_layers_mount() {
    if !is_root() {
        return;
    }
    let mut fx = Fixture::new();
    let lowers = many_layers(&fx);
    let (upper, work, target) = (fx.mkdir("upper"), fx.mkdir("work"), fx.mkdir("rootfs"));
    let links = fx.path().join("l");
    let m = OverlayMount {
        lowers,
        upper: Some(UpperDirs {
            upper: upper.clone(),
            work,
        }),
        target: target.clone(),
        links_dir: Some(links),
    };
    assert!(m.options(&m.lowers).len() > 4096);
    let method = m.mount().unwrap();
    fx.mounted(&target);
    eprintln!("128 layers mounted with {method}");
    assert!(matches!(
        method,
        MountMethod::LowerdirPlus | MountMethod::ShortLinks
    ));
    check_many(&target);
    write(&target.join("new.txt"), "new");
    assert_eq!(read(&upper.join("new.txt")), "new");
}

#[test]
fn many_layers_short_links() {
    if !is_root() {
        return;
    }
    let mut fx = Fixture::new();
    let lowers = many_layers(&fx);
    let target = fx.mkdir("rootfs");
    let m = OverlayMount {
        lowers: lowers.clone(),
        upper: Some(UpperDirs {
            upper: fx.mkdir("upper"),
            work: fx.mkdir("work"),
        }),
        target: target.clone(),
        links_dir: Some(fx.path().join("l")),
    };
    assert_eq!(m.mount_short_links().unwrap(), MountMethod::ShortLinks);
    fx.mounted(&target);
    check_many(&target);
    unmount(&target).unwrap();

    // The links are reused by the next mount, and read-only works too.
    let links = fx.path().join("l");
    assert_eq!(fs::read_dir(&links).unwrap().count(), 128);
    let ro = OverlayMount {
        upper: None,
        target: fx.mkdir("ro"),
        ..m
    };
    assert_eq!(ro.mount_short_links().unwrap(), MountMethod::ShortLinks);
    fx.mounted(&ro.target);
    check_many(&ro.target);
    assert_eq!(fs::read_dir(&links).unwrap().count(), 128);
}

#[test]
fn too_long_even_with_short_links() {
    let fx = Fixture::new();
    let lowers: Vec<PathBuf> = (0..128)
        .map(|n| fx.path().join(format!("{}/{n}", "a".repeat(60))))
        .collect();
    let mut m = OverlayMount {
        lowers,
        upper: None,
        target: fx.path().join("rootfs"),
        links_dir: None,
    };
    assert!(matches!(
        m.mount_short_links(),
        Err(OverlayError::OptionsTooLong {
            links_dir: None,
            ..
        })
    ));
    m.links_dir = Some(fx.path().join("b".repeat(100)));
    let err = m.mount_short_links().unwrap_err();
    match &err {
        OverlayError::OptionsTooLong {
            layers,
            options_len,
            ..
        } => {
            assert_eq!(*layers, 128);
            assert!(*options_len > 4095);
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("128 layers"), "{err}");
    // Nothing was created.
    assert!(!fx.path().join("b".repeat(100)).exists());
}

#[test]
fn short_links_are_stable_and_avoid_collisions() {
    let fx = Fixture::new();
    let links = fx.path().join("l");
    let a = fx.mkdir("snap-a");
    let b = fx.mkdir("snap-b");
    let la = short_link(&links, &a).unwrap();
    assert_eq!(short_link(&links, &a).unwrap(), la);
    assert_eq!(la.file_name().unwrap().len(), LINK_NAME_LEN);
    assert_eq!(fs::read_link(&la).unwrap(), a);

    // A name taken by another snapshot's link is skipped.
    let taken = links.join(link_name(&b, 0));
    std::os::unix::fs::symlink(&a, &taken).unwrap();
    let lb = short_link(&links, &b).unwrap();
    assert_ne!(lb, taken);
    assert_eq!(fs::read_link(&lb).unwrap(), b);

    assert!(remove_short_link(&links, &b).unwrap());
    assert!(!lb.exists());
    assert!(!remove_short_link(&links, &b).unwrap());
}

#[test]
fn invalid_input() {
    let rel = vec![PathBuf::from("relative")];
    assert!(matches!(
        mount_overlay_readonly(&rel, Path::new("/nonexistent"), None),
        Err(OverlayError::InvalidPath { .. })
    ));
    assert!(matches!(
        mount_overlay_readonly(&[], Path::new("/nonexistent"), None),
        Err(OverlayError::NoLowers { .. })
    ));
}

#[test]
fn options_are_escaped() {
    let m = OverlayMount {
        lowers: vec![PathBuf::from("/a:b"), PathBuf::from("/c,d\\e")],
        upper: Some(UpperDirs {
            upper: PathBuf::from("/u"),
            work: PathBuf::from("/w"),
        }),
        target: PathBuf::from("/t"),
        links_dir: None,
    };
    assert_eq!(
        m.options(&m.lowers),
        b"lowerdir=/a\\:b:/c\\,d\\\\e,upperdir=/u,workdir=/w".to_vec()
    );
}
