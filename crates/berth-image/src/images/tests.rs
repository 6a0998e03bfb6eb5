use std::fs;

use super::*;
use crate::test_support::busybox_fixture;

fn open(dir: &Path) -> Images {
    Images::open(dir, RegistryClient::default()).expect("open image root")
}

fn loaded_busybox(dir: &Path) -> (Images, ImageRecord) {
    let images = open(dir);
    let loaded = images
        .load(&busybox_fixture().join("busybox.tar"))
        .expect("load busybox.tar");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].tags, vec!["docker.io/library/busybox:latest"]);
    let record = loaded[0].record.clone();
    (images, record)
}

#[test]
fn load_resolve_and_layers() {
    let dir = tempfile::tempdir().unwrap();
    let (images, record) = loaded_busybox(dir.path());
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &record.id,
        &record.id["sha256:".len()..],
        &record.id["sha256:".len().."sha256:".len() + 12],
    ] {
        assert_eq!(images.resolve(name).unwrap().id, record.id, "{name}");
    }
    assert!(matches!(
        images.resolve("nothere"),
        Err(ImageError::NotFound(_))
    ));
    let layers = images.layer_paths(&record).unwrap();
    assert_eq!(layers.len(), record.layers.len());
    assert!(layers[0].join("bin/busybox").is_file());

    let list = images.list().unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].size > 500_000, "{}", list[0].size);
    assert!(list[0].created.is_some());
    assert!(images.config(&record.id).unwrap()["rootfs"]["diff_ids"].is_array());

    // Loading again changes nothing and stays consistent.
    images.load(&busybox_fixture().join("busybox.tar")).unwrap();
    assert_eq!(images.metadata().layers().unwrap()[0].refs, 1);
}

#[test]
fn rmi_untags_then_deletes_and_frees_files() {
    let dir = tempfile::tempdir().unwrap();
    let (images, record) = loaded_busybox(dir.path());
    images.tag("busybox", "example.com/team/app:1").unwrap();
    assert_eq!(
        images.remove("busybox", false).unwrap(),
        vec![RemoveAction::Untagged("busybox:latest".into())]
    );
    let snapshot = images.layer_paths(&record).unwrap()[0].clone();
    assert!(snapshot.is_dir());
    let actions = images.remove("example.com/team/app:1", false).unwrap();
    assert_eq!(
        actions,
        vec![
            RemoveAction::Untagged("example.com/team/app:1".into()),
            RemoveAction::Deleted(record.id.clone()),
        ]
    );
    assert!(!snapshot.exists());
    assert!(images.blobs().list().unwrap().is_empty());
    assert!(images.metadata().layers().unwrap().is_empty());
    assert!(matches!(
        images.resolve(&record.id),
        Err(ImageError::NotFound(_))
    ));
}

#[test]
fn rmi_refuses_images_in_use_or_multiply_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let (images, record) = loaded_busybox(dir.path());
    images.add_container("c0ffee000000", &record.id).unwrap();
    let err = images.remove("busybox", false).unwrap_err().to_string();
    assert!(
        err.contains("must force") && err.contains("c0ffee000000"),
        "{err}"
    );
    images.tag("busybox", "other").unwrap();
    let err = images.remove(&record.id, false).unwrap_err().to_string();
    assert!(err.contains("referenced in multiple repositories"), "{err}");

    // Forced, the tags go but the image stays for its container.
    let actions = images.remove(&record.id, true).unwrap();
    assert_eq!(actions.len(), 2);
    assert!(images.resolve(&record.id).is_ok());
    assert!(images.layer_paths(&record).unwrap()[0].is_dir());

    images.remove_container("c0ffee000000").unwrap();
    let actions = images.remove(&record.id, false).unwrap();
    assert_eq!(actions, vec![RemoveAction::Deleted(record.id.clone())]);
}

#[test]
fn open_cleans_what_a_crash_left() {
    let dir = tempfile::tempdir().unwrap();
    let (images, record) = loaded_busybox(dir.path());
    // An unpack in progress, and a finished snapshot no record names.
    let tmp = dir.path().join("snapshots-tmp/999-0");
    fs::create_dir_all(tmp.join("etc")).unwrap();
    let orphan = dir.path().join("snapshots").join("ab".repeat(32));
    fs::create_dir_all(&orphan).unwrap();
    drop(images);

    let images = open(dir.path());
    assert!(!tmp.exists());
    assert!(!orphan.exists());
    assert!(images.layer_paths(&record).unwrap()[0]
        .join("bin/busybox")
        .is_file());
    // Unreferenced blobs stay (an interrupted pull resumes from them)
    // until pruned.
    images.blobs().put_bytes(b"left over").unwrap();
    assert_eq!(images.prune_blobs().unwrap(), 1);
    assert_eq!(images.prune_blobs().unwrap(), 0);
}

#[test]
fn load_an_oci_layout_directory() {
    let dir = tempfile::tempdir().unwrap();
    let images = open(dir.path());
    let loaded = images.load(&busybox_fixture().join("oci")).unwrap();
    assert_eq!(loaded.len(), 1);
    let layers = images.layer_paths(&loaded[0].record).unwrap();
    assert!(layers[0].join("bin/busybox").is_file());
}
