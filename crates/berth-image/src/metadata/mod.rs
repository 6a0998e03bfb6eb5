//! The image metadata store: tags, image records, layer reference counts,
//! and which containers use which image.
//!
//! Everything lives in one [redb](https://www.redb.org) database,
//! `<root>/metadata.redb`. redb gives ACID transactions over several tables
//! with copy-on-write B-trees and a checksummed commit, so a process killed
//! (or a machine losing power) in the middle of a commit leaves the last
//! committed state. That matters here because one operation touches several
//! records at once: committing a pulled image inserts the image, moves its
//! tags and raises the reference count of each of its layers, and `rmi`
//! undoes all of that; with one file per record (as moby does) a crash
//! between two renames would leave counts that disagree with the images.
//!
//! Values are JSON, so a record can be read with any redb tool and the
//! format can grow fields (`#[serde(default)]`).
//!
//! Tables:
//! - `tags`: normalized reference (`docker.io/library/busybox:latest`) to
//!   image id;
//! - `images`: image id (the config digest, as Docker's `Id`) to
//!   [`ImageRecord`];
//! - `layers`: DiffID to [`LayerRecord`], whose `refs` counts the images
//!   using the layer;
//! - `containers`: container id to the id of the image it was created from.
//!
//! Files on disk (blobs, snapshot directories) are written and made durable
//! *before* the transaction that references them commits, and removed only
//! *after* the transaction that drops the last reference commits, so the
//! database never points at something missing; what a crash can leave is
//! unreferenced files, which [`crate::images::Images::open`] collects.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::archive::Descriptor;

const TAGS: TableDefinition<&str, &str> = TableDefinition::new("tags");
const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
const LAYERS: TableDefinition<&str, &[u8]> = TableDefinition::new("layers");
const CONTAINERS: TableDefinition<&str, &str> = TableDefinition::new("containers");

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The database file could not be opened or a transaction failed.
    #[error("image metadata {}: {op}: {source}", path.display())]
    Db {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: Box<redb::Error>,
    },
    /// A stored record does not parse (written by a newer, incompatible
    /// version, or damaged outside redb).
    #[error("image metadata: record {key:?} in {table}: {source}")]
    Record {
        table: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    /// An image record names a layer the layers table does not have.
    #[error("image metadata: image {image} uses layer {diff_id}, which has no record")]
    MissingLayer { image: String, diff_id: String },
    /// The image id is not known.
    #[error("no such image: {0}")]
    NoSuchImage(String),
}

/// One layer of an image: its DiffID (the sha256 of the uncompressed tar,
/// which names its snapshot) and the blob it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLayer {
    /// `sha256:<hex>` of the uncompressed layer tar.
    pub diff_id: String,
    /// The (possibly compressed) blob, as the manifest lists it.
    pub blob: Descriptor,
}

/// An image: a manifest, its config, and its layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image id: the config's digest (`sha256:<hex>`), as Docker's.
    pub id: String,
    /// The digest of the (platform-specific) image manifest.
    pub manifest_digest: String,
    /// The manifest's media type.
    pub manifest_media_type: String,
    /// The config's size in bytes.
    pub config_size: u64,
    /// Layers, base first.
    pub layers: Vec<ImageLayer>,
    /// `name@sha256:...` for every repository the manifest was pulled from
    /// or pushed to (Docker's `RepoDigests`).
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Unix time (seconds) the image was first stored locally.
    #[serde(default)]
    pub stored_at: i64,
}

/// A layer snapshot shared by images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// `sha256:<hex>` of the uncompressed layer tar.
    pub diff_id: String,
    /// Bytes of file content in the snapshot.
    pub size: u64,
    /// How many image records use this layer.
    pub refs: u64,
}

/// What removing an image released.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Released {
    /// Tags that pointed at the image.
    pub untagged: Vec<String>,
    /// Layers no image uses any more (their snapshots can be deleted).
    pub layers: Vec<String>,
}

/// The metadata database. Cheap to share between threads (`&self`
/// methods; redb serializes writers).
pub struct MetadataStore {
    db: Database,
    path: PathBuf,
}

