//! Writing images out of a [`BlobStore`]: the reverse of loading.
//!
//! - [`save_docker_archive`]: the tar `docker save` (v25+) writes and
//!   `docker load` reads. Every file lives under `blobs/sha256/<hex>`: each
//!   image's config, its layers as **uncompressed** tars named by their
//!   DiffID, and a synthesized OCI manifest describing them; `manifest.json`
//!   (`RepoTags` in familiar form, `busybox:latest`), the legacy
//!   `repositories` file, `oci-layout` and `index.json` complete it, so the
//!   tar is also an OCI layout (as docker's is).
//! - [`save_oci_layout`]: an OCI image layout directory, as
//!   `skopeo copy ... oci:<dir>:<tag>` writes: the manifest, config and
//!   layer blobs copied **as stored** (compressed layers stay compressed,
//!   the manifest keeps its digest), one `index.json` entry per tag.
//!
//! # Check first, then write
//!
//! Both functions first check every image against the store: the manifest
//! and config are read (and their digests verified), the [`SaveImage`]
//! must agree with them (config digest, layer descriptors, DiffIDs), and
//! every layer blob must be present with its descriptor's size. A missing
//! blob or an inconsistent request is therefore reported before the first
//! byte is written.
//!
//! # Docker archives: two passes over each layer
//!
//! A tar header needs the entry's size before its data, and a compressed
//! layer's uncompressed size is not recorded anywhere. Instead of
//! decompressing into a temporary file, each distinct layer is decompressed
//! twice: pass 1 (before anything is written) counts its bytes and checks
//! that they hash to the DiffID ([`ArchiveError::DiffIdMismatch`] naming
//! the layer otherwise); pass 2 streams it into the tar, hashing again so a
//! blob changed in between is caught. No temporary space is needed and no
//! layer is ever held in memory; the price is decompressing (or, for an
//! uncompressed layer, reading) every layer twice. So a bad layer writes
//! nothing; only an I/O error (or a blob altered between the passes) can
//! leave a truncated archive, without the end-of-archive marker.
//!
//! The output is deterministic: entries in byte order of their paths (as
//! docker's directory walk gives), mtime 0, uid/gid 0, modes 0644/0755, each
//! blob once however many images share it.
//!
//! # OCI layouts: written into a fresh directory
//!
//! The target must be an empty directory or not exist (its parent must).
//! Blobs are written and fsynced first, `oci-layout` next, and `index.json`
//! last, through a rename, so a reader never sees an index naming a missing
//! or partial blob. On failure everything written is removed again (the
//! directory too, if this call created it), best effort: only a crash can
//! leave a partial layout, and it then has no `index.json`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::{
    check_json_size, diff_ids_of, io_err, parse_digest, parse_json, store_err, ArchiveError,
    Descriptor, ImageManifest, LoadedImage, ANNOTATION_REF_NAME, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_LAYER_TAR, MEDIA_TYPE_OCI_MANIFEST,
};
use crate::reference::Reference;
use crate::store::{BlobDigest, BlobStore};
use crate::unpack::detect_compression;

/// The annotation containerd and docker (v25+) put on `index.json` entries:
/// the full, normalized image name (`docker.io/library/busybox:latest`).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// The content of `oci-layout`.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// Buffer size for copying blobs.
const COPY_BUF: usize = 64 * 1024;
/// Tar block size.
const BLOCK: u64 = 512;
/// What errors writing to a docker archive's output name.
const OUTPUT: &str = "archive output";

/// One image to write: what the store holds for it. Build it from a
/// [`LoadedImage`] with `From`, or from the image metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveImage {
    /// The image manifest in the store (OCI or Docker schema 2 JSON; not an
    /// index).
    pub manifest_digest: String,
    /// The config blob; must be the one the manifest names.
    pub config_digest: String,
    /// The layers, base first; must match the manifest's layers and the
    /// config's DiffIDs.
    pub layers: Vec<SaveLayer>,
    /// Normalized references (`docker.io/library/busybox:latest`); may be
    /// empty. A digest-only reference gives no docker `RepoTags` entry.
    pub tags: Vec<String>,
}

