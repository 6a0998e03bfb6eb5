//! OCI image layout loading.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{
    check_json_size, diff_ids_of, import_blob, io_err, open_nofollow, parse_digest, parse_json,
    put_json, ArchiveError, Descriptor, ImageManifest, LoadedImage, ANNOTATION_REF_NAME, MAX_DEPTH,
    MAX_JSON_SIZE, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST,
};
use crate::reference::Reference;
use crate::store::{BlobDigest, BlobStore};

#[derive(Debug, Deserialize)]
struct LayoutFile {
    #[serde(rename = "imageLayoutVersion")]
    image_layout_version: String,
}

#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// What an index entry points at, by media type or, without one, by shape.
enum Kind {
    Index,
    Manifest,
}

struct Loader<'a> {
    dir: &'a Path,
    store: &'a BlobStore,
    out: Vec<LoadedImage>,
    /// Manifest digest → position in `out`, so an image named twice is
    /// loaded once with both tags.
    seen: HashMap<BlobDigest, usize>,
}

/// Loads every image reachable from the `index.json` of the OCI image
/// layout `dir` into `store`: each manifest's layers and config, the
/// manifest, and the nested indexes (stored after their children). Every
/// blob is verified against its descriptor (digest and size) as it is
/// imported.
///
/// Returns one [`LoadedImage`] per image manifest (a multi-platform index
/// gives one per platform, with [`LoadedImage::index_digests`] set). Tags
/// come from the `org.opencontainers.image.ref.name` annotation of the
/// `index.json` entry: a full reference (`busybox:latest`,
/// `example.com/a/b:v1`) is normalized as is; a bare tag (`latest`) is
/// combined with `name` (its repository; its tag and digest are ignored),
/// or, without `name`, gives no tag and is only reported in
/// [`LoadedImage::ref_name`] for the caller to decide.
///
/// Blobs stored before a failure (layers, configs) stay in the store,
/// unreferenced; a manifest is only stored once its blobs are.
pub fn load_oci_layout(
    dir: &Path,
    store: &BlobStore,
    name: Option<&Reference>,
) -> Result<Vec<LoadedImage>, ArchiveError> {
    let layout_path = dir.join("oci-layout");
    let layout_bytes = read_file_bounded(&layout_path)?;
    let layout: LayoutFile = parse_json(&layout_path.display().to_string(), &layout_bytes)?;
    if !layout.image_layout_version.starts_with("1.") {
        return Err(ArchiveError::BadLayout {
            path: layout_path.display().to_string(),
            reason: format!(
                "unsupported imageLayoutVersion {:?}",
                layout.image_layout_version
            ),
        });
    }

    let index_path = dir.join("index.json");
    let index_bytes = read_file_bounded(&index_path)?;
    let index: Index = parse_json(&index_path.display().to_string(), &index_bytes)?;

    let mut loader = Loader {
        dir,
        store,
        out: Vec::new(),
        seen: HashMap::new(),
    };
    for desc in &index.manifests {
        let ref_name = desc
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_REF_NAME))
            .cloned();
        // containerd and Berth's own `save` also record the full name.
        let full_name = desc
            .annotations
            .as_ref()
            .and_then(|a| a.get(super::ANNOTATION_IMAGE_NAME))
            .and_then(|n| Reference::parse(n).ok());
        let tag = match (&ref_name, &full_name) {
            (_, Some(full)) if name.is_none() && full.tag().is_some() => Some(full.to_string()),
            (Some(r), _) => tag_for(r, name)?,
            (None, _) => None,
        };
        loader.walk(desc, &mut Vec::new(), ref_name.as_deref(), tag.as_deref())?;
    }
    Ok(loader.out)
}

/// The normalized tag an `org.opencontainers.image.ref.name` gives.
fn tag_for(ref_name: &str, name: Option<&Reference>) -> Result<Option<String>, ArchiveError> {
    let invalid = |name: String| {
        move |source| ArchiveError::InvalidReference {
            what: format!("index.json annotation {ANNOTATION_REF_NAME}"),
            name,
            source,
        }
    };
    if ref_name.contains([':', '/', '@']) {
        let r = Reference::parse(ref_name).map_err(invalid(ref_name.to_string()))?;
        return Ok(Some(r.to_string()));
    }
    match name {
        Some(name) => {
            let full = format!("{}:{ref_name}", name.name());
            let r = Reference::parse(&full).map_err(invalid(full.clone()))?;
            Ok(Some(r.to_string()))
        }
        None => Ok(None),
    }
}

