//! The store's own digest type: `sha256:` followed by exactly 64 lowercase
//! hex digits, nothing else. The strict check is what keeps a crafted digest
//! (`sha256:../../etc/passwd`, `md5:...`, uppercase hex) from ever becoming a
//! path under the store root.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::reference::{Digest, DigestAlgorithm};

use super::StoreError;

/// The only algorithm the store accepts.
pub const ALGORITHM: &str = "sha256";

const PREFIX: &str = "sha256:";
/// How much of a rejected digest string an error message repeats.
const MAX_ECHO: usize = 100;

/// A validated `sha256:<64 lowercase hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobDigest(String);

impl BlobDigest {
    /// Checks `s` strictly: a valid digest (see [`crate::reference::Digest`])
    /// whose algorithm is sha256, the only one this store lays out.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        let invalid = |reason: &'static str| StoreError::InvalidDigest {
            digest: echo(s),
            reason,
        };
        let digest =
            Digest::parse(s).map_err(|_| invalid("not a digest: sha256:<64 lowercase hex>"))?;
        if digest.algorithm() != DigestAlgorithm::Sha256 {
            return Err(invalid("only sha256:<hex> digests are supported"));
        }
        Ok(BlobDigest(digest.to_string()))
    }

    /// The digest of `data`.
    pub fn of_bytes(data: &[u8]) -> Self {
        BlobDigest(Digest::of_bytes(data).to_string())
    }

    /// The digest a finished hasher holds.
    pub(crate) fn from_hasher(hasher: Sha256) -> Self {
        BlobDigest(Digest::from_sha256(hasher.finalize().into()).to_string())
    }

    /// The whole digest, `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm, always `sha256`.
    pub fn algorithm(&self) -> &'static str {
        ALGORITHM
    }

    /// The 64 hex digits after `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }
}

/// Repeats at most [`MAX_ECHO`] characters of a rejected string, so a hostile
/// multi-megabyte "digest" does not end up in logs whole.
fn echo(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHO) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_owned(),
    }
}

impl fmt::Display for BlobDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for BlobDigest {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for BlobDigest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<BlobDigest> for String {
    fn from(d: BlobDigest) -> String {
        d.0
    }
}

impl From<BlobDigest> for Digest {
    fn from(d: BlobDigest) -> Digest {
        // A BlobDigest was validated by Digest::parse when it was made.
        Digest::parse(d.as_str())
            .unwrap_or_else(|_| unreachable!("BlobDigest is always a valid digest"))
    }
}

impl TryFrom<&Digest> for BlobDigest {
    type Error = StoreError;

    fn try_from(d: &Digest) -> Result<Self, StoreError> {
        BlobDigest::parse(&d.to_string())
    }
}
