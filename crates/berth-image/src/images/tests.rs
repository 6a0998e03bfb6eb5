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

#[test]
fn inspect_and_history_in_docker_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let (images, record) = loaded_busybox(dir.path());
    let inspect = images.inspect(&record).unwrap();
    assert_eq!(inspect["Id"], record.id);
    assert_eq!(inspect["RepoTags"], serde_json::json!(["busybox:latest"]));
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["RootFS"]["Layers"][0], record.layers[0].diff_id);
    assert!(inspect["Size"].as_u64().unwrap() > 0);
    assert!(inspect["Config"].is_object());

    let history = images.history(&record).unwrap();
    assert!(!history.is_empty());
    assert_eq!(history[0].id, record.id);
    assert_eq!(history[0].tags, vec!["busybox:latest"]);
    let total: u64 = history.iter().map(|h| h.size).sum();
    assert_eq!(total, inspect["Size"].as_u64().unwrap());
}

#[test]
fn import_a_rootfs_tar() {
    let dir = tempfile::tempdir().unwrap();
    let images = open(dir.path());
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, "bin/hello", &b"hello"[..])
        .unwrap();
    let tar_bytes = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar_bytes).unwrap();
    let gz = gz.finish().unwrap();

    let tag = Reference::parse("imported:v1").unwrap();
    let config = serde_json::json!({"Cmd": ["/bin/hello"]});
    let record = images
        .import(&gz[..], Some(&tag), Some(config), "Imported from -")
        .unwrap();
    assert_eq!(images.resolve("imported:v1").unwrap().id, record.id);
    let layers = images.layer_paths(&record).unwrap();
    assert_eq!(fs::read(layers[0].join("bin/hello")).unwrap(), b"hello");
    assert_eq!(
        images.config(&record.id).unwrap()["config"]["Cmd"][0],
        "/bin/hello"
    );
    // The layer blob is the uncompressed tar: its digest is the DiffID.
    assert_eq!(record.layers[0].blob.digest, record.layers[0].diff_id);
    assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);

    // Garbage is refused and leaves no image.
    let before = images.list().unwrap().len();
    assert!(images
        .import(&b"not a tar at all"[..], None, None, "")
        .is_err());
    assert_eq!(images.list().unwrap().len(), before);
}

#[test]
fn save_then_load_into_another_root() {
    let dir = tempfile::tempdir().unwrap();
    let (images, record) = loaded_busybox(dir.path());
    images.tag("busybox", "example.com/x/y:z").unwrap();
    let tar = dir.path().join("out.tar");
    images
        .save(
            &["example.com/x/y:z".to_string()],
            fs::File::create(&tar).unwrap(),
        )
        .unwrap();
    let oci = dir.path().join("out-oci");
    images
        .save_oci(std::slice::from_ref(&record.id), &oci)
        .unwrap();

    let other = tempfile::tempdir().unwrap();
    let images2 = open(other.path());
    let loaded = images2.load(&tar).unwrap();
    assert_eq!(loaded[0].record.id, record.id);
    assert_eq!(loaded[0].tags, vec!["example.com/x/y:z"]);
    let other2 = tempfile::tempdir().unwrap();
    let images3 = open(other2.path());
    let loaded = images3.load(&oci).unwrap();
    assert_eq!(loaded[0].record.manifest_digest, record.manifest_digest);
    let mut tags = loaded
        .iter()
        .flat_map(|l| l.tags.clone())
        .collect::<Vec<_>>();
    tags.sort();
    assert_eq!(
        tags,
        vec!["docker.io/library/busybox:latest", "example.com/x/y:z"]
    );
}
