//! Creating and removing the container's directories.

use std::path::{Path, PathBuf};

use super::cgroup::{Cgroup, CgroupVersion, HierarchyDir};
use super::error::Result;
use super::fs::{self, Dir};

/// `mkdir -p` in every hierarchy, then the per-version fix-ups that make
/// the new directories usable.
pub fn create(cgroup: &Cgroup) -> Result<()> {
    for dir in cgroup.dirs() {
        fs::mkdir_all(&dir.path)?;
    }
    for dir in cgroup.dirs() {
        match dir.version {
            CgroupVersion::V1 if dir.controllers.iter().any(|c| c == "cpuset") => {
                fill_cpusets(dir)?;
            }
            CgroupVersion::V2 => enable_controllers(dir)?,
            CgroupVersion::V1 => {}
        }
    }
    Ok(())
}

/// The directories from just below the mount point down to `dir.path`,
/// top first.
fn levels(dir: &HierarchyDir) -> Vec<PathBuf> {
    let mut levels: Vec<PathBuf> = dir
        .path
        .ancestors()
        .take_while(|p| *p != dir.mount_point && p.starts_with(&dir.mount_point))
        .map(Path::to_path_buf)
        .collect();
    levels.reverse();
    levels
}

/// A new v1 cpuset cgroup starts with empty cpuset.cpus and cpuset.mems,
/// and no process can join a cgroup with no CPU or memory node. Copy the
/// parent's values down every level we may have created (unless the parent
/// has cgroup.clone_children, a directory already holds values).
fn fill_cpusets(dir: &HierarchyDir) -> Result<()> {
    for level in levels(dir) {
        let Some(parent) = level.parent() else {
            continue;
        };
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let here = Dir(&level);
            if here.read(file)?.is_empty() {
                here.write(file, &Dir(parent).read(file)?)?;
            }
        }
    }
    Ok(())
}

/// cgroup2 only lets a cgroup use the controllers its parent enabled in
/// cgroup.subtree_control. Enable ours from the root down to the parent,
/// limited to what each level offers (cgroup.controllers).
fn enable_controllers(dir: &HierarchyDir) -> Result<()> {
    if dir.controllers.is_empty() {
        return Ok(());
    }
    let mut parents = vec![dir.mount_point.clone()];
    parents.extend(levels(dir));
    parents.pop(); // the container's own directory enables nothing
    for parent in &parents {
        enable_in(Dir(parent), &dir.controllers)?;
    }
    Ok(())
}

fn enable_in(parent: Dir<'_>, wanted: &[String]) -> Result<()> {
    let offered = parent.read("cgroup.controllers")?;
    let enabled = parent.read("cgroup.subtree_control")?;
    let missing: Vec<String> = wanted
        .iter()
        .filter(|c| offered.split_whitespace().any(|o| o == c.as_str()))
        .filter(|c| !enabled.split_whitespace().any(|e| e == c.as_str()))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    parent.write("cgroup.subtree_control", &missing.join(" "))
}

/// Removes the container's directory (and cgroups nested in it) in every
/// hierarchy, then the parents left empty, up to but not including the
/// hierarchy root. Parents still used by other containers stay.
pub fn destroy(cgroup: &Cgroup) -> Result<()> {
    // Try every hierarchy even if one fails, so one stuck directory does
    // not leave all the others behind; report the first failure.
    let mut first_error = None;
    for dir in cgroup.dirs() {
        let result = fs::remove_tree(&dir.path)
            .and_then(|()| fs::remove_empty_parents(&dir.mount_point, &dir.path));
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_stop_below_the_mount_point() {
        let dir = HierarchyDir {
            version: CgroupVersion::V1,
            controllers: vec!["cpuset".into()],
            mount_point: PathBuf::from("/cg/cpuset"),
            path: PathBuf::from("/cg/cpuset/a/b"),
        };
        assert_eq!(
            levels(&dir),
            [
                PathBuf::from("/cg/cpuset/a"),
                PathBuf::from("/cg/cpuset/a/b")
            ]
        );
    }
}
