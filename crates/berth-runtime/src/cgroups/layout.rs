//! Which cgroup hierarchies this host has: detected from /proc/self/mountinfo
//! (the only reliable source: distributions mount hierarchies at different
//! paths, co-mount controllers differently, and hybrid setups put cgroup2 at
//! a sub-path).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{CgroupError, Result};

/// The v1 controllers we recognise in a `cgroup` mount's super options.
/// Other options (`rw`, `xattr`, `release_agent=…`, `noprefix`…) are not
/// controllers; a `name=…` option names a controller-less hierarchy.
const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// A mounted cgroup v1 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Hierarchy {
    /// Where the hierarchy is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// The controllers bound to it (`cpu`, `cpuacct` when co-mounted), and
    /// `name=…` for a named hierarchy such as `name=systemd`.
    pub controllers: Vec<String>,
}

impl V1Hierarchy {
    /// Whether `controller` (e.g. `memory`, `name=systemd`) is bound here.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The mounted cgroup2 (unified) hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Hierarchy {
    /// Where cgroup2 is mounted: `/sys/fs/cgroup` (pure v2) or
    /// `/sys/fs/cgroup/unified` (hybrid).
    pub mount_point: PathBuf,
    /// The controllers its root offers (`cgroup.controllers`). In a hybrid
    /// layout, controllers bound to a v1 hierarchy are absent here.
    pub controllers: Vec<String>,
}

/// The overall shape of the host's cgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutKind {
    /// Only v1 hierarchies.
    V1,
    /// Only cgroup2.
    V2,
    /// v1 hierarchies and a cgroup2 mount side by side.
    Hybrid,
}

impl LayoutKind {
    /// A lowercase name for messages and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            LayoutKind::V1 => "v1",
            LayoutKind::V2 => "v2",
            LayoutKind::Hybrid => "hybrid",
        }
    }
}

/// All cgroup hierarchies of the host. The paths are data, so tests can
/// point them at a fake tree in a temporary directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupLayout {
    /// Mounted v1 hierarchies, one per distinct set of controllers.
    pub v1: Vec<V1Hierarchy>,
    /// The cgroup2 mount, if any.
    pub v2: Option<V2Hierarchy>,
}

/// One cgroup-ish line of mountinfo, before reading cgroup.controllers.
#[derive(Debug, PartialEq, Eq)]
enum CgroupMount {
    V1 {
        root: String,
        mount_point: PathBuf,
        controllers: Vec<String>,
    },
    V2 {
        root: String,
        mount_point: PathBuf,
    },
}

impl CgroupLayout {
    /// Detects the host's layout from /proc/self/mountinfo and the cgroup2
    /// root's `cgroup.controllers`.
    pub fn detect() -> Result<Self> {
        let path = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(path).map_err(|source| CgroupError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_mountinfo(&text, |p| std::fs::read_to_string(p))
    }

    /// Builds the layout from mountinfo text. `read_file` reads the cgroup2
    /// root's `cgroup.controllers` (a parameter so tests stay pure).
    pub fn from_mountinfo(
        mountinfo: &str,
        mut read_file: impl FnMut(&Path) -> std::io::Result<String>,
    ) -> Result<Self> {
        let mut layout = CgroupLayout::default();
        let mut v1_roots: Vec<String> = Vec::new();
        let mut v2_root: Option<String> = None;
        for mount in parse_mountinfo(mountinfo)? {
            match mount {
                CgroupMount::V1 {
                    root,
                    mount_point,
                    controllers,
                } => layout.add_v1(&mut v1_roots, root, mount_point, controllers),
                CgroupMount::V2 { root, mount_point } => {
                    // A bind mount of the whole tree ("/") wins over one of
                    // a sub-cgroup; otherwise the first mount wins.
                    if v2_root.is_none() || (root == "/" && v2_root.as_deref() != Some("/")) {
                        layout.v2 = Some(V2Hierarchy {
                            mount_point,
                            controllers: Vec::new(),
                        });
                        v2_root = Some(root);
                    }
                }
            }
        }
        if let Some(v2) = layout.v2.as_mut() {
            let path = v2.mount_point.join("cgroup.controllers");
            let text = read_file(&path).map_err(|source| CgroupError::Io { path, source })?;
            v2.controllers = text.split_whitespace().map(str::to_owned).collect();
        }
        if layout.v1.is_empty() && layout.v2.is_none() {
            return Err(CgroupError::NoCgroupFs);
        }
        Ok(layout)
    }

    /// Records a v1 mount, keeping one mount per hierarchy (the same
    /// controllers may be bind-mounted twice; prefer the mount of "/").
    fn add_v1(
        &mut self,
        roots: &mut Vec<String>,
        root: String,
        mount_point: PathBuf,
        controllers: Vec<String>,
    ) {
        let same = self.v1.iter().position(|h| {
            let mut a = h.controllers.clone();
            let mut b = controllers.clone();
            a.sort();
            b.sort();
            a == b
        });
        match same {
            Some(i) if roots[i] != "/" && root == "/" => {
                self.v1[i].mount_point = mount_point;
                roots[i] = root;
            }
            Some(_) => {}
            None => {
                self.v1.push(V1Hierarchy {
                    mount_point,
                    controllers,
                });
                roots.push(root);
            }
        }
    }

    /// Whether this is a v1, v2 or hybrid layout.
    pub fn kind(&self) -> LayoutKind {
        match (self.v1.is_empty(), self.v2.is_some()) {
            (false, true) => LayoutKind::Hybrid,
            (true, true) => LayoutKind::V2,
            _ => LayoutKind::V1,
        }
    }

    /// The v1 hierarchy carrying `controller`, if one is mounted.
    pub fn v1_hierarchy(&self, controller: &str) -> Option<&V1Hierarchy> {
        self.v1.iter().find(|h| h.has(controller))
    }

    /// The cgroup2 controllers this runtime uses: those cgroup2 offers and
    /// no v1 hierarchy already provides (v1 `blkio` provides v2 `io`).
    pub fn v2_owned_controllers(&self) -> Vec<String> {
        let Some(v2) = &self.v2 else {
            return Vec::new();
        };
        v2.controllers
            .iter()
            .filter(|c| {
                let v1_name = if c.as_str() == "io" {
                    "blkio"
                } else {
                    c.as_str()
                };
                self.v1_hierarchy(v1_name).is_none()
            })
            .cloned()
            .collect()
    }
}

/// Extracts the cgroup mounts from mountinfo text (see proc(5)): fields are
/// `id parent maj:min root mount-point options [optional…] - fstype source
/// super-options`.
fn parse_mountinfo(text: &str) -> Result<Vec<CgroupMount>> {
    let mut mounts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(mount) = parse_line(line).map_err(|reason| CgroupError::Mountinfo {
            line: index + 1,
            text: line.to_owned(),
            reason,
        })? {
            mounts.push(mount);
        }
    }
    Ok(mounts)
}

