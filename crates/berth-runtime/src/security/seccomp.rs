//! Seccomp: the spec's `linux.seccomp` compiled to a BPF program.
//!
//! CONTRACT (used by process/init.rs; keep these signatures):
//! - `SeccompProgram::compile(&oci_spec::runtime::LinuxSeccomp) -> Result<SeccompProgram, SeccompError>`
//!   runs in the runtime process *before* fork (it may allocate freely).
//! - `SeccompProgram::load(&self) -> Result<(), SeccompError>` runs in the
//!   container init right before execve. It only makes the seccomp(2) call:
//!   no allocation, no libseccomp.
//!
//! # How a profile is compiled
//!
//! libseccomp builds the filter and exports it as classic BPF; we keep only
//! the instructions and the `SECCOMP_FILTER_FLAG_*` bits, so the child never
//! touches libseccomp (which allocates and is not async-signal-safe).
//!
//! The semantics follow runc (`libcontainer/seccomp/seccomp_linux.go`):
//!
//! - **Actions.** `SCMP_ACT_KILL` is the legacy name of `SCMP_ACT_KILL_THREAD`.
//!   `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` return `errnoRet` (for rules) or
//!   `defaultErrnoRet` (for the default action), `EPERM` when absent. The
//!   runtime-spec says an errno given to any other action MUST fail, so it is
//!   an error here. `SCMP_ACT_NOTIFY` needs a seccomp agent and a listener fd,
//!   which Berth does not implement yet: it is rejected.
//! - **Architectures.** The native architecture is always in the filter; the
//!   listed ones are added. One the system libseccomp does not know (e.g.
//!   `SCMP_ARCH_LOONGARCH64` with libseccomp 2.5) is an error naming it.
//!   Syscalls from an architecture that is not in the filter hit libseccomp's
//!   bad-arch action (kill), as with runc.
//! - **Flags.** `TSYNC`, `LOG` and `SPEC_ALLOW` become the matching
//!   `SECCOMP_FILTER_FLAG_*` bits of the seccomp(2) call. Any other flag is an
//!   error: `WAIT_KILLABLE_RECV` only means something with `NOTIFY`.
//! - **Unknown syscall names are skipped.** A profile written for a newer
//!   kernel names syscalls this libseccomp cannot resolve; runc ignores those,
//!   and so do we: the default action applies to them. (runc additionally
//!   patches the program so that syscalls newer than the profile get
//!   `-ENOSYS`; we do not.) An *empty* name, or a rule without names, is an
//!   error.
//! - **Rules equal to the default action are skipped**: libseccomp refuses
//!   them (`-EACCES`) and they would not change the filter anyway. Equality
//!   includes the errno: `ERRNO(EPERM)` vs a default `ERRNO(EACCES)` is kept.
//! - **Arguments.** The conditions of one rule are ANDed (one libseccomp rule
//!   with all comparisons). But libseccomp cannot compare the same argument
//!   twice in one rule, so when two or more conditions name the same argument
//!   index, runc falls back to its historical behaviour and adds *one rule per
//!   condition*, i.e. ALL the conditions of that entry are ORed, including the
//!   ones on other indexes. We do exactly the same, so that a profile behaves
//!   identically under runc and Berth. For `SCMP_CMP_MASKED_EQ`, `value` is the
//!   mask and `valueTwo` the expected result (`(arg & value) == valueTwo`).
//!   An index above 5 (syscalls have six arguments) is an error.
//!
//! Invalid action, operator or architecture *strings* cannot reach this
//! module: oci-spec models them as enums, so `config.json` parsing already
//! rejects them (see the `parsing_rejects_*` tests).
//!
//! # Privileges
//!
//! seccomp(2) with `SECCOMP_SET_MODE_FILTER` requires either the
//! `no_new_privs` bit (`process.noNewPrivileges`) or `CAP_SYS_ADMIN` in the
//! caller's user namespace; without either, [`SeccompProgram::load`] fails
//! with `EACCES`. This module does not set `no_new_privs` itself.

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek};

use libseccomp::error::SeccompError as ScmpError;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use nix::errno::Errno;
use nix::sys::memfd::{memfd_create, MFdFlags};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

/// Linux syscalls take at most six arguments (`arg0`..`arg5`).
const SYSCALL_MAX_ARGS: usize = 6;

/// Errno returned by ERRNO/TRACE actions when the profile gives none (runtime-spec default).
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// The kernel refuses longer classic-BPF programs (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = libc::BPF_MAXINSNS as usize;

/// Size of one exported instruction (`struct sock_filter`).
const INSTRUCTION_SIZE: usize = std::mem::size_of::<libc::sock_filter>();

