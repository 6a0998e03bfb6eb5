//! Docker image references: parsing, normalization and the familiar form.
//!
//! A reference names an image in a registry, optionally pinned by a tag
//! and/or a content digest:
//!
//! ```text
//! [registry[:port]/]path[/path...][:tag][@algorithm:hex]
//! ```
//!
//! Parsing follows the grammar of the distribution project's reference
//! package and Docker's normalization rules:
//!
//! - the first `/`-separated component is a registry only if it contains a
//!   `.` or a `:`, or is exactly `localhost`; otherwise the registry is
//!   `docker.io` (the legacy `index.docker.io` is rewritten to `docker.io`);
//! - single-component names on `docker.io` live under `library/`;
//! - path components are lowercase `[a-z0-9]+` runs joined by `.`, `_`,
//!   `__` or any number of `-`; the whole name is at most 255 characters;
//! - tags are `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
//! - digests are `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`;
//! - the tag `latest` is implied only when neither a tag nor a digest is
//!   given.
//!
//! The parser is hand-written, works on bytes, never slices a string
//! anywhere but at ASCII delimiters and never panics, whatever the input.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// The registry Docker Hub images are normalized to.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The legacy name of Docker Hub, normalized to [`DEFAULT_REGISTRY`].
pub const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";
/// The host the registry API of Docker Hub is actually served from.
pub const DEFAULT_REGISTRY_API_HOST: &str = "registry-1.docker.io";
/// The namespace of Docker Hub's official images (`busybox` is
/// `library/busybox`).
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag implied when a reference has neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// The longest a normalized name (`registry/path`) may be.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// The longest a tag may be.
pub const TAG_LENGTH_MAX: usize = 128;

/// Why an image reference was refused. Each variant carries the input it
/// was about, so the message says what is wrong with which reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The reference does not follow the grammar at all.
    #[error("invalid reference format: {reason}: {input:?}")]
    InvalidFormat {
        /// The reference as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The repository path has uppercase letters (and would be valid
    /// without them).
    #[error("invalid reference format: repository name must be lowercase: {input:?}")]
    NotLowercase {
        /// The reference as given.
        input: String,
    },
    /// The normalized name is longer than [`NAME_TOTAL_LENGTH_MAX`].
    #[error(
        "invalid reference format: repository name must not be more than \
         {NAME_TOTAL_LENGTH_MAX} characters (it is {len}): {input:?}"
    )]
    NameTooLong {
        /// The reference as given.
        input: String,
        /// The length of the normalized name.
        len: usize,
    },
    /// The input is a bare 64-hex identifier, which Docker refuses as a
    /// repository name (it would be confused with an image ID).
    #[error("invalid repository name {input:?}: cannot specify 64-byte hexadecimal strings")]
    HexIdentifier {
        /// The reference as given.
        input: String,
    },
    /// The part after the last `:` of the name is not a valid tag.
    #[error("invalid tag {tag:?} in reference {input:?}: {reason}")]
    InvalidTag {
        /// The reference as given.
        input: String,
        /// The tag as given.
        tag: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The part after `@` is not a valid digest.
    #[error("{source} (in reference {input:?})")]
    InvalidDigest {
        /// The reference as given.
        input: String,
        /// What is wrong with the digest.
        source: DigestError,
    },
}

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {input:?}: {reason}")]
pub struct DigestError {
    /// The digest as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A digest algorithm Berth accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// SHA-256: 64 hex characters. What images and layers are addressed by.
    Sha256,
    /// SHA-512: 128 hex characters.
    Sha512,
}

