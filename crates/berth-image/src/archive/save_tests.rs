use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::archive::{load_docker_archive, load_docker_archive_file, load_oci_layout};
use crate::reference::Reference;

/// The busybox fixture directory: `$BERTH_BUSYBOX_FIXTURE`, or built (or
/// reused) by the fixture script.
fn fixture() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_BUSYBOX_FIXTURE") {
        return PathBuf::from(dir);
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../rootfs-fixtures/busybox.sh"
    );
    let out = Command::new(script)
        .output()
        .expect("run rootfs-fixtures/busybox.sh");
    assert!(
        out.status.success(),
        "busybox.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8 fixture path");
    PathBuf::from(stdout.lines().last().expect("fixture path line").trim())
}

fn new_store(tmp: &Path, name: &str) -> BlobStore {
    BlobStore::open(tmp.join(name)).expect("open store")
}

fn sha256(data: &[u8]) -> String {
    BlobDigest::of_bytes(data).to_string()
}

/// The entries of a tar, in order: path → data.
fn tar_entries(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(data);
    let mut out = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let header = entry.header();
        assert_eq!(header.mtime().expect("mtime"), 0);
        assert_eq!(header.uid().expect("uid"), 0);
        assert_eq!(header.gid().expect("gid"), 0);
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("read entry");
        out.push((path, content));
    }
    out
}

fn entry<'a>(entries: &'a [(String, Vec<u8>)], path: &str) -> &'a [u8] {
    entries
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, d)| d.as_slice())
        .unwrap_or_else(|| panic!("no entry {path}"))
}

fn json(data: &[u8]) -> serde_json::Value {
    serde_json::from_slice(data).expect("parse JSON")
}

fn save_docker(store: &BlobStore, images: &[SaveImage]) -> Vec<u8> {
    let mut out = Vec::new();
    save_docker_archive(store, images, &mut out).expect("save docker archive");
    out
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

// ---------------------------------------------------------------------------
// Synthetic images

#[derive(Clone, Copy)]
enum Comp {
    None,
    Gzip,
    Zstd,
}

/// A one-file layer tar.
fn layer_tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, name, content)
        .expect("append");
    builder.into_inner().expect("finish tar")
}

