//! docker-archive (`docker save`) loading. See the module docs of
//! [`crate::archive`] for the two-pass design.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::{
    check_json_size, diff_ids_of, import_blob, io_err, parse_json, put_json, ArchiveError,
    Descriptor, ImageManifest, LoadedImage, MAX_DEPTH, MAX_ENTRIES, MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_LAYER_TAR, MEDIA_TYPE_OCI_MANIFEST,
};
use crate::reference::Reference;
use crate::store::{BlobDigest, BlobStore};

const MANIFEST_JSON: &str = "manifest.json";
const HASH_BUF: usize = 64 * 1024;

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// What pass 1 learnt about one archive path.
#[derive(Debug, Clone)]
enum Node {
    /// A regular file: where its data starts in the reader, its size and
    /// its sha256.
    File {
        pos: u64,
        size: u64,
        digest: BlobDigest,
    },
    /// A symlink or hard link, to this normalized archive path.
    Link { target: String },
    /// A link whose target cannot be resolved inside the archive.
    BadLink { reason: &'static str },
}

/// Every archive path pass 1 recorded.
type Nodes = HashMap<String, Node>;

/// A regular file of the archive, as found by [`resolve`].
#[derive(Debug, Clone)]
struct FileRef {
    path: String,
    pos: u64,
    size: u64,
    digest: BlobDigest,
}

/// One image, checked, waiting to be stored in pass 2.
struct Plan {
    config: FileRef,
    config_bytes: Vec<u8>,
    layers: Vec<FileRef>,
    manifest: Vec<u8>,
    loaded: LoadedImage,
}

/// Loads a docker-archive file (see [`load_docker_archive`]).
pub fn load_docker_archive_file(
    path: &Path,
    store: &BlobStore,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let mut file = File::open(path).map_err(|e| io_err("open", path.display().to_string(), e))?;
    load_docker_archive(&mut file, store)
}

/// Loads every image of a docker-archive (the tar `docker save` writes),
/// read from the current position of `reader`, into `store`: each image's
/// config, its layers (uncompressed tars, digest = DiffID) and a
/// synthesized OCI image manifest
/// ([`MEDIA_TYPE_OCI_MANIFEST`], compact JSON, fields in a fixed order).
///
/// Returns the images in `manifest.json` order, tags normalized
/// (`busybox:latest` → `docker.io/library/busybox:latest`). Nothing is
/// stored unless the whole archive checks out; see the
/// [module docs](crate::archive).
pub fn load_docker_archive<R: Read + Seek>(
    reader: &mut R,
    store: &BlobStore,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let (nodes, manifest_json) = scan(reader)?;
    let manifest_json = manifest_json.ok_or(ArchiveError::NoManifest)?;
    let entries: Vec<ManifestEntry> = parse_json(MANIFEST_JSON, &manifest_json)?;
    if entries.is_empty() {
        return Err(ArchiveError::Empty);
    }

    let mut plans = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        plans.push(plan_image(reader, &nodes, i, entry)?);
    }

    let mut loaded = Vec::with_capacity(plans.len());
    for plan in plans {
        let what = format!("archive entry {:?}", plan.config.path);
        put_json(store, &what, &plan.config_bytes)?;
        for layer in &plan.layers {
            let what = format!("archive entry {:?}", layer.path);
            reader
                .seek(SeekFrom::Start(layer.pos))
                .map_err(|e| io_err("seek", what.as_str(), e))?;
            let mut data = (&mut *reader).take(layer.size);
            import_blob(store, &what, &layer.digest, layer.size, &mut data)?;
        }
        put_json(store, "synthesized image manifest", &plan.manifest)?;
        loaded.push(plan.loaded);
    }
    Ok(loaded)
}

/// Pass 1: hashes every regular file, records links, keeps `manifest.json`.
fn scan<R: Read + Seek>(reader: &mut R) -> Result<(Nodes, Option<Vec<u8>>), ArchiveError> {
    let start = reader
        .stream_position()
        .map_err(|e| io_err("tell", "archive", e))?;
    let mut nodes = HashMap::new();
    let mut manifest_json = None;
    let mut archive = tar::Archive::new(&mut *reader);
    let entries = archive
        .entries()
        .map_err(|e| io_err("read", "archive", e))?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries { limit: MAX_ENTRIES });
        }
        let mut entry = entry.map_err(|e| io_err("read entry header", "archive", e))?;
        // Non-UTF-8 names cannot be named by manifest.json: skip them.
        let Ok(name) = String::from_utf8(entry.path_bytes().into_owned()) else {
            continue;
        };
        let what = format!("archive entry {name:?}");
        let Some(path) = normalize("", &name) else {
            continue;
        };
        let node = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                let pos = start + entry.raw_file_position();
                if path == MANIFEST_JSON {
                    check_json_size(&what, size)?;
                    let mut data = Vec::new();
                    entry
                        .read_to_end(&mut data)
                        .map_err(|e| io_err("read", what.as_str(), e))?;
                    let digest = BlobDigest::of_bytes(&data);
                    manifest_json = Some(data);
                    Node::File { pos, size, digest }
                } else {
                    let digest = hash(&mut entry, &what)?;
                    Node::File { pos, size, digest }
                }
            }
            kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                // Symlinks are relative to their directory, hard links to
                // the archive root.
                let base = if kind == tar::EntryType::Symlink {
                    path.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("")
                } else {
                    ""
                };
                if target.starts_with('/') {
                    Node::BadLink {
                        reason: "absolute link target",
                    }
                } else {
                    match normalize(base, &target) {
                        Some(target) => Node::Link { target },
                        None => Node::BadLink {
                            reason: "link target outside the archive",
                        },
                    }
                }
            }
            // Directories and anything else: a later entry replaces an
            // earlier one of the same path, as extraction would.
            _ => {
                nodes.remove(&path);
                continue;
            }
        };
        if path == MANIFEST_JSON && !matches!(node, Node::File { .. }) {
            manifest_json = None;
        }
        nodes.insert(path, node);
    }
    Ok((nodes, manifest_json))
}

