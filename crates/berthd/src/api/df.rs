//! `GET /system/df`: what images, containers and volumes take on disk, in
//! dockerd's shapes, so `docker system df [-v]` adds up.
//!
//! - images: `Size` all their layers, `SharedSize` the layers another
//!   image uses too, `Containers` how many containers use the image;
//!   `LayersSize` every layer once, however many images share it;
//! - containers: the `GET /containers/json?size=1` rows (`SizeRw` the
//!   writable layer, `SizeRootFs` that plus the image);
//! - volumes: the volume with `UsageData {Size, RefCount}`.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_image::images::ImageSummary;
use berth_image::metadata::LayerRecord;
use serde_json::{json, Value};

use super::Call;
use crate::containers::record::ContainerRecord;
use crate::containers::rootfs::RootfsPaths;
use crate::containers::view;
use crate::http::{ok_json, ApiError, ApiResult};

/// `GET /system/df?type=` (`type` repeated: container, image, volume,
/// build-cache; none means all).
pub async fn disk_usage(call: Call) -> ApiResult {
    let types: Vec<String> = call
        .query
        .all("type")
        .iter()
        .map(|t| t.to_string())
        .collect();
    let daemon = call.daemon.clone();
    let (images, layers) = daemon
        .blocking(|images| -> Result<_, String> {
            let list = images.list().map_err(|e| e.to_string())?;
            let layers = images.metadata().layers().map_err(|e| e.to_string())?;
            Ok((list, layers))
        })
        .await?
        .map_err(|e| ApiError::internal(format!("listing images: {e}")))?;
    let entries = daemon.containers.all();
    let records: Vec<(ContainerRecord, RootfsPaths)> = entries
        .iter()
        .map(|e| (e.record(), RootfsPaths::new(e.dir())))
        .collect();
    let volumes: Vec<(crate::volumes::Volume, usize)> = daemon
        .volumes
        .list()
        .into_iter()
        .map(|v| {
            let users = daemon.volume_users(&v.name).len();
            (v, users)
        })
        .collect();
    let usage = tokio::task::spawn_blocking(move || {
        let wanted = |t: &str| types.is_empty() || types.iter().any(|x| x == t);
        let mut usage = json!({});
        if wanted("image") {
            usage["LayersSize"] = json!(layers_size(&images, &layers));
            usage["Images"] = json!(image_rows(&images, &layers, &records));
        }
        if wanted("container") {
            usage["Containers"] = json!(container_rows(&images, &records));
        }
        if wanted("volume") {
            usage["Volumes"] = json!(volume_rows(&daemon.volumes, &volumes));
        }
        if wanted("build-cache") {
            usage["BuildCache"] = json!([]);
        }
        usage
    })
    .await
    .map_err(|e| ApiError::internal(format!("disk usage: {e}")))?;
    ok_json(&usage)
}

fn layer_sizes(layers: &[LayerRecord]) -> BTreeMap<&str, u64> {
    layers
        .iter()
        .map(|l| (l.diff_id.as_str(), l.size))
        .collect()
}

/// Every layer some image uses, counted once.
fn layers_size(images: &[ImageSummary], layers: &[LayerRecord]) -> u64 {
    let sizes = layer_sizes(layers);
    let used: HashSet<&str> = images
        .iter()
        .flat_map(|i| i.record.layers.iter().map(|l| l.diff_id.as_str()))
        .collect();
    used.iter().filter_map(|d| sizes.get(d)).sum()
}

/// How many images use each layer.
fn layer_users(images: &[ImageSummary]) -> BTreeMap<&str, usize> {
    let mut users = BTreeMap::new();
    for image in images {
        let distinct: HashSet<&str> = image
            .record
            .layers
            .iter()
            .map(|l| l.diff_id.as_str())
            .collect();
        for d in distinct {
            *users.entry(d).or_insert(0) += 1;
        }
    }
    users
}