/// One layer of a [`SaveImage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveLayer {
    /// The stored (possibly compressed) blob, as the manifest lists it.
    pub blob: Descriptor,
    /// The sha256 of the uncompressed tar, from the config.
    pub diff_id: String,
}

impl From<&LoadedImage> for SaveImage {
    fn from(image: &LoadedImage) -> SaveImage {
        SaveImage {
            manifest_digest: image.manifest_digest.to_string(),
            config_digest: image.config_digest.to_string(),
            layers: image
                .layers
                .iter()
                .zip(&image.diff_ids)
                .map(|(blob, diff_id)| SaveLayer {
                    blob: blob.clone(),
                    diff_id: diff_id.clone(),
                })
                .collect(),
            tags: image.tags.clone(),
        }
    }
}

/// Writes `images` to `out` as a docker-archive, the tar `docker save`
/// (v25+) writes: `blobs/sha256/<hex>` for each config, each layer
/// (uncompressed, named by its DiffID: a gzip or zstd blob is decompressed
/// on the fly) and a synthesized OCI manifest, plus `manifest.json`
/// (familiar `RepoTags`), `repositories`, `oci-layout` and `index.json`.
///
/// Images sharing a config (the docker image ID) become one
/// `manifest.json` entry with all their tags; a layer shared by several
/// images is written once. Every layer is decompressed twice (once to
/// measure and verify it, once to write it) rather than spooled to a
/// temporary file, so nothing is written unless every image checks out,
/// every layer's DiffID included. The output is deterministic (sorted
/// entries, mtime 0, uid/gid 0).
pub fn save_docker_archive(
    store: &BlobStore,
    images: &[SaveImage],
    out: impl Write,
) -> Result<(), ArchiveError> {
    let checked = check_images(store, images)?;
    let plan = DockerPlan::new(store, &checked)?;
    plan.write(store, out)
}

/// Writes `images` as an OCI image layout into `dir`, which must be empty
/// or not exist (its parent must exist), as `skopeo copy ... oci:` does:
/// the manifest, config and layer blobs byte for byte as stored (digests
/// unchanged, compressed layers stay compressed).
///
/// Each tag gives an `index.json` entry annotated with its tag
/// ([`ANNOTATION_REF_NAME`] `latest`, what `oci:<dir>:latest` selects) and
/// its full name ([`ANNOTATION_IMAGE_NAME`]); an untagged image gives one
/// entry without annotations. `index.json` is written last (by a rename);
/// on error whatever was written is removed, `dir` too if this call created
/// it.
pub fn save_oci_layout(
    store: &BlobStore,
    images: &[SaveImage],
    dir: &Path,
) -> Result<(), ArchiveError> {
    let checked = check_images(store, images)?;
    let index = oci_index(&checked)?;
    let created = prepare_destination(dir)?;
    let result = write_layout(store, &checked, &index, dir);
    if result.is_err() {
        remove_partial_layout(dir, created);
    }
    result
}

// ---------------------------------------------------------------------------
// Checking the request against the store

/// An image checked against the store, ready to be written.
struct Checked {
    /// `image #<i> (<manifest digest>)`, for error messages.
    what: String,
    manifest_digest: BlobDigest,
    /// The manifest as an index entry would describe it.
    manifest: Descriptor,
    manifest_bytes: Vec<u8>,
    config_digest: BlobDigest,
    config_bytes: Vec<u8>,
    layers: Vec<CheckedLayer>,
    refs: Vec<Reference>,
}

struct CheckedLayer {
    /// The stored blob, as the manifest lists it.
    blob: Descriptor,
    digest: BlobDigest,
    diff_id: BlobDigest,
    /// `image #<i> (...) layer #<n> (blob <digest>)`, for error messages.
    what: String,
}

fn bad(what: &str, reason: String) -> ArchiveError {
    ArchiveError::BadSaveImage {
        what: what.to_string(),
        reason,
    }
}

