//! The tar side of `berth cp`: a local file or directory packed under the
//! name it gets in the container, and a container's archive unpacked
//! under the name it gets here. The archive comes from a container and is
//! untrusted: every entry must stay inside the destination (no `..`, no
//! absolute names, no walking through a symlink), else the copy stops.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context as _};

/// Packs `src` into `out`, named `base` at the top of the archive; `base`
/// `None` puts a directory's contents at the top (docker's `SRC/.`).
/// `keep_ids` keeps our uid/gid (`cp -a`); else entries are root's, as
/// docker makes them.
pub fn pack(src: &Path, base: Option<&OsStr>, keep_ids: bool, out: impl Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    match base {
        Some(name) => append(&mut builder, src, Path::new(name), keep_ids)?,
        None => {
            for child in fs::read_dir(src)? {
                let child = child?;
                let name = PathBuf::from(child.file_name());
                append(&mut builder, &child.path(), &name, keep_ids)?;
            }
        }
    }
    builder.into_inner()?.flush()
}

/// One file, symlink or directory tree (symlinks are never followed;
/// devices, fifos and sockets are left out, as they cannot be copied).
fn append<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    keep_ids: bool,
) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let kind = meta.file_type();
    let mut header = tar::Header::new_gnu();
    header.set_metadata(&meta);
    if !keep_ids {
        header.set_uid(0);
        header.set_gid(0);
    }
    if kind.is_file() {
        return b.append_data(&mut header, name, fs::File::open(path)?);
    }
    header.set_size(0);
    if kind.is_symlink() {
        return b.append_link(&mut header, name, fs::read_link(path)?);
    }
    if !kind.is_dir() {
        return Ok(());
    }
    b.append_data(&mut header, name, io::empty())?;
    for child in fs::read_dir(path)? {
        let child = child?;
        append(b, &child.path(), &name.join(child.file_name()), keep_ids)?;
    }
    Ok(())
}

/// Unpacks `archive` into the existing directory `dst_dir`. Each entry's
/// first component (the source's name) becomes `base`; `base` `None`
/// unpacks what was under it straight into `dst_dir`.
pub fn unpack(archive: impl Read, dst_dir: &Path, base: Option<&OsStr>) -> anyhow::Result<()> {
    let mut ar = tar::Archive::new(archive);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    for entry in ar.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let name = entry.path().context("reading the archive")?.into_owned();
        let Some(rel) = rebase(&name, base)? else {
            continue;
        };
        let target = inside(dst_dir, &rel, true)?;
        let kind = entry.header().entry_type();
        if kind.is_hard_link() {
            link(&entry, dst_dir, &target, base)?;
            continue;
        }
        if kind.is_dir() && is_symlink(&target) {
            bail!(
                "refusing to unpack {}: a symlink is in the way",
                rel.display()
            );
        }
        entry
            .unpack(&target)
            .with_context(|| format!("unpacking {}", rel.display()))?;
    }
    Ok(())
}

/// A hard link entry, its target rebased and checked like any entry.
fn link<R: Read>(
    entry: &tar::Entry<R>,
    dst_dir: &Path,
    target: &Path,
    base: Option<&OsStr>,
) -> anyhow::Result<()> {
    let Some(to) = entry.link_name().context("reading the archive")? else {
        bail!("a hard link without a target in the archive");
    };
    let Some(rel) = rebase(&to, base)? else {
        bail!("refusing a hard link to {}", to.display());
    };
    let source = inside(dst_dir, &rel, false)?;
    if fs::symlink_metadata(target).is_ok() {
        fs::remove_file(target).with_context(|| format!("replacing {}", target.display()))?;
    }
    fs::hard_link(&source, target)
        .with_context(|| format!("linking {} to {}", target.display(), source.display()))
}

