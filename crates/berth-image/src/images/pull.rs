//! `pull`: a manifest (chosen from an index by platform), its config, and
//! its layers, fetched in parallel and unpacked while they stream.
//!
//! Each layer worker reads the blob from the socket through a tee: every
//! byte goes into the store's verifying writer (sha256 of the compressed
//! blob) and on to the decompressor and the unpacker (whose reader hashes
//! the uncompressed stream: the DiffID). Nothing is buffered between the
//! network and the disk, and the CPU work (inflate, two sha256, writes)
//! overlaps the download. A layer counts as done only when both digests
//! check out; then its snapshot is renamed into place. The image is
//! recorded (tags, refcounts) in one transaction after every layer is.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use super::progress::{Progress, ProgressKind, ProgressSink};
use super::{now, ImageError, Images};
use crate::manifest::{self, Manifest, Platform};
use crate::metadata::{ImageLayer, ImageRecord};
use crate::reference::Reference;
use crate::registry::{Credentials, FetchedManifest, Session};
use crate::store::BlobWriter;

/// How many layers download at once (Docker's default is 3).
pub const DEFAULT_CONCURRENCY: usize = 3;

/// Options of a pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// The platform to pick from an index; the host's by default.
    pub platform: Option<Platform>,
    /// Credentials for the registry (from `X-Registry-Auth` or the
    /// credentials file).
    pub credentials: Option<Credentials>,
    /// Parallel layer downloads; [`DEFAULT_CONCURRENCY`] when 0.
    pub concurrency: usize,
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOutcome {
    /// The image id (config digest).
    pub image_id: String,
    /// The digest the reference resolved to (the index's, for a
    /// multi-platform image): Docker's `Digest:` line.
    pub digest: String,
    /// Whether anything new was stored (`Downloaded newer image` rather
    /// than `Image is up to date`).
    pub downloaded: bool,
}

impl Images {
    /// Pulls `reference` (tag or digest) into the store and tags it.
    pub fn pull(
        &self,
        reference: &Reference,
        options: &PullOptions,
        progress: ProgressSink,
    ) -> Result<PullOutcome, ImageError> {
        self.pull_unmapped(reference, options, progress)
            .map_err(|e| e.or_disk_full(self.root()))
    }

