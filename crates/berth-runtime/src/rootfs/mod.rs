//! The container's root filesystem, set up by the init process inside its
//! new mount namespace: propagation, the spec's mounts, /dev, pivot_root,
//! masked and read-only paths, and a read-only root.
//!
//! Split in two because hooks run between them: [`prepare`] makes every
//! mount while the host's paths are still visible (createContainer hooks
//! run after it), and [`finish`] switches root and locks things down.

pub mod devices;
pub mod mount_options;
pub mod mounts;
pub mod paths;
pub mod pivot;
pub mod safe_path;

use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Spec;

pub use mounts::CgroupView;
use safe_path::Root;

use crate::error::{Error, Result};

/// What `prepare` needs to know besides the spec.
pub struct RootfsContext<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub in_user_namespace: bool,
    pub cgroups: &'a CgroupView,
}

/// Makes the rootfs a mount point and every spec mount inside it.
pub fn prepare(ctx: &RootfsContext<'_>) -> Result<Root> {
    set_root_propagation(ctx.spec)?;
    mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::sys(format!("bind rootfs {}", ctx.rootfs.display()), e))?;
    let root = Root::open(ctx.rootfs)?;
    for m in ctx.spec.mounts().as_deref().unwrap_or_default() {
        mounts::mount_one(&root, ctx.bundle, m, ctx.cgroups)?;
    }
    create_devices(&root, ctx)?;
    Ok(root)
}

/// Our mounts must never propagate back to the host: make `/` a recursive
/// slave (or what rootfsPropagation asks for) before mounting anything.
fn set_root_propagation(spec: &Spec) -> Result<()> {
    let requested = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref());
    let flags = match requested {
        Some(value) if !value.is_empty() => mount_options::parse_propagation(value)?,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .map_err(|e| Error::sys(format!("set / propagation to {flags:?}"), e))
}

fn create_devices(root: &Root, ctx: &RootfsContext<'_>) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    if dev_is_fresh_tmpfs(ctx.spec) {
        for node in devices::default_devices() {
            devices::create(root, &node, ctx.in_user_namespace)?;
        }
    }
    for dev in linux
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default()
    {
        devices::create(root, &devices::from_spec(dev)?, ctx.in_user_namespace)?;
    }
    devices::create_symlinks(root)
}

/// Default devices are only made in a /dev the runtime mounted itself; a
/// bind-mounted /dev already has what its owner put there.
fn dev_is_fresh_tmpfs(spec: &Spec) -> bool {
    spec.mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|m| {
            m.destination() == Path::new("/dev")
                && m.typ().as_deref() != Some("bind")
                && !m
                    .options()
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|o| o == "bind" || o == "rbind")
        })
}

/// Switches root, masks and locks paths, and sets namespaced sysctls.
pub fn finish(spec: &Spec, root: &Root, no_pivot: bool) -> Result<()> {
    if no_pivot || pivot::root_is_ramfs() {
        pivot::move_and_chroot(root.path())?;
    } else {
        pivot::pivot(root)?;
    }
    let new_root = Root::open(Path::new("/"))?;
    let linux = spec.linux().as_ref();
    write_sysctls(spec)?;
    for path in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or_default()
    {
        paths::make_readonly(&new_root, Path::new(path))?;
    }
    for path in linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or_default()
    {
        paths::mask(&new_root, Path::new(path))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let fd = new_root
            .open_in_root(Path::new(""))
            .map_err(|e| Error::sys("open /", e))?;
        mounts::remount(&fd, MsFlags::MS_RDONLY, Path::new("/"))?;
    }
    Ok(())
}

/// Writes the spec's sysctls (validated as namespaced in spec.rs) through
/// the container's own /proc/sys.
fn write_sysctls(spec: &Spec) -> Result<()> {
    let sysctls = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref());
    for (key, value) in sysctls.into_iter().flatten() {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value).map_err(|e| Error::io("write sysctl", &path, e))?;
    }
    Ok(())
}

/// Bind-mounts the console's pty slave onto /dev/console.
pub fn mount_console(slave_path: &Path) -> Result<()> {
    let root = Root::open(Path::new("/"))?;
    let target = root.resolve(Path::new("/dev/console"), safe_path::Create::File)?;
    mount(
        Some(slave_path),
        &safe_path::fd_path(target.as_fd()),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::sys(format!("bind {} on /dev/console", slave_path.display()), e))
}
