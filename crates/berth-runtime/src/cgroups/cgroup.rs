//! A container's cgroup: its directory in every hierarchy, and which
//! hierarchy serves which controller.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{CgroupError, Result};
use super::fs::Dir;
use super::layout::{CgroupLayout, LayoutKind};
use super::path;

/// Which cgroup version a hierarchy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    V1,
    V2,
}

/// The container's directory in one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HierarchyDir {
    /// v1 or v2.
    pub version: CgroupVersion,
    /// v1: the hierarchy's controllers (or `name=…`). v2: the controllers
    /// this container uses cgroup2 for (all of them in a pure v2 layout;
    /// in a hybrid one only those no v1 hierarchy has, maybe none: the
    /// directory then only tracks processes).
    pub controllers: Vec<String>,
    /// The hierarchy's mount point.
    pub mount_point: PathBuf,
    /// The container's directory: mount point + cgroups path.
    pub path: PathBuf,
}

impl HierarchyDir {
    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// A controller, named as v1 and as v2 name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Controller {
    Cpu,
    Cpuacct,
    Cpuset,
    Memory,
    Pids,
    Blkio,
    Hugetlb,
    Devices,
    Freezer,
    NetCls,
    NetPrio,
    Rdma,
}

impl Controller {
    /// The v1 name (and the name used in messages).
    pub(crate) fn v1_name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Blkio => "blkio",
            Controller::Hugetlb => "hugetlb",
            Controller::Devices => "devices",
            Controller::Freezer => "freezer",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::Rdma => "rdma",
        }
    }

    /// The v2 controller name; `None` when v2 has no such controller
    /// (devices and freezer are core v2 features or eBPF, cpuacct is part
    /// of cpu.stat, net_cls/net_prio are gone).
    pub(crate) fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Cpu => Some("cpu"),
            Controller::Cpuset => Some("cpuset"),
            Controller::Memory => Some("memory"),
            Controller::Pids => Some("pids"),
            Controller::Blkio => Some("io"),
            Controller::Hugetlb => Some("hugetlb"),
            Controller::Rdma => Some("rdma"),
            _ => None,
        }
    }
}

