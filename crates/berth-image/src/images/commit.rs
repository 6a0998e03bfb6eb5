//! `commit`: a new image from a container's changes, as `docker commit`
//! makes: the parent image's layers plus the container's overlay upper
//! directory as one more layer.
//!
//! The upper directory is archived ([`write_upper_as_layer`]) through a
//! pipe into the same unlinked ingest file `import` spools to, hashing it
//! on the way; the layer is stored uncompressed (its digest is its DiffID),
//! then unpacked into its snapshot from the store and checked, exactly as a
//! loaded layer. The config, manifest and record follow, and one metadata
//! transaction records the image (and its tag): the same crash-safety order
//! as every other way an image is made.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

use serde_json::{json, Map, Value};

use super::import::{descriptor, format_rfc3339};
use super::{now, ImageError, Images};
use crate::archive::{
    write_upper_as_layer, ArchiveError, ImageManifest, MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_LAYER_TAR, MEDIA_TYPE_OCI_MANIFEST,
};
use crate::metadata::{ImageLayer, ImageRecord};
use crate::reference::Reference;

/// What `docker commit` sets on the new image.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// A Docker run config (`Cmd`, `Env`, `Labels`, ...), typically the
    /// container's, merged over the parent image's as Docker does: a field
    /// the given config leaves empty is taken from the parent, `Env`,
    /// `Labels`, `ExposedPorts` and `Volumes` are merged by key (the given
    /// one wins), the parent's `Cmd` is kept only when neither `Cmd` nor
    /// `Entrypoint` is given, and its `Entrypoint` unless `Entrypoint` is
    /// given (an empty list included).
    pub config: Option<Value>,
    /// The commit message (`-m`): the config's `comment` and the new
    /// history entry's.
    pub comment: String,
    /// The author (`-a`).
    pub author: String,
    /// The tag to point at the new image.
    pub tag: Option<Reference>,
    /// The new history entry's `created_by`.
    pub created_by: String,
}

impl Images {
    /// Makes a new image from `parent` and a container's overlay upper
    /// directory `upper`: the parent's layers plus the upper directory as
    /// one new, uncompressed layer (unpacked into its snapshot and checked
    /// against its DiffID); the config is the parent's with
    /// [`CommitOptions::config`] merged in, `rootfs.diff_ids` extended, a
    /// history entry appended and `created` now. Tagged with
    /// [`CommitOptions::tag`] if given.
    ///
    /// The caller keeps `upper` still meanwhile (Docker pauses the
    /// container); the walk is safe against a changing directory
    /// ([`crate::archive::diff`]) but the layer would be a torn snapshot.
    ///
    /// (Named so because [`Images`] already has a private `commit`, the
    /// final metadata step every image-making operation shares.)
    pub fn commit_container(
        &self,
        parent: &ImageRecord,
        upper: &Path,
        opts: &CommitOptions,
    ) -> Result<ImageRecord, ImageError> {
        self.commit_container_unmapped(parent, upper, opts)
            .map_err(|e| e.or_disk_full(self.root()))
    }

    fn commit_container_unmapped(
        &self,
        parent: &ImageRecord,
        upper: &Path,
        opts: &CommitOptions,
    ) -> Result<ImageRecord, ImageError> {
        let (mut spool, diff_id, size) = self.spool_upper(upper)?;
        if !self.blobs().contains(&diff_id)? {
            let mut blob = self.blobs().writer(&diff_id, Some(size))?;
            io::copy(&mut spool, &mut blob).map_err(|e| spool_error(upper, e))?;
            blob.commit()?;
        }
        drop(spool);
        let layer = ImageLayer {
            diff_id: diff_id.clone(),
            blob: descriptor(MEDIA_TYPE_OCI_LAYER_TAR, &diff_id, size),
        };
        let layer_size = self.unpack_from_store(&layer)?;

        let mut layers = parent.layers.clone();
        layers.push(layer);
        let parent_config = self.config(&parent.id)?;
        let config =
            child_config(parent_config, &layers, opts, &format_rfc3339(now())).map_err(|what| {
                ImageError::InvalidConfig {
                    digest: parent.id.clone(),
                    what,
                }
            })?;
        let tags: Vec<String> = opts.tag.iter().map(ToString::to_string).collect();
        let sizes = BTreeMap::from([(diff_id, layer_size)]);
        self.store_new_image(&config, layers, &tags, &sizes)
    }

