//! Pull, push and login against a real registry (Debian's docker-registry
//! on 127.0.0.1), with skopeo as the independent client on the other side.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_image::images::{no_progress, ImageError, Images, Progress, PullOptions, RemoveAction};
use berth_image::manifest::Platform;
use berth_image::reference::Reference;
use berth_image::registry::{Credentials, RegistryClient, RegistryError};
use runtime_tests::registry::{sha256_digest, Registry};
use runtime_tests::{fixture, unique_id};

fn open_images(dir: &Path) -> Images {
    Images::open(dir, RegistryClient::default()).expect("open image root")
}

fn reference(registry: &Registry, repo_and_tag: &str) -> Reference {
    Reference::parse(&registry.image_ref(repo_and_tag)).expect("reference")
}

/// The busybox fixture's manifest digest, as pushed with digests preserved.
fn push_busybox(registry: &Registry, repo_and_tag: &str) -> String {
    registry
        .push_oci_layout(&fixture().join("oci"), "latest", repo_and_tag)
        .expect("push busybox")
}

fn pull_collecting(
    images: &Images,
    r: &Reference,
    options: &PullOptions,
) -> (
    Result<berth_image::images::PullOutcome, ImageError>,
    Vec<Progress>,
) {
    let events = Mutex::new(Vec::new());
    let sink = |p: Progress| events.lock().unwrap().push(p);
    let out = images.pull(r, options, &sink);
    (out, events.into_inner().unwrap())
}

fn statuses(events: &[Progress]) -> Vec<String> {
    events.iter().map(Progress::status).collect()
}

#[test]
fn pull_by_tag_and_digest_then_up_to_date() {
    let registry = Registry::start().unwrap();
    let digest = push_busybox(&registry, "busybox:latest");
    let dir = tempfile::tempdir().unwrap();
    let images = open_images(dir.path());

    let r = reference(&registry, "busybox:latest");
    let (out, events) = pull_collecting(&images, &r, &PullOptions::default());
    let out = out.expect("pull");
    assert_eq!(out.digest, digest);
    assert!(out.downloaded);
    let s = statuses(&events);
    assert!(s.contains(&"Pulling fs layer".to_string()), "{s:?}");
    assert!(s.contains(&"Downloading".to_string()), "{s:?}");
    assert!(s.contains(&"Pull complete".to_string()), "{s:?}");
    assert!(
        s.iter()
            .any(|l| l.starts_with("Status: Downloaded newer image for 127.0.0.1:")),
        "{s:?}"
    );
    let image = images.resolve(&r.to_string()).unwrap();
    assert_eq!(image.id, out.image_id);
    assert!(image
        .repo_digests
        .contains(&format!("{}@{digest}", r.name())));
    let layers = images.layer_paths(&image).unwrap();
    assert!(layers[0].join("bin/busybox").is_file());

    // Again: nothing downloaded.
    let (out, events) = pull_collecting(&images, &r, &PullOptions::default());
    assert!(!out.unwrap().downloaded);
    let s = statuses(&events);
    assert!(s.contains(&"Already exists".to_string()), "{s:?}");
    assert!(!s.contains(&"Downloading".to_string()), "{s:?}");
    assert!(
        s.iter()
            .any(|l| l.starts_with("Status: Image is up to date")),
        "{s:?}"
    );

    // By digest, into a fresh root: no tag, found by name@digest.
    let dir2 = tempfile::tempdir().unwrap();
    let images2 = open_images(dir2.path());
    let by_digest = Reference::parse(&registry.image_ref(&format!("busybox@{digest}"))).unwrap();
    images2
        .pull(&by_digest, &PullOptions::default(), &no_progress)
        .expect("pull by digest");
    assert_eq!(
        images2.resolve(&by_digest.to_string()).unwrap().id,
        image.id
    );
    assert!(images2.metadata().tags().unwrap().is_empty());
}

