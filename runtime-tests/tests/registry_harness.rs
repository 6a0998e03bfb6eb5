//! Tests of the registry harness itself (runtime_tests::registry): a real
//! docker-registry on 127.0.0.1, images pushed with skopeo, basic auth,
//! a two-platform index, and cleanup even when a test panics.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use runtime_tests::fixture;
use runtime_tests::registry::{
    index_platforms, sha256_digest, Registry, AUTH_REALM, MEDIA_TYPE_OCI_INDEX,
};
use serde_json::Value;

/// A value from the fixture's shell-sourceable digests.txt.
fn fixture_digest(key: &str) -> String {
    let path = fixture().join("digests.txt");
    let text = std::fs::read_to_string(&path).expect("reading digests.txt");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("{key} missing from {}", path.display()))
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON")
}

/// The registry process is gone (killed and reaped, not a zombie) and its
/// tempdir removed.
fn assert_cleaned_up(pid: u32, dir: &Path) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("registry"),
        "docker-registry pid {pid} still exists after drop"
    );
    assert!(!dir.exists(), "{} still exists after drop", dir.display());
}

#[test]
fn push_busybox_oci_layout_and_docker_archive() {
    let reg = Registry::start().expect("starting the registry");
    assert!(reg.host().starts_with("127.0.0.1:"));
    assert_eq!(reg.url(), format!("http://{}", reg.host()));
    let v2 = reg.get("/v2/").unwrap();
    assert_eq!(v2.status, 200, "{}", reg.log_tail());
    assert_eq!(
        v2.header("Docker-Distribution-Api-Version"),
        Some("registry/2.0")
    );
    assert_eq!(reg.catalog().unwrap(), Vec::<String>::new());

    // The OCI layout goes up byte for byte.
    let want = fixture_digest("MANIFEST_DIGEST");
    let digest = reg
        .push_oci_layout(&fixture().join("oci"), "latest", "berth/busybox:latest")
        .unwrap();
    assert_eq!(digest, want, "{}", reg.log_tail());
    assert_eq!(
        reg.manifest_digest("berth/busybox", "latest").unwrap(),
        want
    );
    let raw = reg.raw_manifest("berth/busybox", &want).unwrap();
    let blob = fixture()
        .join("oci/blobs/sha256")
        .join(want.trim_start_matches("sha256:"));
    assert_eq!(raw, std::fs::read(blob).unwrap());

    // The docker-archive becomes a new (compressed) manifest with the same
    // config.
    let archive_digest = reg
        .push_docker_archive(&fixture().join("busybox.tar"), "berth/archive:v1")
        .unwrap();
    assert_eq!(
        reg.manifest_digest("berth/archive", "v1").unwrap(),
        archive_digest
    );
    let manifest = json(&reg.raw_manifest("berth/archive", "v1").unwrap());
    assert_eq!(
        manifest["config"]["digest"],
        fixture_digest("CONFIG_DIGEST").as_str()
    );

    assert_eq!(
        reg.catalog().unwrap(),
        vec!["berth/archive".to_string(), "berth/busybox".to_string()]
    );
    assert_eq!(reg.tags("berth/busybox").unwrap(), vec!["latest"]);
    // The registry's own view of the digest, over plain HTTP.
    let head = reg
        .request(
            "HEAD",
            "/v2/berth/busybox/manifests/latest",
            &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        )
        .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Docker-Content-Digest"), Some(want.as_str()));
}

#[test]
fn auth_requires_basic_credentials() {
    let reg = Registry::start_with_auth("berth", "s3cret:pass").expect("starting the registry");
    assert_eq!(reg.credentials(), Some(("berth", "s3cret:pass")));

    let anon = reg.get("/v2/").unwrap();
    assert_eq!(anon.status, 401, "{}", reg.log_tail());
    assert_eq!(
        anon.header("WWW-Authenticate"),
        Some(format!("Basic realm=\"{AUTH_REALM}\"").as_str())
    );
    assert_eq!(reg.get_authenticated("/v2/").unwrap().status, 200);
    let wrong = runtime_tests::registry::basic_auth("berth", "wrong");
    let denied = reg
        .request("GET", "/v2/", &[("Authorization", wrong.as_str())])
        .unwrap();
    assert_eq!(denied.status, 401);

    // Anonymous push is refused...
    let out = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--dest-no-creds",
        ])
        .arg(format!("oci:{}:latest", fixture().join("oci").display()))
        .arg(reg.docker_ref("anon:latest"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "anonymous push succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        stderr.contains("authentication required") || stderr.contains("unauthorized"),
        "{stderr}"
    );

    // ...the harness's push (with --dest-creds) is not.
    let digest = reg
        .push_oci_layout(&fixture().join("oci"), "latest", "private/busybox:1")
        .unwrap();
    assert_eq!(digest, fixture_digest("MANIFEST_DIGEST"));
    assert_eq!(reg.manifest_digest("private/busybox", "1").unwrap(), digest);
    assert_eq!(reg.catalog().unwrap(), vec!["private/busybox"]);
    assert_eq!(reg.get("/v2/_catalog").unwrap().status, 401);
}

