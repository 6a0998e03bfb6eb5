//! `push`: the layers and the config the registry lacks, then the
//! manifest, byte for byte as stored (so its digest is the image's).

use std::fs::File;

use super::progress::{Progress, ProgressKind, ProgressSink};
use super::{ImageError, Images};
use crate::archive::Descriptor;
use crate::metadata::ImageRecord;
use crate::reference::Reference;
use crate::registry::{Credentials, Session};

/// Blobs larger than this are uploaded in chunks.
pub const CHUNKED_ABOVE: u64 = 64 * 1024 * 1024;
/// The size of each chunk of a chunked upload.
pub const CHUNK_SIZE: u64 = 16 * 1024 * 1024;

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The pushed manifest's digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// How many blobs were uploaded (the others were already there).
    pub uploaded: usize,
}

impl Images {
    /// Pushes the image `reference` names to the registry and repository
    /// the reference names. `chunk_size` forces chunked uploads of that
    /// size (tests); by default blobs above [`CHUNKED_ABOVE`] are chunked.
    pub fn push(
        &self,
        reference: &Reference,
        credentials: Option<Credentials>,
        chunk_size: Option<u64>,
        progress: ProgressSink,
    ) -> Result<PushOutcome, ImageError> {
        let image = self.resolve(&reference.to_string())?;
        let session = self.registry().session(reference, credentials, true)?;
        let mut uploaded = 0;
        for layer in &image.layers {
            uploaded += self.push_blob(&session, &layer.blob, chunk_size, progress)?;
        }
        let config = Descriptor {
            media_type: String::new(),
            digest: image.id.clone(),
            size: image.config_size,
            platform: None,
            annotations: None,
        };
        uploaded += self.push_blob(&session, &config, chunk_size, progress)?;
        let manifest = self.blobs().get(&image.manifest_digest)?;
        let tag = reference.tag().unwrap_or("latest");
        let digest = session.put_manifest(tag, &manifest, &image.manifest_media_type)?;
        self.record_repo_digest(&image, reference, digest.as_str())?;
        progress(Progress::message(format!(
            "{tag}: digest: {digest} size: {}",
            manifest.len()
        )));
        Ok(PushOutcome {
            digest: digest.to_string(),
            size: manifest.len() as u64,
            uploaded,
        })
    }

    /// Uploads one blob unless the registry has it. Returns 1 if uploaded.
    fn push_blob(
        &self,
        session: &Session,
        blob: &Descriptor,
        chunk_size: Option<u64>,
        progress: ProgressSink,
    ) -> Result<usize, ImageError> {
        let digest = &blob.digest;
        progress(Progress::layer(digest, ProgressKind::Preparing));
        if session.blob_exists(digest)? {
            progress(Progress::layer(digest, ProgressKind::LayerAlreadyExists));
            return Ok(0);
        }
        let size = self.blobs().size(digest)?;
        let mut file: File = self.blobs().open_blob(digest)?;
        let chunk = chunk_size.or((size > CHUNKED_ABOVE).then_some(CHUNK_SIZE));
        session.upload_blob(digest, &mut file, size, chunk)?;
        progress(Progress::layer(
            digest,
            ProgressKind::Pushing {
                current: size,
                total: size,
            },
        ));
        progress(Progress::layer(digest, ProgressKind::Pushed));
        Ok(1)
    }

    /// Adds `name@digest` to the image's repo digests.
    fn record_repo_digest(
        &self,
        image: &ImageRecord,
        reference: &Reference,
        digest: &str,
    ) -> Result<(), ImageError> {
        let mut record = image.clone();
        record.repo_digests = vec![format!("{}@{digest}", reference.name())];
        self.metadata()
            .commit_image(&record, &[], &Default::default())?;
        Ok(())
    }
}