/// The entry's path with its first component replaced by `base` (or
/// dropped); `None` for the top entry itself when it is dropped. Names
/// that leave the archive's top (`..`, `/...`) are refused.
pub fn rebase(name: &Path, base: Option<&OsStr>) -> anyhow::Result<Option<PathBuf>> {
    let mut parts = Vec::new();
    for (i, c) in name.components().enumerate() {
        match c {
            Component::Normal(p) => parts.push(p),
            // The archive of `DIR/.` is topped by `.` (as dockerd names
            // it): that is the top entry, replaced like any other.
            Component::CurDir if i == 0 => parts.push(OsStr::new(".")),
            Component::CurDir => {}
            _ => bail!(
                "refusing to unpack {}: it leaves the destination",
                name.display()
            ),
        }
    }
    let Some((_, rest)) = parts.split_first() else {
        return Ok(None);
    };
    let mut out = base.map(PathBuf::from).unwrap_or_default();
    out.extend(rest);
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// `dst_dir/rel`, checking that no directory on the way is a symlink (so
/// nothing lands outside `dst_dir`); missing directories are made when
/// `create` is set.
fn inside(dst_dir: &Path, rel: &Path, create: bool) -> anyhow::Result<PathBuf> {
    let mut path = dst_dir.to_path_buf();
    let mut parts = rel.components().peekable();
    while let Some(part) = parts.next() {
        path.push(part);
        if parts.peek().is_none() {
            break;
        }
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => bail!(
                "refusing to unpack {}: {} is a symlink",
                rel.display(),
                path.display()
            ),
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("{} is not a directory", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
            }
            Err(e) => return Err(e).with_context(|| path.display().to_string()),
        }
    }
    Ok(path)
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            h.set_size(0);
            // Raw names: `append_data` would refuse the hostile ones.
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            if !link.is_empty() {
                h.set_link_name(link).unwrap_or_default();
            }
            h.set_cksum();
            b.append(&h, io::empty()).unwrap_or_default();
        }
        b.into_inner().unwrap_or_default()
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-cp-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_default();
        dir
    }

    #[test]
    fn rebases_the_top_name() {
        let r = |n: &str, b: Option<&str>| rebase(Path::new(n), b.map(OsStr::new)).ok().flatten();
        assert_eq!(r("etc/hosts", Some("x")), Some(PathBuf::from("x/hosts")));
        // `DIR/.`: the top is `.`.
        assert_eq!(r(".", Some("x")), Some(PathBuf::from("x")));
        assert_eq!(r("./etc", Some("x")), Some(PathBuf::from("x/etc")));
        assert_eq!(r("./a/b", None), Some(PathBuf::from("a/b")));
        assert_eq!(r("etc", None), None);
        assert_eq!(r("etc/a/b", None), Some(PathBuf::from("a/b")));
        assert!(rebase(Path::new("etc/../../x"), None).is_err());
        assert!(rebase(Path::new("/etc/x"), None).is_err());
    }

    #[test]
    fn refuses_to_walk_through_a_symlink() {
        let dir = scratch("symlink");
        let outside = scratch("outside");
        let tar = tar_of(&[
            ("top/", tar::EntryType::Directory, ""),
            (
                "top/esc",
                tar::EntryType::Symlink,
                outside.to_str().unwrap_or("/"),
            ),
            ("top/esc/pwned", tar::EntryType::Regular, ""),
        ]);
        let err = unpack(&tar[..], &dir, Some(OsStr::new("top"))).unwrap_err();
        assert!(format!("{err:#}").contains("symlink"), "{err:#}");
        assert!(!outside.join("pwned").exists());
        let tar = tar_of(&[("top/../../pwned", tar::EntryType::Regular, "")]);
        assert!(unpack(&tar[..], &dir, None).is_err());
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_dir_all(&outside);
    }

    #[test]
    fn packs_with_root_ids_and_unpacks_renamed() {
        let src = scratch("src");
        fs::create_dir_all(src.join("d/sub")).unwrap_or_default();
        fs::write(src.join("d/sub/f"), b"data").unwrap_or_default();
        let mut tar = Vec::new();
        pack(&src.join("d"), Some(OsStr::new("d")), false, &mut tar).unwrap_or_default();
        let mut ar = tar::Archive::new(&tar[..]);
        for e in ar.entries().into_iter().flatten().flatten() {
            assert_eq!(e.header().uid().ok(), Some(0));
        }
        let dst = scratch("dst");
        unpack(&tar[..], &dst, Some(OsStr::new("renamed"))).unwrap_or_default();
        assert_eq!(
            fs::read(dst.join("renamed/sub/f")).ok(),
            Some(b"data".to_vec())
        );
        let _ = fs::remove_dir_all(&src);
        let _ = fs::remove_dir_all(&dst);
    }
}