impl Loader<'_> {
    fn blob_path(&self, digest: &BlobDigest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// Reads a JSON blob of the layout, checked against its descriptor.
    fn read_json_blob(&self, desc: &Descriptor) -> Result<(BlobDigest, Vec<u8>), ArchiveError> {
        let digest = parse_digest("descriptor", &desc.digest)?;
        let what = format!("blob {digest}");
        check_json_size(&what, desc.size)?;
        let path = self.blob_path(&digest);
        let file = open_nofollow(&path).map_err(|e| io_err("open", what.as_str(), e))?;
        let mut data = Vec::new();
        file.take(desc.size.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| io_err("read", what.as_str(), e))?;
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if len != desc.size {
            return Err(ArchiveError::BlobMismatch {
                digest: digest.to_string(),
                reason: format!(
                    "descriptor size {} but the blob has more or fewer bytes ({len})",
                    desc.size
                ),
            });
        }
        let actual = BlobDigest::of_bytes(&data);
        if actual != digest {
            return Err(ArchiveError::BlobMismatch {
                digest: digest.to_string(),
                reason: format!("content hashes to {actual}"),
            });
        }
        Ok((digest, data))
    }

    /// Streams a (layer) blob of the layout into the store.
    fn import(&self, desc: &Descriptor) -> Result<BlobDigest, ArchiveError> {
        let digest = parse_digest("descriptor", &desc.digest)?;
        let what = format!("blob {digest}");
        if self
            .store
            .contains(&digest)
            .map_err(|e| super::store_err(what.as_str(), e))?
        {
            return Ok(digest);
        }
        let path = self.blob_path(&digest);
        let mut file = open_nofollow(&path).map_err(|e| io_err("open", what.as_str(), e))?;
        import_blob(self.store, &what, &digest, desc.size, &mut file)?;
        Ok(digest)
    }

    fn walk(
        &mut self,
        desc: &Descriptor,
        chain: &mut Vec<BlobDigest>,
        ref_name: Option<&str>,
        tag: Option<&str>,
    ) -> Result<(), ArchiveError> {
        let (digest, bytes) = self.read_json_blob(desc)?;
        let what = format!("blob {digest}");
        let kind = match desc.media_type.as_str() {
            MEDIA_TYPE_OCI_INDEX | MEDIA_TYPE_DOCKER_MANIFEST_LIST => Kind::Index,
            MEDIA_TYPE_OCI_MANIFEST | MEDIA_TYPE_DOCKER_MANIFEST => Kind::Manifest,
            "" => {
                let value: serde_json::Value = parse_json(&what, &bytes)?;
                if value.get("manifests").is_some() {
                    Kind::Index
                } else if value.get("config").is_some() {
                    Kind::Manifest
                } else {
                    return Err(ArchiveError::UnsupportedMediaType {
                        digest: digest.to_string(),
                        media_type: String::new(),
                    });
                }
            }
            other => {
                return Err(ArchiveError::UnsupportedMediaType {
                    digest: digest.to_string(),
                    media_type: other.to_string(),
                })
            }
        };
        match kind {
            Kind::Index => {
                if chain.len() >= MAX_DEPTH {
                    return Err(ArchiveError::TooDeep {
                        digest: digest.to_string(),
                        limit: MAX_DEPTH,
                    });
                }
                let index: Index = parse_json(&what, &bytes)?;
                chain.push(digest);
                for child in &index.manifests {
                    self.walk(child, chain, ref_name, tag)?;
                }
                chain.pop();
                put_json(self.store, &what, &bytes)?;
            }
            Kind::Manifest => self.load_manifest(digest, &bytes, chain, ref_name, tag)?,
        }
        Ok(())
    }

    fn load_manifest(
        &mut self,
        digest: BlobDigest,
        bytes: &[u8],
        chain: &[BlobDigest],
        ref_name: Option<&str>,
        tag: Option<&str>,
    ) -> Result<(), ArchiveError> {
        if let Some(&i) = self.seen.get(&digest) {
            if let Some(image) = self.out.get_mut(i) {
                if let Some(tag) = tag {
                    if !image.tags.iter().any(|t| t == tag) {
                        image.tags.push(tag.to_string());
                    }
                }
            }
            return Ok(());
        }
        let what = format!("blob {digest}");
        let manifest: ImageManifest = parse_json(&what, bytes)?;

        let (config_digest, config_bytes) = self.read_json_blob(&manifest.config)?;
        let config_what = format!("blob {config_digest}");
        let diff_ids = diff_ids_of(&config_what, &config_bytes)?;
        if diff_ids.len() != manifest.layers.len() {
            return Err(ArchiveError::LayerCount {
                what,
                config: config_digest.to_string(),
                layers: manifest.layers.len(),
                diff_ids: diff_ids.len(),
            });
        }

        for layer in &manifest.layers {
            self.import(layer)?;
        }
        put_json(self.store, &config_what, &config_bytes)?;
        put_json(self.store, &what, bytes)?;

        self.seen.insert(digest.clone(), self.out.len());
        self.out.push(LoadedImage {
            manifest_digest: digest,
            config_digest,
            tags: tag.map(str::to_string).into_iter().collect(),
            ref_name: ref_name.map(str::to_string),
            index_digests: chain.to_vec(),
            layers: manifest.layers,
            diff_ids,
        });
        Ok(())
    }
}

/// Reads a small file of the layout (`oci-layout`, `index.json`), refusing
/// one larger than [`MAX_JSON_SIZE`].
fn read_file_bounded(path: &Path) -> Result<Vec<u8>, ArchiveError> {
    let what = path.display().to_string();
    let file = open_nofollow(path).map_err(|e| io_err("open", what.as_str(), e))?;
    let mut data = Vec::new();
    file.take(MAX_JSON_SIZE + 1)
        .read_to_end(&mut data)
        .map_err(|e| io_err("read", what.as_str(), e))?;
    check_json_size(&what, u64::try_from(data.len()).unwrap_or(u64::MAX))?;
    Ok(data)
}