fn compress(data: &[u8], comp: Comp) -> (Vec<u8>, &'static str) {
    match comp {
        Comp::None => (data.to_vec(), MEDIA_TYPE_OCI_LAYER_TAR),
        Comp::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(data).expect("gzip");
            (
                gz.finish().expect("gzip"),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        }
        Comp::Zstd => (
            zstd::encode_all(data, 3).expect("zstd"),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    }
}

/// Stores an image whose layers are `tars` compressed as given; the config
/// lists `diff_ids` if given, else the real ones.
fn put_image(
    store: &BlobStore,
    tars: &[(&[u8], Comp)],
    diff_ids: Option<Vec<String>>,
    tags: &[&str],
) -> SaveImage {
    let mut layers = Vec::new();
    for (tar, comp) in tars {
        let (blob, media_type) = compress(tar, *comp);
        let digest = store.put_bytes(&blob).expect("put layer");
        layers.push(SaveLayer {
            blob: Descriptor::new(media_type, &digest, blob.len() as u64),
            diff_id: sha256(tar),
        });
    }
    if let Some(ids) = diff_ids {
        for (layer, id) in layers.iter_mut().zip(ids) {
            layer.diff_id = id;
        }
    }
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).expect("config");
    let config_digest = store.put_bytes(&config).expect("put config");
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_string()),
        config: Descriptor::new(MEDIA_TYPE_OCI_CONFIG, &config_digest, config.len() as u64),
        layers: layers.iter().map(|l| l.blob.clone()).collect(),
    };
    let manifest = serde_json::to_vec(&manifest).expect("manifest");
    let manifest_digest = store.put_bytes(&manifest).expect("put manifest");
    SaveImage {
        manifest_digest: manifest_digest.to_string(),
        config_digest: config_digest.to_string(),
        layers,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

// ---------------------------------------------------------------------------
// Round trips with the fixture

#[test]
fn docker_archive_roundtrip() {
    let dir = fixture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let loaded = load_docker_archive_file(&dir.join("busybox.tar"), &store).expect("load");
    let images: Vec<SaveImage> = loaded.iter().map(SaveImage::from).collect();

    let archive = save_docker(&store, &images);
    assert_eq!(
        archive,
        save_docker(&store, &images),
        "deterministic output"
    );

    let image = &loaded[0];
    let layer_hex = hex(&image.diff_ids[0]);
    let manifest_hex = image.manifest_digest.hex();
    let entries = tar_entries(&archive);
    let mut blob_paths = vec![
        format!("blobs/sha256/{}", image.config_digest.hex()),
        format!("blobs/sha256/{layer_hex}"),
        format!("blobs/sha256/{manifest_hex}"),
    ];
    blob_paths.sort();
    let mut want = vec!["blobs/".to_string(), "blobs/sha256/".to_string()];
    want.extend(blob_paths);
    want.extend(["index.json", "manifest.json", "oci-layout", "repositories"].map(String::from));
    let paths: Vec<&String> = entries.iter().map(|(p, _)| p).collect();
    assert_eq!(paths, want.iter().collect::<Vec<_>>());

    assert_eq!(
        json(entry(&entries, "manifest.json")),
        serde_json::json!([{
            "Config": format!("blobs/sha256/{}", image.config_digest.hex()),
            "RepoTags": ["busybox:latest"],
            "Layers": [format!("blobs/sha256/{layer_hex}")],
        }])
    );
    assert_eq!(
        json(entry(&entries, "repositories")),
        serde_json::json!({"busybox": {"latest": layer_hex}})
    );
    let index = json(entry(&entries, "index.json"));
    assert_eq!(
        index["manifests"][0]["digest"],
        image.manifest_digest.as_str()
    );
    assert_eq!(
        index["manifests"][0]["annotations"],
        serde_json::json!({
            "io.containerd.image.name": "docker.io/library/busybox:latest",
            "org.opencontainers.image.ref.name": "latest",
        })
    );
    let original = fs::read(dir.join("busybox.tar")).expect("read fixture");
    let original = tar_entries(&original);
    assert_eq!(
        entry(&entries, &format!("blobs/sha256/{layer_hex}")),
        entry(&original, &format!("{layer_hex}/layer.tar")),
        "layer byte-identical"
    );

    let store2 = new_store(tmp.path(), "b");
    let again = load_docker_archive(&mut Cursor::new(&archive), &store2).expect("load saved");
    assert_eq!(
        again, loaded,
        "same config, layers, tags and manifest digest"
    );
}

#[test]
fn oci_layout_roundtrip() {
    let dir = fixture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let name = Reference::parse("busybox").expect("reference");
    let loaded = load_oci_layout(&dir.join("oci"), &store, Some(&name)).expect("load");
    let images: Vec<SaveImage> = loaded.iter().map(SaveImage::from).collect();

    let out = tmp.path().join("layout");
    save_oci_layout(&store, &images, &out).expect("save");

    // Blobs byte-identical to the fixture's (the gzip layer stays gzip).
    let mut names: Vec<String> = fs::read_dir(out.join("blobs/sha256"))
        .expect("list blobs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "manifest, config, layer");
    for name in &names {
        let saved = fs::read(out.join("blobs/sha256").join(name)).expect("read saved");
        let original = fs::read(dir.join("oci/blobs/sha256").join(name)).expect("read fixture");
        assert!(saved == original, "blob {name} differs from the fixture");
    }
    assert_eq!(
        fs::read(out.join("oci-layout")).expect("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index = json(&fs::read(out.join("index.json")).expect("index.json"));
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/library/busybox:latest"
    );
    assert!(!out.join(".index.json.tmp").exists());

    let store2 = new_store(tmp.path(), "b");
    let again = load_oci_layout(&out, &store2, None).expect("load saved");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].manifest_digest, loaded[0].manifest_digest);
    assert_eq!(again[0].ref_name.as_deref(), Some("latest"));
    let named = load_oci_layout(&out, &store2, Some(&name)).expect("load saved, named");
    assert_eq!(named, loaded);
}

#[test]
fn gzip_fixture_layer_is_saved_uncompressed() {
    // The fixture's OCI layout has a gzip layer: docker-archive needs it
    // uncompressed, and loading the result gives the same image.
    let dir = fixture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let name = Reference::parse("busybox").expect("reference");
    let loaded = load_oci_layout(&dir.join("oci"), &store, Some(&name)).expect("load");
    assert!(loaded[0].layers[0].media_type.ends_with("+gzip"));
    let images: Vec<SaveImage> = loaded.iter().map(SaveImage::from).collect();

    let archive = save_docker(&store, &images);
    let entries = tar_entries(&archive);
    let diff_id = &loaded[0].diff_ids[0];
    let layer = entry(&entries, &format!("blobs/sha256/{}", hex(diff_id)));
    assert_eq!(&sha256(layer), diff_id);

    let store2 = new_store(tmp.path(), "b");
    let again = load_docker_archive(&mut Cursor::new(&archive), &store2).expect("load saved");
    assert_eq!(again[0].config_digest, loaded[0].config_digest);
    assert_eq!(again[0].diff_ids, loaded[0].diff_ids);
    assert_eq!(again[0].tags, loaded[0].tags);
}

// ---------------------------------------------------------------------------
// Synthetic images

#[test]
fn compressed_layers_are_written_uncompressed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let gz = layer_tar("a.txt", b"gzip layer\n");
    let zs = layer_tar("b.txt", b"zstd layer\n");
    let image = put_image(
        &store,
        &[(&gz, Comp::Gzip), (&zs, Comp::Zstd)],
        None,
        &["example.com/app:1"],
    );

    let archive = save_docker(&store, std::slice::from_ref(&image));
    let entries = tar_entries(&archive);
    for tar in [&gz, &zs] {
        let path = format!("blobs/sha256/{}", hex(&sha256(tar)));
        assert_eq!(entry(&entries, &path), tar.as_slice(), "{path}");
    }
    let manifest = json(entry(&entries, "manifest.json"));
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["example.com/app:1"])
    );
    let store2 = new_store(tmp.path(), "b");
    let again = load_docker_archive(&mut Cursor::new(&archive), &store2).expect("load saved");
    assert_eq!(again[0].config_digest.as_str(), image.config_digest);
    assert_eq!(again[0].tags, ["example.com/app:1"]);
}

