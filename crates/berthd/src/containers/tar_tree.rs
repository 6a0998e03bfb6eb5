//! A directory tree as a tar whose entry names are written verbatim, as
//! dockerd's rebased archives have them: `docker cp c:/etc/. dst` gets
//! `./`, `./passwd`, ... and the docker CLI rebases by replacing that
//! leading `.`. (tar-rs normalizes `./passwd` to `passwd` in its path
//! setters, which the CLI would then put beside `dst`, not in it.)
//!
//! Symlinks are archived as links, never followed; sockets are skipped
//! (tar has no type for them).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use tar::{Builder, EntryType, Header};

/// Appends `dir` (a directory, already resolved) and everything below it,
/// named `name`, `name/child`, ...
pub fn append_tree<W: Write>(builder: &mut Builder<W>, dir: &Path, name: &str) -> io::Result<()> {
    let meta = fs::metadata(dir)?;
    let mut header = Header::new_gnu();
    header.set_metadata(&meta);
    header.set_entry_type(EntryType::Directory);
    header.set_size(0);
    append_named(builder, &mut header, &format!("{name}/"), io::empty())?;
    append_children(builder, dir, name)
}

fn append_children<W: Write>(builder: &mut Builder<W>, dir: &Path, name: &str) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let child = format!("{name}/{}", entry.file_name().to_string_lossy());
        let path = entry.path();
        let meta = fs::symlink_metadata(&path)?;
        let kind = meta.file_type();
        let mut header = Header::new_gnu();
        header.set_metadata(&meta);
        if kind.is_dir() {
            header.set_size(0);
            append_named(builder, &mut header, &format!("{child}/"), io::empty())?;
            append_children(builder, &path, &child)?;
        } else if kind.is_symlink() {
            header.set_size(0);
            header.set_link_name_literal(fs::read_link(&path)?.as_os_str().as_encoded_bytes())?;
            append_named(builder, &mut header, &child, io::empty())?;
        } else if kind.is_file() {
            append_named(builder, &mut header, &child, File::open(&path)?)?;
        } else if !std::os::unix::fs::FileTypeExt::is_socket(&kind) {
            header.set_size(0);
            append_named(builder, &mut header, &child, io::empty())?;
        }
    }
    Ok(())
}

/// Appends an entry under exactly `name`: in the header when it fits,
/// else in a PAX `path` record before it.
pub fn append_named<W: Write>(
    builder: &mut Builder<W>,
    header: &mut Header,
    name: &str,
    data: impl io::Read,
) -> io::Result<()> {
    let bytes = name.as_bytes();
    let field = &mut header.as_old_mut().name;
    if bytes.len() <= field.len() {
        field.fill(0);
        field[..bytes.len()].copy_from_slice(bytes);
    } else {
        builder.append_pax_extensions([("path", bytes)])?;
        let short = &bytes[..field.len()];
        field.copy_from_slice(short);
    }
    header.set_cksum();
    builder.append(header, data)
}

/// The entry names of a tar, verbatim (tests).
#[cfg(test)]
pub fn entry_names(tar_bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(tar_bytes);
    let entries = archive.entries().expect("a tar");
    entries
        .map(|e| String::from_utf8_lossy(&e.expect("an entry").path_bytes()).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept_verbatim() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        std::fs::write(tmp.path().join("sub/f.conf"), "x").unwrap();
        std::os::unix::fs::symlink("/nowhere", tmp.path().join("l")).unwrap();
        let long = "n".repeat(150);
        std::fs::write(tmp.path().join(&long), "y").unwrap();
        let mut builder = Builder::new(Vec::new());
        append_tree(&mut builder, tmp.path(), ".").unwrap();
        let out = builder.into_inner().unwrap();
        let names = entry_names(&out);
        assert_eq!(
            names,
            ["./", "./l", &format!("./{long}"), "./sub/", "./sub/f.conf"]
        );
    }
}
