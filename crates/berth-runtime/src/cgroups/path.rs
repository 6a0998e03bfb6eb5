//! Turning the spec's `linux.cgroupsPath` into a path below each hierarchy's
//! root.
//!
//! Accepted forms:
//! - cgroupfs style `/a/b/c` (absolute, relative to every hierarchy's root;
//!   a relative `a/b` is read the same way);
//! - systemd style `slice:prefix:name`, converted the way runc's systemd
//!   driver names units, but used as a plain cgroupfs path (we do not talk to
//!   systemd): the slice expands into its nested parents
//!   (`a-b.slice` → `a.slice/a-b.slice`, `-.slice` or empty → the root, empty
//!   slice → `system.slice`), and the unit is `prefix-name.scope`
//!   (`name.scope` without a prefix, or `name` itself when it ends in
//!   `.slice`). So `system.slice:docker:abc` → `/system.slice/docker-abc.scope`.
//!
//! `..` is rejected everywhere: it would escape the hierarchy (and the
//! kernel does not stop `mkdir -p` through it).

use std::path::{Component, Path, PathBuf};

use super::error::{CgroupError, Result};

/// Resolves `cgroups_path` to a relative path (no leading `/`) to join onto
/// each hierarchy's mount point.
pub fn resolve(cgroups_path: &str) -> Result<PathBuf> {
    let invalid = |reason: &str| CgroupError::InvalidPath {
        path: cgroups_path.to_owned(),
        reason: reason.to_owned(),
    };
    if cgroups_path.is_empty() {
        return Err(invalid("empty (the caller must pick a default)"));
    }
    let relative = if is_systemd_style(cgroups_path) {
        systemd_to_cgroupfs(cgroups_path).map_err(invalid)?
    } else {
        PathBuf::from(cgroups_path)
    };
    normalize(&relative).map_err(invalid)
}

/// A systemd-style path has exactly two colons and no `/`.
fn is_systemd_style(path: &str) -> bool {
    !path.contains('/') && path.matches(':').count() == 2
}

/// Converts `slice:prefix:name` to a cgroupfs path.
fn systemd_to_cgroupfs(path: &str) -> std::result::Result<PathBuf, &'static str> {
    let mut parts = path.splitn(3, ':');
    let (slice, prefix, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(s), Some(p), Some(n)) => (s, p, n),
        _ => return Err("systemd style must be slice:prefix:name"),
    };
    if name.is_empty() {
        return Err("systemd style needs a unit name (slice:prefix:name)");
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut out = expand_slice(slice)?;
    out.push(unit_name(prefix, name));
    Ok(out)
}

/// The unit a container gets: a scope unless the name is itself a slice.
fn unit_name(prefix: &str, name: &str) -> String {
    if name.ends_with(".slice") {
        name.to_owned()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    }
}

/// Expands a slice into its parents: `a-b-c.slice` lives at
/// `a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root slice.
fn expand_slice(slice: &str) -> std::result::Result<PathBuf, &'static str> {
    let base = slice
        .strip_suffix(".slice")
        .ok_or("the slice must end in .slice")?;
    if base == "-" {
        return Ok(PathBuf::new());
    }
    if base.is_empty() || base.starts_with('-') || base.ends_with('-') || base.contains("--") {
        return Err("malformed slice name (empty or stray '-')");
    }
    let mut out = PathBuf::new();
    let mut prefix = String::new();
    for part in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        out.push(format!("{prefix}.slice"));
    }
    Ok(out)
}

/// Drops `/` and `.` components, rejects `..`, and refuses the root itself
/// (the container must not own a hierarchy's root cgroup).
fn normalize(path: &Path) -> std::result::Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err("'..' components are not allowed"),
            Component::Prefix(_) => return Err("not a Unix path"),
        }
    }
    if out.as_os_str().is_empty() {
        return Err("names the hierarchy root itself");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str) -> String {
        resolve(path).unwrap().to_string_lossy().into_owned()
    }

    fn err(path: &str) -> String {
        let e = resolve(path).unwrap_err();
        assert!(matches!(e, CgroupError::InvalidPath { .. }), "{e}");
        e.to_string()
    }

    #[test]
    fn absolute_paths_are_relative_to_the_root() {
        assert_eq!(ok("/berth/abc"), "berth/abc");
        assert_eq!(ok("//berth/./abc/"), "berth/abc");
        assert_eq!(ok("berth/abc"), "berth/abc");
    }

    #[test]
    fn systemd_paths() {
        assert_eq!(
            ok("system.slice:docker:abc"),
            "system.slice/docker-abc.scope"
        );
        assert_eq!(ok(":docker:abc"), "system.slice/docker-abc.scope");
        assert_eq!(ok("-.slice:docker:abc"), "docker-abc.scope");
        assert_eq!(ok("user.slice::abc"), "user.slice/abc.scope");
        assert_eq!(
            ok("machine-berth-pods.slice:berth:c1"),
            "machine.slice/machine-berth.slice/machine-berth-pods.slice/berth-c1.scope"
        );
        assert_eq!(ok("system.slice:x:pod.slice"), "system.slice/pod.slice");
    }

    #[test]
    fn bad_systemd_paths() {
        assert!(err("system:docker:abc").contains(".slice"));
        assert!(err("a--b.slice:docker:abc").contains("'-'"));
        assert!(err("system.slice:docker:").contains("unit name"));
        // A '/' makes it a cgroupfs path, where '..' is caught.
        assert!(err("system.slice:docker/../..:x").contains("'..'"));
    }

    #[test]
    fn dot_dot_is_rejected() {
        let e = err("/berth/../../etc");
        assert!(e.contains("'..'"), "{e}");
        assert!(e.contains("/berth/../../etc"), "{e}");
        err("..");
    }

    #[test]
    fn empty_and_root_are_rejected() {
        assert!(err("").contains("empty"));
        assert!(err("/").contains("root"));
        assert!(err("/./").contains("root"));
    }
}
