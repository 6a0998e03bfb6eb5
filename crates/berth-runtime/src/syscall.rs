//! Thin wrappers over system calls that nix does not cover. Each `unsafe`
//! block is here, small, and says why it is sound; callers stay safe Rust.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

/// What `clone_process` returns, in the parent and in the child.
pub enum CloneResult {
    Parent(Pid),
    Child,
}

/// fork(2) with namespace flags: `clone(flags | SIGCHLD)` with no new stack,
/// so the child continues on a copy of the caller's stack, exactly as after
/// fork. Only call this from a single-threaded process: the child gets a
/// copy of just the calling thread, and any lock another thread held would
/// stay locked forever.
pub fn clone_process(flags: CloneFlags) -> nix::Result<CloneResult> {
    let raw_flags = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: with a null stack pointer clone behaves like fork: the child
    // resumes here on a copy-on-write copy of our stack. No pointers are
    // passed (ptid, ctid, tls are null), and the caller guarantees the
    // process is single-threaded, so no lock can be left held in the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            raw_flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(Pid::from_raw(pid as i32))),
    }
}

/// The kernel's `struct clone_args` for clone3(2), up to `cgroup`.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Like [`clone_process`], but the child starts life in the cgroup2
/// directory `cgroup` (CLONE_INTO_CGROUP, Linux 5.7): no migration, so no
/// wait for the kernel's cgroup locks. Same single-threaded rule.
pub fn clone_into_cgroup(flags: CloneFlags, cgroup: BorrowedFd<'_>) -> nix::Result<CloneResult> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let args = CloneArgs {
        flags: flags.bits() as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: with stack 0 and stack_size 0 clone3 behaves like fork (the
    // child continues on a copy of our stack); `args` is a valid
    // clone_args whose size we pass, and no pointers are set in it. The
    // caller guarantees the process is single-threaded.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Ends the current process at once, without running Rust or libc exit
/// handlers. Forked children use it so they never flush buffers or run
/// destructors that belong to the parent.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit never returns and takes no pointers.
    unsafe { libc::_exit(code) }
}

pub use berth_sys::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};

/// Marks every descriptor from `first` upwards close-on-exec, so nothing of
/// the runtime's leaks into the container (CVE-2024-21626).
pub fn cloexec_from(first: u32) -> nix::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes plain integers; CLOEXEC mode closes nothing,
    // so no Rust owner of a descriptor is invalidated.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    Errno::result(ret).map(drop)
}

/// close_range(first, ~0, 0): closes every descriptor from `first` up.
/// For a process that will never again use a descriptor it owns through a
/// Rust value (the built-in init, which only supervises and exits).
pub fn close_from(first: u32) -> nix::Result<()> {
    // SAFETY: close_range takes plain integers. Rust owners of the closed
    // descriptors may exist, but the caller never uses or drops them again
    // (it exits with `exit_immediately`), so none is used after close.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    Errno::result(ret).map(drop)
}

/// prctl(PR_SET_NO_NEW_PRIVS, 1).
pub fn set_no_new_privs() -> nix::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    Errno::result(ret).map(drop)
}

/// prctl(PR_SET_DUMPABLE): a non-dumpable process's /proc entries belong to
/// root and cannot be ptraced, so container processes cannot reach into the
/// runtime while it is still setting up inside their namespaces.
pub fn set_dumpable(dumpable: bool) -> nix::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong, 0, 0, 0) };
    Errno::result(ret).map(drop)
}

/// prctl(PR_SET_CHILD_SUBREAPER): orphans below us are reparented to us.
pub fn set_child_subreaper() -> nix::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    Errno::result(ret).map(drop)
}

/// The kernel's `struct mount_attr` for mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// open_tree(OPEN_TREE_CLONE) of `path` followed by mount_setattr(RDONLY):
/// a private, detached, read-only bind mount of `path`.
pub fn open_readonly_tree(path: &CStr) -> nix::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const MOUNT_ATTR_RDONLY: u64 = 1;
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh descriptor returned by the kernel, owned by nobody else.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the empty path is NUL-terminated, `attr` is a valid
    // mount_attr and we pass its exact size.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret)?;
    Ok(tree)
}

/// execveat(fd, "", argv, envp, AT_EMPTY_PATH): runs the program `fd` refers to.
pub fn execveat_fd(fd: BorrowedFd<'_>, argv: &[&CStr], envp: &[&CStr]) -> Errno {
    let argv_ptrs = null_terminated(argv);
    let envp_ptrs = null_terminated(envp);
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to
    // NUL-terminated strings, all alive for the duration of the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    Errno::last()
}

fn null_terminated(strings: &[&CStr]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Number of threads in this process, from /proc/self/status.
pub fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}
