//! Raw Linux system calls that nix does not wrap, shared by the runtime and
//! the image crates. Each `unsafe` block is small and says why it is sound;
//! callers stay in safe Rust.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// openat2: refuse magic links such as /proc/self/fd/N along the way.
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// openat2: fail with ELOOP on any symlink along the path.
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
/// openat2: resolve as if `dirfd` were the root, so `..` and absolute
/// symlinks cannot leave it.
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// The kernel's `struct open_how` for openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(2): opens `path` under `dirfd` with `resolve` restrictions,
/// always close-on-exec.
pub fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: i32,
    resolve: u64,
) -> nix::Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    // SAFETY: `path` is a valid NUL-terminated string and `how` a valid
    // open_how whose size we pass; both outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a new file descriptor that nobody owns yet.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn in_root_resolution_stays_inside() {
        let tmp = std::env::temp_dir();
        let root = std::fs::File::open(&tmp).unwrap();
        // ".." from the root resolves to the root itself.
        let fd = openat2(root.as_fd(), c"..", libc::O_PATH, RESOLVE_IN_ROOT).unwrap();
        let a = nix::sys::stat::fstat(&fd).unwrap();
        let b = nix::sys::stat::fstat(&root).unwrap();
        assert_eq!((a.st_dev, a.st_ino), (b.st_dev, b.st_ino));
    }
}
