//! Progress of a pull or a push, as events the daemon turns into Docker's
//! JSON progress stream (`{"status":"Downloading","progressDetail":
//! {"current":..,"total":..},"id":"<12 hex>"}`) and the CLI into bars.

/// What happened, for one layer (`id` set) or the whole operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The short id (12 hex digits of the blob digest) of the layer, or
    /// `None` for a message about the whole image.
    pub id: Option<String>,
    pub kind: ProgressKind,
}

/// The steps Docker's clients know how to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressKind {
    /// `Pulling from library/busybox` (whole image; `id` is the tag).
    PullingFrom(String),
    /// The layer is queued.
    PullingFsLayer,
    /// The layer is already unpacked locally.
    AlreadyExists,
    /// Bytes received so far, of `total` when known.
    Downloading { current: u64, total: Option<u64> },
    /// Received and verified.
    DownloadComplete,
    /// Unpacked into its snapshot (Berth unpacks while downloading).
    PullComplete,
    /// Push: the layer is being checked against the registry.
    Preparing,
    /// Push: the registry already has the blob.
    LayerAlreadyExists,
    /// Push: bytes sent so far, of `total`.
    Pushing { current: u64, total: u64 },
    /// Push: the blob is uploaded.
    Pushed,
    /// A closing line: `Digest: sha256:...`, `Status: Downloaded newer
    /// image for busybox:latest`, `latest: digest: sha256:... size: 527`.
    Message(String),
}

impl Progress {
    /// An event for a layer, named by its blob digest.
    pub fn layer(digest: &str, kind: ProgressKind) -> Progress {
        Progress {
            id: Some(short_id(digest)),
            kind,
        }
    }

    /// An event about the whole image.
    pub fn message(text: impl Into<String>) -> Progress {
        Progress {
            id: None,
            kind: ProgressKind::Message(text.into()),
        }
    }

    /// Docker's `status` text for this event.
    pub fn status(&self) -> String {
        match &self.kind {
            ProgressKind::PullingFrom(repo) => format!("Pulling from {repo}"),
            ProgressKind::PullingFsLayer => "Pulling fs layer".into(),
            ProgressKind::AlreadyExists => "Already exists".into(),
            ProgressKind::Downloading { .. } => "Downloading".into(),
            ProgressKind::DownloadComplete => "Download complete".into(),
            ProgressKind::PullComplete => "Pull complete".into(),
            ProgressKind::Preparing => "Preparing".into(),
            ProgressKind::LayerAlreadyExists => "Layer already exists".into(),
            ProgressKind::Pushing { .. } => "Pushing".into(),
            ProgressKind::Pushed => "Pushed".into(),
            ProgressKind::Message(text) => text.clone(),
        }
    }
}

/// The first 12 hex digits of a digest (Docker's short layer id).
pub fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

/// Where events go. Called from the worker threads of a pull, so it must
/// be `Sync`.
pub type ProgressSink<'a> = &'a (dyn Fn(Progress) + Sync);

/// A sink that drops everything.
pub fn no_progress(_: Progress) {}
