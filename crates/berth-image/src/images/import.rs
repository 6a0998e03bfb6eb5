//! `import`: an image of one layer from a root filesystem tar (plain,
//! gzip or zstd), as `docker import` makes.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::{now, ImageError, Images};
use crate::archive::{Descriptor, MEDIA_TYPE_OCI_LAYER_TAR};
use crate::manifest::Platform;
use crate::metadata::{ImageLayer, ImageRecord};
use crate::reference::Reference;
use crate::unpack::detect_compression;

impl Images {
    /// Makes an image from a rootfs tar. `config` is the image's run
    /// config (`Cmd`, `Env`, ... as `docker import --change` sets them);
    /// `tag` names it.
    pub fn import(
        &self,
        tar: impl Read,
        tag: Option<&Reference>,
        config: Option<Value>,
        comment: &str,
    ) -> Result<ImageRecord, ImageError> {
        self.import_unmapped(tar, tag, config, comment)
            .map_err(|e| e.or_disk_full(self.root()))
    }

    fn import_unmapped(
        &self,
        tar: impl Read,
        tag: Option<&Reference>,
        config: Option<Value>,
        comment: &str,
    ) -> Result<ImageRecord, ImageError> {
        let (spool, diff_id, size) = self.spool_uncompressed(tar)?;
        let mut blob = spool;
        let mut writer = self.blobs().writer(&diff_id, Some(size))?;
        io::copy(&mut blob, &mut writer).map_err(|e| self.import_error(e))?;
        writer.commit()?;
        let layer = ImageLayer {
            diff_id: diff_id.clone(),
            blob: descriptor(MEDIA_TYPE_OCI_LAYER_TAR, &diff_id, size),
        };
        let layer_size = self.unpack_from_store(&layer)?;

        let created = format_rfc3339(now());
        let platform = Platform::host();
        let image_config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "created": created,
            "config": config.unwrap_or_else(|| json!({})),
            "rootfs": { "type": "layers", "diff_ids": [diff_id] },
            "history": [{ "created": created, "comment": comment }],
        });
        let tags: Vec<String> = tag.map(|t| vec![t.to_string()]).unwrap_or_default();
        let sizes = BTreeMap::from([(diff_id, layer_size)]);
        self.store_new_image(&image_config, vec![layer], &tags, &sizes)
    }

    /// Decompresses the input into a private file under the store's ingest
    /// directory (removed on drop or at the next open), hashing it: the
    /// layer blob is the uncompressed tar, whose digest is its DiffID.
    pub(super) fn spool_uncompressed(
        &self,
        tar: impl Read,
    ) -> Result<(File, String, u64), ImageError> {
        let mut input = BufReader::new(tar);
        let head = io::BufRead::fill_buf(&mut input).map_err(|e| self.import_error(e))?;
        let decoder = detect_compression(None, head)
            .decoder(input)
            .map_err(|e| self.import_error(e))?;
        let path =
            self.root()
                .join("ingest")
                .join(format!("import-{}-{}", std::process::id(), now()));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| self.import_error(e))?;
        // Unlinked at once: the open file is all we need.
        let _ = fs::remove_file(&path);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut reader = decoder;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf).map_err(|e| self.import_error(e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .map_err(|e| self.import_error(e))?;
            size += n as u64;
        }
        file.rewind().map_err(|e| self.import_error(e))?;
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        Ok((file, digest, size))
    }

    fn import_error(&self, e: io::Error) -> ImageError {
        ImageError::Unpack {
            layer: "(import)".into(),
            source: crate::unpack::UnpackError::Stream {
                after: None,
                source: e,
            },
        }
    }
}

pub(super) fn descriptor(media_type: &str, digest: &str, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size,
        platform: None,
        annotations: None,
    }
}

/// RFC 3339 (UTC, seconds) of unix seconds.
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::inspect::parse_rfc3339;

    #[test]
    fn rfc3339_roundtrip() {
        for secs in [0, 1_714_564_800, 951_782_400, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&format_rfc3339(secs)), secs);
        }
        assert_eq!(format_rfc3339(1_714_564_800), "2024-05-01T12:00:00Z");
    }
}