    fn pull_unmapped(
        &self,
        reference: &Reference,
        options: &PullOptions,
        progress: ProgressSink,
    ) -> Result<PullOutcome, ImageError> {
        let session = self
            .registry()
            .session(reference, options.credentials.clone(), false)?;
        let target = match reference.digest() {
            Some(d) => d.to_string(),
            None => reference.tag().unwrap_or("latest").to_string(),
        };
        // The manifest first: an unknown tag is an error before any
        // progress (the daemon then answers with an error status).
        let top = session.manifest(&target)?;
        progress(Progress {
            id: Some(target.clone()),
            kind: ProgressKind::PullingFrom(reference.repository().to_string()),
        });
        let platform = options.platform.clone().unwrap_or_else(Platform::host);
        let (image_manifest, manifest_bytes) = self.resolve_platform(&session, &top, &platform)?;
        self.blobs().put_bytes(&top.bytes)?;
        let manifest_digest = self.blobs().put_bytes(&manifest_bytes.bytes)?;

        let config = &image_manifest.config;
        if !self.blobs().contains(&config.digest)? {
            let (reader, _) = session.blob(&config.digest)?;
            let mut writer = self.blobs().writer(&config.digest, Some(config.size))?;
            copy_limited(reader, &mut writer, crate::archive::MAX_JSON_SIZE)
                .map_err(|e| self.stream_error(&config.digest, e))?;
            writer.commit()?;
        }
        let diff_ids = self.diff_ids(&config.digest, image_manifest.layers.len())?;
        let layers: Vec<ImageLayer> = image_manifest
            .layers
            .iter()
            .cloned()
            .zip(diff_ids)
            .map(|(blob, diff_id)| ImageLayer { diff_id, blob })
            .collect();

        let existing = self.metadata().image(&config.digest)?;
        let sizes = self.fetch_layers(&session, &layers, options, progress)?;
        let repo_digest = format!("{}@{}", reference.name(), top.digest);
        let record = ImageRecord {
            id: config.digest.clone(),
            manifest_digest: manifest_digest.to_string(),
            manifest_media_type: manifest_bytes.media_type.clone(),
            config_size: config.size,
            layers,
            repo_digests: vec![repo_digest],
            stored_at: now(),
        };
        let tags: Vec<String> = reference
            .tag()
            .filter(|_| reference.digest().is_none())
            .map(|_| vec![reference.to_string()])
            .unwrap_or_default();
        let was_tagged = match tags.first() {
            Some(tag) => self.metadata().resolve_tag(tag)?.as_deref() == Some(&config.digest),
            None => true,
        };
        self.commit(&record, &tags, &sizes)?;
        let downloaded = existing.is_none() || !was_tagged;
        progress(Progress::message(format!("Digest: {}", top.digest)));
        let status = if downloaded {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        progress(Progress::message(format!(
            "Status: {status} {}",
            reference.familiar()
        )));
        Ok(PullOutcome {
            image_id: config.digest.clone(),
            digest: top.digest.to_string(),
            downloaded,
        })
    }

    /// The image manifest for `platform`: `top` itself, or the entry an
    /// index selects (fetched by digest and checked against the index's
    /// size).
    fn resolve_platform(
        &self,
        session: &Session,
        top: &FetchedManifest,
        platform: &Platform,
    ) -> Result<(crate::archive::ImageManifest, FetchedManifest), ImageError> {
        match manifest::parse(&top.bytes, &top.media_type, top.digest.as_str())? {
            Manifest::Image(m) => Ok((m, top.clone())),
            Manifest::Index(index) => {
                let entry = manifest::select_platform(&index, platform)?;
                let fetched = session.manifest(&entry.digest)?;
                if fetched.bytes.len() as u64 != entry.size {
                    return Err(ImageError::InvalidConfig {
                        digest: entry.digest.clone(),
                        what: format!(
                            "manifest is {} bytes, the index says {}",
                            fetched.bytes.len(),
                            entry.size
                        ),
                    });
                }
                match manifest::parse(&fetched.bytes, &fetched.media_type, &entry.digest)? {
                    Manifest::Image(m) => Ok((m, fetched)),
                    Manifest::Index(_) => Err(ImageError::InvalidConfig {
                        digest: entry.digest.clone(),
                        what: "an index nested in an index".into(),
                    }),
                }
            }
        }
    }

    /// Fetches and unpacks every layer not already unpacked, `concurrency`
    /// at a time. Returns the size of each layer unpacked here.
    fn fetch_layers(
        &self,
        session: &Session,
        layers: &[ImageLayer],
        options: &PullOptions,
        progress: ProgressSink,
    ) -> Result<BTreeMap<String, u64>, ImageError> {
        let mut todo = Vec::new();
        for layer in layers {
            let known = self.metadata().layer(&layer.diff_id)?.is_some()
                && self.snapshots.exists(&layer.diff_id)?;
            if known {
                progress(Progress::layer(
                    &layer.blob.digest,
                    ProgressKind::AlreadyExists,
                ));
            } else if !todo
                .iter()
                .any(|l: &&ImageLayer| l.diff_id == layer.diff_id)
            {
                progress(Progress::layer(
                    &layer.blob.digest,
                    ProgressKind::PullingFsLayer,
                ));
                todo.push(layer);
            }
        }
        // Largest first: a big layer started last would finish alone.
        todo.sort_by_key(|l| std::cmp::Reverse(l.blob.size));
        let next = AtomicUsize::new(0);
        let cancel = AtomicBool::new(false);
        let results = Mutex::new(BTreeMap::new());
        let first_error: Mutex<Option<ImageError>> = Mutex::new(None);
        let workers = match options.concurrency {
            0 => DEFAULT_CONCURRENCY,
            n => n,
        }
        .min(todo.len().max(1));
        // A flusher starts each finished layer's writeback while the
        // workers go on inflating: the syncfs before the image is recorded
        // then has little left to wait for. In the workers themselves, a
        // syncfs would also wait for the others' dirty pages and stall them.
        let (layer_done, flush_requests) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                while flush_requests.recv().is_ok() {
                    while flush_requests.try_recv().is_ok() {}
                    // An error here shows again in the final, checked sync.
                    let _ = self.snapshots.sync();
                }
            });
            let (todo, next, cancel) = (&todo, &next, &cancel);
            let (results, first_error) = (&results, &first_error);
            for _ in 0..workers {
                let layer_done = layer_done.clone();
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(layer) = todo.get(i) else { break };
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    match self.fetch_layer(session, layer, progress, cancel) {
                        Ok(size) => {
                            if let Ok(mut r) = results.lock() {
                                r.insert(layer.diff_id.clone(), size);
                            }
                            let _ = layer_done.send(());
                        }
                        Err(e) => {
                            cancel.store(true, Ordering::Relaxed);
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                            break;
                        }
                    }
                });
            }
            drop(layer_done);
        });
        if let Some(e) = first_error.into_inner().ok().flatten() {
            return Err(e);
        }
        results
            .into_inner()
            .map_err(|_| ImageError::Worker("layer results lock poisoned".into()))
    }

    /// One layer: unpacked from the local blob if a previous pull stored
    /// it, else streamed from the registry into the store and the unpacker
    /// at once.
    fn fetch_layer(
        &self,
        session: &Session,
        layer: &ImageLayer,
        progress: ProgressSink,
        cancel: &AtomicBool,
    ) -> Result<u64, ImageError> {
        let digest = &layer.blob.digest;
        if self.snapshots.exists(&layer.diff_id)? {
            // Unpacked by an earlier, interrupted pull of another image.
            progress(Progress::layer(digest, ProgressKind::PullComplete));
            return Ok(0);
        }
        if self.blobs().contains(digest)? {
            let size = self.unpack_from_store(layer)?;
            progress(Progress::layer(digest, ProgressKind::DownloadComplete));
            progress(Progress::layer(digest, ProgressKind::PullComplete));
            return Ok(size);
        }
        let (reader, announced) = session.blob(digest)?;
        let total = Some(layer.blob.size).or(announced);
        let writer = self.blobs().writer(digest, Some(layer.blob.size))?;
        let mut tee = Tee {
            inner: reader,
            writer,
            read: 0,
            reported: 0,
            total,
            digest,
            progress,
            cancel,
        };
        let size = self.unpack_verified(BufReader::with_capacity(1 << 20, &mut tee), layer)?;
        // The unpacker stops at the tar's end; the blob may go on (gzip
        // padding, trailing zero blocks): store all of it.
        io::copy(&mut tee, &mut io::sink()).map_err(|e| self.stream_error(digest, e))?;
        let Tee { writer, .. } = tee;
        writer.commit()?;
        progress(Progress::layer(digest, ProgressKind::DownloadComplete));
        progress(Progress::layer(digest, ProgressKind::PullComplete));
        Ok(size)
    }

    fn stream_error(&self, digest: &str, e: io::Error) -> ImageError {
        ImageError::Unpack {
            layer: digest.to_string(),
            source: crate::unpack::UnpackError::Stream {
                after: None,
                source: e,
            },
        }
    }
}