#[test]
fn multi_platform_index() {
    let reg = Registry::start().expect("starting the registry");
    let (index_digest, manifests) = reg.push_multi_platform_index("multi:latest").unwrap();

    let raw = reg.raw_manifest("multi", "latest").unwrap();
    assert_eq!(sha256_digest(&raw), index_digest);
    let index = json(&raw);
    assert_eq!(index["mediaType"], MEDIA_TYPE_OCI_INDEX);
    assert_eq!(index_platforms(&index), manifests);
    let platforms: Vec<&str> = manifests.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);

    // amd64 is the busybox fixture itself, arm64 a distinct tiny image.
    let fixture_manifest = fixture_digest("MANIFEST_DIGEST");
    assert_eq!(manifests[0].1, fixture_manifest);
    assert_ne!(manifests[1].1, fixture_manifest);
    let arm = &manifests[1].1;
    let arm_manifest = json(&reg.raw_manifest("multi", arm).unwrap());
    assert_eq!(arm_manifest["layers"].as_array().unwrap().len(), 1);
    let config = json(
        &reg.skopeo_inspect(&format!("multi@{arm}"), &["--config", "--raw"])
            .unwrap(),
    );
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["os"], "linux");
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        1,
        "{config}"
    );

    // skopeo resolves the index per platform.
    let inspect = |arch: &str| {
        let out = reg
            .skopeo_inspect(
                "multi:latest",
                &["--override-arch", arch, "--format", "{{.Architecture}}"],
            )
            .unwrap();
        String::from_utf8_lossy(&out).trim().to_string()
    };
    assert_eq!(inspect("arm64"), "arm64");
    assert_eq!(inspect("amd64"), "amd64");
}

#[test]
fn registries_run_side_by_side_and_clean_up() {
    let a = Registry::start().unwrap();
    let b = Registry::start_with_auth("u", "p").unwrap();
    assert_ne!(a.host(), b.host());
    assert_ne!(a.dir(), b.dir());
    assert_eq!(a.get("/v2/").unwrap().status, 200);
    assert_eq!(b.get("/v2/").unwrap().status, 401);
    a.check_alive().unwrap();

    let (pid, dir) = (a.pid().expect("running"), a.dir().to_path_buf());
    assert!(dir.join("registry.log").is_file());
    drop(a);
    assert_cleaned_up(pid, &dir);
    // The other one is unaffected.
    b.check_alive().unwrap();
    assert_eq!(b.get_authenticated("/v2/").unwrap().status, 200);
}

#[test]
fn a_panicking_test_still_cleans_up() {
    let (tx, rx) = std::sync::mpsc::channel::<(u32, PathBuf)>();
    let result = std::thread::spawn(move || {
        let reg = Registry::start().unwrap();
        tx.send((reg.pid().unwrap(), reg.dir().to_path_buf()))
            .unwrap();
        panic!("deliberate panic: the registry must still be cleaned up");
    })
    .join();
    assert!(result.is_err());
    let (pid, dir) = rx.recv().unwrap();
    assert_cleaned_up(pid, &dir);
}

#[test]
fn failures_carry_context() {
    let reg = Registry::start().unwrap();
    // Never reaches beyond 127.0.0.1, and says so.
    let err = reg
        .skopeo_copy("docker://example.com/x:y", &reg.docker_ref("x:y"))
        .unwrap_err();
    assert!(err.message().contains("refusing"), "{err}");
    // A failing skopeo reports its command, stderr and the registry log.
    let err = reg
        .push_oci_layout(Path::new("/nonexistent-layout"), "latest", "x:y")
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("skopeo") && text.contains("/nonexistent-layout"),
        "{text}"
    );
    assert!(text.contains("registry.log"), "{text}");
    // 404s come back as errors, not empty lists.
    assert!(reg.tags("no/such/repo").is_err());
}

#[test]
fn many_registries_start_at_once() {
    let handles: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(|| Registry::start().unwrap()))
        .collect();
    let registries: Vec<Registry> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut hosts: Vec<String> = registries.iter().map(|r| r.host()).collect();
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), registries.len(), "{hosts:?}");
    for reg in &registries {
        reg.check_alive().unwrap();
        assert_eq!(reg.get("/v2/").unwrap().status, 200);
    }
    let gone: Vec<(u32, PathBuf)> = registries
        .iter()
        .map(|r| (r.pid().unwrap(), r.dir().to_path_buf()))
        .collect();
    drop(registries);
    for (pid, dir) in gone {
        assert_cleaned_up(pid, &dir);
    }
}
