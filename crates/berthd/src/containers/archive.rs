//! `docker cp` (`GET|HEAD|PUT /containers/{id}/archive`) and `docker
//! export`: tars of paths inside the container's filesystem, and a tar
//! extracted into it. Paths are resolved through [`FsView`] (inside the
//! root and the mounts' sources, never out of them), symlinks are archived
//! as links, never followed, and extraction goes through the image
//! library's safe unpacker.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use nix::sys::stat::SFlag;
use serde_json::json;

use super::fs_view::{file_kind, wants_directory, FsView, LookupError, Resolved};
use crate::http::ApiError;

/// A path of an archive request, resolved as dockerd does: the last
/// component is followed only when the path asks for a directory (`/` or
/// `/.` at the end), and then must be one.
pub struct Target {
    pub resolved: Resolved,
    /// What the archive's top entry and the stat are called.
    pub name: String,
}

/// Resolves an archive request's `path` in `view`; errors as dockerd
/// words them (`container` names the container in the not-found message).
pub fn resolve(view: &FsView, path: &str, container: &str) -> Result<Target, ApiError> {
    if path.is_empty() {
        return Err(ApiError::bad_request("path is required"));
    }
    let absolute = format!("/{path}");
    let want_dir = wants_directory(&absolute);
    let resolved = view
        .resolve(&absolute, want_dir)
        .map_err(|e| lookup_error(e, path, container))?;
    if want_dir && !resolved.is_dir()? {
        return Err(lookup_error(LookupError::NotADirectory, path, container));
    }
    Ok(Target {
        resolved,
        name: rebase_name(path),
    })
}

/// dockerd's statuses: a missing path is 404, a file used as a directory
/// and an unusable path are the client's error (400).
pub fn lookup_error(e: LookupError, path: &str, container: &str) -> ApiError {
    match e {
        LookupError::NotFound => ApiError::not_found(format!(
            "Could not find the file {path} in container {container}"
        )),
        LookupError::NotADirectory | LookupError::Loop | LookupError::Invalid => {
            ApiError::bad_request(format!("{path}: {e}"))
        }
        LookupError::Io(_) => ApiError::internal(format!("resolving {path}: {e}")),
    }
}

/// The top entry's name, as dockerd rebases the archive: the last
/// component of the cleaned path, but `.` for `PATH/.` (so `docker cp
/// c:/dir/. dst` copies the contents) and `/` for the root.
pub fn rebase_name(path: &str) -> String {
    if path == "." || path.ends_with("/.") {
        return ".".into();
    }
    super::fs_view::clean(path)
        .last()
        .map_or_else(|| "/".into(), |c| c.to_string())
}

/// Go's `os.FileMode` of a stat (what the docker CLI decodes).
fn go_mode(stat: &nix::sys::stat::FileStat) -> u32 {
    let mut mode = stat.st_mode & 0o777;
    let kind = match file_kind(stat) {
        SFlag::S_IFDIR => 1 << 31,
        SFlag::S_IFLNK => 1 << 27,
        SFlag::S_IFIFO => 1 << 25,
        SFlag::S_IFSOCK => 1 << 24,
        SFlag::S_IFBLK => 1 << 26,
        SFlag::S_IFCHR => (1 << 26) | (1 << 21),
        _ => 0,
    };
    mode |= kind;
    for (bit, go) in [(0o4000, 1 << 23), (0o2000, 1 << 22), (0o1000, 1 << 20)] {
        if stat.st_mode & bit != 0 {
            mode |= go;
        }
    }
    mode
}

/// The `X-Docker-Container-Path-Stat` header value: base64 of `{name,
/// size, mode, mtime, linkTarget}`, of the object itself (a symlink is
/// described, with `link_target` the path it leads to in the container).
pub fn path_stat(target: &Target, link_target: &str) -> Result<String, ApiError> {
    let stat = target.resolved.lstat()?;
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(
            u64::try_from(stat.st_mtime).unwrap_or(0),
            u32::try_from(stat.st_mtime_nsec).unwrap_or(0),
        );
    let stat = json!({
        "name": target.name,
        "size": stat.st_size,
        "mode": go_mode(&stat),
        "mtime": humantime::format_rfc3339_seconds(mtime).to_string(),
        "linkTarget": link_target,
    });
    Ok(base64::engine::general_purpose::STANDARD.encode(stat.to_string()))
}