fn check_images(store: &BlobStore, images: &[SaveImage]) -> Result<Vec<Checked>, ArchiveError> {
    if images.is_empty() {
        return Err(bad("save", "no image given".to_string()));
    }
    let mut checked = Vec::with_capacity(images.len());
    // A tag naming two different images would make the output ambiguous.
    let mut tagged: HashMap<String, BlobDigest> = HashMap::new();
    for (i, image) in images.iter().enumerate() {
        let image = check_image(store, i, image)?;
        for r in &image.refs {
            let digest = &image.manifest_digest;
            match tagged.get(&r.to_string()) {
                Some(other) if other != digest => {
                    return Err(bad(
                        &image.what,
                        format!("{r} is also given for the image {other}"),
                    ))
                }
                _ => tagged.insert(r.to_string(), digest.clone()),
            };
        }
        checked.push(image);
    }
    Ok(checked)
}

fn check_image(store: &BlobStore, i: usize, image: &SaveImage) -> Result<Checked, ArchiveError> {
    let manifest_digest = parse_digest(format!("image #{i}"), &image.manifest_digest)?;
    let what = format!("image #{i} ({manifest_digest})");
    let manifest_bytes = read_json_blob(store, &what, &manifest_digest)?;
    let manifest = parse_manifest(&what, &manifest_bytes)?;

    let config_digest = parse_digest(&what, &image.config_digest)?;
    if manifest.config.digest != config_digest.as_str() {
        return Err(bad(
            &what,
            format!(
                "the manifest names the config {}, not {config_digest}",
                manifest.config.digest
            ),
        ));
    }
    let config_what = format!("{what} config {config_digest}");
    let config_bytes = read_json_blob(store, &config_what, &config_digest)?;
    let diff_ids = diff_ids_of(&config_what, &config_bytes)?;

    let layers = check_layers(store, &what, &manifest.layers, &image.layers, &diff_ids)?;
    let refs = parse_refs(&what, &image.tags)?;

    let media_type = manifest
        .media_type
        .clone()
        .unwrap_or_else(|| MEDIA_TYPE_OCI_MANIFEST.to_string());
    let size = u64::try_from(manifest_bytes.len()).unwrap_or(u64::MAX);
    Ok(Checked {
        manifest: Descriptor::new(&media_type, &manifest_digest, size),
        manifest_digest,
        what,
        manifest_bytes,
        config_digest,
        config_bytes,
        layers,
        refs,
    })
}

/// Checks the layers the manifest lists, those given and the config's
/// DiffIDs against each other and the store.
fn check_layers(
    store: &BlobStore,
    what: &str,
    listed: &[Descriptor],
    given: &[SaveLayer],
    diff_ids: &[String],
) -> Result<Vec<CheckedLayer>, ArchiveError> {
    if listed.len() != given.len() || listed.len() != diff_ids.len() {
        return Err(bad(
            what,
            format!(
                "{} layers in the manifest, {} given, {} DiffIDs in the config",
                listed.len(),
                given.len(),
                diff_ids.len()
            ),
        ));
    }
    listed
        .iter()
        .zip(given)
        .zip(diff_ids)
        .enumerate()
        .map(|(n, ((listed, given), diff_id))| check_layer(store, what, n, listed, given, diff_id))
        .collect()
}

/// Parses the references an image is to be tagged with, each once.
fn parse_refs(what: &str, tags: &[String]) -> Result<Vec<Reference>, ArchiveError> {
    let mut refs: Vec<Reference> = Vec::new();
    for tag in tags {
        let r = Reference::parse(tag).map_err(|source| ArchiveError::InvalidReference {
            what: what.to_string(),
            name: tag.clone(),
            source,
        })?;
        if !refs.contains(&r) {
            refs.push(r);
        }
    }
    Ok(refs)
}

/// Parses an image manifest, refusing an index with a clear message.
fn parse_manifest(what: &str, bytes: &[u8]) -> Result<ImageManifest, ArchiveError> {
    let value: serde_json::Value = parse_json(what, bytes)?;
    let media_type = value.get("mediaType").and_then(|m| m.as_str());
    if matches!(
        media_type,
        Some(MEDIA_TYPE_OCI_INDEX | MEDIA_TYPE_DOCKER_MANIFEST_LIST)
    ) || value.get("manifests").is_some()
    {
        return Err(bad(
            what,
            "is an index: save one of its image manifests".to_string(),
        ));
    }
    serde_json::from_value(value).map_err(|source| ArchiveError::Json {
        what: what.to_string(),
        source,
    })
}