/// Where a controller's files are for this container.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<'a> {
    V1(Dir<'a>),
    V2(Dir<'a>),
}

/// A container's cgroup across all hierarchies of the host.
///
/// Stored in the container state (`Serialize + Deserialize`) so later
/// commands reuse it without detecting the layout again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CgroupRecord", into = "CgroupRecord")]
pub struct Cgroup {
    relative: PathBuf,
    kind: LayoutKind,
    dirs: Vec<HierarchyDir>,
    /// `cgroup.procs` of every dir, precomputed so `add_process` (called
    /// in a freshly forked child) only opens and writes.
    procs: Vec<PathBuf>,
    /// `tasks` of every v1 dir, for `join_self_v1` (same reason).
    v1_tasks: Vec<PathBuf>,
}

/// What is stored; `procs` is derived again on load.
#[derive(Clone, Serialize, Deserialize)]
struct CgroupRecord {
    path: PathBuf,
    layout: LayoutKind,
    dirs: Vec<HierarchyDir>,
}

impl From<CgroupRecord> for Cgroup {
    fn from(record: CgroupRecord) -> Self {
        Cgroup::from_parts(record.path, record.layout, record.dirs)
    }
}

impl From<Cgroup> for CgroupRecord {
    fn from(cgroup: Cgroup) -> Self {
        CgroupRecord {
            path: cgroup.relative,
            layout: cgroup.kind,
            dirs: cgroup.dirs,
        }
    }
}

impl Cgroup {
    /// Resolves the container's directory in every hierarchy of `layout`
    /// for the spec's `linux.cgroupsPath` (see the `path` module for the
    /// accepted forms). Touches nothing on disk.
    ///
    /// Every v1 hierarchy is joined, named ones (`name=systemd`) included;
    /// the cgroup2 hierarchy is joined too, even in a hybrid layout where
    /// it may limit nothing, so process tracking works as under systemd.
    pub fn new(layout: &CgroupLayout, cgroups_path: &str) -> Result<Self> {
        let relative = path::resolve(cgroups_path)?;
        let mut dirs: Vec<HierarchyDir> = layout
            .v1
            .iter()
            .map(|h| HierarchyDir {
                version: CgroupVersion::V1,
                controllers: h.controllers.clone(),
                path: h.mount_point.join(&relative),
                mount_point: h.mount_point.clone(),
            })
            .collect();
        if let Some(v2) = &layout.v2 {
            dirs.push(HierarchyDir {
                version: CgroupVersion::V2,
                controllers: layout.v2_owned_controllers(),
                path: v2.mount_point.join(&relative),
                mount_point: v2.mount_point.clone(),
            });
        }
        Ok(Cgroup::from_parts(relative, layout.kind(), dirs))
    }

    fn from_parts(relative: PathBuf, kind: LayoutKind, dirs: Vec<HierarchyDir>) -> Self {
        let procs = dirs.iter().map(|d| d.path.join("cgroup.procs")).collect();
        let v1_tasks = dirs
            .iter()
            .filter(|d| d.version == CgroupVersion::V1)
            .map(|d| d.path.join("tasks"))
            .collect();
        Cgroup {
            relative,
            kind,
            dirs,
            procs,
            v1_tasks,
        }
    }

    /// The cgroup's path relative to each hierarchy root, e.g.
    /// `system.slice/docker-abc.scope`.
    pub fn path(&self) -> &Path {
        &self.relative
    }

    /// The layout this cgroup was resolved against.
    pub fn layout_kind(&self) -> LayoutKind {
        self.kind
    }

    /// The container's directory in every hierarchy.
    pub fn dirs(&self) -> &[HierarchyDir] {
        &self.dirs
    }

    pub(crate) fn procs_files(&self) -> &[PathBuf] {
        &self.procs
    }

    pub(crate) fn v1_tasks_files(&self) -> &[PathBuf] {
        &self.v1_tasks
    }

    /// The container's cgroup2 directory, if it has one.
    pub fn v2_path(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.version == CgroupVersion::V2)
            .map(|d| d.path.as_path())
    }

    /// The v1 directory of the hierarchy carrying `controller`.
    pub(crate) fn v1_dir(&self, controller: &str) -> Option<Dir<'_>> {
        self.dirs
            .iter()
            .find(|d| d.version == CgroupVersion::V1 && d.has(controller))
            .map(|d| Dir(&d.path))
    }

    /// The cgroup2 directory, whatever controllers it has.
    pub(crate) fn v2_dir(&self) -> Option<Dir<'_>> {
        self.dirs
            .iter()
            .find(|d| d.version == CgroupVersion::V2)
            .map(|d| Dir(&d.path))
    }

    /// Where `controller` is served: a v1 hierarchy has priority (in a
    /// hybrid layout v1 does the limiting), then cgroup2 when it owns it.
    pub(crate) fn locate(&self, controller: Controller) -> Option<Target<'_>> {
        if let Some(dir) = self.v1_dir(controller.v1_name()) {
            return Some(Target::V1(dir));
        }
        let v2_name = controller.v2_name()?;
        self.dirs
            .iter()
            .find(|d| d.version == CgroupVersion::V2 && d.has(v2_name))
            .map(|d| Target::V2(Dir(&d.path)))
    }

    /// The error for a setting whose controller is nowhere.
    pub(crate) fn missing(&self, controller: Controller, setting: &'static str) -> CgroupError {
        CgroupError::ControllerMissing {
            controller: controller.v1_name(),
            setting,
            layout: self.kind.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::layout::{V1Hierarchy, V2Hierarchy};

    fn hybrid() -> CgroupLayout {
        let v1 = |name: &str| V1Hierarchy {
            mount_point: PathBuf::from(format!("/cg/{name}")),
            controllers: vec![name.to_owned()],
        };
        CgroupLayout {
            v1: vec![v1("memory"), v1("blkio"), v1("name=systemd")],
            v2: Some(V2Hierarchy {
                mount_point: PathBuf::from("/cg/unified"),
                controllers: vec!["io".into(), "hugetlb".into(), "pids".into()],
            }),
        }
    }

    #[test]
    fn hybrid_dirs_and_controller_lookup() {
        let cg = Cgroup::new(&hybrid(), "system.slice:docker:abc").unwrap();
        assert_eq!(cg.layout_kind(), LayoutKind::Hybrid);
        let paths: Vec<&Path> = cg.dirs().iter().map(|d| d.path.as_path()).collect();
        assert_eq!(
            paths,
            [
                Path::new("/cg/memory/system.slice/docker-abc.scope"),
                Path::new("/cg/blkio/system.slice/docker-abc.scope"),
                Path::new("/cg/name=systemd/system.slice/docker-abc.scope"),
                Path::new("/cg/unified/system.slice/docker-abc.scope"),
            ]
        );
        assert_eq!(cg.dirs()[3].controllers, ["hugetlb", "pids"]);
        assert!(matches!(cg.locate(Controller::Memory), Some(Target::V1(_))));
        assert!(matches!(cg.locate(Controller::Blkio), Some(Target::V1(_))));
        assert!(matches!(
            cg.locate(Controller::Hugetlb),
            Some(Target::V2(_))
        ));
        assert!(matches!(cg.locate(Controller::Pids), Some(Target::V2(_))));
        assert!(cg.locate(Controller::Cpu).is_none());
        assert!(cg.locate(Controller::Devices).is_none());
        assert_eq!(cg.procs_files().len(), 4);
        assert!(cg.procs_files()[2].ends_with("docker-abc.scope/cgroup.procs"));
    }

    #[test]
    fn serde_round_trip_rebuilds_procs() {
        let cg = Cgroup::new(&hybrid(), "/berth/c1").unwrap();
        let json = serde_json::to_string(&cg).unwrap();
        assert!(!json.contains("cgroup.procs"), "{json}");
        let back: Cgroup = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cg);
        assert_eq!(back.path(), Path::new("berth/c1"));
    }

    #[test]
    fn bad_paths_are_refused() {
        let err = Cgroup::new(&hybrid(), "/a/../../b").unwrap_err();
        assert!(err.to_string().contains(".."), "{err}");
    }
}
