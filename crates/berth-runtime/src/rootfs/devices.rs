//! Device nodes and the standard /dev symlinks. Each node is made with
//! mknodat() in a /dev directory resolved inside the rootfs, so an image
//! whose /dev is a symlink cannot send a mknod to the host.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::safe_path::{fd_path, Create, Root};
use crate::error::{Error, Result};

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container gets when /dev is a fresh tmpfs.
pub fn default_devices() -> Vec<DeviceNode> {
    let char_dev = |name: &str, major, minor| DeviceNode {
        path: PathBuf::from("/dev").join(name),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    };
    vec![
        char_dev("null", 1, 3),
        char_dev("zero", 1, 5),
        char_dev("full", 1, 7),
        char_dev("random", 1, 8),
        char_dev("urandom", 1, 9),
        char_dev("tty", 5, 0),
    ]
}

/// Converts a spec device.
pub fn from_spec(dev: &LinuxDevice) -> Result<DeviceNode> {
    let kind = match dev.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::InvalidSpec(format!(
                "device {}: type 'a' is only valid in cgroup rules",
                dev.path().display()
            )))
        }
    };
    let number = |n: i64, what: &str| {
        u64::try_from(n).map_err(|_| {
            Error::InvalidSpec(format!(
                "device {}: negative {what} number {n}",
                dev.path().display()
            ))
        })
    };
    Ok(DeviceNode {
        path: dev.path().clone(),
        kind,
        major: number(dev.major(), "major")?,
        minor: number(dev.minor(), "minor")?,
        mode: dev.file_mode().unwrap_or(0o666) & 0o7777,
        uid: dev.uid().unwrap_or(0),
        gid: dev.gid().unwrap_or(0),
    })
}

/// Creates `node` inside `root`. In a user namespace mknod is not allowed,
/// so the host's node is bind-mounted onto an empty file instead.
pub fn create(root: &Root, node: &DeviceNode, in_user_namespace: bool) -> Result<()> {
    let escapes = node
        .path
        .components()
        .any(|c| c == std::path::Component::ParentDir);
    if !node.path.starts_with("/dev") || escapes {
        return Err(Error::InvalidSpec(format!(
            "device {} is not under /dev",
            node.path.display()
        )));
    }
    let name = node.path.file_name().ok_or_else(|| {
        Error::InvalidSpec(format!("device path {} has no name", node.path.display()))
    })?;
    let parent_path = node.path.parent().unwrap_or(Path::new("/dev"));
    let parent = root.resolve(parent_path, Create::Directory)?;
    if in_user_namespace {
        return bind_host_device(root, node);
    }
    let mode = Mode::from_bits_truncate(node.mode);
    let dev = makedev(node.major, node.minor);
    match mknodat(parent.as_fd(), name, node.kind, mode, dev) {
        Ok(()) => {}
        // An image may ship the node already: replace it with ours.
        Err(Errno::EEXIST) => {
            nix::unistd::unlinkat(
                parent.as_fd(),
                name,
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .map_err(|e| Error::sys(format!("replace {}", node.path.display()), e))?;
            mknodat(parent.as_fd(), name, node.kind, mode, dev)
                .map_err(|e| Error::sys(format!("mknod {}", node.path.display()), e))?;
        }
        Err(e) => return Err(Error::sys(format!("mknod {}", node.path.display()), e)),
    }
    set_owner_and_mode(&parent, name, node)
}

fn set_owner_and_mode(parent: &OwnedFd, name: &std::ffi::OsStr, node: &DeviceNode) -> Result<()> {
    let flags = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    fchownat(
        parent.as_fd(),
        name,
        Some(Uid::from_raw(node.uid)),
        Some(Gid::from_raw(node.gid)),
        flags,
    )
    .map_err(|e| Error::sys(format!("chown {}", node.path.display()), e))?;
    // mknod applies the umask: set the mode the spec asked for exactly.
    nix::sys::stat::fchmodat(
        parent.as_fd(),
        name,
        Mode::from_bits_truncate(node.mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| Error::sys(format!("chmod {}", node.path.display()), e))
}

fn bind_host_device(root: &Root, node: &DeviceNode) -> Result<()> {
    let target = root.resolve(&node.path, Create::File)?;
    mount(
        Some(&node.path),
        &fd_path(target.as_fd()),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::sys(format!("bind host device {}", node.path.display()), e))
}

/// The /dev symlinks a process expects.
pub fn create_symlinks(root: &Root) -> Result<()> {
    let dev = root.resolve(Path::new("/dev"), Create::Directory)?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match nix::unistd::symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("symlink /dev/{name}"), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_devices_convert() {
        let dev: LinuxDevice = serde_json::from_str(
            r#"{"path":"/dev/fuse","type":"c","major":10,"minor":229,"fileMode":8630,"uid":0,"gid":0}"#,
        )
        .unwrap();
        let node = from_spec(&dev).unwrap();
        assert_eq!((node.major, node.minor, node.mode), (10, 229, 0o666));
    }

    #[test]
    fn devices_outside_dev_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::open(tmp.path()).unwrap();
        let mut node = default_devices().remove(0);
        node.path = PathBuf::from("/etc/null");
        assert!(create(&root, &node, false).is_err());
    }
}