/// Parses one mountinfo line; `None` when it is not a cgroup mount.
fn parse_line(line: &str) -> std::result::Result<Option<CgroupMount>, &'static str> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 7 {
        return Err("fewer than 7 fields");
    }
    // Optional fields end at the first lone "-", which is never before
    // field 7 (index 6).
    let dash = fields[6..]
        .iter()
        .position(|f| *f == "-")
        .map(|i| i + 6)
        .ok_or("no ' - ' separator")?;
    let fstype = *fields.get(dash + 1).ok_or("no filesystem type")?;
    let root = unescape(fields[3]);
    let mount_point = PathBuf::from(unescape(fields[4]));
    match fstype {
        "cgroup2" => Ok(Some(CgroupMount::V2 { root, mount_point })),
        "cgroup" => {
            let options = fields.get(dash + 3).ok_or("no super options")?;
            let controllers = v1_controllers(options);
            if controllers.is_empty() {
                return Err("cgroup mount names no controller");
            }
            Ok(Some(CgroupMount::V1 {
                root,
                mount_point,
                controllers,
            }))
        }
        _ => Ok(None),
    }
}

/// The controllers (and `name=…`) among a v1 mount's super options.
fn v1_controllers(options: &str) -> Vec<String> {
    options
        .split(',')
        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
        .map(str::to_owned)
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\134` for `\`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This host's hybrid layout: cpu and cpuacct separate, name=systemd,
    /// cgroup2 at /sys/fs/cgroup/unified with only hugetlb.
    pub(crate) const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A pure v2 host (systemd default since ~2021).
    const V2: &str = "\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
25 23 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
28 25 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    /// A pure v1 host with cpu,cpuacct and net_cls,net_prio co-mounted, and
    /// optional fields (shared:N) before the separator.
    const V1_COMOUNTED: &str = "\
24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
26 24 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
27 26 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
30 26 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
31 26 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
32 26 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
33 26 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
34 26 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset,clone_children
";

    fn controllers(text: &'static str) -> impl FnMut(&Path) -> std::io::Result<String> {
        move |_| Ok(text.to_owned())
    }

    fn no_read(p: &Path) -> std::io::Result<String> {
        panic!("unexpected read of {}", p.display())
    }

    #[test]
    fn hybrid_layout() {
        let mut read_paths = Vec::new();
        let layout = CgroupLayout::from_mountinfo(HYBRID, |p| {
            read_paths.push(p.to_path_buf());
            Ok("hugetlb\n".to_owned())
        })
        .unwrap();
        assert_eq!(layout.kind(), LayoutKind::Hybrid);
        assert_eq!(
            read_paths,
            [PathBuf::from("/sys/fs/cgroup/unified/cgroup.controllers")]
        );
        assert_eq!(layout.v1.len(), 9);
        let cpu = layout.v1_hierarchy("cpu").unwrap();
        assert_eq!(cpu.mount_point, Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(cpu.controllers, ["cpu"]);
        let acct = layout.v1_hierarchy("cpuacct").unwrap();
        assert_eq!(acct.mount_point, Path::new("/sys/fs/cgroup/cpuacct"));
        let systemd = layout.v1_hierarchy("name=systemd").unwrap();
        assert_eq!(systemd.mount_point, Path::new("/sys/fs/cgroup/systemd"));
        let v2 = layout.v2.as_ref().unwrap();
        assert_eq!(v2.mount_point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(v2.controllers, ["hugetlb"]);
        assert_eq!(layout.v2_owned_controllers(), ["hugetlb"]);
    }

    #[test]
    fn pure_v2_layout() {
        let layout = CgroupLayout::from_mountinfo(
            V2,
            controllers("cpuset cpu io memory hugetlb pids rdma misc\n"),
        )
        .unwrap();
        assert_eq!(layout.kind(), LayoutKind::V2);
        assert!(layout.v1.is_empty());
        let v2 = layout.v2.as_ref().unwrap();
        assert_eq!(v2.mount_point, Path::new("/sys/fs/cgroup"));
        assert_eq!(
            layout.v2_owned_controllers(),
            ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"]
        );
    }

    #[test]
    fn pure_v1_co_mounted() {
        let layout = CgroupLayout::from_mountinfo(V1_COMOUNTED, no_read).unwrap();
        assert_eq!(layout.kind(), LayoutKind::V1);
        assert!(layout.v2.is_none());
        let cpu = layout.v1_hierarchy("cpu").unwrap();
        assert_eq!(cpu.mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(cpu.controllers, ["cpu", "cpuacct"]);
        assert_eq!(layout.v1_hierarchy("cpuacct"), Some(cpu));
        let net = layout.v1_hierarchy("net_prio").unwrap();
        assert_eq!(net.controllers, ["net_cls", "net_prio"]);
        // xattr and release_agent are options, not controllers.
        let systemd = layout.v1_hierarchy("name=systemd").unwrap();
        assert_eq!(systemd.controllers, ["name=systemd"]);
        // clone_children is an option too.
        assert_eq!(
            layout.v1_hierarchy("cpuset").unwrap().controllers,
            ["cpuset"]
        );
        assert!(layout.v1_hierarchy("freezer").is_none());
        assert!(layout.v2_owned_controllers().is_empty());
    }

    #[test]
    fn hybrid_blkio_covers_io() {
        let text = "\
1 0 0:1 / /cg/blkio rw - cgroup cgroup rw,blkio
2 0 0:2 / /cg/unified rw - cgroup2 cgroup2 rw
";
        let layout = CgroupLayout::from_mountinfo(text, controllers("io hugetlb")).unwrap();
        assert_eq!(layout.v2_owned_controllers(), ["hugetlb"]);
    }

    #[test]
    fn duplicate_mounts_prefer_the_whole_tree() {
        let text = "\
1 0 0:1 /docker/abc /mnt/a rw - cgroup cgroup rw,memory
2 0 0:1 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
3 0 0:2 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
4 0 0:2 / /mnt/pids rw - cgroup cgroup rw,pids
";
        let layout = CgroupLayout::from_mountinfo(text, no_read).unwrap();
        assert_eq!(layout.v1.len(), 2);
        let mem = layout.v1_hierarchy("memory").unwrap();
        assert_eq!(mem.mount_point, Path::new("/sys/fs/cgroup/memory"));
        let pids = layout.v1_hierarchy("pids").unwrap();
        assert_eq!(pids.mount_point, Path::new("/sys/fs/cgroup/pids"));
    }

    #[test]
    fn escaped_mount_point() {
        let text = "1 0 0:1 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n";
        let layout = CgroupLayout::from_mountinfo(text, controllers("")).unwrap();
        let v2 = layout.v2.unwrap();
        assert_eq!(v2.mount_point, Path::new("/mnt/my cgroups"));
        assert!(v2.controllers.is_empty());
    }

    #[test]
    fn no_cgroup_mounts_is_an_error() {
        let text = "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n";
        let err = CgroupLayout::from_mountinfo(text, no_read).unwrap_err();
        assert!(matches!(err, CgroupError::NoCgroupFs), "{err}");
    }

    #[test]
    fn malformed_line_names_its_number() {
        let text = "22 1 259:2 / / rw - ext4 /dev/x rw\n1 2 3\n";
        let err = CgroupLayout::from_mountinfo(text, no_read).unwrap_err();
        assert!(
            matches!(err, CgroupError::Mountinfo { line: 2, .. }),
            "{err}"
        );
        let text = "1 0 0:1 / /x rw shared:1 cgroup cgroup rw,memory\n";
        let err = CgroupLayout::from_mountinfo(text, no_read).unwrap_err();
        assert!(err.to_string().contains("separator"), "{err}");
    }

    #[test]
    fn unreadable_controllers_names_the_file() {
        let err = CgroupLayout::from_mountinfo(V2, |_| {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("/sys/fs/cgroup/cgroup.controllers"),
            "{err}"
        );
    }
}