/// Writes a tar of a resolved path (a file, a symlink or a directory
/// tree) named `name` at its top.
pub fn write_target_tar(target: &Resolved, name: &str, out: impl Write) -> std::io::Result<()> {
    if target.is_dir().map_err(std::io::Error::other)? {
        // The root's entries go under `.` (a top entry `/` would make `//`).
        let name = if name == "/" { "." } else { name };
        let mut builder = tar::Builder::new(out);
        super::tar_tree::append_tree(&mut builder, &target.proc_path(), name)?;
        return builder.finish();
    }
    if !target.is_symlink().map_err(std::io::Error::other)? {
        return write_tar(&target.proc_path(), name, out);
    }
    let link = nix::fcntl::readlinkat(std::os::fd::AsFd::as_fd(&target.fd), "")?;
    let stat = target.lstat().map_err(std::io::Error::other)?;
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_mode(stat.st_mode & 0o7777);
    header.set_uid(u64::from(stat.st_uid));
    header.set_gid(u64::from(stat.st_gid));
    header.set_mtime(u64::try_from(stat.st_mtime).unwrap_or(0));
    header.set_size(0);
    header.set_link_name_literal(link.as_encoded_bytes())?;
    let mut builder = tar::Builder::new(out);
    super::tar_tree::append_named(&mut builder, &mut header, name, std::io::empty())?;
    builder.finish()
}

/// Writes a tar of `target` (a file or a directory tree) named `name` at
/// its top; `.` puts a directory's contents at the root (export).
pub fn write_tar(target: &Path, name: &str, out: impl Write) -> std::io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    // `target` may be a /proc/self/fd magic link: follow it here (it was
    // resolved inside the root), never below.
    let meta = std::fs::metadata(target)?;
    if meta.is_dir() {
        builder.append_dir_all(name, target)?;
    } else {
        let mut file = File::open(target)?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&file.metadata()?);
        builder.append_data(&mut header, name, &mut file)?;
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_names_as_dockerd() {
        assert_eq!(rebase_name("/etc/."), ".");
        assert_eq!(rebase_name("/etc/"), "etc");
        assert_eq!(rebase_name("/etc"), "etc");
        assert_eq!(rebase_name("/etc/hostname"), "hostname");
        assert_eq!(rebase_name("/"), "/");
        assert_eq!(rebase_name("/etc/.."), "/");
        assert_eq!(rebase_name("/usr/../etc/./hosts"), "hosts");
    }

    #[test]
    fn go_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let stat = nix::sys::stat::stat(tmp.path()).unwrap();
        assert_eq!(go_mode(&stat) >> 31, 1);
        std::os::unix::fs::symlink("x", tmp.path().join("l")).unwrap();
        let stat = nix::sys::stat::lstat(&tmp.path().join("l")).unwrap();
        assert_ne!(go_mode(&stat) & (1 << 27), 0);
    }

    #[test]
    fn a_dot_path_archives_the_contents() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("etc")).unwrap();
        std::fs::write(tmp.path().join("etc/passwd"), "root\n").unwrap();
        let view = FsView::open(tmp.path(), Vec::new()).unwrap();
        let target = resolve(&view, "/etc/.", "c").unwrap();
        assert_eq!(target.name, ".");
        let mut out = Vec::new();
        write_target_tar(&target.resolved, &target.name, &mut out).unwrap();
        assert_eq!(
            super::super::tar_tree::entry_names(&out),
            ["./", "./passwd"]
        );
        let err = resolve(&view, "/etc/passwd/", "c").err().unwrap();
        assert_eq!(err.status, hyper::StatusCode::BAD_REQUEST);
        let err = resolve(&view, "/nope", "c").err().unwrap();
        assert_eq!(err.status, hyper::StatusCode::NOT_FOUND);
    }
}
