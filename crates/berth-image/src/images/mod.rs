//! The image service: what `berth pull`, `images`, `tag`, `rmi`, `load`
//! and `push` do, over one image root.
//!
//! ```text
//! <root>/blobs/ ingest/       the content-addressed blob store (store)
//! <root>/snapshots/           one directory per unpacked layer (snapshots)
//! <root>/metadata.redb        tags, images, layer refcounts (metadata)
//! <root>/l/                   short links for overlayfs lowerdirs (overlay)
//! ```
//!
//! Order of durability, which makes every operation crash-safe: blobs are
//! fsynced and renamed into place as they complete; snapshots are renamed
//! into place once their DiffID is verified, and flushed (`syncfs`) before
//! the one metadata transaction that records the image, its tags and the
//! layer reference counts. Removal runs the other way: the transaction
//! first, then the files. So the metadata never names a missing file; a
//! crash leaves at most unreferenced files. On [`Images::open`], partial
//! ingest files and unpacks are deleted, as are snapshots the metadata does
//! not name (they are rebuilt from local blobs if needed); complete blobs
//! are kept, so an interrupted pull resumes without downloading them again.
//! [`Images::prune_blobs`] removes the unreferenced ones.

mod commit;
mod error;
mod import;
mod inspect;
mod progress;
mod pull;
mod push;
mod remove;
mod save;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

pub use commit::CommitOptions;
pub use error::ImageError;
pub use import::format_rfc3339;
pub use inspect::{parse_rfc3339, HistoryEntry};
pub use progress::{no_progress, short_id, Progress, ProgressKind, ProgressSink};
pub use pull::{PullOptions, PullOutcome};
pub use push::PushOutcome;
pub use remove::RemoveAction;

use crate::archive::{self, LoadedImage, MEDIA_TYPE_OCI_MANIFEST};
use crate::metadata::{ImageLayer, ImageRecord, MetadataStore};
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::snapshots::SnapshotStore;
use crate::store::BlobStore;
use crate::unpack::{detect_compression, unpack_layer};

/// The parts of an image config the service reads.
#[derive(Debug, Deserialize)]
struct ConfigHead {
    #[serde(default)]
    rootfs: Option<RootFs>,
    #[serde(default)]
    created: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// One image as `docker images` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    pub record: ImageRecord,
    /// Normalized tags (`docker.io/library/busybox:latest`), sorted.
    pub tags: Vec<String>,
    /// Bytes of file content over all layers.
    pub size: u64,
    /// The config's `created`, as written (RFC 3339), if any.
    pub created: Option<String>,
}

/// The image service over one root directory.
pub struct Images {
    root: PathBuf,
    blobs: BlobStore,
    snapshots: SnapshotStore,
    metadata: MetadataStore,
    registry: RegistryClient,
}

impl Images {
    /// Opens (creating) the image root and cleans what a crash left behind.
    /// `registry` carries the insecure-registry settings.
    pub fn open(root: &Path, registry: RegistryClient) -> Result<Images, ImageError> {
        fs::create_dir_all(root).map_err(|e| {
            ImageError::Snapshot(crate::snapshots::SnapshotError::Io {
                op: "create image root",
                path: root.to_path_buf(),
                source: e,
            })
        })?;
        let blobs = BlobStore::open(root)?;
        let snapshots = SnapshotStore::open(root)?;
        let metadata = MetadataStore::open(root)?;
        let keep: BTreeSet<String> = metadata.layers()?.into_iter().map(|l| l.diff_id).collect();
        snapshots.collect_garbage(&keep)?;
        Ok(Images {
            root: root.to_path_buf(),
            blobs,
            snapshots,
            metadata,
            registry,
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The metadata store.
    pub fn metadata(&self) -> &MetadataStore {
        &self.metadata
    }

    /// The registry client.
    pub fn registry(&self) -> &RegistryClient {
        &self.registry
    }

    /// The directory for overlayfs short links (see [`crate::overlay`]).
    pub fn links_dir(&self) -> PathBuf {
        self.root.join("l")
    }

    /// Finds an image by tag (`busybox`, `busybox:1.36`), by
    /// `name@sha256:...`, by full id (`sha256:<hex>` or `<hex>`), or by a
    /// unique id prefix, in the order Docker tries them.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord, ImageError> {
        let not_found = || ImageError::NotFound(name.to_string());
        if let Some(id) = self.id_from_full_hex(name) {
            return self.metadata.image(&id)?.ok_or_else(not_found);
        }
        if let Ok(reference) = Reference::parse(name) {
            if let Some(digest) = reference.digest() {
                let wanted = format!("{}@{digest}", reference.name());
                return self
                    .metadata
                    .images()?
                    .into_iter()
                    .find(|img| img.repo_digests.contains(&wanted))
                    .ok_or_else(not_found);
            }
            if let Some(id) = self.metadata.resolve_tag(&reference.to_string())? {
                return self.metadata.image(&id)?.ok_or_else(not_found);
            }
        }
        let prefix = name.strip_prefix("sha256:").unwrap_or(name);
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let matches: Vec<ImageRecord> = self
            .metadata
            .images()?
            .into_iter()
            .filter(|img| img.id["sha256:".len()..].starts_with(prefix))
            .collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next().ok_or_else(not_found)?),
            0 => Err(not_found()),
            _ => Err(ImageError::Conflict(format!(
                "image id prefix {prefix:?} is ambiguous"
            ))),
        }
    }

