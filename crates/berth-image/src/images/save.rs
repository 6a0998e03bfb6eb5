//! `save`: images out of the store, as a docker-archive tar (what `docker
//! save` writes) or an OCI image layout.

use std::io::Write;
use std::path::Path;

use super::{ImageError, Images};
use crate::archive::{save_docker_archive, save_oci_layout, SaveImage, SaveLayer};
use crate::reference::Reference;

impl Images {
    /// What to write for each name: a tag saves that tag; an id saves the
    /// image with all its tags.
    fn save_requests(&self, names: &[String]) -> Result<Vec<SaveImage>, ImageError> {
        let mut out = Vec::new();
        for name in names {
            let image = self.resolve(name)?;
            let tags = match Reference::parse(name) {
                Ok(r)
                    if self.metadata().resolve_tag(&r.to_string())?.as_deref()
                        == Some(&image.id) =>
                {
                    vec![r.to_string()]
                }
                _ => self.metadata().tags_of(&image.id)?,
            };
            out.push(SaveImage {
                manifest_digest: image.manifest_digest.clone(),
                config_digest: image.id.clone(),
                layers: image
                    .layers
                    .iter()
                    .map(|l| SaveLayer {
                        blob: l.blob.clone(),
                        diff_id: l.diff_id.clone(),
                    })
                    .collect(),
                tags,
            });
        }
        Ok(out)
    }

    /// Writes the named images as one docker-archive tar.
    pub fn save(&self, names: &[String], out: impl Write) -> Result<(), ImageError> {
        let requests = self.save_requests(names)?;
        save_docker_archive(self.blobs(), &requests, out)?;
        Ok(())
    }

    /// Writes the named images as an OCI image layout in `dir` (new or
    /// empty).
    pub fn save_oci(&self, names: &[String], dir: &Path) -> Result<(), ImageError> {
        let requests = self.save_requests(names)?;
        save_oci_layout(self.blobs(), &requests, dir)?;
        Ok(())
    }
}