/// sha256 of everything `reader` yields.
fn hash(reader: &mut dyn Read, what: &str) -> Result<BlobDigest, ArchiveError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; HASH_BUF];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err("read", what, e)),
        };
        hasher.update(buf.get(..n).unwrap_or(&buf));
    }
    Ok(BlobDigest::from_hasher(hasher))
}

/// Lexically resolves `path` against the directory `base` (both archive
/// paths): empty and `.` components dropped, `..` removes one. `None` if it
/// climbs above the archive root or is empty.
fn normalize(base: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|c| !c.is_empty()).collect();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// Finds the regular file `name` (from `manifest.json`) designates,
/// following links inside the archive.
fn resolve(
    nodes: &HashMap<String, Node>,
    name: &str,
    referenced_by: &str,
) -> Result<FileRef, ArchiveError> {
    let missing = || ArchiveError::MissingEntry {
        path: name.to_string(),
        referenced_by: referenced_by.to_string(),
    };
    if name.starts_with('/') {
        return Err(missing());
    }
    let mut path = normalize("", name).ok_or_else(missing)?;
    for _ in 0..=MAX_DEPTH {
        match nodes.get(&path) {
            Some(Node::File { pos, size, digest }) => {
                return Ok(FileRef {
                    path,
                    pos: *pos,
                    size: *size,
                    digest: digest.clone(),
                })
            }
            Some(Node::Link { target }) => path = target.clone(),
            Some(Node::BadLink { reason }) => {
                return Err(ArchiveError::BadLink { path, reason });
            }
            None => return Err(missing()),
        }
    }
    Err(ArchiveError::BadLink {
        path: name.to_string(),
        reason: "too many levels of links",
    })
}

/// Checks image `i` of `manifest.json` and prepares what pass 2 stores.
fn plan_image<R: Read + Seek>(
    reader: &mut R,
    nodes: &HashMap<String, Node>,
    i: usize,
    entry: &ManifestEntry,
) -> Result<Plan, ArchiveError> {
    let referenced_by = format!("manifest.json image #{i}");

    let config = resolve(nodes, &entry.config, &referenced_by)?;
    let config_what = format!("archive entry {:?}", config.path);
    check_json_size(&config_what, config.size)?;
    reader
        .seek(SeekFrom::Start(config.pos))
        .map_err(|e| io_err("seek", config_what.as_str(), e))?;
    let mut config_bytes = Vec::new();
    (&mut *reader)
        .take(config.size)
        .read_to_end(&mut config_bytes)
        .map_err(|e| io_err("read", config_what.as_str(), e))?;
    if BlobDigest::of_bytes(&config_bytes) != config.digest {
        return Err(io_err(
            "read",
            config_what,
            std::io::Error::other("content changed while the archive was being loaded"),
        ));
    }
    let diff_ids = diff_ids_of(&config_what, &config_bytes)?;

    let mut layers = Vec::with_capacity(entry.layers.len());
    for name in &entry.layers {
        layers.push(resolve(nodes, name, &referenced_by)?);
    }
    if layers.len() != diff_ids.len() {
        return Err(ArchiveError::LayerCount {
            what: referenced_by,
            config: config.path,
            layers: layers.len(),
            diff_ids: diff_ids.len(),
        });
    }
    for (index, (layer, expected)) in layers.iter().zip(&diff_ids).enumerate() {
        if layer.digest.as_str() != expected {
            return Err(ArchiveError::DiffIdMismatch {
                layer: layer.path.clone(),
                index,
                config: config.path.clone(),
                expected: expected.clone(),
                actual: layer.digest.to_string(),
            });
        }
    }

    let mut tags = Vec::new();
    for tag in entry.repo_tags.iter().flatten() {
        let reference = Reference::parse(tag).map_err(|source| ArchiveError::InvalidReference {
            what: referenced_by.clone(),
            name: tag.clone(),
            source,
        })?;
        tags.push(reference.to_string());
    }

    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_string()),
        config: Descriptor::new(MEDIA_TYPE_OCI_CONFIG, &config.digest, config.size),
        layers: layers
            .iter()
            .map(|l| Descriptor::new(MEDIA_TYPE_OCI_LAYER_TAR, &l.digest, l.size))
            .collect(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|source| ArchiveError::Json {
        what: "synthesized image manifest".to_string(),
        source,
    })?;

    let loaded = LoadedImage {
        manifest_digest: BlobDigest::of_bytes(&manifest_bytes),
        config_digest: config.digest.clone(),
        tags,
        ref_name: None,
        index_digests: Vec::new(),
        layers: manifest.layers,
        diff_ids,
    };
    Ok(Plan {
        config,
        config_bytes,
        layers,
        manifest: manifest_bytes,
        loaded,
    })
}
