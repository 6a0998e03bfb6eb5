//! Named volumes, local driver: `<data-root>/volumes/<name>/_data`, with
//! the volume's record in `<name>/volume.json`. A new volume mounted over
//! a path the image has content at is filled from the image first (what
//! Docker does), copied without following symlinks from a directory
//! resolved inside the container's root.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::http::ApiError;

/// A volume's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Made for one container (`VOLUME` in the image, `-v /path`): removed
    /// with it by `rm -v`.
    #[serde(default)]
    pub anonymous: bool,
}

/// The volumes under the data root.
pub struct VolumeStore {
    dir: PathBuf,
}

impl VolumeStore {
    pub fn open(dir: &Path) -> Result<VolumeStore, ApiError> {
        fs::create_dir_all(dir)
            .map_err(|e| ApiError::internal(format!("{}: {e}", dir.display())))?;
        Ok(VolumeStore {
            dir: dir.to_path_buf(),
        })
    }

    /// Where a volume's data is.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    fn valid(name: &str) -> Result<(), ApiError> {
        let ok = !name.is_empty()
            && name.len() <= 255
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            Ok(())
        } else {
            Err(ApiError::bad_request(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
            )))
        }
    }

    /// Creates a volume (an existing one is returned as is, as Docker does).
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume, ApiError> {
        let (name, anonymous) = match name.filter(|n| !n.is_empty()) {
            Some(n) => (n.to_string(), false),
            None => (crate::ids::random_hex(64), true),
        };
        Self::valid(&name)?;
        if let Ok(existing) = self.get(&name) {
            return Ok(existing);
        }
        let volume = Volume {
            name: name.clone(),
            created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            labels,
            options,
            anonymous,
        };
        let data = self.data_path(&name);
        fs::create_dir_all(&data)
            .map_err(|e| ApiError::internal(format!("{}: {e}", data.display())))?;
        let bytes =
            serde_json::to_vec_pretty(&volume).map_err(|e| ApiError::internal(e.to_string()))?;
        let record = self.dir.join(&name).join("volume.json");
        let tmp = record.with_extension("json.tmp");
        fs::write(&tmp, bytes)
            .and_then(|()| fs::rename(&tmp, &record))
            .map_err(|e| ApiError::internal(format!("{}: {e}", record.display())))?;
        Ok(volume)
    }

    /// One volume.
    pub fn get(&self, name: &str) -> Result<Volume, ApiError> {
        Self::valid(name)
            .map_err(|_| ApiError::not_found(format!("get {name}: no such volume")))?;
        let bytes = fs::read(self.dir.join(name).join("volume.json"))
            .map_err(|_| ApiError::not_found(format!("get {name}: no such volume")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::internal(format!("volume {name}: {e}")))
    }

    /// Every volume.
    pub fn list(&self) -> Vec<Volume> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<Volume> = entries
            .flatten()
            .filter_map(|e| self.get(&e.file_name().to_string_lossy()).ok())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Deletes a volume and its data (the caller checks it is unused).
    pub fn remove(&self, name: &str) -> Result<(), ApiError> {
        self.get(name)?;
        fs::remove_dir_all(self.dir.join(name))
            .map_err(|e| ApiError::internal(format!("removing volume {name}: {e}")))
    }

    /// The API's shape of a volume.
    pub fn view(&self, v: &Volume) -> Value {
        json!({
            "Name": v.name,
            "Driver": "local",
            "Mountpoint": self.data_path(&v.name),
            "CreatedAt": v.created_at,
            "Labels": v.labels,
            "Options": v.options,
            "Scope": "local",
        })
    }
}

/// Fills an empty volume from `dest` inside `rootfs`, if the image has
/// anything there. The directory is resolved inside the root
/// (openat2 RESOLVE_IN_ROOT), and the copy never follows a symlink.
pub fn copy_up(rootfs: &Path, dest: &str, volume_data: &Path) -> Result<(), ApiError> {
    let empty = fs::read_dir(volume_data)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if !empty {
        return Ok(());
    }
    let Ok(root) = fs::File::open(rootfs) else {
        return Ok(());
    };
    let Ok(rel) = CString::new(dest.trim_start_matches('/')) else {
        return Ok(());
    };
    let Ok(dir) = berth_sys::openat2(
        root.as_fd(),
        &rel,
        libc::O_RDONLY | libc::O_DIRECTORY,
        berth_sys::RESOLVE_IN_ROOT | berth_sys::RESOLVE_NO_MAGICLINKS,
    ) else {
        return Ok(()); // nothing there in the image
    };
    let source = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    ));
    copy_tree(&source, volume_data)
        .map_err(|e| ApiError::internal(format!("filling volume from {dest}: {e}")))?;
    // The volume's root takes the directory's mode and owner.
    let meta = fs::metadata(&source).map_err(|e| ApiError::internal(e.to_string()))?;
    let _ = fs::set_permissions(
        volume_data,
        fs::Permissions::from_mode(meta.mode() & 0o7777),
    );
    let _ = std::os::unix::fs::lchown(volume_data, Some(meta.uid()), Some(meta.gid()));
    Ok(())
}

/// Copies a directory's contents: files, dirs, symlinks (as links),
/// modes and ownership. Device nodes and sockets are skipped.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_dir() {
            fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
    }
    Ok(())
}