/// Above this many rules, ask libseccomp for a binary-tree dispatch instead of
/// a linear scan. Not lower: libseccomp <= 2.5.4 misbehaves when the tree is
/// enabled with no rules (runc uses the same threshold).
const BINARY_TREE_MIN_RULES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// Generic invalid profile.
    #[error("seccomp: {0}")]
    Invalid(String),

    #[error("seccomp: SCMP_ACT_NOTIFY in {context} is not supported yet")]
    NotifyUnsupported { context: String },

    #[error("seccomp: {context}: `names` must hold at least one syscall name")]
    NoSyscallNames { context: String },

    #[error("seccomp: {context}: empty string is not a valid syscall name")]
    EmptySyscallName { context: String },

    #[error("seccomp: {context}: an errno ({errno}) is given but {action} does not return one")]
    ErrnoNotSupported {
        context: String,
        action: LinuxSeccompAction,
        errno: u32,
    },

    #[error(
        "seccomp: {context}: errno {errno} is out of range (at most {})",
        u16::MAX
    )]
    ErrnoOutOfRange { context: String, errno: u32 },

    #[error(
        "seccomp: {context}: argument index {index} with {op} is out of range \
         (syscalls have {SYSCALL_MAX_ARGS} arguments, 0 to 5)"
    )]
    ArgIndexOutOfRange {
        context: String,
        index: usize,
        op: LinuxSeccompOperator,
    },

    #[error("seccomp: flag {flag} is not supported")]
    UnsupportedFlag { flag: LinuxSeccompFilterFlag },

    #[error("seccomp: architecture {arch} is not supported by the system libseccomp: {source}")]
    UnsupportedArch {
        arch: Arch,
        #[source]
        source: ScmpError,
    },

    #[error("seccomp: {context}: cannot add the rule for syscall {syscall:?}: {source}")]
    AddRule {
        context: String,
        syscall: String,
        #[source]
        source: ScmpError,
    },

    #[error("seccomp: libseccomp cannot {what}: {source}")]
    Libseccomp {
        what: &'static str,
        #[source]
        source: ScmpError,
    },

    #[error("seccomp: cannot export the BPF program: {0}")]
    Export(#[source] std::io::Error),

    #[error("seccomp: exported BPF program is malformed ({len} bytes)")]
    MalformedProgram { len: usize },

    #[error("seccomp: the BPF program has {count} instructions, the kernel accepts at most {MAX_INSTRUCTIONS}")]
    ProgramTooLong { count: usize },

    #[error("seccomp: seccomp(SECCOMP_SET_MODE_FILTER) failed: {0}")]
    Load(Errno),

    #[error("seccomp: SECCOMP_FILTER_FLAG_TSYNC: thread {tid} could not be synchronized")]
    TsyncFailed { tid: libc::c_long },
}

/// A compiled seccomp filter: classic-BPF instructions plus seccomp(2) flags.
///
/// Built by [`SeccompProgram::compile`] before fork, installed by
/// [`SeccompProgram::load`] in the container init.
#[derive(Clone)]
pub struct SeccompProgram {
    /// Decoded from libseccomp's `export_bpf` bytes; typed (rather than
    /// `Vec<u8>`) so the pointer handed to the kernel is properly aligned.
    instructions: Box<[libc::sock_filter]>,
    /// `SECCOMP_FILTER_FLAG_*` bits.
    flags: libc::c_ulong,
}

impl fmt::Debug for SeccompProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeccompProgram")
            .field("instructions", &self.instructions.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .finish()
    }
}

impl SeccompProgram {
    /// Compiles the spec's seccomp profile (see the module docs for the rules).
    pub fn compile(spec: &LinuxSeccomp) -> Result<Self, SeccompError> {
        let flags = kernel_flags(spec.flags().as_deref().unwrap_or_default())?;
        let default_action = to_scmp_action(
            spec.default_action(),
            spec.default_errno_ret(),
            "defaultAction",
        )?;
        let mut ctx =
            ScmpFilterContext::new(default_action).map_err(libseccomp_err("create a filter"))?;
        add_architectures(
            &mut ctx,
            spec.architectures().as_deref().unwrap_or_default(),
        )?;
        let entries = spec.syscalls().as_deref().unwrap_or_default();
        let rule_count = add_syscall_entries(&mut ctx, entries, default_action)?;
        enable_binary_tree(&mut ctx, rule_count);
        let instructions = decode_program(&export_bpf(&ctx)?)?;
        Ok(Self {
            instructions,
            flags,
        })
    }

    /// Installs the filter on the calling thread (and, with `TSYNC`, on all
    /// threads of the process).
    ///
    /// Meant for the container init after fork: it makes the seccomp(2) call
    /// and nothing else (no allocation, no libseccomp, no locks), so it is
    /// async-signal-safe. Needs `no_new_privs` or `CAP_SYS_ADMIN` (see the
    /// module docs), else the kernel answers `EACCES`.
    pub fn load(&self) -> Result<(), SeccompError> {
        let count = self.instructions.len();
        let len = u16::try_from(count).map_err(|_| SeccompError::ProgramTooLong { count })?;
        let program = libc::sock_fprog {
            len,
            // The kernel only reads the instructions; the field is `*mut` for C reasons.
            filter: self.instructions.as_ptr().cast_mut(),
        };
        match seccomp_set_mode_filter(self.flags, &program) {
            0 => Ok(()),
            -1 => Err(SeccompError::Load(Errno::last())),
            // With TSYNC, a positive return is the id of a thread that could not sync.
            tid => Err(SeccompError::TsyncFailed { tid }),
        }
    }

