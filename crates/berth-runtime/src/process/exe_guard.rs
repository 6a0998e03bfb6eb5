//! Protection against overwriting the runtime binary through
//! /proc/PID/exe (CVE-2019-5736).
//!
//! A container process can reach the runtime's binary while the runtime
//! runs inside its namespaces (during `exec`, or when the container's
//! entrypoint is `#!/proc/self/exe`). If that binary is writable through the
//! magic link, the container owns the host. So before it forks anything that
//! enters a container, berth-runtime re-executes itself from a private,
//! detached, read-only bind mount of its own binary (open_tree +
//! mount_setattr): every later /proc/PID/exe then points into a read-only
//! mount and opening it for writing fails with EROFS. Where those system
//! calls are missing (Linux < 5.12), a sealed memfd copy is used instead.
//! The check is on the running binary itself, not on an environment
//! variable, so it cannot be skipped by a crafted environment.

use std::ffi::CString;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::statvfs::{fstatvfs, FsFlags};

use crate::error::{Error, Result};
use crate::syscall;

/// Whether the running binary cannot be written through /proc/self/exe.
pub fn binary_is_protected() -> bool {
    let Ok(exe) = std::fs::File::open("/proc/self/exe") else {
        return false;
    };
    let on_readonly_mount = fstatvfs(&exe).is_ok_and(|st| st.flags().contains(FsFlags::ST_RDONLY));
    on_readonly_mount || is_sealed_memfd(&exe)
}

fn is_sealed_memfd(file: &std::fs::File) -> bool {
    const F_SEAL_WRITE: i32 = 0x0008;
    nix::fcntl::fcntl(file, nix::fcntl::FcntlArg::F_GET_SEALS)
        .is_ok_and(|seals| seals & F_SEAL_WRITE != 0)
}

/// Re-executes the current program from a read-only view of itself unless
/// it already runs from one. Returns only on failure.
pub fn reexec_protected() -> Result<()> {
    if binary_is_protected() {
        return Ok(());
    }
    let fd = protected_view(Path::new("/proc/self/exe"))?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    let argv: Vec<&std::ffi::CStr> = args.iter().map(|a| a.as_c_str()).collect();
    let envp: Vec<&std::ffi::CStr> = env.iter().map(|e| e.as_c_str()).collect();
    let err = syscall::execveat_fd(fd.as_fd(), &argv, &envp);
    Err(Error::sys(
        "re-exec from a read-only copy of berth-runtime",
        err,
    ))
}

/// A view of the program at `path` that nothing can write through: a
/// detached read-only bind mount of it, or else a sealed memfd copy. A
/// program executed from it (`execveat`, or `/proc/self/fd/N`) passes
/// [`binary_is_protected`], so a daemon that starts many shims makes the
/// view once instead of each shim re-executing itself.
pub fn protected_view(path: &Path) -> Result<OwnedFd> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::io("open", path, std::io::ErrorKind::InvalidInput.into()))?;
    match syscall::open_readonly_tree(&c_path) {
        Ok(fd) => Ok(fd),
        Err(_) => sealed_copy(path),
    }
}

/// A memfd holding a copy of the binary, sealed against every change.
fn sealed_copy(path: &Path) -> Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = memfd_create(
        "berth-runtime",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .map_err(|e| Error::sys("memfd_create", e))?;
    let mut src = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    // SAFETY: memfd_create returned a fresh descriptor we own; the File takes it over.
    let mut dst = unsafe { std::fs::File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(fd)) };
    std::io::copy(&mut src, &mut dst).map_err(|e| Error::io("copy", path, e))?;
    let seals = nix::fcntl::SealFlag::F_SEAL_SEAL
        | nix::fcntl::SealFlag::F_SEAL_SHRINK
        | nix::fcntl::SealFlag::F_SEAL_GROW
        | nix::fcntl::SealFlag::F_SEAL_WRITE;
    nix::fcntl::fcntl(&dst, nix::fcntl::FcntlArg::F_ADD_SEALS(seals))
        .map_err(|e| Error::sys("seal memfd", e))?;
    Ok(OwnedFd::from(dst))
}