    /// Stores a new image's config and OCI manifest (over `layers`, whose
    /// blobs and snapshots are in place) and records it with `tags`;
    /// `sizes` gives the size of the layers new to the store. (Shaped so
    /// `import` can use it too.)
    pub(super) fn store_new_image(
        &self,
        config: &Value,
        layers: Vec<ImageLayer>,
        tags: &[String],
        sizes: &BTreeMap<String, u64>,
    ) -> Result<ImageRecord, ImageError> {
        let config_bytes = to_json("(new image config)", config)?;
        let config_digest = self.blobs().put_bytes(&config_bytes)?;
        let config_size = config_bytes.len() as u64;
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
            config: descriptor(MEDIA_TYPE_OCI_CONFIG, config_digest.as_str(), config_size),
            layers: layers.iter().map(|l| l.blob.clone()).collect(),
        };
        let manifest_bytes = to_json("(new image manifest)", &manifest)?;
        let record = ImageRecord {
            id: config_digest.to_string(),
            manifest_digest: self.blobs().put_bytes(&manifest_bytes)?.to_string(),
            manifest_media_type: MEDIA_TYPE_OCI_MANIFEST.into(),
            config_size,
            layers,
            repo_digests: Vec::new(),
            stored_at: now(),
        };
        self.commit(&record, tags, sizes)?;
        Ok(record)
    }

    /// Archives `upper` into an unlinked ingest file: returns it rewound,
    /// with the tar's digest (its DiffID) and size.
    fn spool_upper(&self, upper: &Path) -> Result<(File, String, u64), ImageError> {
        let (reader, writer) = io::pipe().map_err(|e| spool_error(upper, e))?;
        std::thread::scope(|s| {
            let producer = s.spawn(move || write_upper_as_layer(upper, BufWriter::new(writer)));
            // Drops the reader when done, so a failed spool stops the
            // producer (EPIPE) rather than blocking it.
            let spooled = self.spool_uncompressed(reader);
            let produced = producer
                .join()
                .map_err(|_| ImageError::Worker("archiving the upper directory panicked".into()))?;
            // The producer's error first: the spool saw a truncated tar.
            produced?;
            spooled
        })
    }
}

fn spool_error(upper: &Path, source: io::Error) -> ImageError {
    ImageError::Archive(ArchiveError::Io {
        op: "spool the layer of",
        what: upper.display().to_string(),
        source,
    })
}

fn to_json(what: &str, value: &impl serde::Serialize) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(value).map_err(|e| ImageError::InvalidConfig {
        digest: what.into(),
        what: e.to_string(),
    })
}

/// The new image's config: the parent's (platform, OS features...) with
/// the merged run config, `rootfs` naming `layers`, a history entry
/// appended, `created`, `author` and `comment` set, and what named the
/// parent's own build (`container`, `container_config`, `docker_version`)
/// dropped.
fn child_config(
    parent: Value,
    layers: &[ImageLayer],
    opts: &CommitOptions,
    created: &str,
) -> Result<Value, String> {
    let Value::Object(mut config) = parent else {
        return Err("is not a JSON object".into());
    };
    for key in ["container", "container_config", "docker_version"] {
        config.remove(key);
    }
    let run = merge_run_config(config.remove("config"), opts.config.clone());
    config.insert("config".into(), run);
    config.insert("created".into(), json!(created));
    set_or_remove(&mut config, "author", &opts.author);
    set_or_remove(&mut config, "comment", &opts.comment);
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
    config.insert(
        "rootfs".into(),
        json!({ "type": "layers", "diff_ids": diff_ids }),
    );
    let mut entry = Map::new();
    entry.insert("created".into(), json!(created));
    set_or_remove(&mut entry, "created_by", &opts.created_by);
    set_or_remove(&mut entry, "author", &opts.author);
    set_or_remove(&mut entry, "comment", &opts.comment);
    let history = config.entry("history").or_insert_with(|| json!([]));
    match history {
        Value::Array(list) => list.push(Value::Object(entry)),
        _ => return Err("history is not a list".into()),
    }
    Ok(Value::Object(config))
}

fn set_or_remove(map: &mut Map<String, Value>, key: &str, value: &str) {
    if value.is_empty() {
        map.remove(key);
    } else {
        map.insert(key.into(), json!(value));
    }
}

/// Whether a config field counts as not set (Docker's zero values).
fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