/// Checks layer `n`: the given descriptor and DiffID against the manifest
/// and config, and the blob's presence and size in the store.
fn check_layer(
    store: &BlobStore,
    image_what: &str,
    n: usize,
    listed: &Descriptor,
    given: &SaveLayer,
    diff_id: &str,
) -> Result<CheckedLayer, ArchiveError> {
    let digest = parse_digest(format!("{image_what} layer #{n}"), &listed.digest)?;
    let what = format!("{image_what} layer #{n} (blob {digest})");
    if given.blob.digest != listed.digest || given.blob.size != listed.size {
        return Err(bad(
            &what,
            format!(
                "given as {} ({} bytes) but the manifest lists {} bytes",
                given.blob.digest, given.blob.size, listed.size
            ),
        ));
    }
    if given.diff_id != diff_id {
        return Err(bad(
            &what,
            format!(
                "given DiffID {} but the config lists {diff_id}",
                given.diff_id
            ),
        ));
    }
    let diff_id = parse_digest(&what, diff_id)?;
    let stored = store
        .size(&digest)
        .map_err(|e| store_err(what.as_str(), e))?;
    if stored != listed.size {
        return Err(ArchiveError::BlobMismatch {
            digest: digest.to_string(),
            reason: format!(
                "{what}: the manifest lists {} bytes, the store holds {stored}",
                listed.size
            ),
        });
    }
    Ok(CheckedLayer {
        blob: listed.clone(),
        digest,
        diff_id,
        what,
    })
}

/// Reads a JSON blob (manifest, config) from the store, bounded by
/// [`super::MAX_JSON_SIZE`], its digest verified.
fn read_json_blob(
    store: &BlobStore,
    what: &str,
    digest: &BlobDigest,
) -> Result<Vec<u8>, ArchiveError> {
    let size = store.size(digest).map_err(|e| store_err(what, e))?;
    check_json_size(what, size)?;
    store.get(digest).map_err(|e| store_err(what, e))
}

// ---------------------------------------------------------------------------
// Shared output documents

/// `index.json` of an OCI layout (or of a docker archive).
#[derive(Serialize)]
struct IndexOut<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'static str,
    manifests: &'a [Descriptor],
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(value).map_err(|source| ArchiveError::Json {
        what: what.to_string(),
        source,
    })
}

fn index_json(manifests: &[Descriptor]) -> Result<Vec<u8>, ArchiveError> {
    to_json(
        "index.json",
        &IndexOut {
            schema_version: 2,
            media_type: MEDIA_TYPE_OCI_INDEX,
            manifests,
        },
    )
}

/// An `index.json` entry for `manifest`, annotated with the reference (its
/// full name, and its tag as the OCI ref name) if there is one.
fn index_entry(manifest: &Descriptor, r: Option<&Reference>) -> Descriptor {
    let mut entry = manifest.clone();
    if let Some(r) = r {
        let mut annotations = BTreeMap::new();
        annotations.insert(ANNOTATION_IMAGE_NAME.to_string(), r.to_string());
        if let Some(tag) = r.tag() {
            annotations.insert(ANNOTATION_REF_NAME.to_string(), tag.to_string());
        }
        entry.annotations = Some(annotations);
    }
    entry
}

/// The `index.json` entries of one manifest: one per reference, or one
/// without annotations for an untagged image.
fn index_entries(manifest: &Descriptor, refs: &[&Reference]) -> Vec<Descriptor> {
    if refs.is_empty() {
        return vec![index_entry(manifest, None)];
    }
    refs.iter()
        .map(|r| index_entry(manifest, Some(r)))
        .collect()
}

// ---------------------------------------------------------------------------
// Layers: opening, hashing, copying