    /// The program as bytes (flags, then the instructions in the kernel's
    /// layout), for a cache of compiled profiles.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.instructions.len() * INSTRUCTION_SIZE);
        // c_ulong is u64 here but not on every target.
        #[allow(clippy::unnecessary_cast)]
        let flags = self.flags as u64;
        out.extend_from_slice(&flags.to_le_bytes());
        for i in self.instructions.iter() {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        out
    }

    /// A program written by [`SeccompProgram::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SeccompError> {
        let Some((flags, program)) = bytes.split_first_chunk::<8>() else {
            return Err(SeccompError::MalformedProgram { len: bytes.len() });
        };
        Ok(Self {
            instructions: decode_program(program)?,
            flags: u64::from_le_bytes(*flags) as libc::c_ulong,
        })
    }

    /// Number of BPF instructions, for tests and debug output.
    pub fn instruction_count(&self) -> usize {
        self.instructions.len()
    }
}

/// The raw seccomp(2) call; returns the syscall's result (errno left in `errno`).
fn seccomp_set_mode_filter(flags: libc::c_ulong, program: &libc::sock_fprog) -> libc::c_long {
    // SAFETY: `program` is a live, borrowed `sock_fprog` whose `filter` points
    // to `len` initialised instructions owned by the borrowed `SeccompProgram`,
    // both valid for the whole call. The kernel copies the program during the
    // call and keeps no pointer to our memory afterwards.
    unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            program as *const libc::sock_fprog,
        )
    }
}

/// Maps OCI filter flags to `SECCOMP_FILTER_FLAG_*` bits.
fn kernel_flags(flags: &[LinuxSeccompFilterFlag]) -> Result<libc::c_ulong, SeccompError> {
    flags
        .iter()
        .try_fold(0, |bits, &flag| Ok(bits | kernel_flag(flag)?))
}

fn kernel_flag(flag: LinuxSeccompFilterFlag) -> Result<libc::c_ulong, SeccompError> {
    match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => Ok(libc::SECCOMP_FILTER_FLAG_TSYNC),
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => Ok(libc::SECCOMP_FILTER_FLAG_LOG),
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
            Ok(libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW)
        }
        // Only meaningful together with SCMP_ACT_NOTIFY, which we do not support.
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            Err(SeccompError::UnsupportedFlag { flag })
        }
    }
}

/// Converts an OCI action (+ optional errno) to libseccomp's.
/// `context` names the profile entry in error messages.
fn to_scmp_action(
    action: LinuxSeccompAction,
    errno: Option<u32>,
    context: &str,
) -> Result<ScmpAction, SeccompError> {
    use LinuxSeccompAction as A;
    check_errno_allowed(action, errno, context)?;
    let scmp = match action {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(i32::from(errno_ret(errno, context)?)),
        A::ScmpActTrace => ScmpAction::Trace(errno_ret(errno, context)?),
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActNotify => {
            return Err(SeccompError::NotifyUnsupported {
                context: context.to_owned(),
            })
        }
    };
    Ok(scmp)
}

/// The runtime-spec: an errno given to an action that returns none MUST fail.
fn check_errno_allowed(
    action: LinuxSeccompAction,
    errno: Option<u32>,
    context: &str,
) -> Result<(), SeccompError> {
    match errno {
        Some(errno)
            if !matches!(
                action,
                LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
            ) =>
        {
            Err(SeccompError::ErrnoNotSupported {
                context: context.to_owned(),
                action,
                errno,
            })
        }
        _ => Ok(()),
    }
}

/// The errno of an ERRNO/TRACE action: the kernel keeps 16 bits of it.
fn errno_ret(errno: Option<u32>, context: &str) -> Result<u16, SeccompError> {
    let errno = errno.unwrap_or(DEFAULT_ERRNO);
    u16::try_from(errno).map_err(|_| SeccompError::ErrnoOutOfRange {
        context: context.to_owned(),
        errno,
    })
}

/// Adds the native architecture (explicitly, for clarity: seccomp_init
/// already did) and every listed one.
fn add_architectures(ctx: &mut ScmpFilterContext, arches: &[Arch]) -> Result<(), SeccompError> {
    ctx.add_arch(ScmpArch::Native)
        .map_err(libseccomp_err("add the native architecture"))?;
    for &arch in arches {
        ctx.add_arch(to_scmp_arch(arch))
            .map_err(|source| SeccompError::UnsupportedArch { arch, source })?;
    }
    Ok(())
}

fn to_scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// Adds the rules of every `syscalls[]` entry; returns how many libseccomp
/// rules were added.
fn add_syscall_entries(
    ctx: &mut ScmpFilterContext,
    entries: &[LinuxSyscall],
    default_action: ScmpAction,
) -> Result<usize, SeccompError> {
    let mut added = 0;
    for (index, entry) in entries.iter().enumerate() {
        added += add_syscall_entry(ctx, index, entry, default_action)?;
    }
    Ok(added)
}