impl DigestAlgorithm {
    /// The name used in digest strings (`sha256`).
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }

    /// How many hex characters a digest of this algorithm has.
    pub fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 64,
            DigestAlgorithm::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<DigestAlgorithm> {
        match name {
            "sha256" => Some(DigestAlgorithm::Sha256),
            "sha512" => Some(DigestAlgorithm::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest, `algorithm:hex` (`sha256:e3b0c442...`).
///
/// The hex part is always lowercase and of the algorithm's exact length.
/// Ordering and hashing follow the string form, so digests can key maps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let err = |reason| DigestError {
            input: echo(s),
            reason,
        };
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| err("missing ':' between algorithm and hex"))?;
        let algorithm = match DigestAlgorithm::from_name(alg) {
            Some(a) => a,
            None if is_digest_algorithm_grammar(alg) => {
                return Err(err("unsupported digest algorithm"))
            }
            None => return Err(err("malformed digest algorithm")),
        };
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err("digest must be hexadecimal"));
        }
        if hex.len() != algorithm.hex_len() {
            return Err(err("wrong digest length for its algorithm"));
        }
        if hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err("digest hex must be lowercase"));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    /// The sha256 digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::digest(bytes).into())
    }

    /// A sha256 digest from the raw 32-byte hash (e.g. from a
    /// `sha2::Sha256` that data was streamed through).
    pub fn from_sha256(raw: [u8; 32]) -> Digest {
        Digest {
            algorithm: DigestAlgorithm::Sha256,
            hex: hex::encode(raw),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lowercase hex part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A parsed, normalized image reference.
///
/// `Display` gives the fully normalized form
/// (`docker.io/library/busybox:latest`); [`Reference::familiar`] gives the
/// short form `docker images` shows (`busybox:latest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalizes a reference as `docker pull` would take it.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let format = |reason| ReferenceError::InvalidFormat {
            input: echo(input),
            reason,
        };
        if input.is_empty() {
            return Err(format("empty reference"));
        }
        if input.len() == 64
            && input
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(ReferenceError::HexIdentifier { input: echo(input) });
        }

        // `@digest` comes last.
        let (named, digest) = match input.split_once('@') {
            Some((named, digest)) => {
                let digest =
                    Digest::parse(digest).map_err(|source| ReferenceError::InvalidDigest {
                        input: echo(input),
                        source,
                    })?;
                (named, Some(digest))
            }
            None => (input, None),
        };

        // `:tag` is a `:` after the last `/` (an earlier one is a port).
        let last_slash = named.rfind('/');
        let (name, tag) = match named.rfind(':') {
            Some(colon) if !matches!(last_slash, Some(slash) if slash > colon) => {
                (&named[..colon], Some(&named[colon + 1..]))
            }
            _ => (named, None),
        };
        if name.is_empty() {
            return Err(format("missing repository name"));
        }
        if let Some(tag) = tag {
            if let Err(reason) = check_tag(tag) {
                return Err(ReferenceError::InvalidTag {
                    input: echo(input),
                    tag: echo(tag),
                    reason,
                });
            }
        }

        let (registry, path) = split_registry(name);
        if !is_valid_registry(registry) {
            return Err(format("invalid registry host"));
        }
        if !is_valid_path(path) {
            if path.bytes().any(|b| b.is_ascii_uppercase())
                && is_valid_path(&path.to_ascii_lowercase())
            {
                return Err(ReferenceError::NotLowercase { input: echo(input) });
            }
            return Err(format("invalid repository name"));
        }

        let registry = if registry == LEGACY_DEFAULT_REGISTRY {
            DEFAULT_REGISTRY
        } else {
            registry
        };
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("{OFFICIAL_REPO_PREFIX}{path}")
        } else {
            path.to_string()
        };
        let len = registry.len() + 1 + repository.len();
        if len > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong {
                input: echo(input),
                len,
            });
        }

        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry: registry.to_string(),
            repository,
            tag,
            digest,
        })
    }

    /// The registry, with its port if any (`docker.io`, `localhost:5000`,
    /// `[::1]:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The normalized name without tag or digest
    /// (`docker.io/library/busybox`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The familiar name without tag or digest (`busybox`, `user/app`,
    /// `localhost:5000/app`).
    pub fn familiar_name(&self) -> String {
        if self.registry != DEFAULT_REGISTRY {
            return self.name();
        }
        match self.repository.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.repository.clone(),
        }
    }

    /// The tag: the one given, or `latest` when neither tag nor digest was
    /// given; `None` for a digest-only reference.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The short form `docker images` shows: the `docker.io/` registry and
    /// the `library/` namespace of official images left out
    /// (`busybox:latest`, `user/app:1.0`, `localhost:5000/app:tag`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// The same reference with `tag` instead of its tag (its digest kept).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        check_tag(tag).map_err(|reason| ReferenceError::InvalidTag {
            input: echo(&format!("{}:{tag}", self.name())),
            tag: echo(tag),
            reason,
        })?;
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// The same repository pinned to `digest` only, without a tag (what a
    /// pull by tag resolves to).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// Whether the registry is reached over plain HTTP by default: it is
    /// `localhost`, in `127.0.0.0/8` or `::1`, with or without a port.
    pub fn is_insecure_by_default(&self) -> bool {
        let host = registry_hostname(&self.registry);
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
        }
        host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The host (and port) the registry client connects to: Docker Hub's
    /// API is served by `registry-1.docker.io`; other registries as named.
    pub fn registry_host_for_api(&self) -> &str {
        if self.registry == DEFAULT_REGISTRY {
            DEFAULT_REGISTRY_API_HOST
        } else {
            &self.registry
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How many characters of a refused input an error repeats.
const MAX_ECHO: usize = 256;

/// The input for an error message, cut to [`MAX_ECHO`] characters (on a
/// char boundary) so hostile inputs do not flood logs.
fn echo(input: &str) -> String {
    match input.char_indices().nth(MAX_ECHO) {
        Some((cut, _)) => format!("{}...", &input[..cut]),
        None => input.to_string(),
    }
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*`: the shape of any
/// digest algorithm name, supported or not.
fn is_digest_algorithm_grammar(alg: &str) -> bool {
    !alg.is_empty()
        && alg.split(['-', '_', '+', '.']).all(|part| {
            let mut bytes = part.bytes();
            bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
                && bytes.all(|b| b.is_ascii_alphanumeric())
        })
}

/// `[\w][\w.-]{0,127}` with `\w` = `[A-Za-z0-9_]`.
fn check_tag(tag: &str) -> Result<(), &'static str> {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    match bytes.first() {
        None => Err("tag is empty"),
        Some(_) if bytes.len() > TAG_LENGTH_MAX => Err("tag is longer than 128 characters"),
        Some(&first) if !is_word(first) => Err("tag must start with a letter, digit or '_'"),
        Some(_) if !bytes.iter().all(|&b| is_word(b) || b == b'.' || b == b'-') => {
            Err("tag may only contain letters, digits, '_', '.' and '-'")
        }
        Some(_) => Ok(()),
    }
}

/// Splits off the registry as Docker does: the first component is a
/// registry only if it has a `.` or a `:`, or is `localhost`.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (DEFAULT_REGISTRY, name),
    }
}

/// The registry without its port (`[::1]` keeps its brackets).
fn registry_hostname(registry: &str) -> &str {
    if registry.starts_with('[') {
        match registry.find(']') {
            Some(end) => &registry[..=end],
            None => registry,
        }
    } else {
        registry.split_once(':').map_or(registry, |(host, _)| host)
    }
}

/// `host(:port)?` where host is a domain name (components of
/// `[A-Za-z0-9]` and inner `-`, joined by `.`) or `[ipv6]` with
/// `[A-Fa-f0-9:]+` inside; the port is `[0-9]+`.
fn is_valid_registry(registry: &str) -> bool {
    let (host_ok, port) = if let Some(inner) = registry.strip_prefix('[') {
        match inner.split_once(']') {
            Some((addr, after)) => {
                let addr_ok =
                    !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
                let port = match after.strip_prefix(':') {
                    Some(port) => Some(port),
                    None if after.is_empty() => None,
                    None => return false,
                };
                (addr_ok, port)
            }
            None => return false,
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        };
        (host.split('.').all(is_valid_domain_component), port)
    };
    let port_ok = match port {
        Some(p) => !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()),
        None => true,
    };
    host_ok && port_ok
}

/// `[A-Za-z0-9]` or `[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]`.
fn is_valid_domain_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        }
        _ => false,
    }
}

/// One or more path components joined by `/`.
fn is_valid_path(path: &str) -> bool {
    path.split('/').all(is_valid_path_component)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`: lowercase alphanumeric runs
/// joined by one `.`, one or two `_`, or any number of `-`.
fn is_valid_path_component(component: &str) -> bool {
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) if is_alnum(first) && is_alnum(last) => {}
        _ => return false,
    }
    // Every maximal run of non-alphanumerics must be a valid separator;
    // the checks above guarantee each run sits between alphanumerics.
    bytes
        .split(|&b| is_alnum(b))
        .filter(|sep| !sep.is_empty())
        .all(|sep| matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&b| b == b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Kind {
        Format,
        Lowercase,
        TooLong,
        HexId,
        Tag,
        Digest,
    }

    fn kind(e: &ReferenceError) -> Kind {
        match e {
            ReferenceError::InvalidFormat { .. } => Kind::Format,
            ReferenceError::NotLowercase { .. } => Kind::Lowercase,
            ReferenceError::NameTooLong { .. } => Kind::TooLong,
            ReferenceError::HexIdentifier { .. } => Kind::HexId,
            ReferenceError::InvalidTag { .. } => Kind::Tag,
            ReferenceError::InvalidDigest { .. } => Kind::Digest,
        }
    }

    /// (input, normalized, familiar)
    fn valid_cases() -> Vec<(String, String, String)> {
        let d = format!("sha256:{HEX64}");
        let cases: Vec<(String, String, String)> = vec![
            (
                "busybox".into(),
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "busybox:1.36".into(),
                "docker.io/library/busybox:1.36".into(),
                "busybox:1.36".into(),
            ),
            (
                "library/busybox".into(),
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "docker.io/busybox".into(),
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "docker.io/library/busybox:latest".into(),
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "index.docker.io/busybox".into(),
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "index.docker.io/user/app:2".into(),
                "docker.io/user/app:2".into(),
                "user/app:2".into(),
            ),
            (
                "user/app".into(),
                "docker.io/user/app:latest".into(),
                "user/app:latest".into(),
            ),
            (
                "user/app:1.0".into(),
                "docker.io/user/app:1.0".into(),
                "user/app:1.0".into(),
            ),
            (
                "docker.io/library/a/b".into(),
                "docker.io/library/a/b:latest".into(),
                "library/a/b:latest".into(),
            ),
            // registry-1.docker.io is an ordinary registry name, not an alias.
            (
                "registry-1.docker.io/library/x".into(),
                "registry-1.docker.io/library/x:latest".into(),
                "registry-1.docker.io/library/x:latest".into(),
            ),
            (
                "localhost/app".into(),
                "localhost/app:latest".into(),
                "localhost/app:latest".into(),
            ),
            (
                "localhost:5000/app".into(),
                "localhost:5000/app:latest".into(),
                "localhost:5000/app:latest".into(),
            ),
            (
                "localhost:5000/app:tag".into(),
                "localhost:5000/app:tag".into(),
                "localhost:5000/app:tag".into(),
            ),
            (
                "127.0.0.1:5000/x/y".into(),
                "127.0.0.1:5000/x/y:latest".into(),
                "127.0.0.1:5000/x/y:latest".into(),
            ),
            (
                "[::1]:5000/app".into(),
                "[::1]:5000/app:latest".into(),
                "[::1]:5000/app:latest".into(),
            ),
            (
                "[fe80::1]/app:v2".into(),
                "[fe80::1]/app:v2".into(),
                "[fe80::1]/app:v2".into(),
            ),
            (
                "registry.example.com/a/b".into(),
                "registry.example.com/a/b:latest".into(),
                "registry.example.com/a/b:latest".into(),
            ),
            (
                "Registry.Example.com/a".into(),
                "Registry.Example.com/a:latest".into(),
                "Registry.Example.com/a:latest".into(),
            ),
            (
                "quay.io/coreos/etcd:v3.5.0".into(),
                "quay.io/coreos/etcd:v3.5.0".into(),
                "quay.io/coreos/etcd:v3.5.0".into(),
            ),
            // "localhost:5000" without a path is the image `localhost`, tag 5000.
            (
                "localhost:5000".into(),
                "docker.io/library/localhost:5000".into(),
                "localhost:5000".into(),
            ),
            // A first component without '.', ':' or being localhost is a path.
            (
                "myhost/app".into(),
                "docker.io/myhost/app:latest".into(),
                "myhost/app:latest".into(),
            ),
            (
                "x/a_b__c.d---e".into(),
                "docker.io/x/a_b__c.d---e:latest".into(),
                "x/a_b__c.d---e:latest".into(),
            ),
            (
                "app:V1.0_RC-1".into(),
                "docker.io/library/app:V1.0_RC-1".into(),
                "app:V1.0_RC-1".into(),
            ),
            (
                "app:_x".into(),
                "docker.io/library/app:_x".into(),
                "app:_x".into(),
            ),
            (
                format!("busybox@{d}"),
                format!("docker.io/library/busybox@{d}"),
                format!("busybox@{d}"),
            ),
            (
                format!("user/app:1.0@{d}"),
                format!("docker.io/user/app:1.0@{d}"),
                format!("user/app:1.0@{d}"),
            ),
            (
                format!("localhost:5000/app:v1@{d}"),
                format!("localhost:5000/app:v1@{d}"),
                format!("localhost:5000/app:v1@{d}"),
            ),
            (
                format!("app@sha512:{HEX64}{HEX64}"),
                format!("docker.io/library/app@sha512:{HEX64}{HEX64}"),
                format!("app@sha512:{HEX64}{HEX64}"),
            ),
            (
                format!("app:{}", "t".repeat(128)),
                format!("docker.io/library/app:{}", "t".repeat(128)),
                format!("app:{}", "t".repeat(128)),
            ),
            // 255 characters exactly: "docker.io/" (10) + "u/" (2) + 243.
            (
                format!("u/{}", "a".repeat(243)),
                format!("docker.io/u/{}:latest", "a".repeat(243)),
                format!("u/{}:latest", "a".repeat(243)),
            ),
            // A 63-hex name is an ordinary name.
            (
                HEX64[..63].to_string(),
                format!("docker.io/library/{}:latest", &HEX64[..63]),
                format!("{}:latest", &HEX64[..63]),
            ),
        ];
        cases
    }

    fn invalid_cases() -> Vec<(String, Kind)> {
        vec![
            ("".into(), Kind::Format),
            ("Busybox".into(), Kind::Lowercase),
            ("user/App:1.0".into(), Kind::Lowercase),
            ("localhost:5000/MyApp".into(), Kind::Lowercase),
            (":tag".into(), Kind::Format),
            ("name:".into(), Kind::Tag),
            ("name:-bad".into(), Kind::Tag),
            ("name:a+b".into(), Kind::Tag),
            (format!("name:{}", "t".repeat(129)), Kind::Tag),
            ("a//b".into(), Kind::Format),
            ("/a".into(), Kind::Format),
            ("a/".into(), Kind::Format),
            ("a/b/".into(), Kind::Format),
            ("-app".into(), Kind::Format),
            ("app-".into(), Kind::Format),
            ("a..b".into(), Kind::Format),
            ("a___b".into(), Kind::Format),
            ("a._b".into(), Kind::Format),
            ("a:b:c".into(), Kind::Format),
            (" busybox".into(), Kind::Format),
            ("busybox ".into(), Kind::Format),
            ("name@sha256:short".into(), Kind::Digest),
            (
                format!("name@sha256:{}", HEX64.to_uppercase()),
                Kind::Digest,
            ),
            (format!("name@sha256:{HEX64}0"), Kind::Digest),
            (format!("name@md5:{HEX64}"), Kind::Digest),
            (format!("name@sha256:{HEX64}@sha256:{HEX64}"), Kind::Digest),
            ("name@".into(), Kind::Digest),
            (format!("@sha256:{HEX64}"), Kind::Format),
            (format!("u/{}", "a".repeat(244)), Kind::TooLong),
            (
                format!("{}.com/{}", "r".repeat(200), "a".repeat(100)),
                Kind::TooLong,
            ),
            ("x".repeat(100_000), Kind::TooLong),
            (HEX64.into(), Kind::HexId),
            ("bücher".into(), Kind::Format),
            ("résumé/app:1".into(), Kind::Format),
            ("app:tåg".into(), Kind::Tag),
            ("日本/app".into(), Kind::Format),
            ("-bad.com/app".into(), Kind::Format),
            // '.' makes the first component a registry, where '_' is invalid.
            ("a_b.c/app".into(), Kind::Format),
            ("bad-.com/app".into(), Kind::Format),
            ("host:/app".into(), Kind::Format),
            ("host:5x/app".into(), Kind::Format),
            ("[::1/app".into(), Kind::Format),
            ("[]:5000/app".into(), Kind::Format),
            ("[::1]x/app".into(), Kind::Format),
            ("[g::1]/app".into(), Kind::Format),
        ]
    }

    #[test]
    fn valid_references_normalize() {
        for (input, normalized, familiar) in valid_cases() {
            let r = Reference::parse(&input)
                .unwrap_or_else(|e| panic!("{input:?} should parse, got {e}"));
            assert_eq!(r.to_string(), normalized, "normalized form of {input:?}");
            assert_eq!(r.familiar(), familiar, "familiar form of {input:?}");
            // Both forms parse back to the same reference.
            assert_eq!(
                Reference::parse(&normalized).as_ref(),
                Ok(&r),
                "{normalized:?}"
            );
            assert_eq!(Reference::parse(&familiar).as_ref(), Ok(&r), "{familiar:?}");
        }
    }

    #[test]
    fn invalid_references_are_refused() {
        for (input, expected) in invalid_cases() {
            match Reference::parse(&input) {
                Ok(r) => panic!("{input:?} should be refused, parsed as {r}"),
                Err(e) => {
                    assert_eq!(kind(&e), expected, "{input:?}: {e}");
                    let msg = e.to_string();
                    assert!(!msg.is_empty());
                }
            }
        }
    }

    #[test]
    fn error_messages_say_what_and_which() {
        let e = Reference::parse("Busybox").unwrap_err();
        assert!(e.to_string().contains("repository name must be lowercase"));
        assert!(e.to_string().contains("Busybox"));
        let e = Reference::parse("a//b").unwrap_err();
        assert!(e.to_string().contains("invalid reference format"));
        assert!(e.to_string().contains("a//b"));
        let e = Reference::parse("app:-x").unwrap_err();
        assert!(e.to_string().contains("invalid tag"));
        assert!(e.to_string().contains("-x"));
        let long = format!("{}é", "A".repeat(300));
        let e = Reference::parse(&long).unwrap_err();
        assert!(e.to_string().len() < 400, "{e}");
        let e = Reference::parse("app@sha256:abc").unwrap_err();
        assert!(e.to_string().contains("invalid digest"));
        assert!(e.to_string().contains("app@sha256:abc"));
    }

    #[test]
    fn accessors() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/busybox");
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.digest(), None);
        assert_eq!(r.registry_host_for_api(), "registry-1.docker.io");
        assert!(!r.is_insecure_by_default());

        let d = format!("sha256:{HEX64}");
        let r = Reference::parse(&format!("localhost:5000/app@{d}")).unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "app");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().map(|d| d.to_string()), Some(d.clone()));
        assert_eq!(r.registry_host_for_api(), "localhost:5000");

        let t = r.with_tag("v1").unwrap();
        assert_eq!(t.to_string(), format!("localhost:5000/app:v1@{d}"));
        assert!(r.with_tag("-no").is_err());
        let p = Reference::parse("user/app:1")
            .unwrap()
            .with_digest(Digest::of_bytes(b""));
        assert_eq!(p.to_string(), format!("docker.io/user/app@{d}"));
        assert_eq!(
            "user/app".parse::<Reference>().unwrap().familiar(),
            "user/app:latest"
        );
    }

    #[test]
    fn insecure_by_default() {
        for (input, insecure) in [
            ("localhost/app", true),
            ("localhost:5000/app", true),
            ("127.0.0.1/app", true),
            ("127.0.0.1:5000/app", true),
            ("127.255.3.4:80/app", true),
            ("[::1]/app", true),
            ("[::1]:5000/app", true),
            ("[0:0:0:0:0:0:0:1]:5000/app", true),
            ("busybox", false),
            ("128.0.0.1:5000/app", false),
            ("10.0.0.1:5000/app", false),
            ("[::2]:5000/app", false),
            ("localhost.example.com/app", false),
            ("registry.example.com:5000/app", false),
            ("127.0.0.1.nip.io/app", false),
        ] {
            let r = Reference::parse(input).unwrap();
            assert_eq!(r.is_insecure_by_default(), insecure, "{input}");
        }
    }

    #[test]
    fn digest_round_trips() {
        let d = Digest::of_bytes(b"");
        assert_eq!(d.to_string(), format!("sha256:{HEX64}"));
        assert_eq!(d.algorithm(), DigestAlgorithm::Sha256);
        assert_eq!(d.hex(), HEX64);
        assert_eq!(Digest::parse(&d.to_string()), Ok(d.clone()));
        assert_eq!(
            Digest::of_bytes(b"abc").to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let raw: [u8; 32] = Sha256::digest(b"abc").into();
        assert_eq!(Digest::from_sha256(raw), Digest::of_bytes(b"abc"));

        let s512 = format!("sha512:{HEX64}{HEX64}");
        let d512: Digest = s512.parse().unwrap();
        assert_eq!(d512.algorithm(), DigestAlgorithm::Sha512);
        assert_eq!(d512.to_string(), s512);

        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"sha256:{HEX64}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());

        let r = Reference::parse("user/app:1").unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"docker.io/user/app:1\"");
        assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
    }

    #[test]
    fn invalid_digests() {
        for s in [
            "",
            ":",
            "sha256",
            "sha256:",
            HEX64,
            &format!("sha256:{}", &HEX64[..63]),
            &format!("sha256:{HEX64}00"),
            &format!("sha256:{}", HEX64.to_uppercase()),
            &format!("sha256:{}g", &HEX64[..63]),
            &format!("SHA256:{HEX64}"),
            &format!("sha512:{HEX64}"),
            &format!("md5:{HEX64}"),
            &format!("1sha:{HEX64}"),
            &format!("sha256:{HEX64}:"),
            &format!("sha256: {}", &HEX64[..63]),
            "sha256:ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé",
        ] {
            let e = Digest::parse(s).unwrap_err();
            assert!(e.to_string().starts_with("invalid digest"), "{s:?}: {e}");
        }
    }

    /// A small deterministic xorshift generator: no extra crates.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        const PIECES: &[&str] = &[
            "a",
            "z",
            "0",
            "9",
            "A",
            "Z",
            "_",
            "__",
            "___",
            ".",
            "..",
            "-",
            "--",
            "/",
            "//",
            ":",
            "::",
            "@",
            "@@",
            "[",
            "]",
            "[::1]",
            "localhost",
            "docker.io",
            "index.docker.io",
            "library",
            "sha256:",
            "sha512:",
            HEX64,
            "latest",
            ":5000",
            "é",
            "日本",
            "\u{0}",
            "\u{10ffff}",
            " ",
            "\n",
            "\t",
            "%",
            "+",
            "\u{200b}",
            "ß",
            "İ",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut ok = 0usize;
        for i in 0..40_000 {
            let mut s = String::new();
            let pieces = rng.below(12);
            for _ in 0..pieces {
                if i % 3 == 0 {
                    // Arbitrary chars, including multibyte and control ones.
                    let c = char::from_u32(rng.next() as u32 % 0x11_0000).unwrap_or('\u{fffd}');
                    let c = if rng.below(2) == 0 {
                        char::from(b' ' + (rng.below(95) as u8))
                    } else {
                        c
                    };
                    s.push(c);
                } else {
                    s.push_str(PIECES[rng.below(PIECES.len())]);
                }
            }
            if let Ok(r) = Reference::parse(&s) {
                ok += 1;
                // Whatever parses normalizes to a fixed point.
                let normalized = r.to_string();
                assert_eq!(Reference::parse(&normalized).as_ref(), Ok(&r), "{s:?}");
                assert_eq!(Reference::parse(&r.familiar()).as_ref(), Ok(&r), "{s:?}");
                let _ = r.is_insecure_by_default();
                let _ = r.registry_host_for_api();
            }
            let _ = Digest::parse(&s);
        }
        assert!(
            ok > 100,
            "the generator should hit some valid references ({ok})"
        );
    }
}
