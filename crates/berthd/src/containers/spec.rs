//! Docker's container config and host config to an OCI runtime spec, with
//! Docker's defaults: its capability set, mounts, masked and read-only
//! paths, the default seccomp profile, and the resources asked for.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::Read;
use std::path::Path;

use serde_json::{json, Value};

use super::record::ContainerRecord;
use super::seccomp;
use crate::http::ApiError;

/// Docker's default capabilities.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths hidden from the container (Docker's list).
const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths made read-only (Docker's list).
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The files berthd writes for each container and binds in.
pub struct EtcFiles<'a> {
    pub hostname: &'a Path,
    pub hosts: &'a Path,
    pub resolv_conf: &'a Path,
}

/// Builds the OCI spec for a container whose root filesystem is mounted
/// at `rootfs`.
pub fn build(record: &ContainerRecord, rootfs: &Path, etc: &EtcFiles) -> Result<Value, ApiError> {
    let config = &record.config;
    let host = &record.host_config;
    let privileged = host["Privileged"].as_bool().unwrap_or(false);
    let user = user_in(rootfs, config["User"].as_str().unwrap_or(""))?;
    let caps = capabilities(host, privileged)?;
    let mut args = vec![record.path.clone()];
    args.extend(record.args.iter().cloned());
    let tty = record.tty();
    let mut process = json!({
        "terminal": tty,
        "user": { "uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids },
        "args": args,
        "env": environment(config, tty, &user.home),
        "cwd": non_empty(config["WorkingDir"].as_str()).unwrap_or("/"),
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
        },
        "rlimits": rlimits(host),
        "noNewPrivileges": security_opt(host, "no-new-privileges"),
    });
    if let Some(size) = host["ConsoleSize"].as_array().filter(|s| s.len() == 2) {
        let (h, w) = (size[0].as_u64().unwrap_or(0), size[1].as_u64().unwrap_or(0));
        if h > 0 && w > 0 {
            process["consoleSize"] = json!({ "height": h, "width": w });
        }
    }
    let mut linux = json!({
        "namespaces": namespaces(host),
        "cgroupsPath": format!("/berth/{}", record.id),
        "resources": resources(host)?,
    });
    if !privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
        if let Some(profile) = seccomp_profile(host, &caps)? {
            linux["seccomp"] = profile;
        }
    }
    let mut annotations = serde_json::Map::new();
    if host["Init"].as_bool().unwrap_or(false) {
        // The runtime's built-in minimal init becomes PID 1.
        annotations.insert(
            berth_runtime::process::minimal_init::ANNOTATION.into(),
            json!("true"),
        );
    }
    Ok(json!({
        "ociVersion": "1.0.2",
        "annotations": annotations,
        "process": process,
        "root": { "path": "rootfs", "readonly": host["ReadonlyRootfs"].as_bool().unwrap_or(false) },
        "hostname": non_empty(config["Hostname"].as_str()).unwrap_or(record.short_id()),
        "mounts": mounts(etc, privileged, &record.mounts)?,
        "linux": linux,
    }))
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// The image's and the user's environment, with PATH, HOSTNAME, HOME and
/// TERM filled in as Docker does.
fn environment(config: &Value, tty: bool, home: &str) -> Vec<String> {
    let mut env: Vec<String> = config["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let has = |env: &[String], key: &str| env.iter().any(|e| e.split('=').next() == Some(key));
    if !has(&env, "PATH") {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    if let Some(h) = non_empty(config["Hostname"].as_str()) {
        if !has(&env, "HOSTNAME") {
            env.push(format!("HOSTNAME={h}"));
        }
    }
    if tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// `--cap-add`/`--cap-drop` over Docker's defaults (`ALL` allowed on both
/// sides; names with or without `CAP_`).
fn capabilities(host: &Value, privileged: bool) -> Result<Vec<String>, ApiError> {
    let all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    if privileged {
        return Ok(all);
    }
    let list = |key: &str| -> Vec<String> {
        host[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .map(normalize_cap)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (add, drop) = (list("CapAdd"), list("CapDrop"));
    for cap in add.iter().chain(drop.iter()) {
        if cap != "ALL" && !all.contains(cap) {
            return Err(ApiError::bad_request(format!("invalid capability: {cap}")));
        }
    }
    let mut set: BTreeSet<String> = if drop.iter().any(|c| c == "ALL") {
        BTreeSet::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drop.contains(c))
            .collect()
    };
    if add.iter().any(|c| c == "ALL") {
        set.extend(all);
    } else {
        set.extend(add);
    }
    Ok(set.into_iter().collect())
}

fn normalize_cap(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if upper == "ALL" || upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// Docker's namespaces; `--network host` shares the host's.
fn namespaces(host: &Value) -> Vec<Value> {
    let mut ns = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    if host["NetworkMode"].as_str() != Some("host") {
        ns.push(json!({"type": "network"}));
    }
    if host["PidMode"].as_str() == Some("host") {
        ns.retain(|n| n["type"] != "pid");
    }
    ns
}

/// The open-files limit Docker's daemon passes on; `--ulimit` entries
/// replace or add.
fn rlimits(host: &Value) -> Vec<Value> {
    // The daemon's own limit, as Docker passes on dockerd's: a fixed
    // 1048576 fails where fs.nr_open is lower.
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap_or((1024, 4096));
    let mut limits =
        vec![json!({"type": "RLIMIT_NOFILE", "hard": hard, "soft": soft.max(hard.min(1_048_576))})];
    for u in host["Ulimits"].as_array().into_iter().flatten() {
        let Some(name) = u["Name"].as_str() else {
            continue;
        };
        let kind = format!("RLIMIT_{}", name.to_ascii_uppercase());
        limits.retain(|l| l["type"] != kind.as_str());
        limits.push(json!({"type": kind, "hard": u["Hard"], "soft": u["Soft"]}));
    }
    limits
}

/// Whether `--security-opt <name>` (or `name=true`) was given.
fn security_opt(host: &Value, name: &str) -> bool {
    host["SecurityOpt"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|o| {
            o == name
                || o.strip_prefix(name)
                    .and_then(|r| r.strip_prefix(['=', ':']))
                    == Some("true")
        })
}

/// The seccomp profile: Docker's default, none with
/// `seccomp=unconfined`, or a file given as `seccomp=<JSON>` (the docker
/// CLI sends the file's content).
fn seccomp_profile(host: &Value, caps: &[String]) -> Result<Option<Value>, ApiError> {
    // Rules gated on capabilities follow the container's own set, as
    // Docker's do (`--cap-add SYS_ADMIN` allows mount).
    let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
    for opt in host["SecurityOpt"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let Some(value) = opt
            .strip_prefix("seccomp=")
            .or_else(|| opt.strip_prefix("seccomp:"))
        else {
            continue;
        };
        if value == "unconfined" {
            return Ok(None);
        }
        let profile: Value = serde_json::from_str(value)
            .map_err(|e| ApiError::bad_request(format!("invalid seccomp profile: {e}")))?;
        return seccomp::from_docker_profile_for_caps(&profile, &caps).map(Some);
    }
    Ok(Some(seccomp::default_profile_for_caps(&caps)))
}

/// Memory, CPU, pids limits.
pub fn resources(host: &Value) -> Result<Value, ApiError> {
    let mut res = json!({});
    let memory = host["Memory"].as_i64().unwrap_or(0);
    if memory > 0 {
        res["memory"] = json!({ "limit": memory });
        let swap = host["MemorySwap"].as_i64().unwrap_or(0);
        // Docker's default: swap as large as the memory limit.
        res["memory"]["swap"] = json!(if swap != 0 { swap } else { memory * 2 });
    }
    let nano = host["NanoCpus"].as_i64().unwrap_or(0);
    let mut cpu = json!({});
    if nano > 0 {
        cpu["quota"] = json!(nano * 100_000 / 1_000_000_000);
        cpu["period"] = json!(100_000);
    }
    if let Some(quota) = host["CpuQuota"].as_i64().filter(|q| *q > 0) {
        cpu["quota"] = json!(quota);
        cpu["period"] = json!(host["CpuPeriod"]
            .as_i64()
            .filter(|p| *p > 0)
            .unwrap_or(100_000));
    }
    if let Some(shares) = host["CpuShares"].as_i64().filter(|s| *s > 0) {
        cpu["shares"] = json!(shares);
    }
    if let Some(cpus) = non_empty(host["CpusetCpus"].as_str()) {
        cpu["cpus"] = json!(cpus);
    }
    if cpu.as_object().is_some_and(|o| !o.is_empty()) {
        res["cpu"] = cpu;
    }
    if let Some(pids) = host["PidsLimit"].as_i64().filter(|p| *p > 0) {
        res["pids"] = json!({ "limit": pids });
    }
    if host["Privileged"].as_bool().unwrap_or(false) {
        res["devices"] = json!([{ "allow": true, "access": "rwm" }]);
    }
    Ok(res)
}

/// Docker's default mounts, the etc files, then the container's volumes,
/// binds and tmpfs mounts.
fn mounts(
    etc: &EtcFiles,
    privileged: bool,
    record_mounts: &[super::record::MountPoint],
) -> Result<Vec<Value>, ApiError> {
    let sys_opts = if privileged {
        json!(["nosuid", "noexec", "nodev"])
    } else {
        json!(["nosuid", "noexec", "nodev", "ro"])
    };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
    ];
    for (dest, src) in [
        ("/etc/resolv.conf", etc.resolv_conf),
        ("/etc/hostname", etc.hostname),
        ("/etc/hosts", etc.hosts),
    ] {
        mounts.push(json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
    }
    mounts.extend(super::mounts::oci_mounts(record_mounts)?);
    Ok(mounts)
}

/// The user to run as, resolved against the image's own /etc/passwd and
/// /etc/group, read fd-relative inside the rootfs (a symlink in the image
/// cannot make us read a host file).
pub fn user_in(rootfs: &Path, spec: &str) -> Result<berth_runtime::user::ResolvedUser, ApiError> {
    let passwd = berth_runtime::user::parse_passwd(&read_in_root(rootfs, "etc/passwd"));
    let groups = berth_runtime::user::parse_group(&read_in_root(rootfs, "etc/group"));
    let spec = if spec.is_empty() { "0" } else { spec };
    berth_runtime::user::resolve(spec, &passwd, &groups)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn read_in_root(rootfs: &Path, relative: &str) -> String {
    let read = || -> Option<String> {
        let root = std::fs::File::open(rootfs).ok()?;
        let path = CString::new(relative).ok()?;
        let fd = berth_sys::openat2(
            std::os::fd::AsFd::as_fd(&root),
            &path,
            libc::O_RDONLY,
            berth_sys::RESOLVE_IN_ROOT | berth_sys::RESOLVE_NO_MAGICLINKS,
        )
        .ok()?;
        let mut text = String::new();
        std::fs::File::from(fd)
            .take(4 * 1024 * 1024)
            .read_to_string(&mut text)
            .ok()?;
        Some(text)
    };
    read().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_arithmetic() {
        let host = json!({"CapAdd": ["sys_admin"], "CapDrop": ["NET_RAW", "cap_kill"]});
        let caps = capabilities(&host, false).unwrap();
        assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_NET_RAW".to_string()));
        assert!(!caps.contains(&"CAP_KILL".to_string()));
        assert_eq!(caps.len(), 13);
        let none = capabilities(&json!({"CapDrop": ["ALL"], "CapAdd": ["chown"]}), false).unwrap();
        assert_eq!(none, vec!["CAP_CHOWN"]);
        assert!(capabilities(&json!({"CapAdd": ["BOGUS"]}), false).is_err());
        assert!(capabilities(&json!({}), true).unwrap().len() > 30);
    }

    #[test]
    fn security_opts_and_binds() {
        let host = json!({"SecurityOpt": ["no-new-privileges:true", "seccomp=unconfined"]});
        assert!(security_opt(&host, "no-new-privileges"));
        assert!(seccomp_profile(&host, &[]).unwrap().is_none());
        assert!(seccomp_profile(&json!({}), &[]).unwrap().is_some());
    }

    #[test]
    fn cpu_and_memory() {
        let r = resources(
            &json!({"NanoCpus": 500_000_000i64, "Memory": 1_048_576i64, "PidsLimit": 10}),
        )
        .unwrap();
        assert_eq!(r["cpu"]["quota"], 50_000);
        assert_eq!(r["memory"]["limit"], 1_048_576);
        assert_eq!(r["pids"]["limit"], 10);
    }
}
