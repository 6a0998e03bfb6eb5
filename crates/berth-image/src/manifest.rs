//! Manifests as registries serve them: single-platform image manifests
//! (OCI and Docker schema 2) and multi-platform indexes (OCI image index,
//! Docker manifest list), and choosing the platform to pull from an index.

use serde::{Deserialize, Serialize};

use crate::archive::{
    Descriptor, ImageManifest, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST,
};

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest {digest}: invalid JSON: {source}")]
    Json {
        digest: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("manifest {digest}: unsupported media type {media_type:?} (schema 1 and artifacts are not images Berth can run)")]
    Unsupported { digest: String, media_type: String },
    #[error(
        "no matching manifest for {wanted} in the manifest list entries (available: {available})"
    )]
    NoMatchingPlatform { wanted: String, available: String },
    #[error("invalid platform {0:?} (expected os/arch[/variant], e.g. linux/amd64)")]
    InvalidPlatform(String),
}

/// An OCI image index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageIndex {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// A manifest, parsed by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

/// Parses a manifest, using the `Content-Type` the registry sent and the
/// document's own `mediaType` (OCI manifests may omit it).
pub fn parse(bytes: &[u8], content_type: &str, digest: &str) -> Result<Manifest, ManifestError> {
    let json_err = |source| ManifestError::Json {
        digest: digest.to_string(),
        source,
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(json_err)?;
    let declared = value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or(content_type)
        .to_string();
    let kind = if declared.is_empty() {
        // No type anywhere: an OCI document; tell index from manifest.
        if value.get("manifests").is_some() {
            MEDIA_TYPE_OCI_INDEX
        } else {
            MEDIA_TYPE_OCI_MANIFEST
        }
    } else {
        declared.as_str()
    };
    match kind {
        MEDIA_TYPE_OCI_INDEX | MEDIA_TYPE_DOCKER_MANIFEST_LIST => Ok(Manifest::Index(
            serde_json::from_value(value).map_err(json_err)?,
        )),
        MEDIA_TYPE_OCI_MANIFEST | MEDIA_TYPE_DOCKER_MANIFEST => Ok(Manifest::Image(
            serde_json::from_value(value).map_err(json_err)?,
        )),
        other => Err(ManifestError::Unsupported {
            digest: digest.to_string(),
            media_type: other.to_string(),
        }),
    }
}

/// A platform: `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on, in OCI (Go) names.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]` (`--platform`).
    pub fn parse(s: &str) -> Result<Platform, ManifestError> {
        let parts: Vec<&str> = s.split('/').collect();
        let valid =
            |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid) {
            return Err(ManifestError::InvalidPlatform(s.to_string()));
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: parts[1].to_ascii_lowercase(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }

    fn of_descriptor(desc: &Descriptor) -> Option<Platform> {
        let p = desc.platform.as_ref()?;
        Some(Platform {
            os: p.get("os")?.as_str()?.to_string(),
            architecture: p.get("architecture")?.as_str()?.to_string(),
            variant: p
                .get("variant")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        })
    }

    /// Whether an index entry's platform satisfies this one: same os and
    /// architecture, and the same variant when one is asked for.
    fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Chooses the manifest for `wanted` from an index: the first entry whose
/// platform matches (attestation manifests, which have platform
/// `unknown/unknown`, never do).
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    wanted: &Platform,
) -> Result<&'a Descriptor, ManifestError> {
    index
        .manifests
        .iter()
        .find(|d| Platform::of_descriptor(d).is_some_and(|p| wanted.matches(&p)))
        .ok_or_else(|| ManifestError::NoMatchingPlatform {
            wanted: wanted.to_string(),
            available: index
                .manifests
                .iter()
                .filter_map(Platform::of_descriptor)
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(platform: serde_json::Value, n: u8) -> Descriptor {
        Descriptor {
            media_type: MEDIA_TYPE_OCI_MANIFEST.into(),
            digest: format!("sha256:{}", hex::encode([n; 32])),
            size: 1,
            platform: Some(platform),
            annotations: None,
        }
    }

    #[test]
    fn platform_selection() {
        let index = ImageIndex {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_INDEX.into()),
            manifests: vec![
                entry(
                    serde_json::json!({"os":"unknown","architecture":"unknown"}),
                    1,
                ),
                entry(
                    serde_json::json!({"os":"linux","architecture":"arm","variant":"v7"}),
                    2,
                ),
                entry(
                    serde_json::json!({"os":"linux","architecture":"arm64","variant":"v8"}),
                    3,
                ),
                entry(serde_json::json!({"os":"linux","architecture":"amd64"}), 4),
            ],
        };
        let pick = |s: &str| {
            select_platform(&index, &Platform::parse(s).unwrap()).map(|d| d.digest.clone())
        };
        assert!(pick("linux/amd64")
            .unwrap()
            .ends_with(&hex::encode([4u8; 32])));
        assert!(pick("linux/arm64")
            .unwrap()
            .ends_with(&hex::encode([3u8; 32])));
        assert!(pick("linux/arm/v7")
            .unwrap()
            .ends_with(&hex::encode([2u8; 32])));
        let err = pick("linux/s390x").unwrap_err().to_string();
        assert!(
            err.contains("linux/s390x") && err.contains("linux/arm64/v8"),
            "{err}"
        );
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/amd64/v1/x").is_err());
        assert!(Platform::parse("../x").is_err());
        assert_eq!(Platform::host().to_string(), "linux/amd64");
    }

    #[test]
    fn parse_by_media_type() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[]}"#;
        assert!(matches!(parse(m, "", "d"), Ok(Manifest::Image(_))));
        let i = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(parse(i, "", "d"), Ok(Manifest::Index(_))));
        let v1 = br#"{"schemaVersion":1}"#;
        assert!(matches!(
            parse(
                v1,
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
                "d"
            ),
            Err(ManifestError::Unsupported { .. })
        ));
        assert!(parse(b"{", "", "d").is_err());
    }
}
