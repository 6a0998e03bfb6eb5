//! What `docker image inspect` and `docker history` show, built from the
//! stored config and records, in the Docker Engine API's shapes.

use serde_json::{json, Value};

use super::{ImageError, Images};
use crate::metadata::ImageRecord;
use crate::reference::Reference;

/// One row of `docker history` (`GET /images/{name}/history`), newest
/// first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image id for the top row, `<missing>` for the steps below (as
    /// Docker shows for pulled images).
    pub id: String,
    /// Unix seconds (0 when the config gives no time).
    pub created: i64,
    pub created_by: String,
    /// Bytes the step's layer adds (0 for steps without a layer).
    pub size: u64,
    pub comment: String,
    /// Familiar tags, on the top row only.
    pub tags: Vec<String>,
}

impl Images {
    /// The image's history: the config's `history` entries, each non-empty
    /// one matched with its layer, newest first. A config without history
    /// gets one row per layer.
    pub fn history(&self, image: &ImageRecord) -> Result<Vec<HistoryEntry>, ImageError> {
        let config = self.config(&image.id)?;
        let mut sizes = Vec::new();
        for layer in &image.layers {
            sizes.push(self.metadata().layer(&layer.diff_id)?.map_or(0, |l| l.size));
        }
        let steps: Vec<Value> = match config["history"].as_array() {
            Some(h) if !h.is_empty() => h.clone(),
            _ => image.layers.iter().map(|_| json!({})).collect(),
        };
        let mut layer_sizes = sizes.into_iter();
        let mut rows: Vec<HistoryEntry> = steps
            .iter()
            .map(|step| {
                let empty = step["empty_layer"].as_bool().unwrap_or(false);
                HistoryEntry {
                    id: "<missing>".into(),
                    created: step["created"].as_str().map_or(0, parse_rfc3339),
                    created_by: step["created_by"].as_str().unwrap_or("").to_string(),
                    size: if empty {
                        0
                    } else {
                        layer_sizes.next().unwrap_or(0)
                    },
                    comment: step["comment"].as_str().unwrap_or("").to_string(),
                    tags: Vec::new(),
                }
            })
            .collect();
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top.id = image.id.clone();
            top.tags = self.familiar_tags(&image.id)?;
        }
        Ok(rows)
    }

    fn familiar_tags(&self, image_id: &str) -> Result<Vec<String>, ImageError> {
        Ok(self
            .metadata()
            .tags_of(image_id)?
            .iter()
            .map(|t| Reference::parse(t).map_or_else(|_| t.clone(), |r| r.familiar()))
            .collect())
    }

    /// `GET /images/{name}/json`: Docker's `ImageInspect` object.
    pub fn inspect(&self, image: &ImageRecord) -> Result<Value, ImageError> {
        let config = self.config(&image.id)?;
        let size = self.image_size(image)?;
        let repo_digests: Vec<String> = image
            .repo_digests
            .iter()
            .map(|d| familiar_digest(d))
            .collect();
        let lowers: Vec<String> = self
            .layer_paths(image)?
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        Ok(json!({
            "Id": image.id,
            "RepoTags": self.familiar_tags(&image.id)?,
            "RepoDigests": repo_digests,
            "Parent": "",
            "Comment": config["comment"].as_str().unwrap_or(""),
            "Created": config["created"].as_str().unwrap_or("0001-01-01T00:00:00Z"),
            "DockerVersion": config["docker_version"].as_str().unwrap_or(""),
            "Author": config["author"].as_str().unwrap_or(""),
            "Config": config.get("config").cloned().unwrap_or_else(|| json!({})),
            "Architecture": config["architecture"].as_str().unwrap_or(""),
            "Variant": config.get("variant").cloned().unwrap_or(Value::Null),
            "Os": config["os"].as_str().unwrap_or(""),
            "Size": size,
            "VirtualSize": size,
            "GraphDriver": {
                "Name": "overlay2",
                "Data": { "LowerDir": lowers.join(":") }
            },
            "RootFS": {
                "Type": "layers",
                "Layers": image.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()
            },
            "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
            "Descriptor": {
                "mediaType": image.manifest_media_type,
                "digest": image.manifest_digest,
                "size": self.blobs().size(&image.manifest_digest)?,
            }
        }))
    }
}

/// `docker.io/library/busybox@sha256:..` -> `busybox@sha256:..`.
fn familiar_digest(reference: &str) -> String {
    Reference::parse(reference).map_or_else(|_| reference.to_string(), |r| r.familiar())
}

/// Unix seconds of an RFC 3339 time (`2024-05-01T12:00:00.123Z`,
/// `...+02:00`); 0 if it does not parse.
pub fn parse_rfc3339(s: &str) -> i64 {
    let parse = || -> Option<i64> {
        let (date, rest) = s.split_once('T')?;
        let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
        let (y, m, day) = (d.next()??, d.next()??, d.next()??);
        let time_end = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
        let (time, zone) = rest.split_at(time_end);
        let time = time.split('.').next()?;
        let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
        let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
        let offset = match zone.chars().next() {
            Some(sign @ ('+' | '-')) => {
                let (oh, om) = zone[1..].split_once(':')?;
                let secs = oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60;
                if sign == '+' {
                    secs
                } else {
                    -secs
                }
            }
            _ => 0,
        };
        Some(days_from_civil(y, m, day) * 86400 + hh * 3600 + mm * 60 + ss - offset)
    };
    parse().unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00.123456789Z"),
            1_714_564_800
        );
        assert_eq!(parse_rfc3339("2024-05-01T14:00:00+02:00"), 1_714_564_800);
        assert_eq!(parse_rfc3339("garbage"), 0);
        assert_eq!(parse_rfc3339("2024-05-01T"), 0);
    }
}