impl MetadataStore {
    /// Opens (or creates) `<dir>/metadata.redb`.
    pub fn open(dir: &Path) -> Result<MetadataStore, MetadataError> {
        let path = dir.join("metadata.redb");
        let db = Database::create(&path).map_err(|e| MetadataError::Db {
            path: path.clone(),
            op: "open",
            source: Box::new(e.into()),
        })?;
        let store = MetadataStore { db, path };
        // Create the tables so that read transactions find them.
        store.write(|txn| {
            txn.open_table(TAGS)?;
            txn.open_table(IMAGES)?;
            txn.open_table(LAYERS)?;
            txn.open_table(CONTAINERS)?;
            Ok(())
        })?;
        Ok(store)
    }

    fn db_err(&self, op: &'static str) -> impl Fn(redb::Error) -> MetadataError + '_ {
        move |e| MetadataError::Db {
            path: self.path.clone(),
            op,
            source: Box::new(e),
        }
    }

    /// Runs `f` in one write transaction and commits it.
    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, TxnError>,
    ) -> Result<T, MetadataError> {
        self.write_with(redb::Durability::Immediate, f)
    }

    /// A transaction that `commit` does not wait for the disk for: it is
    /// visible at once and reaches the disk with the next durable commit,
    /// but a crash before that loses it.
    fn write_volatile<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, TxnError>,
    ) -> Result<T, MetadataError> {
        self.write_with(redb::Durability::None, f)
    }

    fn write_with<T>(
        &self,
        durability: redb::Durability,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, TxnError>,
    ) -> Result<T, MetadataError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| self.db_err("begin write")(e.into()))?;
        txn.set_durability(durability)
            .map_err(|e| self.db_err("set durability")(e.into()))?;
        let out = match f(&txn) {
            Ok(out) => out,
            Err(TxnError::Db(e)) => return Err(self.db_err("write")(e)),
            Err(TxnError::Meta(e)) => return Err(e),
        };
        txn.commit().map_err(|e| self.db_err("commit")(e.into()))?;
        Ok(out)
    }

    fn read(&self) -> Result<redb::ReadTransaction, MetadataError> {
        self.db
            .begin_read()
            .map_err(|e| self.db_err("begin read")(e.into()))
    }

    /// Stores an image (or adds repo digests to the existing record) and
    /// points `tags` at it, in one transaction. A new image raises the
    /// reference count of each of its layers; `layer_sizes` gives the size
    /// of layers seen for the first time. Returns the image ids the tags
    /// were moved away from.
    pub fn commit_image(
        &self,
        record: &ImageRecord,
        tags: &[String],
        layer_sizes: &BTreeMap<String, u64>,
    ) -> Result<Vec<String>, MetadataError> {
        self.write(|txn| {
            let mut images = txn.open_table(IMAGES)?;
            let existing = get_json::<ImageRecord>(&images, "images", &record.id)?;
            let merged = match existing {
                Some(mut old) => {
                    for d in &record.repo_digests {
                        if !old.repo_digests.contains(d) {
                            old.repo_digests.push(d.clone());
                        }
                    }
                    old
                }
                None => {
                    let mut layers = txn.open_table(LAYERS)?;
                    for layer in &record.layers {
                        let mut rec = get_json::<LayerRecord>(&layers, "layers", &layer.diff_id)?
                            .unwrap_or_else(|| LayerRecord {
                                diff_id: layer.diff_id.clone(),
                                size: layer_sizes.get(&layer.diff_id).copied().unwrap_or(0),
                                refs: 0,
                            });
                        rec.refs += 1;
                        put_json(&mut layers, &layer.diff_id, &rec)?;
                    }
                    record.clone()
                }
            };
            put_json(&mut images, &record.id, &merged)?;
            let mut tag_table = txn.open_table(TAGS)?;
            let mut moved = Vec::new();
            for tag in tags {
                let old = tag_table
                    .insert(tag.as_str(), record.id.as_str())?
                    .map(|v| v.value().to_string());
                if let Some(old) = old.filter(|old| *old != record.id) {
                    moved.push(old);
                }
            }
            Ok(moved)
        })
    }

    /// Points `reference` at `image_id`, which must exist. Returns the image
    /// the tag pointed at before, if another.
    pub fn tag(&self, reference: &str, image_id: &str) -> Result<Option<String>, MetadataError> {
        self.write(|txn| {
            let images = txn.open_table(IMAGES)?;
            if images.get(image_id)?.is_none() {
                return Err(MetadataError::NoSuchImage(image_id.to_string()).into());
            }
            let mut tags = txn.open_table(TAGS)?;
            let old = tags
                .insert(reference, image_id)?
                .map(|v| v.value().to_string());
            Ok(old.filter(|old| old != image_id))
        })
    }

    /// Removes a tag. Returns the image it pointed at, if it existed.
    pub fn untag(&self, reference: &str) -> Result<Option<String>, MetadataError> {
        self.write(|txn| {
            let mut tags = txn.open_table(TAGS)?;
            let old = tags.remove(reference)?.map(|v| v.value().to_string());
            Ok(old)
        })
    }

    /// The image a tag points at.
    pub fn resolve_tag(&self, reference: &str) -> Result<Option<String>, MetadataError> {
        let txn = self.read()?;
        let run = || -> Result<Option<String>, redb::Error> {
            let tags = txn.open_table(TAGS)?;
            Ok(tags.get(reference)?.map(|v| v.value().to_string()))
        };
        run().map_err(self.db_err("read tags"))
    }

    /// Every tag, sorted, with the image it points at.
    pub fn tags(&self) -> Result<Vec<(String, String)>, MetadataError> {
        let txn = self.read()?;
        let run = || -> Result<Vec<(String, String)>, redb::Error> {
            let tags = txn.open_table(TAGS)?;
            let mut out = Vec::new();
            for row in tags.iter()? {
                let (k, v) = row?;
                out.push((k.value().to_string(), v.value().to_string()));
            }
            Ok(out)
        };
        run().map_err(self.db_err("read tags"))
    }

    /// The tags pointing at one image.
    pub fn tags_of(&self, image_id: &str) -> Result<Vec<String>, MetadataError> {
        Ok(self
            .tags()?
            .into_iter()
            .filter(|(_, id)| id == image_id)
            .map(|(tag, _)| tag)
            .collect())
    }

    /// One image record.
    pub fn image(&self, image_id: &str) -> Result<Option<ImageRecord>, MetadataError> {
        let txn = self.read()?;
        let images = txn
            .open_table(IMAGES)
            .map_err(|e| self.db_err("read images")(e.into()))?;
        get_json(&images, "images", image_id).map_err(|e| self.txn_err("read images", e))
    }

    /// Every image record, sorted by id.
    pub fn images(&self) -> Result<Vec<ImageRecord>, MetadataError> {
        self.all(IMAGES, "images")
    }

    /// One layer record.
    pub fn layer(&self, diff_id: &str) -> Result<Option<LayerRecord>, MetadataError> {
        let txn = self.read()?;
        let layers = txn
            .open_table(LAYERS)
            .map_err(|e| self.db_err("read layers")(e.into()))?;
        get_json(&layers, "layers", diff_id).map_err(|e| self.txn_err("read layers", e))
    }

    /// Every layer record, sorted by DiffID.
    pub fn layers(&self) -> Result<Vec<LayerRecord>, MetadataError> {
        self.all(LAYERS, "layers")
    }

    fn all<T: for<'de> Deserialize<'de>>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        name: &'static str,
    ) -> Result<Vec<T>, MetadataError> {
        let txn = self.read()?;
        let run = || -> Result<Vec<T>, TxnError> {
            let table = txn.open_table(def)?;
            let mut out = Vec::new();
            for row in table.iter()? {
                let (k, v) = row?;
                out.push(parse_json(name, k.value(), v.value())?);
            }
            Ok(out)
        };
        run().map_err(|e| self.txn_err("read", e))
    }

    fn txn_err(&self, op: &'static str, e: TxnError) -> MetadataError {
        match e {
            TxnError::Db(e) => self.db_err(op)(e),
            TxnError::Meta(e) => e,
        }
    }

    /// Removes an image record and every tag pointing at it, and lowers the
    /// reference counts of its layers, in one transaction.
    pub fn remove_image(&self, image_id: &str) -> Result<Released, MetadataError> {
        self.write(|txn| {
            let mut images = txn.open_table(IMAGES)?;
            let Some(record) = get_json::<ImageRecord>(&images, "images", image_id)? else {
                return Err(MetadataError::NoSuchImage(image_id.to_string()).into());
            };
            images.remove(image_id)?;
            let mut released = Released::default();
            let mut tags = txn.open_table(TAGS)?;
            let pointing: Vec<String> = tags
                .iter()?
                .filter_map(|row| row.ok())
                .filter(|(_, v)| v.value() == image_id)
                .map(|(k, _)| k.value().to_string())
                .collect();
            for tag in pointing {
                tags.remove(tag.as_str())?;
                released.untagged.push(tag);
            }
            let mut layers = txn.open_table(LAYERS)?;
            for layer in &record.layers {
                let Some(mut rec) = get_json::<LayerRecord>(&layers, "layers", &layer.diff_id)?
                else {
                    return Err(MetadataError::MissingLayer {
                        image: image_id.to_string(),
                        diff_id: layer.diff_id.clone(),
                    }
                    .into());
                };
                rec.refs = rec.refs.saturating_sub(1);
                if rec.refs == 0 {
                    layers.remove(layer.diff_id.as_str())?;
                    released.layers.push(layer.diff_id.clone());
                } else {
                    put_json(&mut layers, &layer.diff_id, &rec)?;
                }
            }
            Ok(released)
        })
    }

    /// Records that `container_id` was created from `image_id`.
    ///
    /// Not durable: run --rm would otherwise wait for the disk twice per
    /// container. The container records are the truth; after a crash,
    /// [`MetadataStore::set_containers`] rebuilds these references from them.
    pub fn add_container(&self, container_id: &str, image_id: &str) -> Result<(), MetadataError> {
        self.write_volatile(|txn| {
            txn.open_table(CONTAINERS)?.insert(container_id, image_id)?;
            Ok(())
        })
    }

    /// Forgets a container (it was removed).
    /// Not durable, as [`MetadataStore::add_container`].
    pub fn remove_container(&self, container_id: &str) -> Result<(), MetadataError> {
        self.write_volatile(|txn| {
            txn.open_table(CONTAINERS)?.remove(container_id)?;
            Ok(())
        })
    }

    /// Makes the container references exactly `containers` (container id,
    /// image id), durably: what the daemon does at start-up from its
    /// container records.
    pub fn set_containers(&self, containers: &[(String, String)]) -> Result<(), MetadataError> {
        self.write(|txn| {
            let mut table = txn.open_table(CONTAINERS)?;
            table.retain(|_, _| false)?;
            for (container, image) in containers {
                table.insert(container.as_str(), image.as_str())?;
            }
            Ok(())
        })
    }

    /// The containers created from an image, sorted.
    pub fn containers_using(&self, image_id: &str) -> Result<Vec<String>, MetadataError> {
        let txn = self.read()?;
        let run = || -> Result<Vec<String>, redb::Error> {
            let table = txn.open_table(CONTAINERS)?;
            let mut out = Vec::new();
            for row in table.iter()? {
                let (k, v) = row?;
                if v.value() == image_id {
                    out.push(k.value().to_string());
                }
            }
            Ok(out)
        };
        run().map_err(self.db_err("read containers"))
    }
}