/// Opens a stored layer blob, decompressing it (gzip or zstd, from its
/// magic bytes or media type).
fn open_layer(store: &BlobStore, layer: &CheckedLayer) -> Result<Box<dyn Read>, ArchiveError> {
    let what = layer.what.as_str();
    let mut file = store
        .open_blob(&layer.digest)
        .map_err(|e| store_err(what, e))?;
    let mut head = Vec::with_capacity(4);
    (&mut file)
        .take(4)
        .read_to_end(&mut head)
        .map_err(|e| io_err("read", what, e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| io_err("seek", what, e))?;
    let file = BufReader::with_capacity(COPY_BUF, file);
    detect_compression(Some(&layer.blob.media_type), &head)
        .decoder(file)
        .map(|decoder| Box::new(decoder) as Box<dyn Read>)
        .map_err(|e| io_err("start decompression", what, e))
}

/// Copies `src` to `dst`, hashing: exactly `len` bytes if given (an error
/// if `src` ends sooner), else all of `src`. Returns the byte count and the
/// sha256. Errors name `src_what` or `dst_what`, whichever failed.
fn copy_hashed(
    src: &mut dyn Read,
    dst: &mut dyn Write,
    len: Option<u64>,
    src_what: &str,
    dst_what: &str,
) -> Result<(u64, BlobDigest), ArchiveError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; COPY_BUF];
    let mut done: u64 = 0;
    loop {
        let want = match len {
            Some(len) => usize::try_from(len - done)
                .unwrap_or(usize::MAX)
                .min(buf.len()),
            None => buf.len(),
        };
        if want == 0 {
            break;
        }
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = match src.read(chunk) {
            Ok(0) if len.is_some() => {
                let e = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("ended after {done} of {} bytes", len.unwrap_or(0)),
                );
                return Err(io_err("read", src_what, e));
            }
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err("read", src_what, e)),
        };
        let data = chunk.get(..n).unwrap_or_default();
        hasher.update(data);
        dst.write_all(data)
            .map_err(|e| io_err("write", dst_what, e))?;
        done += n as u64;
    }
    Ok((done, BlobDigest::from_hasher(hasher)))
}

