//! `docker cp` (`GET|HEAD|PUT /containers/{id}/archive`) and `docker
//! export`: tars of paths inside the container's filesystem, and a tar
//! extracted into it. Paths are resolved inside the root (openat2
//! RESOLVE_IN_ROOT), symlinks are archived as links, never followed, and
//! extraction goes through the image library's safe unpacker.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::json;

use crate::http::ApiError;

/// A path inside the root, held open (so it cannot be swapped for a
/// symlink afterwards).
pub struct InRoot {
    fd: OwnedFd,
    /// The final component (what the tar's top entry is called).
    pub name: String,
}

impl InRoot {
    /// `/proc/self/fd/N`: a path to the opened file or directory.
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

/// Opens `path` (absolute, as inside the container) within `rootfs`.
pub fn open_in_root(rootfs: &Path, path: &str) -> Result<InRoot, ApiError> {
    let root =
        File::open(rootfs).map_err(|e| ApiError::internal(format!("opening the rootfs: {e}")))?;
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    let c =
        CString::new(relative).map_err(|_| ApiError::bad_request("path contains a NUL byte"))?;
    let fd = berth_sys::openat2(
        root.as_fd(),
        &c,
        libc::O_PATH,
        berth_sys::RESOLVE_IN_ROOT | berth_sys::RESOLVE_NO_MAGICLINKS,
    )
    .map_err(|e| match e {
        nix::errno::Errno::ENOENT => {
            ApiError::not_found(format!("Could not find the file {path} in container"))
        }
        e => ApiError::internal(format!("resolving {path}: {e}")),
    })?;
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    Ok(InRoot { fd, name })
}

/// The `X-Docker-Container-Path-Stat` header value: base64 of
/// `{name, size, mode, mtime, linkTarget}`.
pub fn path_stat(target: &InRoot) -> Result<String, ApiError> {
    let meta =
        std::fs::metadata(target.proc_path()).map_err(|e| ApiError::internal(e.to_string()))?;
    let mtime = humantime::format_rfc3339_seconds(meta.modified().unwrap_or(std::time::UNIX_EPOCH))
        .to_string();
    let mut mode = meta.mode() & 0o777;
    // Go's os.FileMode bits, which the docker CLI decodes.
    if meta.is_dir() {
        mode |= 1 << 31;
    }
    let stat = json!({ "name": target.name, "size": meta.size(), "mode": mode, "mtime": mtime, "linkTarget": "" });
    Ok(base64::engine::general_purpose::STANDARD.encode(stat.to_string()))
}

/// Writes a tar of `target` (a file or a directory tree) named `name` at
/// its top; `name` empty puts a directory's contents at the root (export).
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