/// Copies at most `limit` bytes (a config is small; a hostile registry
/// must not fill the disk through it).
fn copy_limited(reader: impl Read, writer: &mut BlobWriter, limit: u64) -> io::Result<()> {
    let copied = io::copy(&mut reader.take(limit + 1), writer)?;
    if copied > limit {
        return Err(io::Error::other(format!("blob larger than {limit} bytes")));
    }
    Ok(())
}

/// Reads from the network, writes every byte into the blob writer, and
/// reports progress about every 512 KiB.
struct Tee<'a> {
    inner: Box<dyn Read + Send>,
    writer: BlobWriter,
    read: u64,
    reported: u64,
    total: Option<u64>,
    digest: &'a str,
    progress: ProgressSink<'a>,
    cancel: &'a AtomicBool,
}

const REPORT_EVERY: u64 = 512 * 1024;

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            // Not ErrorKind::Interrupted: readers retry on that.
            return Err(io::Error::other("cancelled: another layer failed"));
        }
        let n = self.inner.read(buf)?;
        self.writer.write_all(&buf[..n])?;
        self.read += n as u64;
        if self.read - self.reported >= REPORT_EVERY || (n == 0 && self.read != self.reported) {
            self.reported = self.read;
            (self.progress)(Progress::layer(
                self.digest,
                ProgressKind::Downloading {
                    current: self.read,
                    total: self.total,
                },
            ));
        }
        Ok(n)
    }
}
