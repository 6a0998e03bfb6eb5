use std::fs;
use std::io::{Cursor, Read};
use std::path::PathBuf;

use super::*;
use crate::reference::Reference;

fn fixture() -> PathBuf {
    crate::test_support::busybox_fixture()
}

struct Expected {
    config_digest: String,
    diff_ids: Vec<String>,
}

fn expected(dir: &std::path::Path) -> Expected {
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("image.json")).expect("read image.json"))
            .expect("parse image.json");
    Expected {
        config_digest: json["config_digest"]
            .as_str()
            .expect("config_digest")
            .into(),
        diff_ids: json["diff_ids"]
            .as_array()
            .expect("diff_ids")
            .iter()
            .map(|v| v.as_str().expect("diff_id").to_string())
            .collect(),
    }
}

fn new_store() -> (tempfile::TempDir, BlobStore) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::open(tmp.path().join("store")).expect("open store");
    (tmp, store)
}

/// Rewrites a tar, letting `edit` change each regular file's data.
fn rewrite_tar(src: &[u8], mut edit: impl FnMut(&str, &mut Vec<u8>)) -> Vec<u8> {
    let mut archive = tar::Archive::new(src);
    let mut builder = tar::Builder::new(Vec::new());
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read entry");
        if header.entry_type().is_file() {
            edit(&path, &mut data);
            header.set_size(data.len() as u64);
            header.set_cksum();
        }
        builder.append(&header, data.as_slice()).expect("append");
    }
    builder.into_inner().expect("finish tar")
}

#[test]
fn loads_docker_archive() {
    let dir = fixture();
    let want = expected(&dir);
    let (_tmp, store) = new_store();

    let images = load_docker_archive_file(&dir.join("busybox.tar"), &store).expect("load");
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert_eq!(image.tags, ["docker.io/library/busybox:latest"]);
    assert_eq!(image.config_digest.as_str(), want.config_digest);
    assert_eq!(image.diff_ids, want.diff_ids);
    let layer_digests: Vec<&str> = image.layers.iter().map(|l| l.digest.as_str()).collect();
    assert_eq!(layer_digests, want.diff_ids);
    assert!(image
        .layers
        .iter()
        .all(|l| l.media_type == MEDIA_TYPE_OCI_LAYER_TAR));

    // Manifest, config and layer are stored, and nothing else.
    let mut stored: Vec<String> = store
        .list()
        .expect("list")
        .iter()
        .map(|d| d.to_string())
        .collect();
    stored.sort();
    let mut expected_blobs = vec![
        image.manifest_digest.to_string(),
        want.config_digest.clone(),
    ];
    expected_blobs.extend(want.diff_ids.iter().cloned());
    expected_blobs.sort();
    assert_eq!(stored, expected_blobs);

    let manifest: ImageManifest =
        serde_json::from_slice(&store.get(&image.manifest_digest).expect("manifest"))
            .expect("parse manifest");
    assert_eq!(
        manifest.media_type.as_deref(),
        Some(MEDIA_TYPE_OCI_MANIFEST)
    );
    assert_eq!(manifest.config.media_type, MEDIA_TYPE_OCI_CONFIG);
    assert_eq!(manifest.config.digest, want.config_digest);

    // Deterministic: loading again gives the same manifest digest.
    let again = load_docker_archive_file(&dir.join("busybox.tar"), &store).expect("reload");
    assert_eq!(again, images);
}

#[test]
fn loads_oci_layout() {
    let dir = fixture();
    let want = expected(&dir);
    let (_tmp, store) = new_store();

    let images = load_oci_layout(&dir.join("oci"), &store, None).expect("load");
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert_eq!(image.config_digest.as_str(), want.config_digest);
    assert_eq!(image.diff_ids, want.diff_ids);
    assert_eq!(image.ref_name.as_deref(), Some("latest"));
    assert!(image.tags.is_empty());
    assert!(store.contains(&image.manifest_digest).expect("contains"));
    for layer in &image.layers {
        store.verify(&layer.digest).expect("layer stored intact");
    }

    let name = Reference::parse("busybox").expect("reference");
    let named = load_oci_layout(&dir.join("oci"), &store, Some(&name)).expect("load named");
    assert_eq!(named[0].tags, ["docker.io/library/busybox:latest"]);
    assert_eq!(named[0].manifest_digest, image.manifest_digest);
}