/// Adds the rules of `syscalls[index]`; returns how many libseccomp rules
/// were added. The whole entry is validated before anything is skipped, so
/// a broken profile fails the same way on every kernel.
fn add_syscall_entry(
    ctx: &mut ScmpFilterContext,
    index: usize,
    entry: &LinuxSyscall,
    default_action: ScmpAction,
) -> Result<usize, SeccompError> {
    let context = entry_context(index, entry);
    check_names(entry.names(), &context)?;
    let action = to_scmp_action(entry.action(), entry.errno_ret(), &context)?;
    let alternatives =
        condition_alternatives(entry.args().as_deref().unwrap_or_default(), &context)?;
    if action == default_action {
        return Ok(0);
    }
    let mut added = 0;
    for name in entry.names() {
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            continue; // Unknown to this libseccomp (newer kernel): skipped, like runc.
        };
        for conditions in &alternatives {
            ctx.add_rule_conditional(action, syscall, conditions)
                .map_err(|source| add_rule_err(&context, name, source))?;
            added += 1;
        }
    }
    Ok(added)
}

/// `syscalls[3] (mkdir, mkdirat)`: how errors name a profile entry. Real
/// profiles put hundreds of names in one entry, so only the first few are shown.
fn entry_context(index: usize, entry: &LinuxSyscall) -> String {
    const SHOWN: usize = 3;
    let names = entry.names();
    let mut shown = names[..names.len().min(SHOWN)].join(", ");
    if names.len() > SHOWN {
        shown.push_str(&format!(", ... {} more", names.len() - SHOWN));
    }
    format!("syscalls[{index}] ({shown})")
}

fn check_names(names: &[String], context: &str) -> Result<(), SeccompError> {
    if names.is_empty() {
        return Err(SeccompError::NoSyscallNames {
            context: context.to_owned(),
        });
    }
    if names.iter().any(|name| name.is_empty()) {
        return Err(SeccompError::EmptySyscallName {
            context: context.to_owned(),
        });
    }
    Ok(())
}

/// The condition sets to add as separate (hence ORed) rules, each set ANDed
/// within its rule. See the module docs for runc's same-index fallback.
fn condition_alternatives(
    args: &[LinuxSeccompArg],
    context: &str,
) -> Result<Vec<Vec<ScmpArgCompare>>, SeccompError> {
    let conditions = args
        .iter()
        .map(|arg| to_comparison(arg, context))
        .collect::<Result<Vec<_>, _>>()?;
    if has_repeated_index(args) {
        Ok(conditions
            .into_iter()
            .map(|condition| vec![condition])
            .collect())
    } else {
        Ok(vec![conditions])
    }
}

fn has_repeated_index(args: &[LinuxSeccompArg]) -> bool {
    let mut seen = [false; SYSCALL_MAX_ARGS];
    // Out-of-range indexes are rejected by `to_comparison`; ignore them here.
    args.iter().any(|arg| {
        seen.get_mut(arg.index())
            .is_some_and(|seen| std::mem::replace(seen, true))
    })
}

/// One argument condition; rejects an index past `arg5`.
fn to_comparison(arg: &LinuxSeccompArg, context: &str) -> Result<ScmpArgCompare, SeccompError> {
    let index = u32::try_from(arg.index())
        .ok()
        .filter(|&index| (index as usize) < SYSCALL_MAX_ARGS)
        .ok_or_else(|| SeccompError::ArgIndexOutOfRange {
            context: context.to_owned(),
            index: arg.index(),
            op: arg.op(),
        })?;
    use LinuxSeccompOperator as O;
    let (op, datum) = match arg.op() {
        O::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        O::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        O::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        O::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        O::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        O::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        // OCI/runc: `value` is the mask, `valueTwo` the expected masked value.
        O::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    Ok(ScmpArgCompare::new(index, op, datum))
}

/// A large profile is dispatched through a binary tree of syscall numbers
/// rather than a linear scan. Purely a speed-up, so a libseccomp that cannot
/// do it is not an error.
fn enable_binary_tree(ctx: &mut ScmpFilterContext, rule_count: usize) {
    if rule_count > BINARY_TREE_MIN_RULES {
        let _ = ctx.set_ctl_optimize(2);
    }
}

/// Exports the filter as raw BPF bytes. libseccomp 2.5 can only write to a
/// file descriptor, so it goes through an anonymous memory file.
fn export_bpf(ctx: &ScmpFilterContext) -> Result<Vec<u8>, SeccompError> {
    let fd = memfd_create(c"berth-seccomp", MFdFlags::MFD_CLOEXEC)
        .map_err(|errno| SeccompError::Export(errno.into()))?;
    let mut file = File::from(fd);
    ctx.export_bpf(&file)
        .map_err(libseccomp_err("export the BPF program"))?;
    let mut bytes = Vec::new();
    file.rewind().map_err(SeccompError::Export)?;
    file.read_to_end(&mut bytes).map_err(SeccompError::Export)?;
    Ok(bytes)
}

/// Splits the exported bytes (host-endian `struct sock_filter` array) into
/// instructions and checks that the kernel will take them.
fn decode_program(bytes: &[u8]) -> Result<Box<[libc::sock_filter]>, SeccompError> {
    let chunks = bytes.chunks_exact(INSTRUCTION_SIZE);
    if bytes.is_empty() || !chunks.remainder().is_empty() {
        return Err(SeccompError::MalformedProgram { len: bytes.len() });
    }
    let count = chunks.len();
    if count > MAX_INSTRUCTIONS {
        return Err(SeccompError::ProgramTooLong { count });
    }
    Ok(chunks.map(decode_instruction).collect())
}

fn decode_instruction(raw: &[u8]) -> libc::sock_filter {
    libc::sock_filter {
        code: u16::from_ne_bytes([raw[0], raw[1]]),
        jt: raw[2],
        jf: raw[3],
        k: u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]),
    }
}