/// Nothing of a failed pull is visible: no image, no tag, no snapshot.
fn assert_no_image(images: &Images) {
    assert!(images.list().unwrap().is_empty());
    assert!(images.metadata().layers().unwrap().is_empty());
    let snapshots = images.root().join("snapshots");
    assert_eq!(fs::read_dir(&snapshots).unwrap().count(), 0);
    let tmp = images.root().join("snapshots-tmp");
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    let ingest = images.root().join("ingest");
    assert_eq!(fs::read_dir(&ingest).unwrap().count(), 0);
}

#[test]
fn pull_errors_are_clear_and_leave_nothing() {
    let registry = Registry::start().unwrap();
    push_busybox(&registry, "busybox:latest");
    let dir = tempfile::tempdir().unwrap();
    let images = open_images(dir.path());

    let err = images
        .pull(
            &reference(&registry, "busybox:nope"),
            &PullOptions::default(),
            &no_progress,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::Registry(RegistryError::ManifestUnknown { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("manifest unknown"), "{err}");
    let err = images
        .pull(
            &reference(&registry, "nothing/here:1"),
            &PullOptions::default(),
            &no_progress,
        )
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");

    // A registry that is not there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let r = Reference::parse(&format!("127.0.0.1:{port}/busybox")).unwrap();
    let err = images
        .pull(&r, &PullOptions::default(), &no_progress)
        .unwrap_err();
    assert!(
        matches!(err, ImageError::Registry(RegistryError::Unreachable { .. })),
        "{err}"
    );

    // A layer whose bytes were changed in the registry's storage: the
    // digest check fails and nothing is kept.
    let digests = fs::read_to_string(fixture().join("digests.txt")).unwrap();
    let layer_digest = digests
        .lines()
        .find_map(|l| l.strip_prefix("LAYER_DIGESTS="))
        .map(|d| {
            d.trim_matches('"')
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .expect("LAYER_DIGESTS in digests.txt");
    let hex = layer_digest.trim_start_matches("sha256:");
    let data = registry
        .dir()
        .join("storage/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&data, bytes).unwrap();
    let err = images
        .pull(
            &reference(&registry, "busybox:latest"),
            &PullOptions::default(),
            &no_progress,
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(hex), "{text}");
    assert_no_image(&images);
}

#[test]
fn basic_auth_registry_needs_credentials() {
    let registry = Registry::start_with_auth("berth", "s3cret").unwrap();
    push_busybox(&registry, "private/busybox:latest");
    let dir = tempfile::tempdir().unwrap();
    let images = open_images(dir.path());
    let r = reference(&registry, "private/busybox:latest");

    let err = images
        .pull(&r, &PullOptions::default(), &no_progress)
        .unwrap_err();
    assert!(err.to_string().starts_with("unauthorized"), "{err}");
    let wrong = PullOptions {
        credentials: Some(Credentials {
            username: "berth".into(),
            password: "wrong".into(),
        }),
        ..Default::default()
    };
    let err = images.pull(&r, &wrong, &no_progress).unwrap_err();
    assert!(err.to_string().starts_with("unauthorized"), "{err}");
    assert_no_image(&images);

    let creds = Credentials {
        username: "berth".into(),
        password: "s3cret".into(),
    };
    let client = RegistryClient::default();
    client
        .login(&registry.host(), creds.clone())
        .expect("login");
    assert!(client
        .login(
            &registry.host(),
            Credentials {
                username: "berth".into(),
                password: "nope".into()
            }
        )
        .is_err());
    let right = PullOptions {
        credentials: Some(creds.clone()),
        ..Default::default()
    };
    images
        .pull(&r, &right, &no_progress)
        .expect("pull with credentials");

    // Push needs them too.
    let target = reference(&registry, "private/copy:v1");
    images.tag(&r.to_string(), &target.to_string()).unwrap();
    assert!(images.push(&target, None, None, &no_progress).is_err());
    let out = images
        .push(&target, Some(creds), None, &no_progress)
        .expect("push with credentials");
    assert_eq!(
        registry.manifest_digest("private/copy", "v1").unwrap(),
        out.digest
    );
}

#[test]
fn push_monolithic_and_chunked_then_read_back_with_skopeo() {
    let registry = Registry::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let images = open_images(dir.path());
    let loaded = images.load(&fixture().join("busybox.tar")).unwrap();
    let manifest = loaded[0].record.manifest_digest.clone();

    let mono = reference(&registry, "team/busybox:mono");
    images.tag("busybox", &mono.to_string()).unwrap();
    let out = images.push(&mono, None, None, &no_progress).unwrap();
    assert_eq!(
        out.digest, manifest,
        "the stored manifest goes up unchanged"
    );
    assert_eq!(out.uploaded, 2, "one layer and the config");
    assert_eq!(
        registry.manifest_digest("team/busybox", "mono").unwrap(),
        manifest
    );
    // Pushing again uploads nothing.
    let again = images.push(&mono, None, None, &no_progress).unwrap();
    assert_eq!(again.uploaded, 0);

    let chunked = reference(&registry, "team/chunked:c");
    images.tag("busybox", &chunked.to_string()).unwrap();
    let out = images
        .push(&chunked, None, Some(64 * 1024), &no_progress)
        .unwrap();
    assert_eq!(out.uploaded, 2);
    // skopeo copies it back out; the layer's bytes are intact.
    let copy = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:c", copy.path().join("oci").display());
    registry
        .skopeo_copy_with(
            &registry.docker_ref("team/chunked:c"),
            &dest,
            &["--preserve-digests"],
        )
        .expect("skopeo copy from the registry");
    let record = images.resolve("busybox").unwrap();
    let blob = copy
        .path()
        .join("oci/blobs/sha256")
        .join(record.layers[0].blob.digest.trim_start_matches("sha256:"));
    assert_eq!(
        sha256_digest(&fs::read(blob).unwrap()),
        record.layers[0].blob.digest
    );
    assert!(
        images
            .resolve(&chunked.to_string())
            .unwrap()
            .repo_digests
            .len()
            >= 2
    );
}

#[test]
fn multi_platform_index_pulls_the_wanted_platform() {
    let registry = Registry::start().unwrap();
    let (index_digest, platforms) = registry.push_multi_platform_index("multi:latest").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let images = open_images(dir.path());
    let r = reference(&registry, "multi:latest");

    let out = images
        .pull(&r, &PullOptions::default(), &no_progress)
        .unwrap();
    assert_eq!(out.digest, index_digest);
    let amd64 = images.resolve(&out.image_id).unwrap();
    let wanted = platforms.iter().find(|(p, _)| p == "linux/amd64").unwrap();
    assert_eq!(amd64.manifest_digest, wanted.1);

    let dir2 = tempfile::tempdir().unwrap();
    let images2 = open_images(dir2.path());
    let arm = PullOptions {
        platform: Some(Platform::parse("linux/arm64").unwrap()),
        ..Default::default()
    };
    let out = images2.pull(&r, &arm, &no_progress).unwrap();
    let arm64 = images2.resolve(&out.image_id).unwrap();
    let wanted = platforms.iter().find(|(p, _)| p == "linux/arm64").unwrap();
    assert_eq!(arm64.manifest_digest, wanted.1);
    let config = images2.config(&arm64.id).unwrap();
    assert_eq!(config["architecture"], "arm64");

    let s390 = PullOptions {
        platform: Some(Platform::parse("linux/s390x").unwrap()),
        ..Default::default()
    };
    let dir3 = tempfile::tempdir().unwrap();
    let images3 = open_images(dir3.path());
    let err = images3
        .pull(&r, &s390, &no_progress)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no matching manifest for linux/s390x"),
        "{err}"
    );
    assert_no_image(&images3);
}

/// Builds an OCI layout of `layers` gzipped layers of incompressible data
/// (`mib` MiB each), so a pull takes long enough to be killed midway.
fn build_big_layout(dir: &Path, layers: usize, mib: usize) -> PathBuf {
    let layout = dir.join("oci");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> (String, usize) {
        let digest = sha256_digest(data);
        fs::write(blobs.join(digest.trim_start_matches("sha256:")), data).unwrap();
        (digest, data.len())
    };
    let mut diff_ids = Vec::new();
    let mut descs = Vec::new();
    for i in 0..layers {
        let root = dir.join(format!("layer{i}"));
        fs::create_dir_all(&root).unwrap();
        let status = Command::new("dd")
            .args(["if=/dev/urandom", "bs=1M", "status=none"])
            .arg(format!("count={mib}"))
            .arg(format!("of={}", root.join(format!("data{i}")).display()))
            .status()
            .unwrap();
        assert!(status.success());
        let tar = Command::new("tar")
            .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C"])
            .arg(&root)
            .args(["-cf", "-", "."])
            .output()
            .unwrap();
        assert!(tar.status.success());
        diff_ids.push(sha256_digest(&tar.stdout));
        let mut gz = Command::new("gzip")
            .args(["-n", "-1", "-c"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = gz.stdin.take().unwrap();
        let data = tar.stdout;
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            stdin.write_all(&data).unwrap();
        });
        let out = gz.wait_with_output().unwrap();
        writer.join().unwrap();
        let (digest, size) = put(&out.stdout);
        descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest, "size": size
        }));
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    });
    let (cdigest, csize) = put(&serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
        "layers": descs
    });
    let (mdigest, msize) = put(&serde_json::to_vec(&manifest).unwrap());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": mdigest, "size": msize,
            "annotations": {"org.opencontainers.image.ref.name": "big"}
        }]
    });
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    layout
}