#[test]
fn wrong_diff_id_names_the_layer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let tar = layer_tar("a.txt", b"hello\n");
    let wrong = sha256(b"not the layer");
    let image = put_image(
        &store,
        &[(&tar, Comp::Gzip)],
        Some(vec![wrong.clone()]),
        &[],
    );

    let mut out = Vec::new();
    let err = save_docker_archive(&store, std::slice::from_ref(&image), &mut out)
        .expect_err("wrong DiffID");
    let blob = &image.layers[0].blob.digest;
    match &err {
        ArchiveError::DiffIdMismatch {
            layer,
            expected,
            actual,
            ..
        } => {
            assert!(layer.contains(blob.as_str()), "{err}");
            assert_eq!(expected, &wrong);
            assert_eq!(actual, &sha256(&tar));
        }
        other => panic!("expected a DiffID mismatch, got {other:?}"),
    }
    assert!(err.to_string().contains(blob.as_str()), "{err}");
    assert!(out.is_empty(), "nothing written");

    // An OCI layout copies blobs as stored: the DiffID is not its concern.
    save_oci_layout(&store, &[image], &tmp.path().join("oci")).expect("save OCI");
}

#[test]
fn shared_layers_are_written_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let base = layer_tar("base.txt", b"base\n");
    let top_a = layer_tar("a.txt", b"a\n");
    let top_b = layer_tar("b.txt", b"b\n");
    let a = put_image(
        &store,
        &[(&base, Comp::Gzip), (&top_a, Comp::None)],
        None,
        &["docker.io/library/a:1"],
    );
    let b = put_image(
        &store,
        &[(&base, Comp::Gzip), (&top_b, Comp::Zstd)],
        None,
        &["docker.io/user/b:2"],
    );
    let mut a_again = a.clone();
    a_again.tags = vec![
        "docker.io/library/a:latest".into(),
        "docker.io/library/a:1".into(),
    ];
    let images = [a.clone(), b.clone(), a_again];

    let entries = tar_entries(&save_docker(&store, &images));
    let blobs = entries
        .iter()
        .filter(|(p, _)| p.starts_with("blobs/sha256/") && p.len() > "blobs/sha256/".len())
        .count();
    assert_eq!(
        blobs,
        3 + 2 + 2,
        "3 distinct layers, 2 configs, 2 manifests"
    );
    assert_eq!(
        json(entry(&entries, "manifest.json"))
            .as_array()
            .expect("array")
            .iter()
            .map(|m| m["RepoTags"].clone())
            .collect::<Vec<_>>(),
        [
            serde_json::json!(["a:1", "a:latest"]),
            serde_json::json!(["user/b:2"])
        ]
    );
    let repositories = json(entry(&entries, "repositories"));
    assert_eq!(repositories["a"]["latest"], hex(&sha256(&top_a)));
    assert_eq!(repositories["user/b"]["2"], hex(&sha256(&top_b)));
    assert_eq!(
        json(entry(&entries, "index.json"))["manifests"]
            .as_array()
            .expect("manifests")
            .len(),
        3
    );

    let out = tmp.path().join("oci");
    save_oci_layout(&store, &images, &out).expect("save OCI");
    assert_eq!(
        fs::read_dir(out.join("blobs/sha256"))
            .expect("list")
            .count(),
        7
    );
    let index = json(&fs::read(out.join("index.json")).expect("index.json"));
    let refs: Vec<&str> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            m["annotations"][ANNOTATION_IMAGE_NAME]
                .as_str()
                .expect("name")
        })
        .collect();
    assert_eq!(
        refs,
        [
            "docker.io/library/a:1",
            "docker.io/user/b:2",
            "docker.io/library/a:latest"
        ]
    );
    let store2 = new_store(tmp.path(), "b");
    let name = Reference::parse("x").expect("reference");
    let loaded = load_oci_layout(&out, &store2, Some(&name)).expect("load saved");
    assert_eq!(loaded.len(), 2, "two distinct images");
}