fn libseccomp_err(what: &'static str) -> impl FnOnce(ScmpError) -> SeccompError {
    move |source| SeccompError::Libseccomp { what, source }
}

fn add_rule_err(context: &str, syscall: &str, source: ScmpError) -> SeccompError {
    SeccompError::AddRule {
        context: context.to_owned(),
        syscall: syscall.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    use serde_json::{json, Value};

    // ---- helpers -------------------------------------------------------

    fn profile(value: Value) -> LinuxSeccomp {
        serde_json::from_value(value).expect("test profile must parse")
    }

    fn compile(value: Value) -> Result<SeccompProgram, SeccompError> {
        SeccompProgram::compile(&profile(value))
    }

    fn compile_ok(value: Value) -> SeccompProgram {
        compile(value).unwrap_or_else(|err| panic!("compile failed: {err}"))
    }

    fn compile_err(value: Value) -> SeccompError {
        match compile(value) {
            Ok(program) => panic!("compile unexpectedly succeeded: {program:?}"),
            Err(err) => err,
        }
    }

    /// How a forked child ended.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        Exited(i32),
        Signaled(Signal),
    }

    /// Exit code of a child whose `load()` failed.
    const LOAD_FAILED: i32 = 100;

    /// Runs `child` in a forked process and reports how it ended.
    ///
    /// The test binary is multithreaded, so `child` may only do
    /// async-signal-safe things: raw syscalls, no allocation, no locks, no
    /// panics. Its return value becomes the exit code (0 = all expectations
    /// met, otherwise the number of the failed check).
    fn in_child(child: impl Fn() -> i32) -> Outcome {
        // SAFETY: the child runs only `child` (async-signal-safe by the
        // contract above) and then `_exit`s; it never returns into the test.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = child();
                // SAFETY: terminates the child without running atexit hooks
                // or destructors that belong to the parent.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, code) => Outcome::Exited(code),
                WaitStatus::Signaled(_, signal, _) => Outcome::Signaled(signal),
                other => panic!("unexpected wait status {other:?}"),
            },
        }
    }

    /// Like the container init: sets no_new_privs, loads `program`, then runs `probe`.
    fn confined(program: &SeccompProgram, probe: impl Fn() -> i32) -> Outcome {
        in_child(|| {
            if set_no_new_privs() != 0 || program.load().is_err() {
                return LOAD_FAILED;
            }
            probe()
        })
    }

    fn set_no_new_privs() -> libc::c_int {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }
    }

    /// True when a raw syscall result is a failure with `errno`.
    fn failed_with(ret: libc::c_long, errno: i32) -> bool {
        ret == -1 && Errno::last_raw() == errno
    }

    fn sys_close(fd: libc::c_long) -> libc::c_long {
        // SAFETY: closing a number that is not an open fd of the child.
        unsafe { libc::syscall(libc::SYS_close, fd) }
    }

    fn sys_fcntl(fd: libc::c_long, cmd: libc::c_int) -> libc::c_long {
        // SAFETY: F_GETFD/F_GETFL take no pointer argument.
        unsafe { libc::syscall(libc::SYS_fcntl, fd, cmd) }
    }

    fn sys_personality(persona: libc::c_ulong) -> libc::c_long {
        // SAFETY: integer argument only; the child is thrown away afterwards.
        unsafe { libc::syscall(libc::SYS_personality, persona) }
    }

    fn sys_socket(domain: libc::c_int) -> libc::c_long {
        // SAFETY: integer arguments only.
        unsafe { libc::syscall(libc::SYS_socket, domain, libc::SOCK_STREAM, 0) }
    }

    fn sys_noarg(number: libc::c_long) -> libc::c_long {
        // SAFETY: used for getpid/getppid, which take no arguments.
        unsafe { libc::syscall(number) }
    }

    /// `close(fd)` on fds that are surely not open: unfiltered, it gives EBADF.
    const NOT_AN_FD: libc::c_long = 1000;

    // ---- the cache format -------------------------------------------------

    #[test]
    fn bytes_roundtrip_and_damage_is_refused() {
        let spec: LinuxSeccomp = serde_json::from_value(json!({
            "defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}))
        .unwrap();
        let program = SeccompProgram::compile(&spec).unwrap();
        let bytes = program.to_bytes();
        let back = SeccompProgram::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.flags, program.flags);
        assert!(SeccompProgram::from_bytes(&bytes[..bytes.len() - 3]).is_err());
        assert!(SeccompProgram::from_bytes(&bytes[..4]).is_err());
    }

    // ---- parsing: invalid strings never reach compile() ------------------

    #[test]
    fn parsing_rejects_unknown_action() {
        let spec = json!({"defaultAction": "SCMP_ACT_BOGUS"});
        assert!(serde_json::from_value::<LinuxSeccomp>(spec).is_err());
        let spec = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_DENY"}]});
        assert!(serde_json::from_value::<LinuxSeccomp>(spec).is_err());
    }

    #[test]
    fn parsing_rejects_unknown_operator() {
        let spec = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["close"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]});
        assert!(serde_json::from_value::<LinuxSeccomp>(spec).is_err());
    }

    #[test]
    fn parsing_rejects_unknown_arch() {
        let spec = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]});
        assert!(serde_json::from_value::<LinuxSeccomp>(spec).is_err());
    }

    // ---- validation errors ----------------------------------------------

    #[test]
    fn notify_rule_is_rejected() {
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}));
        assert!(
            matches!(err, SeccompError::NotifyUnsupported { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("syscalls[1] (write)") && msg.contains("not supported yet"),
            "{msg}"
        );
    }

    #[test]
    fn notify_default_is_rejected() {
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        assert!(err.to_string().contains("defaultAction"), "{err}");
    }

    #[test]
    fn empty_syscall_name_is_rejected() {
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", ""], "action": "SCMP_ACT_ERRNO"}]}));
        assert!(
            matches!(err, SeccompError::EmptySyscallName { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("syscalls[0]"), "{err}");
    }

    #[test]
    fn long_entries_are_named_briefly() {
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read", "write", "close", "fstat", "lseek", ""], "action": "SCMP_ACT_ERRNO"}]}));
        assert_eq!(
            err.to_string(),
            "seccomp: syscalls[0] (read, write, close, ... 3 more): \
             empty string is not a valid syscall name"
        );
    }

    #[test]
    fn entry_without_names_is_rejected() {
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}));
        assert!(
            matches!(err, SeccompError::NoSyscallNames { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn arg_index_out_of_range_is_rejected() {
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["close"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}));
        let msg = err.to_string();
        assert!(
            matches!(err, SeccompError::ArgIndexOutOfRange { index: 6, .. }),
            "{err:?}"
        );
        assert!(
            msg.contains("close") && msg.contains("SCMP_CMP_EQ"),
            "{msg}"
        );
    }

    #[test]
    fn errno_on_action_without_errno_is_rejected() {
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}));
        assert!(
            matches!(err, SeccompError::ErrnoNotSupported { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("SCMP_ACT_KILL"), "{err}");

        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}));
        assert!(err.to_string().contains("defaultAction"), "{err}");
    }

    #[test]
    fn errno_out_of_range_is_rejected() {
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}));
        assert!(
            matches!(err, SeccompError::ErrnoOutOfRange { errno: 70000, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn wait_killable_recv_flag_is_rejected() {
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}));
        assert!(
            err.to_string()
                .contains("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
            "{err}"
        );
    }

    #[test]
    fn invalid_entry_is_rejected_even_when_redundant_or_unknown() {
        // Redundant (== default) and unknown-name entries are skipped only
        // after validation, so a broken profile fails on every kernel.
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["no_such_syscall_berth"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]}));
        assert!(
            matches!(err, SeccompError::ArgIndexOutOfRange { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn arch_unknown_to_libseccomp_is_rejected() {
        // LoongArch64 arrived in libseccomp 2.6; older libraries refuse it.
        let spec =
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_LOONGARCH64"]});
        let version = libseccomp::ScmpVersion::current().expect("libseccomp version");
        if (version.major, version.minor) >= (2, 6) {
            compile_ok(spec);
            return;
        }
        let err = compile_err(spec);
        assert!(err.to_string().contains("SCMP_ARCH_LOONGARCH64"), "{err}");
    }

    // ---- mapping and skipping ---------------------------------------------

    #[test]
    fn actions_map_like_runc() {
        let map = |action, errno| to_scmp_action(action, errno, "test").expect("valid action");
        use LinuxSeccompAction as A;
        assert_eq!(map(A::ScmpActKill, None), ScmpAction::KillThread);
        assert_eq!(map(A::ScmpActKillThread, None), ScmpAction::KillThread);
        assert_eq!(map(A::ScmpActKillProcess, None), ScmpAction::KillProcess);
        assert_eq!(map(A::ScmpActTrap, None), ScmpAction::Trap);
        assert_eq!(map(A::ScmpActErrno, None), ScmpAction::Errno(libc::EPERM));
        assert_eq!(map(A::ScmpActErrno, Some(13)), ScmpAction::Errno(13));
        assert_eq!(
            map(A::ScmpActTrace, None),
            ScmpAction::Trace(libc::EPERM as u16)
        );
        assert_eq!(map(A::ScmpActTrace, Some(5)), ScmpAction::Trace(5));
        assert_eq!(map(A::ScmpActLog, None), ScmpAction::Log);
        assert_eq!(map(A::ScmpActAllow, None), ScmpAction::Allow);
    }

    #[test]
    fn flags_map_to_kernel_bits() {
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [
            "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}));
        let expected = libc::SECCOMP_FILTER_FLAG_TSYNC
            | libc::SECCOMP_FILTER_FLAG_LOG
            | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
        assert_eq!(program.flags, expected);
        assert_eq!(
            compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW"})).flags,
            0
        );
    }

    #[test]
    fn unknown_syscall_is_skipped() {
        let only_mkdir = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}));
        let with_unknown = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["no_such_syscall_berth", "mkdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["another_future_syscall"], "action": "SCMP_ACT_KILL"}]}));
        assert_eq!(with_unknown.instructions, only_mkdir.instructions);
    }

    #[test]
    fn rule_equal_to_default_is_skipped() {
        let empty = compile_ok(json!({"defaultAction": "SCMP_ACT_ERRNO"}));
        // ERRNO without errnoRet is ERRNO(EPERM), exactly the default.
        let redundant = compile_ok(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}));
        assert_eq!(redundant.instructions, empty.instructions);
        // A different errno is a different action: kept.
        let different = compile_ok(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}));
        assert!(different.instruction_count() > empty.instruction_count());
    }

    #[test]
    fn extra_architectures_are_added() {
        let rules = json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]);
        let native = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}));
        let explicit_native = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_NATIVE"], "syscalls": rules}));
        let multi = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                              "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
            "syscalls": rules}));
        assert_eq!(explicit_native.instructions, native.instructions);
        assert!(multi.instruction_count() > native.instruction_count());
    }

    #[test]
    fn same_index_conditions_become_separate_rules() {
        let arg =
            |index: usize, value: u64| json!({"index": index, "value": value, "op": "SCMP_CMP_EQ"});
        let alternatives = |args: Value| {
            let args: Vec<LinuxSeccompArg> = serde_json::from_value(args).expect("args parse");
            condition_alternatives(&args, "test")
                .expect("valid args")
                .len()
        };
        assert_eq!(alternatives(json!([])), 1);
        assert_eq!(alternatives(json!([arg(0, 1), arg(1, 2)])), 1); // ANDed in one rule
        assert_eq!(alternatives(json!([arg(0, 1), arg(0, 2), arg(1, 3)])), 3); // all ORed
    }

    #[test]
    fn malformed_export_is_rejected() {
        assert!(matches!(
            decode_program(&[]),
            Err(SeccompError::MalformedProgram { len: 0 })
        ));
        assert!(matches!(
            decode_program(&[0; 12]),
            Err(SeccompError::MalformedProgram { len: 12 })
        ));
        let too_long = vec![0; (MAX_INSTRUCTIONS + 1) * INSTRUCTION_SIZE];
        assert!(matches!(
            decode_program(&too_long),
            Err(SeccompError::ProgramTooLong { .. })
        ));
    }

    // ---- real filters, loaded in a forked child -----------------------------

    #[test]
    fn errno_rule_denies_mkdir_with_eacces() {
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES}]}));
        // Unfiltered, this path gives ENOENT, and nothing is ever created.
        let path = c"/nonexistent-berth-seccomp-test/dir";
        let outcome = confined(&program, || {
            // SAFETY: `path` is a valid NUL-terminated string.
            let ret = unsafe { libc::mkdir(path.as_ptr(), 0o700) };
            if !failed_with(ret.into(), libc::EACCES) {
                return 1;
            }
            if sys_noarg(libc::SYS_getpid) <= 0 {
                return 2;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn arg_condition_denies_only_the_matching_call() {
        // personality(0xffffffff) only queries the persona: deny just that one.
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES,
            "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]}]}));
        let outcome = confined(&program, || {
            if !failed_with(sys_personality(0xffff_ffff), libc::EACCES) {
                return 1;
            }
            if sys_personality(0) < 0 {
                return 2; // PER_LINUX: not matched, allowed
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn socket_family_condition() {
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EAFNOSUPPORT,
            "args": [{"index": 0, "value": libc::AF_INET6, "op": "SCMP_CMP_EQ"}]}]}));
        // Without the filter AF_INET6 must work, or the check below proves nothing.
        assert_eq!(
            in_child(|| i32::from(sys_socket(libc::AF_INET6) < 0)),
            Outcome::Exited(0)
        );
        let outcome = confined(&program, || {
            if !failed_with(sys_socket(libc::AF_INET6), libc::EAFNOSUPPORT) {
                return 1;
            }
            if sys_socket(libc::AF_UNIX) < 0 || sys_socket(libc::AF_INET) < 0 {
                return 2;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn conditions_on_distinct_indexes_are_anded() {
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES,
            "args": [{"index": 0, "value": NOT_AN_FD, "op": "SCMP_CMP_EQ"},
                     {"index": 1, "value": libc::F_GETFD, "op": "SCMP_CMP_EQ"}]}]}));
        let outcome = confined(&program, || {
            if !failed_with(sys_fcntl(NOT_AN_FD, libc::F_GETFD), libc::EACCES) {
                return 1;
            }
            if !failed_with(sys_fcntl(NOT_AN_FD, libc::F_GETFL), libc::EBADF) {
                return 2; // only arg0 matches
            }
            if !failed_with(sys_fcntl(NOT_AN_FD + 1, libc::F_GETFD), libc::EBADF) {
                return 3; // only arg1 matches
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn conditions_on_the_same_index_are_ored() {
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES,
            "args": [{"index": 0, "value": NOT_AN_FD, "op": "SCMP_CMP_EQ"},
                     {"index": 0, "value": NOT_AN_FD + 1, "op": "SCMP_CMP_EQ"}]}]}));
        let outcome = confined(&program, || {
            if !failed_with(sys_close(NOT_AN_FD), libc::EACCES) {
                return 1;
            }
            if !failed_with(sys_close(NOT_AN_FD + 1), libc::EACCES) {
                return 2;
            }
            if !failed_with(sys_close(NOT_AN_FD + 2), libc::EBADF) {
                return 3;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn same_index_fallback_ors_every_condition_like_runc() {
        // arg0 is named twice, so runc (and we) OR all three conditions,
        // including the one on arg1.
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES,
            "args": [{"index": 0, "value": NOT_AN_FD, "op": "SCMP_CMP_EQ"},
                     {"index": 0, "value": NOT_AN_FD + 1, "op": "SCMP_CMP_EQ"},
                     {"index": 1, "value": libc::F_GETFL, "op": "SCMP_CMP_EQ"}]}]}));
        let outcome = confined(&program, || {
            if !failed_with(sys_fcntl(NOT_AN_FD + 1, libc::F_GETFD), libc::EACCES) {
                return 1;
            }
            if !failed_with(sys_fcntl(NOT_AN_FD + 2, libc::F_GETFL), libc::EACCES) {
                return 2;
            }
            if !failed_with(sys_fcntl(NOT_AN_FD + 2, libc::F_GETFD), libc::EBADF) {
                return 3;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn masked_eq_uses_value_as_mask_and_value_two_as_datum() {
        // (fd & 0xff00) == 0x0300: 0x3e8 matches, 0x400 does not; 0x7e8 does
        // not either, but would if mask and datum were swapped
        // ((0x7e8 & 0x0300) == (0xff00 & 0x0300)).
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES,
            "args": [{"index": 0, "value": 0xff00, "valueTwo": 0x0300, "op": "SCMP_CMP_MASKED_EQ"}]}]}));
        let outcome = confined(&program, || {
            if !failed_with(sys_close(0x3e8), libc::EACCES) {
                return 1;
            }
            if !failed_with(sys_close(0x400), libc::EBADF) {
                return 2;
            }
            if !failed_with(sys_close(0x7e8), libc::EBADF) {
                return 3;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn errno_default_allow_list() {
        // exit_group is needed by _exit; getppid is not listed.
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": libc::ENXIO,
            "syscalls": [{"names": ["exit_group", "exit", "getpid"], "action": "SCMP_ACT_ALLOW"}]}));
        let outcome = confined(&program, || {
            if sys_noarg(libc::SYS_getpid) <= 0 {
                return 1;
            }
            if !failed_with(sys_noarg(libc::SYS_getppid), libc::ENXIO) {
                return 2;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn kill_process_action_kills_with_sigsys() {
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}));
        let outcome = confined(&program, || {
            sys_noarg(libc::SYS_getppid);
            1 // not reached when the filter works
        });
        assert_eq!(outcome, Outcome::Signaled(Signal::SIGSYS));
    }

    #[test]
    fn kernel_accepts_the_supported_flags() {
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [
            "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}));
        let outcome = confined(&program, || {
            i32::from(!failed_with(sys_noarg(libc::SYS_getppid), libc::EPERM))
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn multi_arch_profile_filters_native_syscalls() {
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                              "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES}]}));
        let outcome = confined(&program, || {
            i32::from(!failed_with(sys_noarg(libc::SYS_getppid), libc::EACCES))
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn large_profile_still_filters() {
        // > BINARY_TREE_MIN_RULES rules: libseccomp builds a binary tree.
        let allowed = [
            "read",
            "write",
            "close",
            "fstat",
            "lseek",
            "mmap",
            "mprotect",
            "munmap",
            "brk",
            "rt_sigaction",
            "rt_sigprocmask",
            "ioctl",
            "pread64",
            "pwrite64",
            "readv",
            "writev",
            "access",
            "pipe",
            "select",
            "sched_yield",
            "mremap",
            "msync",
            "mincore",
            "madvise",
            "dup",
            "dup2",
            "pause",
            "nanosleep",
            "getitimer",
            "alarm",
            "setitimer",
            "getpid",
            "sendfile",
            "socket",
            "connect",
            "exit",
            "exit_group",
            "uname",
        ];
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": libc::ENXIO,
            "syscalls": [{"names": &allowed[..], "action": "SCMP_ACT_ALLOW"}]}));
        let outcome = confined(&program, || {
            if sys_noarg(libc::SYS_getpid) <= 0 {
                return 1;
            }
            if !failed_with(sys_noarg(libc::SYS_getppid), libc::ENXIO) {
                return 2;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn load_needs_no_new_privs_or_cap_sys_admin() {
        let program = compile_ok(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        let outcome = in_child(|| {
            // Become `nobody` without no_new_privs: every capability is dropped.
            // SAFETY: raw setresuid on this single-threaded child.
            if unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) } != 0 {
                return 1;
            }
            match program.load() {
                Err(SeccompError::Load(Errno::EACCES)) => 0,
                Ok(()) => 2,
                Err(_) => 3,
            }
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }
}
