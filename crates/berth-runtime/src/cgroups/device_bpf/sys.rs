//! bpf(2) for the device filter: load the program, attach it to a cgroup2
//! directory in place of the device programs attached there before.
//!
//! The attribute structs are the prefixes of `union bpf_attr` (linux/bpf.h)
//! that each command needs; the kernel zero-fills the rest and refuses
//! non-zero bytes it does not know, so every field (padding included) is
//! spelled out and zeroed.

use std::ffi::c_int;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;

use super::insn::Insn;
use crate::cgroups::error::{CgroupError, Result};

const BPF_PROG_LOAD: c_int = 5;
const BPF_PROG_ATTACH: c_int = 8;
const BPF_PROG_DETACH: c_int = 9;
const BPF_PROG_GET_FD_BY_ID: c_int = 13;
const BPF_PROG_QUERY: c_int = 16;

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Several programs per cgroup (and per ancestor), all of which must allow.
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

/// No helper is called, so no GPL-only helper matters; the project's own
/// license is what the program is under.
const LICENSE: &[u8] = b"Apache-2.0\0";
/// Shown by `bpftool prog`; at most 15 characters of [A-Za-z0-9_.].
const PROG_NAME: &[u8] = b"berth_devices";
/// Verifier log kept when loading fails (the kernel truncates longer).
const LOG_SIZE: usize = 64 * 1024;
/// `BPF_CGROUP_MAX_PROGS`: no cgroup holds more per attach type.
const MAX_PROGS: usize = 64;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// A failed bpf(2) command, with the verifier's log when loading failed.
#[derive(Debug)]
pub struct BpfError {
    pub command: &'static str,
    pub errno: Errno,
    pub log: String,
}

impl fmt::Display for BpfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bpf({}): {}", self.command, self.errno.desc())?;
        if !self.log.is_empty() {
            write!(f, "; verifier log: {}", self.log)?;
        }
        Ok(())
    }
}

impl std::error::Error for BpfError {}

/// One bpf(2) call with `attr` as the first `size_of::<A>()` bytes of
/// `union bpf_attr`.
fn bpf<A>(command: c_int, attr: &mut A) -> std::result::Result<c_int, Errno> {
    let size = std::mem::size_of::<A>() as libc::c_uint;
    // SAFETY: `attr` is a live, fully initialised repr(C) struct of `size`
    // bytes laid out as the start of `union bpf_attr` for `command`; the
    // kernel reads at most `size` bytes from it and (QUERY only) writes
    // back within them. Every pointer stored in it (instructions, license,
    // log and id buffers) points to memory the caller keeps alive and, for
    // buffers the kernel writes, sized as the length field says.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, command, attr as *mut A, size) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(ret as c_int)
}

/// Takes ownership of a file descriptor bpf(2) returned.
fn owned(fd: c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful BPF_PROG_LOAD or
    // BPF_PROG_GET_FD_BY_ID, is open, and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

/// The error for a failed command on the cgroup at `dir`.
fn error(dir: &Path, command: &'static str, errno: Errno, log: String) -> CgroupError {
    CgroupError::Io {
        path: dir.to_path_buf(),
        source: io::Error::new(
            io::Error::from_raw_os_error(errno as i32).kind(),
            BpfError {
                command,
                errno,
                log,
            },
        ),
    }
}

/// Whether `dir` is on a cgroup2 filesystem.
fn is_cgroup2(dir: &Path) -> bool {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
    statfs(dir).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
}

/// Loads `program` and attaches it to the cgroup2 directory `dir`; then
/// detaches the device programs that were attached there before, so the
/// new rules replace the old ones rather than adding to them. The new
/// program is attached first: there is never a moment without a filter.
pub fn attach(dir: &Path, program: &[Insn]) -> Result<()> {
    if !is_cgroup2(dir) {
        return Err(CgroupError::Unsupported(format!(
            "{}: not a cgroup2 directory, cannot attach the device filter",
            dir.display()
        )));
    }
    let cgroup = open_dir(dir)?;
    let old = query(dir, cgroup.as_fd())?;
    let prog = load(dir, program)?;
    let mut attr = AttachAttr {
        target_fd: fd_u32(cgroup.as_fd()),
        attach_bpf_fd: fd_u32(prog.as_fd()),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attr)
        .map_err(|e| error(dir, "BPF_PROG_ATTACH, BPF_CGROUP_DEVICE", e, String::new()))?;
    for id in old {
        detach(dir, cgroup.as_fd(), id)?;
    }
    Ok(())
}

/// The ids of the device programs attached to `dir` itself (not those
/// inherited from ancestors).
#[cfg(test)]
pub fn attached_programs(dir: &Path) -> Result<Vec<u32>> {
    let cgroup = open_dir(dir)?;
    query(dir, cgroup.as_fd())
}

fn open_dir(dir: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map_err(|source| CgroupError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

fn query(dir: &Path, cgroup: BorrowedFd<'_>) -> Result<Vec<u32>> {
    let mut ids = [0u32; MAX_PROGS];
    let mut attr = QueryAttr {
        target_fd: fd_u32(cgroup),
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: MAX_PROGS as u32,
        ..QueryAttr::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)
        .map_err(|e| error(dir, "BPF_PROG_QUERY, BPF_CGROUP_DEVICE", e, String::new()))?;
    let count = (attr.prog_cnt as usize).min(MAX_PROGS);
    Ok(ids[..count].to_vec())
}

fn load(dir: &Path, program: &[Insn]) -> Result<OwnedFd> {
    let mut name = [0u8; 16];
    name[..PROG_NAME.len()].copy_from_slice(PROG_NAME);
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(program.len()).expect("program length fits u32"),
        insns: program.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        prog_name: name,
        ..ProgLoadAttr::default()
    };
    let errno = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => return Ok(owned(fd)),
        Err(errno) => errno,
    };
    // Load again with the verifier's log, only to explain the failure.
    let mut log = vec![0u8; LOG_SIZE];
    attr.log_level = 1;
    attr.log_size = LOG_SIZE as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    let _ = bpf(BPF_PROG_LOAD, &mut attr).map(owned);
    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]).trim().to_owned();
    Err(error(
        dir,
        "BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE",
        errno,
        text,
    ))
}

/// Detaches program `id` from `cgroup`. A program that went away in the
/// meantime (another runtime replaced it) is fine.
fn detach(dir: &Path, cgroup: BorrowedFd<'_>, id: u32) -> Result<()> {
    let mut get = GetFdByIdAttr {
        prog_id: id,
        ..GetFdByIdAttr::default()
    };
    let prog = match bpf(BPF_PROG_GET_FD_BY_ID, &mut get) {
        Ok(fd) => owned(fd),
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(error(dir, "BPF_PROG_GET_FD_BY_ID", e, String::new())),
    };
    let mut attr = AttachAttr {
        target_fd: fd_u32(cgroup),
        attach_bpf_fd: fd_u32(prog.as_fd()),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
    };
    match bpf(BPF_PROG_DETACH, &mut attr) {
        Ok(_) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(error(
            dir,
            "BPF_PROG_DETACH, BPF_CGROUP_DEVICE",
            e,
            String::new(),
        )),
    }
}