    fn id_from_full_hex(&self, name: &str) -> Option<String> {
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| format!("sha256:{hex}"))
    }

    /// Every image with its tags and size, newest record first.
    pub fn list(&self) -> Result<Vec<ImageSummary>, ImageError> {
        let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (tag, id) in self.metadata.tags()? {
            tags.entry(id).or_default().push(tag);
        }
        let mut out = Vec::new();
        for record in self.metadata.images()? {
            let size = self.image_size(&record)?;
            let created = self.config_head(&record.id)?.created;
            out.push(ImageSummary {
                tags: tags.remove(&record.id).unwrap_or_default(),
                size,
                created,
                record,
            });
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.record.stored_at));
        Ok(out)
    }

    fn image_size(&self, record: &ImageRecord) -> Result<u64, ImageError> {
        let mut size = 0;
        for layer in &record.layers {
            size += self.metadata.layer(&layer.diff_id)?.map_or(0, |l| l.size);
        }
        Ok(size)
    }

    /// The image config JSON.
    pub fn config(&self, image_id: &str) -> Result<serde_json::Value, ImageError> {
        let bytes = self.blobs.get(image_id)?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::InvalidConfig {
            digest: image_id.to_string(),
            what: e.to_string(),
        })
    }

    fn config_head(&self, config_digest: &str) -> Result<ConfigHead, ImageError> {
        let bytes = self.blobs.get(config_digest)?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::InvalidConfig {
            digest: config_digest.to_string(),
            what: e.to_string(),
        })
    }

    /// The config's DiffIDs, checked against the manifest's layer count.
    fn diff_ids(&self, config_digest: &str, layers: usize) -> Result<Vec<String>, ImageError> {
        let diff_ids = self
            .config_head(config_digest)?
            .rootfs
            .map(|r| r.diff_ids)
            .unwrap_or_default();
        if diff_ids.len() != layers {
            return Err(ImageError::InvalidConfig {
                digest: config_digest.to_string(),
                what: format!(
                    "lists {} DiffIDs for a manifest of {layers} layers",
                    diff_ids.len()
                ),
            });
        }
        Ok(diff_ids)
    }

    /// Points `target` (a reference) at the image `source` names.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), ImageError> {
        let image = self.resolve(source)?;
        let target = Reference::parse(target)?;
        if target.digest().is_some() {
            return Err(ImageError::Conflict(format!(
                "refusing to create a tag with a digest reference: {target}"
            )));
        }
        self.metadata.tag(&target.to_string(), &image.id)?;
        Ok(())
    }

    /// The snapshot directories of an image's layers, top layer first (the
    /// order overlayfs wants its lowerdirs in).
    pub fn layer_paths(&self, image: &ImageRecord) -> Result<Vec<PathBuf>, ImageError> {
        let mut paths = Vec::with_capacity(image.layers.len());
        for layer in image.layers.iter().rev() {
            paths.push(self.snapshots.path(&layer.diff_id)?);
        }
        Ok(paths)
    }

    /// Records that a container uses an image (so `rmi` refuses without
    /// force).
    pub fn add_container(&self, container_id: &str, image_id: &str) -> Result<(), ImageError> {
        Ok(self.metadata.add_container(container_id, image_id)?)
    }

    /// Forgets a removed container.
    pub fn remove_container(&self, container_id: &str) -> Result<(), ImageError> {
        Ok(self.metadata.remove_container(container_id)?)
    }

    /// Replaces every container reference with `containers` (container
    /// id, image id): the daemon's records at start-up are the truth.
    pub fn set_containers(&self, containers: &[(String, String)]) -> Result<(), ImageError> {
        Ok(self.metadata.set_containers(containers)?)
    }

    /// Loads a `docker save` tar or an OCI layout directory, unpacks the
    /// layers and records the images with their tags.
    pub fn load(&self, path: &Path) -> Result<Vec<ImageSummary>, ImageError> {
        self.load_unmapped(path)
            .map_err(|e| e.or_disk_full(self.root()))
    }

    fn load_unmapped(&self, path: &Path) -> Result<Vec<ImageSummary>, ImageError> {
        let loaded = if path.is_dir() {
            archive::load_oci_layout(path, &self.blobs, None)?
        } else {
            archive::load_docker_archive_file(path, &self.blobs)?
        };
        let mut out = Vec::new();
        for image in loaded {
            let record = self.record_loaded(&image)?;
            out.push(ImageSummary {
                size: self.image_size(&record)?,
                created: self.config_head(&record.id)?.created,
                tags: image.tags.clone(),
                record,
            });
        }
        Ok(out)
    }

    fn record_loaded(&self, image: &LoadedImage) -> Result<ImageRecord, ImageError> {
        let config = image.config_digest.to_string();
        let diff_ids = self.diff_ids(&config, image.layers.len())?;
        let layers: Vec<ImageLayer> = image
            .layers
            .iter()
            .zip(diff_ids)
            .map(|(blob, diff_id)| ImageLayer {
                diff_id,
                blob: blob.clone(),
            })
            .collect();
        let mut sizes = BTreeMap::new();
        for layer in &layers {
            let size = self.unpack_from_store(layer)?;
            sizes.insert(layer.diff_id.clone(), size);
        }
        let record = ImageRecord {
            id: config.clone(),
            manifest_digest: image.manifest_digest.to_string(),
            manifest_media_type: MEDIA_TYPE_OCI_MANIFEST.to_string(),
            config_size: self.blobs.size(&config)?,
            layers,
            repo_digests: Vec::new(),
            stored_at: now(),
        };
        self.commit(&record, &image.tags, &sizes)?;
        Ok(record)
    }

    /// Makes sure a layer is unpacked, from the blob in the store. Returns
    /// the snapshot's size (0 if it already existed and is recorded).
    fn unpack_from_store(&self, layer: &ImageLayer) -> Result<u64, ImageError> {
        if let Some(existing) = self.metadata.layer(&layer.diff_id)? {
            if self.snapshots.exists(&layer.diff_id)? {
                return Ok(existing.size);
            }
        }
        let file = self.blobs.open_blob(&layer.blob.digest)?;
        self.unpack_verified(BufReader::new(file), layer)
    }

    /// Unpacks a layer stream into a new snapshot, checks its DiffID and
    /// moves it into place. Returns the bytes of file content.
    fn unpack_verified(
        &self,
        mut reader: impl BufRead + Send,
        layer: &ImageLayer,
    ) -> Result<u64, ImageError> {
        let head = reader.fill_buf().map_err(|e| ImageError::Unpack {
            layer: layer.blob.digest.clone(),
            source: crate::unpack::UnpackError::Stream {
                after: None,
                source: e,
            },
        })?;
        let compression = detect_compression(Some(&layer.blob.media_type), head);
        let prepared = self.snapshots.prepare()?;
        let stats = unpack_layer(&mut reader, prepared.path(), compression).map_err(|source| {
            ImageError::Unpack {
                layer: layer.blob.digest.clone(),
                source,
            }
        })?;
        if stats.diff_id != layer.diff_id {
            return Err(ImageError::DiffIdMismatch {
                layer: layer.blob.digest.clone(),
                expected: layer.diff_id.clone(),
                actual: stats.diff_id,
            });
        }
        self.snapshots.commit(prepared, &layer.diff_id)?;
        Ok(stats.file_bytes)
    }

    /// Flushes the snapshots and records an image with its tags.
    fn commit(
        &self,
        record: &ImageRecord,
        tags: &[String],
        sizes: &BTreeMap<String, u64>,
    ) -> Result<(), ImageError> {
        self.snapshots.sync()?;
        self.metadata.commit_image(record, tags, sizes)?;
        Ok(())
    }

    /// Removes blobs no image references (what a failed or interrupted
    /// pull leaves). Returns how many were removed.
    pub fn prune_blobs(&self) -> Result<usize, ImageError> {
        let referenced = self.referenced_blobs()?;
        let mut removed = 0;
        for digest in self.blobs.list()? {
            if !referenced.contains(digest.as_str()) && self.blobs.delete(&digest)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every blob some image record needs: manifests (and the index a
    /// repo digest names), configs, layers.
    fn referenced_blobs(&self) -> Result<BTreeSet<String>, ImageError> {
        let mut set = BTreeSet::new();
        for image in self.metadata.images()? {
            set.extend(blobs_of(&image));
        }
        Ok(set)
    }
}

/// The blobs one image record needs.
fn blobs_of(image: &ImageRecord) -> Vec<String> {
    let mut out = vec![image.id.clone(), image.manifest_digest.clone()];
    out.extend(image.layers.iter().map(|l| l.blob.digest.clone()));
    out.extend(
        image
            .repo_digests
            .iter()
            .filter_map(|d| d.split_once('@').map(|(_, digest)| digest.to_string())),
    );
    out
}

/// Seconds since the epoch.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
