//! `-v`, `--mount`, `--tmpfs` and the image's `VOLUME`s, resolved into the
//! container's mount list at create (volumes are created then, as Docker
//! does), and filled from the image at start.

use std::collections::BTreeMap;

use serde_json::Value;

use super::record::MountPoint;
use crate::http::ApiError;
use crate::volumes::VolumeStore;

/// The mounts a create request asks for.
pub fn resolve(
    config: &Value,
    host: &Value,
    volumes: &VolumeStore,
) -> Result<Vec<MountPoint>, ApiError> {
    let mut mounts: Vec<MountPoint> = Vec::new();
    for bind in host["Binds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        mounts.push(parse_bind(bind, volumes)?);
    }
    for m in host["Mounts"].as_array().into_iter().flatten() {
        mounts.push(parse_mount(m, volumes)?);
    }
    if let Some(tmpfs) = host["Tmpfs"].as_object() {
        for (dest, opts) in tmpfs {
            mounts.push(MountPoint {
                kind: "tmpfs".into(),
                name: String::new(),
                source: String::new(),
                destination: dest.clone(),
                read_only: false,
                options: opts.as_str().unwrap_or("").to_string(),
            });
        }
    }
    // The image's VOLUMEs not already covered get anonymous volumes.
    if let Some(image_volumes) = config["Volumes"].as_object() {
        for dest in image_volumes.keys() {
            if mounts.iter().any(|m| m.destination == *dest) {
                continue;
            }
            let v = volumes.create(None, BTreeMap::new(), BTreeMap::new())?;
            mounts.push(volume_mount(volumes, &v.name, dest, false));
        }
    }
    for m in &mounts {
        if !m.destination.starts_with('/') {
            return Err(ApiError::bad_request(format!(
                "invalid mount config: mount path must be absolute: {}",
                m.destination
            )));
        }
    }
    Ok(mounts)
}

fn volume_mount(volumes: &VolumeStore, name: &str, dest: &str, read_only: bool) -> MountPoint {
    MountPoint {
        kind: "volume".into(),
        name: name.to_string(),
        source: volumes.data_path(name).display().to_string(),
        destination: dest.to_string(),
        read_only,
        options: String::new(),
    }
}

/// `-v /host:/ctr[:ro]`, `-v name:/ctr[:ro]`, `-v /ctr` (anonymous).
fn parse_bind(bind: &str, volumes: &VolumeStore) -> Result<MountPoint, ApiError> {
    let parts: Vec<&str> = bind.split(':').collect();
    let invalid = || ApiError::bad_request(format!("invalid volume specification: '{bind}'"));
    let (source, dest, mode) = match parts.as_slice() {
        [dest] => ("", *dest, ""),
        [src, dest] => (*src, *dest, ""),
        [src, dest, mode] => (*src, *dest, *mode),
        _ => return Err(invalid()),
    };
    if dest.is_empty() {
        return Err(invalid());
    }
    let read_only = mode.split(',').any(|m| m == "ro");
    if source.is_empty() {
        let v = volumes.create(None, BTreeMap::new(), BTreeMap::new())?;
        return Ok(volume_mount(volumes, &v.name, dest, read_only));
    }
    if source.starts_with('/') {
        return Ok(bind_mount(source, dest, read_only));
    }
    let v = volumes.create(Some(source), BTreeMap::new(), BTreeMap::new())?;
    Ok(volume_mount(volumes, &v.name, dest, read_only))
}

fn bind_mount(source: &str, dest: &str, read_only: bool) -> MountPoint {
    MountPoint {
        kind: "bind".into(),
        name: String::new(),
        source: source.to_string(),
        destination: dest.to_string(),
        read_only,
        options: String::new(),
    }
}

/// `--mount type=volume|bind|tmpfs,source=...,target=...,readonly`.
fn parse_mount(m: &Value, volumes: &VolumeStore) -> Result<MountPoint, ApiError> {
    let kind = m["Type"].as_str().unwrap_or("volume");
    let source = m["Source"].as_str().unwrap_or("");
    let target = m["Target"].as_str().unwrap_or("");
    let read_only = m["ReadOnly"].as_bool().unwrap_or(false);
    match kind {
        "bind" => {
            if !source.starts_with('/') {
                return Err(ApiError::bad_request(format!(
                    "invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            if !std::path::Path::new(source).exists() {
                return Err(ApiError::bad_request(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                )));
            }
            Ok(bind_mount(source, target, read_only))
        }
        "volume" => {
            let name = (!source.is_empty()).then_some(source);
            let v = volumes.create(name, BTreeMap::new(), BTreeMap::new())?;
            Ok(volume_mount(volumes, &v.name, target, read_only))
        }
        "tmpfs" => {
            let mut opts = Vec::new();
            if let Some(size) = m["TmpfsOptions"]["SizeBytes"].as_u64() {
                opts.push(format!("size={size}"));
            }
            if let Some(mode) = m["TmpfsOptions"]["Mode"].as_u64() {
                opts.push(format!("mode={mode:o}"));
            }
            Ok(MountPoint {
                kind: "tmpfs".into(),
                name: String::new(),
                source: String::new(),
                destination: target.to_string(),
                read_only,
                options: opts.join(","),
            })
        }
        other => Err(ApiError::bad_request(format!(
            "mount type unknown: {other:?}"
        ))),
    }
}

/// The OCI mounts for the container's mount list.
pub fn oci_mounts(mounts: &[MountPoint]) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for m in mounts {
        if m.kind == "tmpfs" {
            let mut options = vec![
                "nosuid".to_string(),
                "nodev".to_string(),
                "noexec".to_string(),
            ];
            options.extend(
                m.options
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_string),
            );
            if m.read_only {
                options.push("ro".into());
            }
            out.push(serde_json::json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": options}));
            continue;
        }
        if m.kind == "bind" && !std::path::Path::new(&m.source).exists() {
            // `-v /host/path:...` creates a missing host directory, as Docker.
            std::fs::create_dir_all(&m.source).map_err(|e| {
                ApiError::bad_request(format!(
                    "error while creating mount source path '{}': {e}",
                    m.source
                ))
            })?;
        }
        let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
        if m.read_only {
            options.push("ro".into());
        }
        out.push(serde_json::json!({"destination": m.destination, "type": "bind", "source": m.source, "options": options}));
    }
    Ok(out)
}

/// The mounts `docker cp` sees through, in the order the spec mounts them
/// (a later one covers an earlier one at the same place): the etc files
/// from the container's directory, then volumes and binds. tmpfs mounts
/// are left out, as dockerd's archive view leaves them out.
pub fn view_mounts(
    mounts: &[MountPoint],
    etc: &super::rootfs::RootfsPaths,
) -> Vec<super::fs_view::ViewMount> {
    let etc_files = [
        ("/etc/resolv.conf", &etc.resolv_conf),
        ("/etc/hostname", &etc.hostname),
        ("/etc/hosts", &etc.hosts),
    ];
    let mut out: Vec<super::fs_view::ViewMount> = etc_files
        .into_iter()
        .map(|(dest, source)| super::fs_view::ViewMount {
            destination: dest.into(),
            source: source.clone(),
            read_only: false,
        })
        .collect();
    out.extend(
        mounts
            .iter()
            .filter(|m| m.kind == "volume" || m.kind == "bind")
            .map(|m| super::fs_view::ViewMount {
                destination: m.destination.clone(),
                source: m.source.clone().into(),
                read_only: m.read_only,
            }),
    );
    out
}