/// The error for a layer whose uncompressed content is not its DiffID.
fn diff_id_mismatch(
    layer: &CheckedLayer,
    index: usize,
    config: &BlobDigest,
    actual: &BlobDigest,
) -> ArchiveError {
    ArchiveError::DiffIdMismatch {
        layer: layer.what.clone(),
        index,
        config: config.to_string(),
        expected: layer.diff_id.to_string(),
        actual: actual.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Docker archive

/// One file under `blobs/sha256/` of a docker archive.
enum Blob<'a> {
    /// A JSON document (config, synthesized manifest).
    Json(Vec<u8>),
    /// A layer, written uncompressed: `size` bytes hashing to `diff_id`.
    Layer { layer: &'a CheckedLayer, size: u64 },
}

/// One image of `manifest.json`.
#[derive(Serialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    /// `null` for an untagged image, as docker writes it.
    #[serde(rename = "RepoTags")]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Everything a docker archive holds, layers measured and verified.
struct DockerPlan<'a> {
    /// By hex digest, so the tar lists them sorted and each once.
    blobs: BTreeMap<String, Blob<'a>>,
    index: Vec<u8>,
    manifest_json: Vec<u8>,
    /// `None` when no image has a tag.
    repositories: Option<Vec<u8>>,
}

fn blob_path(hex: &str) -> String {
    format!("blobs/sha256/{hex}")
}

impl<'a> DockerPlan<'a> {
    fn new(store: &BlobStore, checked: &'a [Checked]) -> Result<DockerPlan<'a>, ArchiveError> {
        let mut plan = DockerPlan {
            blobs: BTreeMap::new(),
            index: Vec::new(),
            manifest_json: Vec::new(),
            repositories: None,
        };
        let mut items: Vec<ManifestItem> = Vec::new();
        let mut index: Vec<Descriptor> = Vec::new();
        let mut repositories = Repositories::new();
        for (image, refs) in merge_by_config(checked) {
            let manifest = plan.add_image(store, image)?;
            // A digest-only reference names no docker tag.
            let tagged: Vec<(&Reference, &str)> = refs
                .into_iter()
                .filter_map(|r| r.tag().map(|tag| (r, tag)))
                .collect();
            let tagged_refs: Vec<&Reference> = tagged.iter().map(|(r, _)| *r).collect();
            index.extend(index_entries(&manifest, &tagged_refs));
            if let Some(top) = image.layers.last() {
                for (r, tag) in &tagged {
                    repositories
                        .entry(r.familiar_name())
                        .or_default()
                        .insert(tag.to_string(), top.diff_id.hex().to_string());
                }
            }
            items.push(manifest_item(image, &tagged));
        }
        plan.index = index_json(&index)?;
        // Go's json.Encoder, which docker uses, ends each document with a newline.
        plan.manifest_json = to_json("manifest.json", &items)?;
        plan.manifest_json.push(b'\n');
        if !repositories.is_empty() {
            let mut data = to_json("repositories", &repositories)?;
            data.push(b'\n');
            plan.repositories = Some(data);
        }
        Ok(plan)
    }

    /// Adds an image's config and layers (pass 1 over each new layer) and
    /// its synthesized manifest; returns the manifest's descriptor.
    fn add_image(
        &mut self,
        store: &BlobStore,
        image: &'a Checked,
    ) -> Result<Descriptor, ArchiveError> {
        self.blobs
            .entry(image.config_digest.hex().to_string())
            .or_insert_with(|| Blob::Json(image.config_bytes.clone()));
        let mut layers = Vec::with_capacity(image.layers.len());
        for (n, layer) in image.layers.iter().enumerate() {
            let hex = layer.diff_id.hex().to_string();
            let size = match self.blobs.get(&hex) {
                Some(Blob::Layer { size, .. }) => *size,
                _ => {
                    let size = measure_layer(store, layer, n, &image.config_digest)?;
                    self.blobs.insert(hex, Blob::Layer { layer, size });
                    size
                }
            };
            layers.push(Descriptor::new(
                MEDIA_TYPE_OCI_LAYER_TAR,
                &layer.diff_id,
                size,
            ));
        }
        // The same document load_docker_archive synthesizes, so a saved
        // image loads back with the same manifest digest.
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_string()),
            config: Descriptor::new(
                MEDIA_TYPE_OCI_CONFIG,
                &image.config_digest,
                u64::try_from(image.config_bytes.len()).unwrap_or(u64::MAX),
            ),
            layers,
        };
        let bytes = to_json(&format!("{}: synthesized manifest", image.what), &manifest)?;
        let digest = BlobDigest::of_bytes(&bytes);
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.blobs
            .entry(digest.hex().to_string())
            .or_insert(Blob::Json(bytes));
        Ok(Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, &digest, size))
    }

    fn write(&self, store: &BlobStore, out: impl Write) -> Result<(), ArchiveError> {
        let mut tar = TarOut { out };
        tar.dir("blobs/")?;
        tar.dir("blobs/sha256/")?;
        for (hex, blob) in &self.blobs {
            let path = blob_path(hex);
            match blob {
                Blob::Json(data) => tar.bytes(&path, data)?,
                Blob::Layer { layer, size } => tar.layer(store, &path, layer, *size)?,
            }
        }
        tar.bytes("index.json", &self.index)?;
        tar.bytes("manifest.json", &self.manifest_json)?;
        tar.bytes("oci-layout", OCI_LAYOUT)?;
        if let Some(repositories) = &self.repositories {
            tar.bytes("repositories", repositories)?;
        }
        tar.finish()
    }
}

/// The legacy `repositories` file: familiar name → tag → hex DiffID of the
/// top layer.
type Repositories = BTreeMap<String, BTreeMap<String, String>>;

/// The `manifest.json` entry of an image: paths of its config and layers,
/// and its tags in familiar form (`busybox:latest`).
fn manifest_item(image: &Checked, tagged: &[(&Reference, &str)]) -> ManifestItem {
    ManifestItem {
        config: blob_path(image.config_digest.hex()),
        repo_tags: (!tagged.is_empty()).then(|| {
            tagged
                .iter()
                .map(|(r, tag)| format!("{}:{tag}", r.familiar_name()))
                .collect()
        }),
        layers: image
            .layers
            .iter()
            .map(|l| blob_path(l.diff_id.hex()))
            .collect(),
    }
}

/// Groups images by config (docker's image ID), in first-seen order, with
/// all their references, each once.
fn merge_by_config(checked: &[Checked]) -> Vec<(&Checked, Vec<&Reference>)> {
    let mut merged: Vec<(&Checked, Vec<&Reference>)> = Vec::new();
    let mut by_config: HashMap<&BlobDigest, usize> = HashMap::new();
    for image in checked {
        let i = *by_config.entry(&image.config_digest).or_insert_with(|| {
            merged.push((image, Vec::new()));
            merged.len() - 1
        });
        if let Some((_, refs)) = merged.get_mut(i) {
            for r in &image.refs {
                if !refs.contains(&r) {
                    refs.push(r);
                }
            }
        }
    }
    merged
}