fn image_rows(
    images: &[ImageSummary],
    layers: &[LayerRecord],
    containers: &[(ContainerRecord, RootfsPaths)],
) -> Vec<Value> {
    let sizes = layer_sizes(layers);
    let users = layer_users(images);
    images
        .iter()
        .map(|i| {
            let shared: u64 = i
                .record
                .layers
                .iter()
                .map(|l| l.diff_id.as_str())
                .collect::<HashSet<_>>()
                .into_iter()
                .filter(|d| users.get(d).copied().unwrap_or(0) > 1)
                .filter_map(|d| sizes.get(d))
                .sum();
            let used_by = containers
                .iter()
                .filter(|(c, _)| c.image_id == i.record.id)
                .count();
            json!({
                "Id": i.record.id,
                "ParentId": "",
                "RepoTags": i.tags.iter().map(|t| familiar(t)).collect::<Vec<_>>(),
                "RepoDigests": i.record.repo_digests.iter().map(|d| familiar(d)).collect::<Vec<_>>(),
                "Created": i.created.as_deref().map_or(0, view::unix),
                "Size": i.size,
                "SharedSize": shared,
                "VirtualSize": i.size,
                "Labels": {},
                "Containers": used_by,
            })
        })
        .collect()
}

fn familiar(reference: &str) -> String {
    berth_image::reference::Reference::parse(reference)
        .map_or_else(|_| reference.to_string(), |r| r.familiar())
}

/// Container summaries with `SizeRw` and `SizeRootFs` (walks each
/// container's upper directory: call from a blocking thread).
pub fn container_rows(
    images: &[ImageSummary],
    containers: &[(ContainerRecord, RootfsPaths)],
) -> Vec<Value> {
    containers
        .iter()
        .map(|(record, paths)| {
            let image_size = images
                .iter()
                .find(|i| i.record.id == record.image_id)
                .map_or(0, |i| i.size);
            view::summary_with_size(record, dir_size(&paths.upper), image_size)
        })
        .collect()
}

fn volume_rows(
    store: &crate::volumes::VolumeStore,
    volumes: &[(crate::volumes::Volume, usize)],
) -> Vec<Value> {
    volumes
        .iter()
        .map(|(v, users)| {
            let mut row = store.view(v);
            row["UsageData"] = json!({
                "Size": dir_size(&store.data_path(&v.name)),
                "RefCount": users,
            });
            row
        })
        .collect()
}

/// Bytes of everything under `dir` that is not a directory, each inode
/// once (hard links), symlinks not followed; what is missing counts 0.
pub fn dir_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if seen.insert((meta.dev(), meta.ino())) {
                total += meta.size();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::metadata::{ImageLayer, ImageRecord};

    fn image(id: &str, layers: &[&str]) -> ImageSummary {
        let record = ImageRecord {
            id: id.into(),
            manifest_digest: String::new(),
            manifest_media_type: String::new(),
            config_size: 0,
            layers: layers
                .iter()
                .map(|d| ImageLayer {
                    diff_id: d.to_string(),
                    blob: serde_json::from_value(json!({
                        "mediaType": "x", "digest": d, "size": 0
                    }))
                    .unwrap(),
                })
                .collect(),
            repo_digests: Vec::new(),
            stored_at: 0,
        };
        ImageSummary {
            record,
            tags: Vec::new(),
            size: 0,
            created: None,
        }
    }

    fn layer(d: &str, size: u64) -> LayerRecord {
        LayerRecord {
            diff_id: d.into(),
            size,
            refs: 1,
        }
    }

    #[test]
    fn shared_layers_count_once() {
        let images = [image("a", &["l1", "l2"]), image("b", &["l1", "l3"])];
        let layers = [layer("l1", 100), layer("l2", 10), layer("l3", 1)];
        assert_eq!(layers_size(&images, &layers), 111);
        let rows = image_rows(&images, &layers, &[]);
        assert_eq!(rows[0]["SharedSize"], 100);
        assert_eq!(rows[1]["SharedSize"], 100);
        assert_eq!(rows[0]["Containers"], 0);
    }

    #[test]
    fn dir_sizes_count_hard_links_once() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        std::fs::write(tmp.path().join("d/f"), [0u8; 1000]).unwrap();
        std::fs::hard_link(tmp.path().join("d/f"), tmp.path().join("g")).unwrap();
        std::fs::write(tmp.path().join("h"), [0u8; 24]).unwrap();
        assert_eq!(dir_size(tmp.path()), 1024);
        assert_eq!(dir_size(&tmp.path().join("missing")), 0);
    }
}