#[test]
fn tampered_layer_is_a_diff_id_mismatch() {
    let dir = fixture();
    let want = expected(&dir);
    let original = fs::read(dir.join("busybox.tar")).expect("read busybox.tar");
    let mut flipped = false;
    let tampered = rewrite_tar(&original, |path, data| {
        if path.ends_with("layer.tar") {
            let mid = data.len() / 2;
            data[mid] ^= 0x01;
            flipped = true;
        }
    });
    assert!(flipped, "fixture has no layer.tar");

    let (_tmp, store) = new_store();
    let err = load_docker_archive(&mut Cursor::new(tampered), &store).expect_err("tampered");
    match &err {
        ArchiveError::DiffIdMismatch {
            layer,
            expected,
            actual,
            ..
        } => {
            assert!(layer.ends_with("layer.tar"), "{err}");
            assert_eq!(expected, &want.diff_ids[0]);
            assert_ne!(actual, expected);
        }
        other => panic!("expected a DiffID mismatch, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("layer.tar") && msg.contains(&want.diff_ids[0]),
        "{msg}"
    );
    assert!(store.list().expect("list").is_empty(), "nothing stored");
}

#[test]
fn missing_file_named_by_manifest_json() {
    let dir = fixture();
    let original = fs::read(dir.join("busybox.tar")).expect("read busybox.tar");
    let broken = rewrite_tar(&original, |path, data| {
        if path == "manifest.json" {
            let mut json: serde_json::Value = serde_json::from_slice(data).expect("manifest");
            json[0]["Layers"] = serde_json::json!(["nope/layer.tar"]);
            *data = serde_json::to_vec(&json).expect("serialize");
        }
    });
    let (_tmp, store) = new_store();
    let err = load_docker_archive(&mut Cursor::new(broken), &store).expect_err("missing");
    assert!(
        matches!(&err, ArchiveError::MissingEntry { path, .. } if path == "nope/layer.tar"),
        "{err:?}"
    );
    assert!(store.list().expect("list").is_empty(), "nothing stored");
}

#[test]
fn layer_paths_may_be_links_and_blob_paths() {
    // Newer docker: blobs/sha256/<hex> paths; older: symlinked layer.tar.
    let dir = fixture();
    let want = expected(&dir);
    let original = fs::read(dir.join("busybox.tar")).expect("read busybox.tar");
    let mut archive = tar::Archive::new(original.as_slice());
    let mut builder = tar::Builder::new(Vec::new());
    let hex = want.diff_ids[0].trim_start_matches("sha256:").to_string();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        if path.ends_with("layer.tar") {
            builder
                .append_data(&mut header, format!("blobs/sha256/{hex}"), data.as_slice())
                .expect("append");
        } else if path == "manifest.json" {
            let mut json: serde_json::Value = serde_json::from_slice(&data).expect("manifest");
            json[0]["Layers"] = serde_json::json!(["./x/layer.tar"]);
            let data = serde_json::to_vec(&json).expect("serialize");
            header.set_size(data.len() as u64);
            header.set_cksum();
            builder.append(&header, data.as_slice()).expect("append");
        } else {
            builder.append(&header, data.as_slice()).expect("append");
        }
    }
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    builder
        .append_link(&mut link, "x/layer.tar", format!("../blobs/sha256/{hex}"))
        .expect("append link");
    let tarball = builder.into_inner().expect("finish");

    let (_tmp, store) = new_store();
    let images = load_docker_archive(&mut Cursor::new(tarball), &store).expect("load");
    assert_eq!(images[0].layers[0].digest, want.diff_ids[0]);
}

#[test]
fn escaping_link_is_refused() {
    let dir = fixture();
    let original = fs::read(dir.join("busybox.tar")).expect("read busybox.tar");
    let mut archive = tar::Archive::new(original.as_slice());
    let mut builder = tar::Builder::new(Vec::new());
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        if path == "manifest.json" {
            let mut json: serde_json::Value = serde_json::from_slice(&data).expect("manifest");
            json[0]["Layers"] = serde_json::json!(["evil"]);
            data = serde_json::to_vec(&json).expect("serialize");
            header.set_size(data.len() as u64);
            header.set_cksum();
        }
        builder.append(&header, data.as_slice()).expect("append");
    }
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    builder
        .append_link(&mut link, "evil", "../../etc/passwd")
        .expect("append link");
    let tarball = builder.into_inner().expect("finish");

    let (_tmp, store) = new_store();
    let err = load_docker_archive(&mut Cursor::new(tarball), &store).expect_err("escape");
    assert!(matches!(err, ArchiveError::BadLink { .. }), "{err:?}");
}

#[test]
fn oversized_manifest_json_is_refused() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(MAX_JSON_SIZE + 1);
    header.set_mode(0o644);
    let data = std::io::repeat(b' ').take(MAX_JSON_SIZE + 1);
    builder
        .append_data(&mut header, "manifest.json", data)
        .expect("append");
    let tarball = builder.into_inner().expect("finish");
    let (_tmp, store) = new_store();
    let err = load_docker_archive(&mut Cursor::new(tarball), &store).expect_err("too large");
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err:?}");
}