/// Pass 1 over a layer: its uncompressed size, once its uncompressed bytes
/// are known to hash to its DiffID.
fn measure_layer(
    store: &BlobStore,
    layer: &CheckedLayer,
    index: usize,
    config: &BlobDigest,
) -> Result<u64, ArchiveError> {
    let mut reader = open_layer(store, layer)?;
    let (size, actual) = copy_hashed(&mut reader, &mut io::sink(), None, &layer.what, "")?;
    if actual != layer.diff_id {
        return Err(diff_id_mismatch(layer, index, config, &actual));
    }
    Ok(size)
}

/// A tar stream written by hand rather than with `tar::Builder`, whose
/// `Drop` would append the end-of-archive marker after an error and make a
/// truncated archive look complete.
struct TarOut<W: Write> {
    out: W,
}

impl<W: Write> TarOut<W> {
    fn header(&mut self, path: &str, kind: tar::EntryType, size: u64) -> Result<(), ArchiveError> {
        let mut header = tar::Header::new_ustar();
        header
            .set_path(path)
            .map_err(|e| io_err("set tar path", path, e))?;
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        self.out
            .write_all(header.as_bytes())
            .map_err(|e| io_err("write", OUTPUT, e))
    }

    fn dir(&mut self, path: &str) -> Result<(), ArchiveError> {
        self.header(path, tar::EntryType::Directory, 0)
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<(), ArchiveError> {
        let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
        self.header(path, tar::EntryType::Regular, size)?;
        self.out
            .write_all(data)
            .map_err(|e| io_err("write", OUTPUT, e))?;
        self.pad(size)
    }

    /// Pass 2 over a layer: streams it uncompressed, checking again that
    /// it is `size` bytes hashing to the DiffID.
    fn layer(
        &mut self,
        store: &BlobStore,
        path: &str,
        layer: &CheckedLayer,
        size: u64,
    ) -> Result<(), ArchiveError> {
        let mut reader = open_layer(store, layer)?;
        self.header(path, tar::EntryType::Regular, size)?;
        let (_, actual) = copy_hashed(&mut reader, &mut self.out, Some(size), &layer.what, OUTPUT)?;
        if actual != layer.diff_id {
            return Err(io_err(
                "read",
                layer.what.as_str(),
                io::Error::other(format!(
                    "content changed while saving: now hashes to {actual}"
                )),
            ));
        }
        self.pad(size)
    }

    fn pad(&mut self, size: u64) -> Result<(), ArchiveError> {
        let rem = size % BLOCK;
        if rem == 0 {
            return Ok(());
        }
        let zeros = [0u8; BLOCK as usize];
        let pad = zeros.get(..(BLOCK - rem) as usize).unwrap_or_default();
        self.out
            .write_all(pad)
            .map_err(|e| io_err("write", OUTPUT, e))
    }

    /// Writes the end-of-archive marker (two zero blocks) and flushes.
    fn finish(mut self) -> Result<(), ArchiveError> {
        self.out
            .write_all(&[0u8; 2 * BLOCK as usize])
            .and_then(|()| self.out.flush())
            .map_err(|e| io_err("write", OUTPUT, e))
    }
}

// ---------------------------------------------------------------------------
// OCI layout

/// `index.json` of an OCI layout: each (manifest, reference) once, an
/// untagged manifest once.
fn oci_index(checked: &[Checked]) -> Result<Vec<u8>, ArchiveError> {
    let mut entries = Vec::new();
    let mut seen: BTreeSet<(&BlobDigest, Option<&Reference>)> = BTreeSet::new();
    for image in checked {
        let digest = &image.manifest_digest;
        if image.refs.is_empty() && seen.insert((digest, None)) {
            entries.push(index_entry(&image.manifest, None));
        }
        for r in &image.refs {
            if seen.insert((digest, Some(r))) {
                entries.push(index_entry(&image.manifest, Some(r)));
            }
        }
    }
    index_json(&entries)
}

/// Checks that `dir` is an empty directory, or creates it. Returns whether
/// it was created here.
fn prepare_destination(dir: &Path) -> Result<bool, ArchiveError> {
    let what = dir.display().to_string();
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let mut entries = fs::read_dir(dir).map_err(|e| io_err("list", what.as_str(), e))?;
            if entries.next().is_some() {
                return Err(ArchiveError::BadDestination {
                    path: what,
                    reason: "directory is not empty",
                });
            }
            Ok(false)
        }
        Ok(_) => Err(ArchiveError::BadDestination {
            path: what,
            reason: "exists and is not a directory",
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir(dir).map_err(|e| io_err("create directory", what, e))?;
            Ok(true)
        }
        Err(e) => Err(io_err("stat", what, e)),
    }
}

