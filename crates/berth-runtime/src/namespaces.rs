//! Linux namespaces: which ones a container gets new, and which ones it joins
//! by path. The spec's list is turned into a plan once, before any fork.

use std::collections::HashSet;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::error::{Error, Result};

/// The namespace kinds Berth handles, in the order they must be joined:
/// the user namespace first (it grants the capabilities to join the rest),
/// the mount namespace last (joining it changes our root and cwd).
pub const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

/// The clone(2) flag for a namespace kind.
pub fn clone_flag(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // CLONE_NEWTIME shares its value with CSIGNAL bits in clone(2) and
        // only works with clone3/unshare; handled by `unshare` in the child.
        LinuxNamespaceType::Time => CloneFlags::empty(),
    }
}

/// The name of a namespace kind under /proc/PID/ns/.
pub fn proc_name(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// What to do with the spec's namespaces.
#[derive(Debug, Clone)]
pub struct NamespacePlan {
    /// Namespaces created fresh, as clone flags.
    pub create: CloneFlags,
    /// Whether a new time namespace is asked for (needs unshare, not clone).
    pub create_time: bool,
    /// Namespaces joined by path, in `JOIN_ORDER`.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
    /// Every kind the container has its own (new or joined).
    pub kinds: HashSet<LinuxNamespaceType>,
}

impl Default for NamespacePlan {
    fn default() -> Self {
        NamespacePlan {
            create: CloneFlags::empty(),
            create_time: false,
            join: Vec::new(),
            kinds: HashSet::new(),
        }
    }
}

impl NamespacePlan {
    /// Builds the plan; a kind listed twice is an error.
    pub fn from_spec(namespaces: &[LinuxNamespace]) -> Result<Self> {
        let mut plan = NamespacePlan::default();
        for ns in namespaces {
            if !plan.kinds.insert(ns.typ()) {
                return Err(Error::InvalidSpec(format!(
                    "namespace {:?} is listed twice",
                    proc_name(ns.typ())
                )));
            }
            match ns.path() {
                Some(path) if !path.as_os_str().is_empty() => {
                    plan.join.push((ns.typ(), path.clone()));
                }
                _ if ns.typ() == LinuxNamespaceType::Time => plan.create_time = true,
                _ => plan.create |= clone_flag(ns.typ()),
            }
        }
        plan.join
            .sort_by_key(|(kind, _)| JOIN_ORDER.iter().position(|k| k == kind));
        Ok(plan)
    }

    pub fn has(&self, kind: LinuxNamespaceType) -> bool {
        self.kinds.contains(&kind)
    }

    pub fn creates(&self, kind: LinuxNamespaceType) -> bool {
        self.create.contains(clone_flag(kind)) && kind != LinuxNamespaceType::Time
    }

    /// Opens every namespace file to join, so a bad path fails before fork.
    pub fn open_joins(&self) -> Result<Vec<(LinuxNamespaceType, File)>> {
        self.join
            .iter()
            .map(|(kind, path)| {
                let file = File::open(path).map_err(|e| Error::io("open namespace", path, e))?;
                Ok((*kind, file))
            })
            .collect()
    }
}

/// setns(2) into an opened namespace file.
pub fn join(kind: LinuxNamespaceType, file: &File, path: &Path) -> Result<()> {
    nix::sched::setns(file.as_fd(), clone_flag_for_setns(kind)).map_err(|e| {
        Error::sys(
            format!("join {} namespace {}", proc_name(kind), path.display()),
            e,
        )
    })
}

fn clone_flag_for_setns(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        // 0 lets the kernel accept any kind; the time flag has no CloneFlags value.
        LinuxNamespaceType::Time => CloneFlags::empty(),
        other => clone_flag(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(kind: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
        let mut n = LinuxNamespace::default();
        n.set_typ(kind);
        n.set_path(path.map(PathBuf::from));
        n
    }

    #[test]
    fn plan_splits_new_and_joined() {
        let plan = NamespacePlan::from_spec(&[
            ns(LinuxNamespaceType::Mount, None),
            ns(LinuxNamespaceType::Network, Some("/run/netns/x")),
            ns(LinuxNamespaceType::User, Some("/proc/1/ns/user")),
            ns(LinuxNamespaceType::Pid, None),
        ])
        .unwrap();
        assert_eq!(
            plan.create,
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID
        );
        let joined: Vec<_> = plan.join.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            joined,
            [LinuxNamespaceType::User, LinuxNamespaceType::Network]
        );
    }

    #[test]
    fn duplicate_kind_is_rejected() {
        let err = NamespacePlan::from_spec(&[
            ns(LinuxNamespaceType::Pid, None),
            ns(LinuxNamespaceType::Pid, None),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }
}
