//! docker-py (the Python SDK from PyPI) against berthd: images.pull,
//! containers.run, logs, exec_run, wait (runtime-tests/docker-py/smoke.py).

use std::process::Command;

use runtime_tests::berthd::Berthd;
use runtime_tests::registry::Registry;

#[test]
fn docker_py_runs_containers_against_berthd() {
    let have_sdk = Command::new("python3")
        .args(["-c", "import docker"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        have_sdk,
        "docker-py is not installed (pip install docker; .ci/run does it)"
    );
    let registry = Registry::start().expect("registry");
    registry
        .push_oci_layout(
            &runtime_tests::fixture().join("oci"),
            "latest",
            "busybox:latest",
        )
        .expect("push busybox");
    let daemon = Berthd::start_empty();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/docker-py/smoke.py");
    let out = Command::new("timeout")
        .args(["-k", "5", "180", "python3", script])
        .arg(format!("unix://{}", daemon.socket().display()))
        .arg(registry.host())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "docker-py smoke failed:\n{}\n{}\n--- berthd log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        daemon.log_tail(40)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("docker-py ok"));
}