/// Docker's merge of a container's run config over its image's (see
/// [`CommitOptions::config`]).
fn merge_run_config(parent: Option<Value>, given: Option<Value>) -> Value {
    let parent = match parent {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    let mut out = match given {
        Some(Value::Object(g)) => g,
        _ => return Value::Object(parent),
    };
    let given_entrypoint = out.get("Entrypoint").cloned();
    if is_empty(given_entrypoint.as_ref()) {
        if is_empty(out.get("Cmd")) {
            for key in ["Cmd", "ArgsEscaped"] {
                if let Some(v) = parent.get(key) {
                    out.insert(key.into(), v.clone());
                }
            }
        }
        if matches!(given_entrypoint, None | Some(Value::Null)) {
            if let Some(v) = parent.get("Entrypoint") {
                out.insert("Entrypoint".into(), v.clone());
            }
        }
    }
    for (key, value) in parent {
        match key.as_str() {
            "Cmd" | "ArgsEscaped" | "Entrypoint" => {}
            "Env" => {
                let mut env: Vec<Value> = match out.remove("Env") {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                let name = |v: &Value| {
                    v.as_str()
                        .map(|s| s.split_once('=').map_or(s, |(n, _)| n).to_string())
                };
                let set: Vec<Option<String>> = env.iter().map(name).collect();
                if let Value::Array(parent_env) = value {
                    env.extend(parent_env.into_iter().filter(|v| !set.contains(&name(v))));
                }
                out.insert("Env".into(), Value::Array(env));
            }
            "Labels" | "ExposedPorts" | "Volumes" => {
                let mut merged = match value {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                if let Some(Value::Object(given)) = out.remove(&key) {
                    merged.extend(given);
                }
                out.insert(key, Value::Object(merged));
            }
            _ => {
                if is_empty(out.get(&key)) {
                    out.insert(key, value);
                }
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    use super::*;
    use crate::archive::diff::{self, make_opaque, make_whiteout, CHANGE_ADD, CHANGE_DELETE};
    use crate::overlay;
    use crate::registry::RegistryClient;
    use crate::test_support::busybox_fixture;

    fn loaded_busybox(dir: &Path) -> (Images, ImageRecord) {
        let images = Images::open(dir, RegistryClient::default()).expect("open image root");
        let loaded = images
            .load(&busybox_fixture().join("busybox.tar"))
            .expect("load busybox.tar");
        (images, loaded[0].record.clone())
    }

    /// Unmounts on drop, so a failed assertion leaves no mount behind.
    struct Mounted<'a>(&'a Path);

    impl Drop for Mounted<'_> {
        fn drop(&mut self) {
            let _ = overlay::unmount(self.0);
        }
    }

    #[test]
    fn merges_run_config_as_docker() {
        let parent = json!({
            "Cmd": ["sh"], "Entrypoint": ["/init"], "Env": ["PATH=/bin", "A=1"],
            "Labels": {"a": "1", "b": "1"}, "WorkingDir": "/w", "User": "u"
        });
        let given = json!({
            "Cmd": ["echo", "hi"], "Env": ["A=2", "B=3"], "Labels": {"b": "2"},
            "WorkingDir": "", "User": "me"
        });
        let merged = merge_run_config(Some(parent.clone()), Some(given));
        assert_eq!(merged["Cmd"], json!(["echo", "hi"]));
        assert_eq!(merged["Entrypoint"], json!(["/init"]));
        assert_eq!(merged["Env"], json!(["A=2", "B=3", "PATH=/bin"]));
        assert_eq!(merged["Labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(merged["WorkingDir"], json!("/w"));
        assert_eq!(merged["User"], json!("me"));
        // An explicitly empty entrypoint clears it; no Cmd given keeps none
        // of the parent's then.
        let merged = merge_run_config(Some(parent.clone()), Some(json!({"Entrypoint": []})));
        assert_eq!(merged["Entrypoint"], json!([]));
        assert_eq!(merged["Cmd"], json!(["sh"]));
        assert_eq!(merge_run_config(Some(parent.clone()), None), parent);
    }

    #[test]
    fn commit_busybox_with_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (images, parent) = loaded_busybox(&dir.path().join("root"));
        let lowers = images.layer_paths(&parent).unwrap();
        assert!(lowers[0].join("bin/ls").exists());
        assert!(lowers[0].join("etc/passwd").is_file());

        let upper = dir.path().join("diff");
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::create_dir_all(upper.join("bin")).unwrap();
        fs::create_dir_all(upper.join("app/data")).unwrap();
        fs::create_dir_all(upper.join("tmp")).unwrap();
        fs::write(upper.join("app/hello.txt"), "hello").unwrap();
        let passwd = fs::read_to_string(lowers[0].join("etc/passwd")).unwrap();
        fs::write(
            upper.join("etc/passwd"),
            passwd + "me:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        make_whiteout(&upper.join("bin/ls"));
        make_opaque(&upper.join("tmp"));
        fs::write(upper.join("tmp/fresh"), "x").unwrap();

        let tag = Reference::parse("example.com/me/committed:1").unwrap();
        let opts = CommitOptions {
            config: Some(json!({"Cmd": ["cat", "/app/hello.txt"], "Env": ["MINE=1"]})),
            comment: "my change".into(),
            author: "me <me@example.com>".into(),
            tag: Some(tag.clone()),
            created_by: "/bin/sh -c edit".into(),
        };
        let image = images.commit_container(&parent, &upper, &opts).unwrap();

        // Recorded and tagged, parent layers shared.
        assert_eq!(images.resolve(&tag.to_string()).unwrap(), image);
        assert_eq!(image.layers.len(), parent.layers.len() + 1);
        assert_eq!(image.layers[..parent.layers.len()], parent.layers[..]);
        assert_eq!(
            image.layers.last().unwrap().blob.media_type,
            MEDIA_TYPE_OCI_LAYER_TAR
        );
        let config = images.config(&image.id).unwrap();
        let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
        assert_eq!(diff_ids.len(), 2);
        assert_eq!(diff_ids[1], json!(image.layers[1].diff_id));
        assert_eq!(config["config"]["Cmd"], json!(["cat", "/app/hello.txt"]));
        let env = config["config"]["Env"].as_array().unwrap();
        assert!(env.contains(&json!("MINE=1")), "{env:?}");
        assert!(env.iter().any(|e| e.as_str().unwrap().starts_with("PATH=")));
        assert_eq!(config["author"], json!("me <me@example.com>"));
        let history = config["history"].as_array().unwrap();
        let last = history.last().unwrap();
        assert_eq!(last["comment"], json!("my change"));
        assert_eq!(last["created_by"], json!("/bin/sh -c edit"));
        assert_eq!(last["created"], config["created"]);
        assert_eq!(images.metadata().layers().unwrap().len(), 2);

        // The new snapshot holds the upper directory in overlay format.
        let paths = images.layer_paths(&image).unwrap();
        assert_eq!(paths[1], lowers[0]);
        let top = &paths[0];
        assert_eq!(
            fs::read_to_string(top.join("app/hello.txt")).unwrap(),
            "hello"
        );
        assert!(fs::read_to_string(top.join("etc/passwd"))
            .unwrap()
            .contains("me:x"));
        let wh = fs::symlink_metadata(top.join("bin/ls")).unwrap();
        assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
        let cpath = std::ffi::CString::new(top.join("tmp").as_os_str().as_bytes()).unwrap();
        let mut buf = [0u8; 8];
        // SAFETY: NUL-terminated strings and a buffer of the given size.
        let n = unsafe {
            libc::lgetxattr(
                cpath.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        assert_eq!(n, 1);
        assert_eq!(buf[0], b'y');

        // docker diff, against the parent's layers.
        let changes = diff::changes(&upper, &lowers).unwrap();
        let kind_of = |p: &str| changes.iter().find(|c| c.path == p).map(|c| c.kind);
        assert_eq!(kind_of("/app"), Some(CHANGE_ADD));
        assert_eq!(kind_of("/app/hello.txt"), Some(CHANGE_ADD));
        assert_eq!(kind_of("/etc/passwd"), Some(diff::CHANGE_MODIFY));
        assert_eq!(kind_of("/bin/ls"), Some(CHANGE_DELETE));
        assert_eq!(kind_of("/bin"), Some(diff::CHANGE_MODIFY));
        assert_eq!(kind_of("/tmp"), Some(CHANGE_DELETE));
        assert_eq!(kind_of("/tmp/fresh"), Some(CHANGE_ADD));
        let mut sorted = changes.clone();
        sorted.sort();
        assert_eq!(sorted, changes);

        // The layer tar of the upper directory, as stored.
        let mut tar_bytes = Vec::new();
        write_upper_as_layer(&upper, &mut tar_bytes).unwrap();
        let names: Vec<String> = tar::Archive::new(&tar_bytes[..])
            .entries()
            .unwrap()
            .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
            .collect();
        assert!(names.contains(&"bin/.wh.ls".to_string()), "{names:?}");
        assert!(names.contains(&"tmp/.wh..wh..opq".to_string()), "{names:?}");
        assert_eq!(
            images.blobs().size(&image.layers[1].diff_id).unwrap(),
            tar_bytes.len() as u64
        );

        // The committed image as a container sees it.
        let target = dir.path().join("mnt");
        fs::create_dir(&target).unwrap();
        overlay::mount_overlay_readonly(&paths, &target, Some(&images.links_dir())).unwrap();
        let mounted = Mounted(&target);
        assert!(!target.join("bin/ls").exists());
        assert!(target.join("bin/busybox").is_file());
        assert_eq!(
            fs::read_to_string(target.join("app/hello.txt")).unwrap(),
            "hello"
        );
        assert_eq!(
            fs::read_dir(target.join("tmp")).unwrap().count(),
            1,
            "opaque tmp shows only the new file"
        );
        drop(mounted);

        // Committing the same changes again makes the same layer, reused.
        let again = images
            .commit_container(&parent, &upper, &CommitOptions::default())
            .unwrap();
        assert_eq!(again.layers[1].diff_id, image.layers[1].diff_id);
        assert_eq!(images.metadata().layers().unwrap().len(), 2);
    }
}
