//! The image library feeding the runtime: the busybox fixture's OCI image
//! goes through the content store (digests verified), its layer is
//! unpacked (DiffID checked against the config), and berth-runtime runs
//! the result.

use std::io::Write;
use std::path::Path;

use berth_image::store::{BlobStore, StoreError};
use berth_image::unpack::{detect_compression, unpack_layer};
use runtime_tests::{fixture, ok, unique_id, Bundle, Runtime};
use serde_json::Value;

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Copies every blob of the fixture's OCI layout into `store`, each
/// through a writer that checks the digest it is filed under.
fn import_layout(store: &BlobStore, layout: &Path) -> Value {
    let index = read_json(&layout.join("index.json"));
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob_path = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest = read_json(&blob_path(&manifest_digest));
    let mut digests = vec![
        manifest_digest.clone(),
        manifest["config"]["digest"].as_str().unwrap().to_string(),
    ];
    digests.extend(
        manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string()),
    );
    for digest in &digests {
        let data = std::fs::read(blob_path(digest)).unwrap();
        let mut writer = store.writer(digest, Some(data.len() as u64)).unwrap();
        writer.write_all(&data).unwrap();
        writer.commit().unwrap();
    }
    manifest
}

#[test]
fn an_image_from_the_store_runs() {
    let store_dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(store_dir.path()).unwrap();
    let manifest = import_layout(&store, &fixture().join("oci"));
    let config: Value = serde_json::from_slice(
        &store
            .get(manifest["config"]["digest"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();

    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["sh", "-c", "echo from-the-image; head -1 /etc/passwd"]);
    // Replace the copied rootfs with the one unpacked from the store.
    std::fs::remove_dir_all(bundle.rootfs()).unwrap();
    std::fs::create_dir(bundle.rootfs()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    for (i, layer) in layers.iter().enumerate() {
        let digest = layer["digest"].as_str().unwrap();
        let mut head = [0u8; 4];
        std::io::Read::read_exact(&mut store.open_blob(digest).unwrap(), &mut head).unwrap();
        let compression = detect_compression(layer["mediaType"].as_str(), &head);
        let stats = unpack_layer(
            store.open_blob(digest).unwrap(),
            &bundle.rootfs(),
            compression,
        )
        .unwrap();
        assert_eq!(
            stats.diff_id, config["rootfs"]["diff_ids"][i],
            "DiffID of layer {i}"
        );
    }
    bundle.spec["process"]["env"] = config["config"]["Env"].clone();
    bundle.save();
    let out = ok(&rt.run_container(&bundle, &unique_id("img")));
    assert_eq!(out, "from-the-image\nroot:x:0:0:root:/root:/bin/sh\n");
}

#[test]
fn a_tampered_blob_is_refused_and_leaves_nothing() {
    let store_dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(store_dir.path()).unwrap();
    let layout = fixture().join("oci");
    let index = read_json(&layout.join("index.json"));
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let mut data = std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    data[10] ^= 0xff;
    let mut writer = store.writer(digest, None).unwrap();
    writer.write_all(&data).unwrap();
    let err = writer.commit().unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(digest), "{err}");
    assert!(!store.contains(digest).unwrap());
    assert!(store.list().unwrap().is_empty());
}

/// `docker load` then `docker run`, the library way: the docker-archive is
/// loaded into the store, each layer unpacked into its snapshot, the
/// snapshots stacked with overlayfs, and berth-runtime runs on the overlay.
/// The container's writes land in the upper directory, never in a layer.
#[test]
fn a_loaded_archive_runs_on_overlayfs() {
    use berth_image::archive::load_docker_archive_file;
    use berth_image::overlay::{mount_overlay, unmount};

    let work = tempfile::tempdir().unwrap();
    let store = BlobStore::open(work.path().join("store")).unwrap();
    let images = load_docker_archive_file(&fixture().join("busybox.tar"), &store).unwrap();
    assert_eq!(images.len(), 1);
    let image = &images[0];
    assert_eq!(image.tags, ["docker.io/library/busybox:latest"]);

    // Snapshots in manifest order (bottom first); overlayfs wants top first.
    let mut snapshots = Vec::new();
    for (i, layer) in image.layers.iter().enumerate() {
        let dir = work.path().join(format!("snapshots/{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let stats = unpack_layer(
            store.open_blob(&layer.digest).unwrap(),
            &dir,
            berth_image::unpack::Compression::None,
        )
        .unwrap();
        assert_eq!(stats.diff_id, image.diff_ids[i]);
        snapshots.push(dir);
    }
    snapshots.reverse();

    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "echo written > /root/new-file; cat /root/new-file",
    ]);
    bundle.spec["root"]["readonly"] = false.into();
    bundle.save();
    std::fs::remove_dir_all(bundle.rootfs()).unwrap();
    std::fs::create_dir(bundle.rootfs()).unwrap();
    let (upper, overlay_work) = (work.path().join("upper"), work.path().join("work"));
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::create_dir_all(&overlay_work).unwrap();
    mount_overlay(
        &snapshots,
        &upper,
        &overlay_work,
        &bundle.rootfs(),
        Some(&work.path().join("l")),
    )
    .unwrap();
    // Unmount even if an assertion below fails.
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = unmount(&self.0);
        }
    }
    let _mounted = Unmount(bundle.rootfs());

    let out = ok(&rt.run_container(&bundle, &unique_id("overlay")));
    assert_eq!(out, "written\n");
    assert_eq!(
        std::fs::read_to_string(upper.join("root/new-file")).unwrap(),
        "written\n"
    );
    assert!(
        !snapshots.iter().any(|s| s.join("root/new-file").exists()),
        "a layer was written to"
    );
}
