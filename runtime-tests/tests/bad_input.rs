//! Bad input gets a clear error, a non-zero exit, and leaves nothing behind.

use runtime_tests::{ok, stderr, unique_id, Bundle, Runtime};

fn create_fails(rt: &Runtime, bundle: &Bundle, id: &str, expect: &str) {
    let out = rt.create(bundle, id);
    assert!(!out.status.success(), "create should fail");
    let err = std::fs::read_to_string(bundle.path().join("stderr")).unwrap();
    assert!(
        err.contains(expect),
        "error {err:?} should mention {expect:?}"
    );
    assert!(
        !rt.root().join(id).exists(),
        "state dir left behind for {id}"
    );
}

#[test]
fn missing_config() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["true"]);
    std::fs::remove_file(bundle.path().join("config.json")).unwrap();
    create_fails(&rt, &bundle, &unique_id("noconf"), "config.json");
}

#[test]
fn malformed_config() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["true"]);
    std::fs::write(
        bundle.path().join("config.json"),
        "{\"ociVersion\": \"1.0.2\", \"process\": [",
    )
    .unwrap();
    create_fails(&rt, &bundle, &unique_id("badjson"), "line 1");
}

#[test]
fn unknown_namespace_type() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.spec["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "bogus"}]);
    bundle.save();
    create_fails(&rt, &bundle, &unique_id("badns"), "bogus");
}

#[test]
fn missing_rootfs() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.spec["root"]["path"] = "does-not-exist".into();
    bundle.save();
    create_fails(&rt, &bundle, &unique_id("noroot"), "does-not-exist");
}

#[test]
fn missing_program() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["/no/such/program"]);
    create_fails(&rt, &bundle, &unique_id("noprog"), "/no/such/program");
}

#[test]
fn duplicate_id() {
    let rt = Runtime::new();
    let bundle = Bundle::busybox(&["sleep", "1000"]);
    let id = unique_id("dup");
    ok(&rt.create(&bundle, &id));
    let out = rt.create(&bundle, &id);
    assert!(!out.status.success());
    let err = std::fs::read_to_string(bundle.path().join("stderr")).unwrap();
    assert!(err.contains("already exists"), "{err}");
    // The first container is untouched.
    assert_eq!(rt.status(&id), "created");
}

#[test]
fn invalid_id_and_unknown_container() {
    let rt = Runtime::new();
    let out = rt.run(&["state", "../etc"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid container id"),
        "{}",
        stderr(&out)
    );
    let out = rt.run(&["kill", "nope", "KILL"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    let out = rt.run(&["kill", "nope", "NOTASIGNAL"]);
    assert!(stderr(&out).contains("unknown signal"), "{}", stderr(&out));
}

#[test]
fn host_sysctl_is_refused() {
    let rt = Runtime::new();
    let mut bundle = Bundle::busybox(&["true"]);
    bundle.spec["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "10"});
    bundle.save();
    create_fails(&rt, &bundle, &unique_id("sysctl"), "not namespaced");
}
