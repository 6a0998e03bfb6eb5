//! Helpers shared by the crate's unit tests.

use std::path::PathBuf;
use std::process::Command;

/// The busybox fixture directory (built or reused by the fixture script):
/// `oci/`, `busybox.tar`, `image.json`, `digests.txt`.
pub(crate) fn busybox_fixture() -> PathBuf {
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
