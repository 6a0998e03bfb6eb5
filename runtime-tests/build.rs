//! Builds `probe`, a static std-only helper binary the tests copy into
//! containers (the busybox rootfs has no libc), to check things busybox
//! cannot: open descriptors, seccomp errnos, the /proc/self/exe attack.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let src = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"))
        .join("probe/probe.rs");
    println!("cargo:rerun-if-changed={}", src.display());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let bin = out.join("probe");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "-O",
            "-C",
            "target-feature=+crt-static",
            "-o",
        ])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("running rustc for the probe");
    assert!(status.success(), "building the probe failed");
    println!("cargo:rustc-env=BERTH_PROBE_BIN={}", bin.display());
}