/// Writes the blobs, `oci-layout`, then `index.json` into `dir`.
fn write_layout(
    store: &BlobStore,
    checked: &[Checked],
    index: &[u8],
    dir: &Path,
) -> Result<(), ArchiveError> {
    let blobs = dir.join("blobs");
    let blob_dir = blobs.join("sha256");
    fs::create_dir_all(&blob_dir)
        .map_err(|e| io_err("create directory", blob_dir.display().to_string(), e))?;
    let mut written: BTreeSet<&str> = BTreeSet::new();
    for image in checked {
        if written.insert(image.config_digest.hex()) {
            let path = blob_dir.join(image.config_digest.hex());
            write_file(&path, &image.config_bytes)?;
        }
        for layer in &image.layers {
            if written.insert(layer.digest.hex()) {
                copy_layer_blob(store, layer, &blob_dir.join(layer.digest.hex()))?;
            }
        }
        let manifest_hex = image.manifest_digest.hex();
        if written.insert(manifest_hex) {
            write_file(&blob_dir.join(manifest_hex), &image.manifest_bytes)?;
        }
    }
    fsync_dir(&blob_dir)?;
    fsync_dir(&blobs)?;
    write_file(&dir.join("oci-layout"), OCI_LAYOUT)?;
    let tmp = dir.join(".index.json.tmp");
    write_file(&tmp, index)?;
    let index_path = dir.join("index.json");
    fs::rename(&tmp, &index_path)
        .map_err(|e| io_err("rename into place", index_path.display().to_string(), e))?;
    fsync_dir(dir)
}

/// Creates `path` (which must not exist) with `data`, fsynced.
fn write_file(path: &Path, data: &[u8]) -> Result<(), ArchiveError> {
    let what = path.display().to_string();
    let mut file = create_new(path)?;
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err("write", what, e))
}

fn create_new(path: &Path) -> Result<File, ArchiveError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io_err("create", path.display().to_string(), e))
}

/// Copies a layer blob as stored, verifying its size and digest on the way
/// (the store does not re-hash on open).
fn copy_layer_blob(
    store: &BlobStore,
    layer: &CheckedLayer,
    path: &Path,
) -> Result<(), ArchiveError> {
    let what = path.display().to_string();
    let mut src = store
        .open_blob(&layer.digest)
        .map_err(|e| store_err(layer.what.as_str(), e))?;
    let mut dst = create_new(path)?;
    let (_, actual) = copy_hashed(
        &mut src,
        &mut dst,
        Some(layer.blob.size),
        &layer.what,
        &what,
    )?;
    if actual != layer.digest {
        return Err(ArchiveError::BlobMismatch {
            digest: layer.digest.to_string(),
            reason: format!("{}: stored content hashes to {actual}", layer.what),
        });
    }
    dst.sync_all().map_err(|e| io_err("fsync", what, e))
}

fn fsync_dir(dir: &Path) -> Result<(), ArchiveError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("fsync directory", dir.display().to_string(), e))
}

/// Removes what a failed [`save_oci_layout`] wrote, best effort: `dir`
/// itself if it was created here, else the entries written into it (it was
/// empty before).
fn remove_partial_layout(dir: &Path, created: bool) {
    if created {
        let _ = fs::remove_dir_all(dir);
        return;
    }
    let _ = fs::remove_dir_all(dir.join("blobs"));
    for name in ["oci-layout", ".index.json.tmp", "index.json"] {
        let _ = fs::remove_file(dir.join(name));
    }
}

#[cfg(test)]
#[path = "save_tests.rs"]
mod save_tests;