/// Pushes `big:latest`: 4 gzipped layers of 12 MiB of incompressible
/// data each, built under `dir`.
fn push_big_image(registry: &Registry, dir: &Path) {
    let layout = build_big_layout(dir, 4, 12);
    registry
        .skopeo_copy_with(
            &format!("oci:{}:big", layout.display()),
            &registry.docker_ref("big:latest"),
            &["--preserve-digests"],
        )
        .unwrap();
}

fn image_tool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_image-tool"))
}

/// The blob digests the registry served with `GET .../blobs/<digest>`
/// after byte `from` of its log.
fn blobs_served(registry: &Registry, from: usize) -> BTreeSet<String> {
    let log = fs::read_to_string(registry.log_path()).unwrap_or_default();
    log.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:") && l.contains(" 200 "))
        .filter_map(|l| l.split("/blobs/").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Waits (bounded) until the registry's log stops growing: it writes an
/// access line after the response, which can be after our read finished.
fn wait_for_quiet_log(registry: &Registry) {
    let size = || fs::metadata(registry.log_path()).map_or(0, |m| m.len());
    let mut last = size();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = size();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Checks what `Images::open` promises after a crash: every recorded
/// layer has its snapshot, no partial files remain.
fn assert_consistent(root: &Path) {
    let images = open_images(root);
    for layer in images.metadata().layers().unwrap() {
        let hex = layer.diff_id.trim_start_matches("sha256:");
        assert!(
            root.join("snapshots").join(hex).is_dir(),
            "{}",
            layer.diff_id
        );
    }
    for image in images.metadata().images().unwrap() {
        for blob in [&image.id, &image.manifest_digest] {
            assert!(images.blobs().contains(blob).unwrap(), "{blob}");
        }
    }
    assert_eq!(fs::read_dir(root.join("ingest")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(root.join("snapshots-tmp")).unwrap().count(), 0);
}

#[test]
fn killed_mid_pull_the_store_stays_consistent_and_resumes() {
    let registry = Registry::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    push_big_image(&registry, work.path());
    let r = registry.image_ref("big:latest");
    let root = work.path().join("root");

    // One full pull to learn how long it takes, then kills at points
    // spread over that time.
    let start = Instant::now();
    let full = image_tool()
        .arg(work.path().join("probe-root"))
        .args(["pull", &r])
        .output()
        .unwrap();
    assert!(
        full.status.success(),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    let took = start.elapsed();
    let seed = u64::from(std::process::id()) ^ start.elapsed().subsec_nanos() as u64;
    for k in 0..6u64 {
        // A pseudo-random point within the pull (xorshift on the seed).
        let mut x = seed.wrapping_add(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = took.mul_f64((x % 1000) as f64 / 1000.0);
        let mut child = image_tool()
            .arg(&root)
            .args(["pull", &r])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("kill {k} after {at:?} (full pull {took:?})");
        assert_consistent(&root);
    }

    let before: BTreeSet<String> = open_images(&root)
        .blobs()
        .list()
        .unwrap()
        .into_iter()
        .map(|d| d.to_string())
        .collect();
    let log_offset = fs::metadata(registry.log_path()).map_or(0, |m| m.len() as usize);
    let out = image_tool().arg(&root).args(["pull", &r]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_quiet_log(&registry);
    let served = blobs_served(&registry, log_offset);
    let again: Vec<&String> = served.intersection(&before).collect();
    assert!(again.is_empty(), "downloaded again: {again:?}");
    assert_consistent(&root);
    let images = open_images(&root);
    let image = images.resolve(&r).unwrap();
    for (layer, path) in image
        .layers
        .iter()
        .rev()
        .zip(images.layer_paths(&image).unwrap())
    {
        assert!(path.is_dir(), "{}", layer.diff_id);
    }
    eprintln!("blobs committed before the last pull: {}", before.len());
}

#[test]
fn rmi_after_pull_frees_everything() {
    let registry = Registry::start().unwrap();
    push_busybox(&registry, "busybox:latest");
    let dir = tempfile::tempdir().unwrap();
    let images = open_images(dir.path());
    let r = reference(&registry, "busybox:latest");
    images
        .pull(&r, &PullOptions::default(), &no_progress)
        .unwrap();
    let id = unique_id("c");
    let image = images.resolve(&r.to_string()).unwrap();
    images.add_container(&id, &image.id).unwrap();
    assert!(images.remove(&r.to_string(), false).is_err());
    images.remove_container(&id).unwrap();
    let actions = images.remove(&r.to_string(), false).unwrap();
    assert!(matches!(actions.last(), Some(RemoveAction::Deleted(d)) if *d == image.id));
    assert_no_image(&images);
    assert!(images.blobs().list().unwrap().is_empty());
}

/// A tmpfs of a given size, unmounted on drop (also on a panic).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: usize) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={mib}m,mode=0700"))
            .arg("berth-test-small-disk")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount a {mib} MiB tmpfs");
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn grow(&self, mib: usize) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success(), "grow the tmpfs to {mib} MiB");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        runtime_tests::cleanup::unmount_under(self.dir.path());
    }
}

/// A disk that fills up mid-pull: the error says so, in words a user acts
/// on, and nothing half-made is left (no image, no partial blob or
/// snapshot); with room again, the same pull completes.
#[test]
fn a_full_disk_fails_the_pull_cleanly() {
    let registry = Registry::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    // About 48 MiB of blobs and 48 MiB of snapshots, which a 40 MiB disk
    // cannot hold.
    push_big_image(&registry, work.path());
    let r = reference(&registry, "big:latest");
    let disk = SmallDisk::mount(40);
    let root = disk.path().join("root");

    let images = open_images(&root);
    let err = images
        .pull(&r, &PullOptions::default(), &no_progress)
        .unwrap_err();
    let text = err.to_string();
    eprintln!("the error: {text}");
    assert!(matches!(err, ImageError::DiskFull { .. }), "{err:?}");
    assert!(
        text.contains("no space left on device") && text.contains(&root.display().to_string()),
        "the error names the cause and the place: {text}"
    );
    assert_no_image(&images);
    drop(images);
    assert_consistent(&root);

    disk.grow(256);
    let images = open_images(&root);
    images
        .pull(&r, &PullOptions::default(), &no_progress)
        .expect("the pull completes once there is room");
    assert_eq!(images.list().unwrap().len(), 1);
    drop(images);
    assert_consistent(&root);
}
