//! `rmi`: untag, then delete the image once nothing names it, as Docker
//! does:
//!
//! - by tag: the tag goes; the image goes with its last tag, unless a
//!   container uses it (a conflict, or with force an untag only, leaving
//!   the image for the container);
//! - by id: every tag goes with the image, but an image with several tags
//!   needs force, and an image a container uses is never deleted (with
//!   force, only its tags go).
//!
//! Deleting commits the metadata first, then removes the snapshots whose
//! last reference went and the blobs no other image needs.

use std::collections::BTreeSet;

use super::{blobs_of, short_id, ImageError, Images};
use crate::metadata::ImageRecord;
use crate::reference::Reference;

/// One line of `docker rmi` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveAction {
    /// `Untagged: busybox:latest` (familiar form).
    Untagged(String),
    /// `Deleted: sha256:...`.
    Deleted(String),
}

impl Images {
    /// Removes the image (or tag) `name` names.
    pub fn remove(&self, name: &str, force: bool) -> Result<Vec<RemoveAction>, ImageError> {
        let image = self.resolve(name)?;
        let tag = self.tag_named_by(name, &image)?;
        let tags = self.metadata().tags_of(&image.id)?;
        let users = self.metadata().containers_using(&image.id)?;
        match tag {
            Some(tag) => self.remove_by_tag(name, &image, &tag, tags.len(), &users, force),
            None => self.remove_by_id(&image, &tags, &users, force),
        }
    }

    /// The normalized tag `name` denotes, if it named the image by tag.
    fn tag_named_by(&self, name: &str, image: &ImageRecord) -> Result<Option<String>, ImageError> {
        let Ok(reference) = Reference::parse(name) else {
            return Ok(None);
        };
        let normalized = reference.to_string();
        Ok(
            (self.metadata().resolve_tag(&normalized)?.as_deref() == Some(&image.id))
                .then_some(normalized),
        )
    }

    fn remove_by_tag(
        &self,
        name: &str,
        image: &ImageRecord,
        tag: &str,
        tag_count: usize,
        users: &[String],
        force: bool,
    ) -> Result<Vec<RemoveAction>, ImageError> {
        let untagged = RemoveAction::Untagged(familiar(tag));
        if tag_count > 1 {
            self.metadata().untag(tag)?;
            return Ok(vec![untagged]);
        }
        if let Some(container) = users.first() {
            if !force {
                return Err(ImageError::Conflict(format!(
                    "unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                    short_id(container),
                    short_id(&image.id)
                )));
            }
            self.metadata().untag(tag)?;
            return Ok(vec![untagged]);
        }
        self.delete_image(image)
    }

    fn remove_by_id(
        &self,
        image: &ImageRecord,
        tags: &[String],
        users: &[String],
        force: bool,
    ) -> Result<Vec<RemoveAction>, ImageError> {
        let id = short_id(&image.id);
        if tags.len() > 1 && !force {
            return Err(ImageError::Conflict(format!(
                "unable to delete {id} (must be forced) - image is referenced in multiple repositories"
            )));
        }
        if let Some(container) = users.first() {
            if !force {
                return Err(ImageError::Conflict(format!(
                    "unable to delete {id} (must be forced) - image is being used by stopped container {}",
                    short_id(container)
                )));
            }
            let mut actions = Vec::new();
            for tag in tags {
                self.metadata().untag(tag)?;
                actions.push(RemoveAction::Untagged(familiar(tag)));
            }
            return Ok(actions);
        }
        self.delete_image(image)
    }

    /// Deletes an image record (and its tags), then the files only it used.
    fn delete_image(&self, image: &ImageRecord) -> Result<Vec<RemoveAction>, ImageError> {
        let released = self.metadata().remove_image(&image.id)?;
        let mut actions: Vec<RemoveAction> = released
            .untagged
            .iter()
            .map(|t| RemoveAction::Untagged(familiar(t)))
            .collect();
        actions.extend(
            image
                .repo_digests
                .iter()
                .map(|d| RemoveAction::Untagged(familiar(d))),
        );
        for diff_id in &released.layers {
            self.snapshots.remove(diff_id)?;
        }
        let still_needed = self.referenced_blobs()?;
        let mine: BTreeSet<String> = blobs_of(image).into_iter().collect();
        for blob in mine.difference(&still_needed) {
            self.blobs().delete(blob)?;
        }
        actions.push(RemoveAction::Deleted(image.id.clone()));
        Ok(actions)
    }
}

/// `docker.io/library/busybox:latest` -> `busybox:latest`.
fn familiar(reference: &str) -> String {
    Reference::parse(reference).map_or_else(|_| reference.to_string(), |r| r.familiar())
}
