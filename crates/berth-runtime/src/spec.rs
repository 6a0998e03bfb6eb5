//! Loading and validating a bundle's `config.json`. Everything that can be
//! checked before a process is forked is checked here, so bad input fails
//! early with a clear message and leaves nothing behind.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};
use crate::namespaces::NamespacePlan;

/// A parsed bundle: its directory, the spec, and the absolute rootfs path.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Reads `<dir>/config.json`, parses and validates it.
    pub fn load(dir: &Path) -> Result<Self> {
        let dir = std::fs::canonicalize(dir).map_err(|e| Error::io("open bundle", dir, e))?;
        let config_path = dir.join("config.json");
        let spec = parse_config(&config_path)?;
        let rootfs = resolve_rootfs(&dir, &spec)?;
        validate(&spec)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Parses a config.json file, reporting the line and column of a syntax error.
pub fn parse_config(path: &Path) -> Result<Spec> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn resolve_rootfs(bundle: &Path, spec: &Spec) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::InvalidSpec("root is missing".into()))?;
    let path = bundle.join(root.path());
    let meta = std::fs::metadata(&path).map_err(|e| Error::io("root filesystem", &path, e))?;
    if !meta.is_dir() {
        return Err(Error::InvalidSpec(format!(
            "root filesystem {} is not a directory",
            path.display()
        )));
    }
    std::fs::canonicalize(&path).map_err(|e| Error::io("root filesystem", &path, e))
}

/// Checks the parts of a spec the runtime relies on.
pub fn validate(spec: &Spec) -> Result<()> {
    let major = spec.version().split('.').next().unwrap_or("");
    if major != "1" {
        return Err(Error::InvalidSpec(format!(
            "ociVersion {:?} is not supported (need 1.x)",
            spec.version()
        )));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::InvalidSpec("process is missing".into()))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::InvalidSpec("process.args must not be empty".into()));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::InvalidSpec(format!(
            "process.cwd {} must be absolute",
            process.cwd().display()
        )));
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::InvalidSpec("linux section is missing".into()))?;
    let plan = NamespacePlan::from_spec(linux.namespaces().as_deref().unwrap_or_default())?;
    validate_namespaces(spec, &plan)?;
    if let Some(sysctls) = linux.sysctl() {
        for key in sysctls.keys() {
            validate_sysctl(key, &plan)?;
        }
    }
    Ok(())
}

fn validate_namespaces(spec: &Spec, plan: &NamespacePlan) -> Result<()> {
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !plan.has(LinuxNamespaceType::Uts)
    {
        return Err(Error::InvalidSpec(
            "a hostname needs a uts namespace of the container's own".into(),
        ));
    }
    let linux = spec.linux().as_ref();
    let has_maps = linux.is_some_and(|l| l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()));
    if plan.creates(LinuxNamespaceType::User) && !has_maps {
        return Err(Error::InvalidSpec(
            "a new user namespace needs linux.uidMappings and linux.gidMappings".into(),
        ));
    }
    if !plan.has(LinuxNamespaceType::Mount) {
        return Err(Error::InvalidSpec(
            "a mount namespace is required (the rootfs is set up in it)".into(),
        ));
    }
    Ok(())
}

/// Only namespaced sysctls may be set, and only when the container has the
/// namespace they belong to; anything else would change the host.
pub fn validate_sysctl(key: &str, plan: &NamespacePlan) -> Result<()> {
    let needs = |kind: LinuxNamespaceType, what: &str| -> Result<()> {
        if plan.has(kind) {
            Ok(())
        } else {
            Err(Error::InvalidSpec(format!(
                "sysctl {key:?} needs the container to have its own {what} namespace"
            )))
        }
    };
    const IPC_KEYS: [&str; 6] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
    ];
    if IPC_KEYS.contains(&key) || key == "kernel.shmmni" || key == "kernel.shm_rmid_forced" {
        return needs(LinuxNamespaceType::Ipc, "ipc");
    }
    if key.starts_with("fs.mqueue.") {
        return needs(LinuxNamespaceType::Ipc, "ipc");
    }
    if key.starts_with("net.") {
        return needs(LinuxNamespaceType::Network, "network");
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        return needs(LinuxNamespaceType::Uts, "uts");
    }
    Err(Error::InvalidSpec(format!(
        "sysctl {key:?} is not namespaced and cannot be set in a container"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_from(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    const MINIMAL: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
        "process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},
        "linux":{"namespaces":[{"type":"mount"},{"type":"pid"}]}}"#;

    #[test]
    fn minimal_spec_is_valid() {
        validate(&spec_from(MINIMAL)).unwrap();
    }

    #[test]
    fn hostname_without_uts_is_rejected() {
        let spec = spec_from(&MINIMAL.replace("\"root\"", "\"hostname\":\"x\",\"root\""));
        assert!(validate(&spec).unwrap_err().to_string().contains("uts"));
    }

    #[test]
    fn unknown_namespace_fails_to_parse() {
        let err = serde_json::from_str::<Spec>(&MINIMAL.replace("\"pid\"", "\"bogus\""));
        assert!(err.unwrap_err().to_string().contains("bogus"));
    }

    #[test]
    fn host_sysctls_are_rejected() {
        let plan = NamespacePlan::from_spec(&[]).unwrap();
        assert!(validate_sysctl("vm.swappiness", &plan).is_err());
        assert!(validate_sysctl("net.ipv4.ip_forward", &plan).is_err());
    }

    #[test]
    fn namespaced_sysctls_are_accepted() {
        let spec = spec_from(
            r#"{"ociVersion":"1.0.2","process":{"args":["x"],"cwd":"/","user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"network"},{"type":"ipc"},{"type":"mount"}]}}"#,
        );
        let plan = NamespacePlan::from_spec(
            spec.linux()
                .as_ref()
                .unwrap()
                .namespaces()
                .as_ref()
                .unwrap(),
        )
        .unwrap();
        validate_sysctl("net.ipv4.ip_unprivileged_port_start", &plan).unwrap();
        validate_sysctl("kernel.shmmax", &plan).unwrap();
        validate_sysctl("fs.mqueue.msg_max", &plan).unwrap();
    }
}