/// An error inside a transaction closure: a redb error (wrapped with the
/// database path by [`MetadataStore::write`]) or one of ours.
enum TxnError {
    Db(redb::Error),
    Meta(MetadataError),
}

impl<E: Into<redb::Error>> From<E> for TxnError {
    fn from(e: E) -> TxnError {
        TxnError::Db(e.into())
    }
}

impl From<MetadataError> for TxnError {
    fn from(e: MetadataError) -> TxnError {
        TxnError::Meta(e)
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(
    table: &'static str,
    key: &str,
    bytes: &[u8],
) -> Result<T, TxnError> {
    serde_json::from_slice(bytes).map_err(|source| {
        TxnError::Meta(MetadataError::Record {
            table,
            key: key.to_string(),
            source,
        })
    })
}

fn get_json<T: for<'de> Deserialize<'de>>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &'static str,
    key: &str,
) -> Result<Option<T>, TxnError> {
    match table.get(key)? {
        Some(v) => Ok(Some(parse_json(name, key, v.value())?)),
        None => Ok(None),
    }
}

fn put_json<T: Serialize>(
    table: &mut redb::Table<&'static str, &'static [u8]>,
    key: &str,
    value: &T,
) -> Result<(), TxnError> {
    let bytes = serde_json::to_vec(value).map_err(|source| MetadataError::Record {
        table: "(encode)",
        key: key.to_string(),
        source,
    })?;
    table.insert(key, bytes.as_slice())?;
    Ok(())
}
