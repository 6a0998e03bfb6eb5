//! Thin wrappers around the new mount API syscalls (fsopen, fsconfig,
//! fsmount, move_mount), which libc only exposes as syscall numbers.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

// From uapi/linux/mount.h; defined here so we do not depend on which libc
// release exports them.
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
pub(super) const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;

fn cstring(bytes: &[u8]) -> Result<CString, Errno> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

fn fd_result(ret: libc::c_long) -> Result<OwnedFd, Errno> {
    if ret < 0 {
        return Err(Errno::last());
    }
    let fd = libc::c_int::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`.
pub(super) fn fsopen(fstype: &CStr) -> Result<OwnedFd, Errno> {
    // SAFETY: `fstype` is a valid NUL-terminated string that outlives the
    // call; the flags are a plain integer.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    fd_result(ret)
}

/// `fsconfig(fd, FSCONFIG_SET_STRING, key, value, 0)`.
pub(super) fn fsconfig_set_string(fs: &OwnedFd, key: &str, value: &[u8]) -> Result<(), Errno> {
    let key = cstring(key.as_bytes())?;
    let value = cstring(value)?;
    // SAFETY: `fs` is an open fs-context descriptor, `key` and `value` are
    // valid NUL-terminated strings that outlive the call, aux must be 0.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0 as libc::c_int,
        )
    };
    Errno::result(ret).map(drop)
}

/// `fsconfig(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0)`.
pub(super) fn fsconfig_create(fs: &OwnedFd) -> Result<(), Errno> {
    // SAFETY: `fs` is an open fs-context descriptor; key and value must be
    // NULL and aux 0 for this command.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_int,
        )
    };
    Errno::result(ret).map(drop)
}

/// `fsmount(fd, FSMOUNT_CLOEXEC, attrs)`: a detached mount of the created
/// superblock.
pub(super) fn fsmount(fs: &OwnedFd, attrs: libc::c_uint) -> Result<OwnedFd, Errno> {
    // SAFETY: `fs` is an open fs-context descriptor in the created state;
    // the flags are plain integers.
    let ret = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    fd_result(ret)
}

/// `move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`: attach
/// a detached mount at `target`.
pub(super) fn move_mount_to(mnt: &OwnedFd, target: &Path) -> Result<(), Errno> {
    use std::os::unix::ffi::OsStrExt;
    let target = cstring(target.as_os_str().as_bytes())?;
    // SAFETY: `mnt` is an open mount descriptor, the empty string and
    // `target` are valid NUL-terminated strings that outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

/// The messages the filesystem logged on an fs-context descriptor (what
/// overlayfs says about why it refused), joined with "; ". Best effort.
pub(super) fn fs_messages(fs: &OwnedFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..32 {
        // SAFETY: `buf` is a writable buffer of `buf.len()` bytes that
        // outlives the call; `fs` is an open descriptor.
        let n = unsafe { libc::read(fs.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        let n = usize::try_from(n).unwrap_or(0);
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out.join("; ")
}