#[test]
fn untagged_image() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let tar = layer_tar("a.txt", b"untagged\n");
    let image = put_image(&store, &[(&tar, Comp::Gzip)], None, &[]);

    let entries = tar_entries(&save_docker(&store, std::slice::from_ref(&image)));
    assert!(entries.iter().all(|(p, _)| p != "repositories"));
    assert_eq!(
        json(entry(&entries, "manifest.json"))[0]["RepoTags"],
        serde_json::Value::Null
    );
    let index = json(entry(&entries, "index.json"));
    assert!(index["manifests"][0].get("annotations").is_none());

    let out = tmp.path().join("oci");
    save_oci_layout(&store, std::slice::from_ref(&image), &out).expect("save OCI");
    let store2 = new_store(tmp.path(), "b");
    let loaded = load_oci_layout(&out, &store2, None).expect("load saved");
    assert_eq!(loaded[0].manifest_digest.as_str(), image.manifest_digest);
    assert_eq!(loaded[0].ref_name, None);
}

// ---------------------------------------------------------------------------
// Errors

#[test]
fn missing_blob_is_named_and_nothing_is_left() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let tar = layer_tar("a.txt", b"gone\n");
    let image = put_image(&store, &[(&tar, Comp::Gzip)], None, &["busybox"]);
    let missing = image.layers[0].blob.digest.clone();
    assert!(store.delete(&missing).expect("delete"));

    let mut out = Vec::new();
    let err = save_docker_archive(&store, std::slice::from_ref(&image), &mut out)
        .expect_err("missing blob");
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(out.is_empty());

    let target = tmp.path().join("new");
    let err =
        save_oci_layout(&store, std::slice::from_ref(&image), &target).expect_err("missing blob");
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(
        matches!(
            &err,
            ArchiveError::Store {
                source: crate::store::StoreError::NotFound { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!target.exists(), "no directory created");

    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    save_oci_layout(&store, &[image], &empty).expect_err("missing blob");
    assert_eq!(fs::read_dir(&empty).expect("list").count(), 0, "left empty");
}

#[test]
fn corrupt_blob_is_caught_and_partial_layout_removed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let first = layer_tar("a.txt", b"fine\n");
    let second = layer_tar("b.txt", b"corrupted\n");
    let image = put_image(
        &store,
        &[(&first, Comp::None), (&second, Comp::Gzip)],
        None,
        &["busybox"],
    );
    // Same size, other bytes: only hashing while copying notices.
    let digest = &image.layers[1].blob.digest.clone();
    let path = store.blob_path(digest).expect("blob path");
    let size = image.layers[1].blob.size as usize;
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    fs::write(&path, vec![0u8; size]).expect("corrupt blob");

    for (target, existed) in [
        (tmp.path().join("new"), false),
        (tmp.path().join("empty"), true),
    ] {
        if existed {
            fs::create_dir(&target).expect("mkdir");
        }
        let err = save_oci_layout(&store, std::slice::from_ref(&image), &target)
            .expect_err("corrupt blob");
        assert!(
            matches!(&err, ArchiveError::BlobMismatch { digest: d, .. } if d == digest),
            "{err:?}"
        );
        if existed {
            assert_eq!(fs::read_dir(&target).expect("list").count(), 0, "emptied");
        } else {
            assert!(!target.exists(), "directory removed");
        }
    }

    let mut out = Vec::new();
    let err = save_docker_archive(&store, &[image], &mut out).expect_err("corrupt blob");
    assert!(err.to_string().contains(digest.as_str()), "{err}");
    assert!(out.is_empty());
}

#[test]
fn destination_must_be_empty() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let tar = layer_tar("a.txt", b"x\n");
    let image = put_image(&store, &[(&tar, Comp::None)], None, &[]);

    let full = tmp.path().join("full");
    fs::create_dir(&full).expect("mkdir");
    fs::write(full.join("keep"), b"mine").expect("write");
    let err = save_oci_layout(&store, std::slice::from_ref(&image), &full).expect_err("not empty");
    assert!(
        matches!(err, ArchiveError::BadDestination { .. }),
        "{err:?}"
    );
    assert_eq!(fs::read(full.join("keep")).expect("read"), b"mine");
    assert_eq!(fs::read_dir(&full).expect("list").count(), 1);

    let file = tmp.path().join("file");
    fs::write(&file, b"").expect("write");
    let err = save_oci_layout(&store, &[image], &file).expect_err("a file");
    assert!(
        matches!(err, ArchiveError::BadDestination { .. }),
        "{err:?}"
    );
}

#[test]
fn inconsistent_requests_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let one = layer_tar("1.txt", b"1\n");
    let two = layer_tar("2.txt", b"2\n");
    let a = put_image(&store, &[(&one, Comp::None)], None, &["app:v1"]);
    let b = put_image(
        &store,
        &[(&two, Comp::None)],
        None,
        &["docker.io/library/app:v1"],
    );
    let check = |images: &[SaveImage], needle: &str| {
        let err = save_docker_archive(&store, images, Vec::new()).expect_err(needle);
        assert!(matches!(err, ArchiveError::BadSaveImage { .. }), "{err:?}");
        assert!(err.to_string().contains(needle), "{err}");
    };

    check(&[a.clone(), b.clone()], "docker.io/library/app:v1");
    check(&[], "no image");

    let mut wrong_config = a.clone();
    wrong_config.config_digest = b.config_digest.clone();
    check(&[wrong_config], &b.config_digest);

    let mut wrong_layer = a.clone();
    wrong_layer.layers = b.layers.clone();
    check(&[wrong_layer], &b.layers[0].blob.digest);

    let mut extra_layer = a.clone();
    extra_layer.layers.push(b.layers[0].clone());
    check(&[extra_layer], "2 given");

    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_INDEX,
        "manifests": [],
    });
    let index = store
        .put_bytes(&serde_json::to_vec(&index).expect("index"))
        .expect("put index");
    let mut not_a_manifest = a.clone();
    not_a_manifest.manifest_digest = index.to_string();
    check(&[not_a_manifest], "index");

    let mut bad_tag = a;
    bad_tag.tags = vec!["Not A Reference".into()];
    let err = save_docker_archive(&store, &[bad_tag], Vec::new()).expect_err("bad tag");
    assert!(
        matches!(err, ArchiveError::InvalidReference { .. }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// Interoperability with skopeo and umoci

/// Whether `tool` can be run; prints a notice when it cannot.
fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        eprintln!("NOTICE: {tool} not installed: skipping its part of the interop test");
    }
    found
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn skopeo_and_umoci_read_the_output() {
    let dir = fixture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let name = Reference::parse("busybox").expect("reference");
    let loaded = load_oci_layout(&dir.join("oci"), &store, Some(&name)).expect("load");
    let images: Vec<SaveImage> = loaded.iter().map(SaveImage::from).collect();
    let diff_id = &loaded[0].diff_ids[0];

    let archive = tmp.path().join("busybox.tar");
    let file = fs::File::create(&archive).expect("create archive");
    save_docker_archive(&store, &images, std::io::BufWriter::new(file)).expect("save archive");
    let layout = tmp.path().join("oci");
    save_oci_layout(&store, &images, &layout).expect("save layout");

    if have("skopeo") {
        let docker_ref = format!("docker-archive:{}", archive.display());
        let info = json(run(Command::new("skopeo").args(["inspect", &docker_ref])).as_bytes());
        assert_eq!(info["Layers"], serde_json::json!([diff_id]));

        let oci_ref = format!("oci:{}:latest", layout.display());
        let info = json(run(Command::new("skopeo").args(["inspect", &oci_ref])).as_bytes());
        assert_eq!(info["Digest"], loaded[0].manifest_digest.as_str());

        // A full copy reads and verifies every blob.
        let copy = format!("oci:{}:latest", tmp.path().join("copy").display());
        run(Command::new("skopeo").args(["copy", "--quiet", &docker_ref, &copy]));
    }
    if have("umoci") {
        let image = format!("{}:latest", layout.display());
        run(Command::new("umoci").args(["stat", "--image", &image]));
        let bundle = tmp.path().join("bundle");
        let mut unpack = Command::new("umoci");
        unpack.arg("unpack");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            unpack.arg("--rootless");
        }
        run(unpack.args(["--image", &image]).arg(&bundle));
        assert!(bundle.join("rootfs/bin/busybox").is_file());
    }
    // tmp (the bundle included) is removed on drop.
}

#[test]
fn layout_json_is_compact_and_stable() {
    // The OCI index lists entries in request order, annotations sorted.
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = new_store(tmp.path(), "a");
    let tar = layer_tar("a.txt", b"x\n");
    let image = put_image(&store, &[(&tar, Comp::None)], None, &["busybox:1"]);
    let out = tmp.path().join("oci");
    save_oci_layout(&store, std::slice::from_ref(&image), &out).expect("save");
    let index = fs::read_to_string(out.join("index.json")).expect("index.json");
    let manifest_size = store.size(&image.manifest_digest).expect("size");
    assert_eq!(
        index,
        format!(
            concat!(
                r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","#,
                r#""digest":"{}","size":{},"annotations":{{"io.containerd.image.name":"#,
                r#""docker.io/library/busybox:1","org.opencontainers.image.ref.name":"1"}}}}]}}"#
            ),
            MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, image.manifest_digest, manifest_size
        )
    );
}
