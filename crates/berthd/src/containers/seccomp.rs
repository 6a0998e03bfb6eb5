//! Docker's default seccomp profile, and Docker-format profiles
//! (`--security-opt seccomp=file.json`) converted to the OCI spec's form.
//!
//! # Two formats
//!
//! Docker's profile format extends the runtime-spec's `linux.seccomp`: a
//! rule may carry `includes`/`excludes` conditions (capabilities, host
//! architectures, a minimum kernel), a rule may name one syscall with
//! `name`, and `archMap` gives a set of architectures per host
//! architecture. The engine resolves all of that when it creates the
//! container, and the runtime only ever sees plain rules. So do we: the
//! conversion keeps the rules whose conditions hold *on this host* and for
//! the container's capability set, and drops the conditions.
//!
//! Capabilities are evaluated against Docker's default set
//! ([`DEFAULT_CAPS`]) by the two functions the spec builder calls; the
//! `*_for_caps` variants take the container's actual bounding set, so that
//! `--cap-add SYS_ADMIN` also unlocks `mount` as it does with Docker.
//!
//! # The default profile
//!
//! `seccomp_default.json` describes, in Docker's format, what Docker's
//! default profile (moby `profiles/seccomp/default.json`) allows. Keeping it
//! as data in Docker's format means it goes through the very conversion a
//! user's profile does, so the two paths cannot drift apart, and it can be
//! compared with Docker's file rule by rule. In short:
//!
//! - everything not listed fails with `EPERM`;
//! - about 360 syscalls are allowed outright;
//! - `socket` is allowed for every family but `AF_VSOCK`, `personality` only
//!   for the few personas in real use, `clone` only without namespace flags,
//!   and `clone3` (whose flags seccomp cannot see) answers `ENOSYS` so that
//!   libcs fall back to `clone`;
//! - `ptrace` and `process_vm_*` need Linux 4.8 (before it, a traced process
//!   could escape seccomp), as with Docker;
//! - the syscalls of capabilities outside the default set (`CAP_SYS_ADMIN`:
//!   `mount`, `unshare`, `setns`, ...; `CAP_SYS_MODULE`, `CAP_SYS_TIME`,
//!   `CAP_SYS_BOOT`, `CAP_SYS_RAWIO`, `CAP_DAC_READ_SEARCH`, ...) are left
//!   out; `chroot` stays, `CAP_SYS_CHROOT` being a default one.
//!
//! Never listed at all, hence always denied: the keyring (`add_key`,
//! `keyctl`, `request_key`), `kexec_*`, `swapon`/`swapoff`, `userfaultfd`,
//! `pivot_root`, `nfsservctl`, obsolete and debugging calls.
//!
//! # Validation
//!
//! A user's profile is checked here rather than when the container starts,
//! so that `docker run` fails at once with a message naming the culprit
//! (`syscalls[3].action: ...`): unknown actions, operators, architectures
//! and flags, an `errnoRet` on an action that returns none, argument indexes
//! past 5, and `SCMP_ACT_NOTIFY`, which Berth's runtime does not support.
//! Every rule is checked, including those this host leaves out.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::spec::DEFAULT_CAPS;
use crate::http::ApiError;

/// Docker's default profile as Berth describes it (see the module docs).
const DEFAULT_DOCKER_PROFILE: &str = include_str!("seccomp_default.json");

/// The actions of the runtime-spec. `SCMP_ACT_NOTIFY` is known but
/// rejected: it needs a seccomp agent, which Berth's runtime lacks.
const ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

/// The actions that return an errno, hence the only ones `errnoRet` fits.
const ERRNO_ACTIONS: [&str; 2] = ["SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"];

const OPERATORS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// The architectures of the runtime-spec.
const ARCHITECTURES: [&str; 23] = [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// The filter flags Berth's runtime can apply (`WAIT_KILLABLE_RECV` only
/// matters with `SCMP_ACT_NOTIFY`).
const FLAGS: [&str; 3] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
];

/// Syscalls take at most six arguments.
const MAX_ARG_INDEX: u32 = 5;

/// Docker's default profile in OCI form (`linux.seccomp` of the runtime
/// spec), for Docker's default capability set.
pub fn default_profile() -> Value {
    default_profile_for_caps(&DEFAULT_CAPS)
}

/// Docker's default profile in OCI form for a container whose bounding set
/// is `caps` (names like `CAP_SYS_ADMIN`), as after `--cap-add`/`--cap-drop`.
///
/// Converted once per capability set and kept: parsing and converting the
/// profile on every start took a good part of a millisecond of each
/// container's start, for the same answer (the host does not change under
/// a running daemon, and there are few distinct sets in practice).
pub fn default_profile_for_caps(caps: &[&str]) -> Value {
    /// Distinct sets kept at most (a client could ask for any number).
    const KEPT: usize = 16;
    static CONVERTED: Mutex<BTreeMap<String, Value>> = Mutex::new(BTreeMap::new());
    let key = caps.join(",");
    let mut converted = CONVERTED.lock().unwrap_or_else(|e| e.into_inner());
    if converted.len() >= KEPT && !converted.contains_key(&key) {
        converted.clear();
    }
    converted
        .entry(key)
        .or_insert_with(|| {
            let profile: Value =
                serde_json::from_str(DEFAULT_DOCKER_PROFILE).expect("seccomp_default.json is JSON");
            convert(&profile, &Target::host(caps)).expect("seccomp_default.json is a valid profile")
        })
        .clone()
}

/// A Docker-format profile (what `docker run --security-opt
/// seccomp=profile.json` sends: the file's JSON content) in OCI form, for
/// Docker's default capability set.
pub fn from_docker_profile(profile: &Value) -> Result<Value, ApiError> {
    from_docker_profile_for_caps(profile, &DEFAULT_CAPS)
}

/// [`from_docker_profile`] for a container whose bounding set is `caps`.
pub fn from_docker_profile_for_caps(profile: &Value, caps: &[&str]) -> Result<Value, ApiError> {
    convert(profile, &Target::host(caps))
}

/// What rule conditions are evaluated against: a host and a container.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    /// The architecture, as Rust names it (`std::env::consts::ARCH`).
    arch: &'a str,
    /// The container's bounding capabilities.
    caps: &'a [&'a str],
    /// `None` when it cannot be read: then no `minKernel` is met, i.e. the
    /// kernel counts as older than any profile expects.
    kernel: Option<KernelVersion>,
}

impl<'a> Target<'a> {
    fn host(caps: &'a [&'a str]) -> Self {
        Target {
            arch: std::env::consts::ARCH,
            caps,
            kernel: host_kernel(),
        }
    }

    fn has_cap(&self, cap: &str) -> bool {
        self.caps.contains(&cap)
    }

    /// Whether `name`, from a rule's `arches`, designates this architecture.
    fn is_arch(&self, name: &str) -> bool {
        docker_arch_names(self.arch).contains(&name)
    }

    fn kernel_at_least(&self, min: KernelVersion) -> bool {
        self.kernel.is_some_and(|kernel| kernel >= min)
    }
}

/// The names a rule's `includes.arches`/`excludes.arches` may use for an
/// architecture: Docker's (Go's `amd64`, `arm64`, ...) and the kernel's.
fn docker_arch_names(rust_arch: &str) -> &'static [&'static str] {
    match rust_arch {
        "x86_64" => &["amd64", "x86_64"],
        "aarch64" => &["arm64", "aarch64"],
        "x86" => &["x86", "386"],
        "arm" => &["arm"],
        "riscv64" => &["riscv64"],
        "s390x" => &["s390x"],
        "loongarch64" => &["loong64", "loongarch64"],
        _ => &[],
    }
}

/// The `archMap` key of an architecture.
fn scmp_arch(rust_arch: &str) -> Option<&'static str> {
    match rust_arch {
        "x86_64" => Some("SCMP_ARCH_X86_64"),
        "aarch64" => Some("SCMP_ARCH_AARCH64"),
        "x86" => Some("SCMP_ARCH_X86"),
        "arm" => Some("SCMP_ARCH_ARM"),
        "riscv64" => Some("SCMP_ARCH_RISCV64"),
        "s390x" => Some("SCMP_ARCH_S390X"),
        "loongarch64" => Some("SCMP_ARCH_LOONGARCH64"),
        _ => None,
    }
}

/// `(major, minor, patch)`.
type KernelVersion = (u32, u32, u32);

fn host_kernel() -> Option<KernelVersion> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_kernel_version(&release)
}

/// `6.8.0-45-generic` -> `(6, 8, 0)`; `4.8` -> `(4, 8, 0)`. Major and minor
/// are required, anything after the numbers is ignored.
fn parse_kernel_version(text: &str) -> Option<KernelVersion> {
    let mut parts = text.trim().splitn(3, '.').map(leading_number);
    let major = parts.next()??;
    let minor = parts.next()??;
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

fn leading_number(text: &str) -> Option<u32> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

/// The whole conversion (see the module docs).
fn convert(profile: &Value, target: &Target) -> Result<Value, ApiError> {
    let profile = object(profile, "the profile")?;
    let default_action: String =
        field(profile, "", "defaultAction")?.ok_or_else(|| invalid("defaultAction is required"))?;
    let default_errno: Option<u32> = field(profile, "", "defaultErrnoRet")?;
    check_action(&default_action, default_errno, "defaultAction")?;
    let mut oci = json!({ "defaultAction": default_action });
    if let Some(errno) = default_errno {
        oci["defaultErrnoRet"] = errno.into();
    }
    if let Some(arches) = architectures(profile, target)? {
        oci["architectures"] = arches.into();
    }
    if let Some(flags) = flags(profile)? {
        oci["flags"] = flags.into();
    }
    oci["syscalls"] = rules(profile, target)?.into();
    Ok(oci)
}

/// `architectures` as given, or the host's entry of `archMap` (the
/// architecture and its sub-architectures); `None` leaves the runtime to
/// use the native one. Giving both is an error, as with Docker.
fn architectures(
    profile: &Map<String, Value>,
    target: &Target,
) -> Result<Option<Vec<String>>, ApiError> {
    let listed: Vec<String> = field(profile, "", "architectures")?.unwrap_or_default();
    let arch_map: Vec<ArchMapEntry> = field(profile, "", "archMap")?.unwrap_or_default();
    if !listed.is_empty() && !arch_map.is_empty() {
        return Err(invalid("give either architectures or archMap, not both"));
    }
    let arches = if listed.is_empty() {
        host_arch_map_entry(arch_map, target)
    } else {
        listed
    };
    for arch in &arches {
        check_known(arch, &ARCHITECTURES, "architecture", "architectures")?;
    }
    Ok((!arches.is_empty()).then_some(arches))
}

/// One entry of Docker's `archMap`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMapEntry {
    architecture: String,
    sub_architectures: Option<Vec<String>>,
}

/// The architectures `archMap` gives this host, empty when it has no entry.
fn host_arch_map_entry(arch_map: Vec<ArchMapEntry>, target: &Target) -> Vec<String> {
    let Some(native) = scmp_arch(target.arch) else {
        return Vec::new();
    };
    let Some(entry) = arch_map.into_iter().find(|e| e.architecture == native) else {
        return Vec::new();
    };
    let mut arches = vec![entry.architecture];
    arches.extend(entry.sub_architectures.unwrap_or_default());
    arches
}

fn flags(profile: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    let flags: Option<Vec<String>> = field(profile, "", "flags")?;
    for flag in flags.iter().flatten() {
        check_known(flag, &FLAGS, "flag", "flags")?;
    }
    Ok(flags.filter(|flags| !flags.is_empty()))
}

/// The `syscalls` entries that apply to the target, in OCI form and in order.
fn rules(profile: &Map<String, Value>, target: &Target) -> Result<Vec<Value>, ApiError> {
    let entries: Vec<Value> = field(profile, "", "syscalls")?.unwrap_or_default();
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| convert_rule(entry, &format!("syscalls[{index}]"), target))
        .filter_map(Result::transpose)
        .collect()
}

/// One `syscalls[]` entry in OCI form, or `None` when its conditions leave
/// it out for the target. The entry is validated in full either way, so a
/// broken profile fails alike on every host.
fn convert_rule(entry: &Value, context: &str, target: &Target) -> Result<Option<Value>, ApiError> {
    let entry = object(entry, context)?;
    let names = rule_names(entry, context)?;
    let action: String = field(entry, context, "action")?
        .ok_or_else(|| invalid(format!("{context}: action is required")))?;
    let errno: Option<u32> = field(entry, context, "errnoRet")?;
    check_action(&action, errno, &format!("{context}.action"))?;
    let args = rule_args(entry, context)?;
    let includes: Condition = field(entry, context, "includes")?.unwrap_or_default();
    let excludes: Condition = field(entry, context, "excludes")?.unwrap_or_default();
    let included = includes.all_hold(target, &format!("{context}.includes"))?;
    let excluded = excludes.any_holds(target, &format!("{context}.excludes"))?;
    if !included || excluded {
        return Ok(None);
    }
    let mut rule = json!({ "names": names, "action": action });
    if let Some(errno) = errno {
        rule["errnoRet"] = errno.into();
    }
    if !args.is_empty() {
        rule["args"] = args.into();
    }
    Ok(Some(rule))
}

/// `names`, or Docker's older single `name` (not both).
fn rule_names(entry: &Map<String, Value>, context: &str) -> Result<Vec<String>, ApiError> {
    let name: Option<String> = field(entry, context, "name")?;
    let names: Vec<String> = field(entry, context, "names")?.unwrap_or_default();
    let names = match name {
        Some(_) if !names.is_empty() => {
            return Err(invalid(format!(
                "{context}: give either name or names, not both"
            )))
        }
        Some(name) => vec![name],
        None => names,
    };
    if names.is_empty() || names.iter().any(String::is_empty) {
        return Err(invalid(format!(
            "{context}: needs syscall names (name or names)"
        )));
    }
    Ok(names)
}

/// A condition on a syscall's argument, as Docker writes it. Go decodes a
/// missing `value` as 0, so we do too; `index` and `op` must be given.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u32,
    #[serde(default)]
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

fn rule_args(entry: &Map<String, Value>, context: &str) -> Result<Vec<Value>, ApiError> {
    let args: Vec<Arg> = field(entry, context, "args")?.unwrap_or_default();
    let context = format!("{context}.args");
    args.into_iter()
        .map(|arg| convert_arg(arg, &context))
        .collect()
}

/// An argument condition in OCI form: the same fields, checked.
fn convert_arg(arg: Arg, context: &str) -> Result<Value, ApiError> {
    if arg.index > MAX_ARG_INDEX {
        return Err(invalid(format!(
            "{context}: index {} is out of range (syscalls have arguments 0 to {MAX_ARG_INDEX})",
            arg.index
        )));
    }
    check_known(&arg.op, &OPERATORS, "operator", context)?;
    Ok(json!({"index": arg.index, "value": arg.value, "valueTwo": arg.value_two, "op": arg.op}))
}

/// A rule's `includes` or `excludes`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Condition {
    caps: Option<Vec<String>>,
    arches: Option<Vec<String>>,
    min_kernel: Option<String>,
}

impl Condition {
    /// `includes`: every listed capability is granted, the architecture is
    /// one of those listed, and the kernel is recent enough.
    fn all_hold(&self, target: &Target, context: &str) -> Result<bool, ApiError> {
        let kernel_ok = self
            .min_kernel(context)?
            .is_none_or(|v| target.kernel_at_least(v));
        let caps_ok = self.caps().all(|cap| target.has_cap(cap));
        // An empty list restricts nothing, as with Docker.
        let arch_ok = self.arches().next().is_none() || self.arches().any(|a| target.is_arch(a));
        Ok(kernel_ok && caps_ok && arch_ok)
    }

    /// `excludes`: some listed capability is granted, the architecture is
    /// one of those listed, or the kernel is at least `minKernel`.
    fn any_holds(&self, target: &Target, context: &str) -> Result<bool, ApiError> {
        let kernel = self
            .min_kernel(context)?
            .is_some_and(|v| target.kernel_at_least(v));
        let cap = self.caps().any(|cap| target.has_cap(cap));
        let arch = self.arches().any(|arch| target.is_arch(arch));
        Ok(kernel || cap || arch)
    }

    fn caps(&self) -> impl Iterator<Item = &str> {
        self.caps.iter().flatten().map(String::as_str)
    }

    fn arches(&self) -> impl Iterator<Item = &str> {
        self.arches.iter().flatten().map(String::as_str)
    }

    fn min_kernel(&self, context: &str) -> Result<Option<KernelVersion>, ApiError> {
        self.min_kernel
            .as_deref()
            .map(|text| {
                parse_kernel_version(text).ok_or_else(|| {
                    invalid(format!(
                        "{context}.minKernel: {text:?} is not a kernel version like \"4.8\""
                    ))
                })
            })
            .transpose()
    }
}

/// A known action, not `SCMP_ACT_NOTIFY`, and an errno only where it fits
/// (the runtime-spec makes any other combination an error).
fn check_action(action: &str, errno: Option<u32>, context: &str) -> Result<(), ApiError> {
    check_known(action, &ACTIONS, "action", context)?;
    if action == "SCMP_ACT_NOTIFY" {
        return Err(invalid(format!(
            "{context}: SCMP_ACT_NOTIFY is not supported (Berth has no seccomp agent)"
        )));
    }
    if errno.is_some() && !ERRNO_ACTIONS.contains(&action) {
        return Err(invalid(format!(
            "{context}: an errno is only returned by SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not {action}"
        )));
    }
    Ok(())
}

fn check_known(value: &str, known: &[&str], what: &str, context: &str) -> Result<(), ApiError> {
    if known.contains(&value) {
        return Ok(());
    }
    let known = known.join(", ");
    Err(invalid(format!(
        "{context}: unknown {what} {value:?} (known: {known})"
    )))
}

fn object<'v>(value: &'v Value, what: &str) -> Result<&'v Map<String, Value>, ApiError> {
    value
        .as_object()
        .ok_or_else(|| invalid(format!("{what} must be a JSON object")))
}

/// `object[key]` decoded as `T`; absent or `null` is `None`. Errors name the
/// field (`syscalls[3].args: invalid type: ...`).
fn field<T: DeserializeOwned>(
    object: &Map<String, Value>,
    context: &str,
    key: &str,
) -> Result<Option<T>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::deserialize(value).map(Some).map_err(|e| {
            let path = if context.is_empty() {
                key.to_owned()
            } else {
                format!("{context}.{key}")
            };
            invalid(format!("{path}: {e}"))
        }),
    }
}

fn invalid(message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("invalid seccomp profile: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX_6_8: KernelVersion = (6, 8, 0);

    fn target<'a>(arch: &'a str, caps: &'a [&'a str]) -> Target<'a> {
        Target {
            arch,
            caps,
            kernel: Some(LINUX_6_8),
        }
    }

    fn default_for(target: &Target) -> Value {
        let profile = serde_json::from_str(DEFAULT_DOCKER_PROFILE).unwrap();
        convert(&profile, target).unwrap()
    }

    fn rules_of(profile: &Value) -> &Vec<Value> {
        profile["syscalls"].as_array().unwrap()
    }

    /// Names allowed whatever their arguments.
    fn allowed(profile: &Value) -> Vec<&str> {
        rules_of(profile)
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
            .flat_map(|r| r["names"].as_array().unwrap())
            .map(|n| n.as_str().unwrap())
            .collect()
    }

    /// Every rule naming `name`.
    fn rules_for<'p>(profile: &'p Value, name: &str) -> Vec<&'p Value> {
        rules_of(profile)
            .iter()
            .filter(|r| r["names"].as_array().unwrap().iter().any(|n| n == name))
            .collect()
    }

    fn error_of(profile: Value) -> String {
        from_docker_profile(&profile).unwrap_err().message
    }

    #[test]
    fn default_denies_with_eperm_for_the_host_architectures() {
        let profile = default_profile();
        assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(profile["defaultErrnoRet"], 1);
        let amd64 = default_for(&target("x86_64", &DEFAULT_CAPS));
        assert_eq!(
            amd64["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let arm64 = default_for(&target("aarch64", &DEFAULT_CAPS));
        assert_eq!(
            arm64["architectures"],
            json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
    }

    #[test]
    fn default_denies_what_docker_denies() {
        let profile = default_for(&target("x86_64", &DEFAULT_CAPS));
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "reboot",
            "kexec_load",
            "init_module",
            "finit_module",
            "bpf",
            "add_key",
            "keyctl",
            "request_key",
            "swapon",
            "settimeofday",
            "clock_settime",
            "open_by_handle_at",
            "kcmp",
            "iopl",
            "acct",
            "pivot_root",
            "syslog",
            "perf_event_open",
            "userfaultfd",
            "mbind",
            "fsopen",
        ] {
            assert!(rules_for(&profile, name).is_empty(), "{name} is allowed");
        }
    }

    #[test]
    fn default_allows_common_syscalls() {
        let profile = default_for(&target("x86_64", &DEFAULT_CAPS));
        let allowed = allowed(&profile);
        for name in [
            "read",
            "write",
            "openat",
            "close",
            "execve",
            "fork",
            "vfork",
            "futex",
            "epoll_wait",
            "mmap",
            "rt_sigaction",
            "exit_group",
            "getpid",
            "setuid",
            "chroot",
            "connect",
            "arch_prctl",
            "modify_ldt",
            "io_uring_setup",
            "statx",
        ] {
            assert!(allowed.contains(&name), "{name} is not allowed");
        }
        assert!(allowed.len() > 350, "only {} allowed", allowed.len());
    }

    #[test]
    fn clone_is_allowed_only_without_namespace_flags() {
        let profile = default_for(&target("x86_64", &DEFAULT_CAPS));
        let namespaces = libc::CLONE_NEWNS
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUSER
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWCGROUP;
        let expected =
            json!([{"index": 0, "value": namespaces, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]);
        let clone = rules_for(&profile, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0]["action"], "SCMP_ACT_ALLOW");
        assert_eq!(clone[0]["args"], expected);
    }

    #[test]
    fn clone3_answers_enosys() {
        let profile = default_for(&target("x86_64", &DEFAULT_CAPS));
        let clone3 = rules_for(&profile, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(clone3[0]["errnoRet"], libc::ENOSYS);
    }

    #[test]
    fn personality_and_socket_are_conditional() {
        let profile = default_for(&target("x86_64", &DEFAULT_CAPS));
        let personas: Vec<&Value> = rules_for(&profile, "personality")
            .iter()
            .map(|r| &r["args"][0]["value"])
            .collect();
        assert_eq!(
            personas,
            [
                &json!(0),
                &json!(8),
                &json!(0x20000),
                &json!(0x20008),
                &json!(0xffff_ffffu32)
            ]
        );
        let socket = rules_for(&profile, "socket");
        assert_eq!(socket.len(), 1);
        assert_eq!(
            socket[0]["args"],
            json!([{"index": 0, "value": libc::AF_VSOCK, "valueTwo": 0, "op": "SCMP_CMP_NE"}])
        );
    }

    #[test]
    fn arch_specific_rules_follow_the_host() {
        let arm64 = allowed(&default_for(&target("aarch64", &DEFAULT_CAPS))).join(" ");
        assert!(arm64.contains("cacheflush") && arm64.contains("set_tls"));
        assert!(!arm64.contains("arch_prctl") && !arm64.contains("modify_ldt"));
        let amd64 = allowed(&default_for(&target("x86_64", &DEFAULT_CAPS))).join(" ");
        assert!(!amd64.contains("cacheflush"));
    }

    #[test]
    fn ptrace_needs_linux_4_8() {
        let recent = default_for(&target("x86_64", &DEFAULT_CAPS));
        assert!(allowed(&recent).contains(&"ptrace"));
        let old = Target {
            kernel: Some((4, 4, 0)),
            ..target("x86_64", &DEFAULT_CAPS)
        };
        let unknown = Target {
            kernel: None,
            ..old
        };
        for profile in [default_for(&old), default_for(&unknown)] {
            assert!(rules_for(&profile, "ptrace").is_empty());
        }
    }

    #[test]
    fn added_capabilities_unlock_their_syscalls() {
        let mut caps = DEFAULT_CAPS.to_vec();
        caps.extend(["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]);
        let profile = default_for(&target("x86_64", &caps));
        let allowed = allowed(&profile);
        for name in ["mount", "unshare", "setns", "clone", "clone3", "kcmp"] {
            assert!(allowed.contains(&name), "{name} is not allowed");
        }
        // No masked clone, no ENOSYS clone3: they would shadow the allow.
        assert_eq!(rules_for(&profile, "clone3").len(), 1);
        assert_eq!(rules_for(&profile, "clone").len(), 1);
        let dropped = default_for(&target("x86_64", &["CAP_CHOWN"]));
        assert!(rules_for(&dropped, "chroot").is_empty());
    }

    #[test]
    fn docker_profile_is_converted_for_the_host() {
        let profile = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": null}
            ],
            "syscalls": [
                {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "comment": "ignored"},
                {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_CHOWN"]}},
                {"names": ["chown"], "action": "SCMP_ACT_KILL", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["fchown"], "action": "SCMP_ACT_LOG", "includes": {"caps": ["CAP_CHOWN", "CAP_KILL"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_TRAP", "includes": {"arches": ["amd64"]}},
                {"names": ["cacheflush"], "action": "SCMP_ACT_TRAP", "excludes": {"arches": ["amd64"]}},
                {"names": ["fchmod"], "action": "SCMP_ACT_TRAP", "includes": {"arches": []}, "excludes": {"arches": null}},
                {"names": ["close"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 1000, "op": "SCMP_CMP_GT"}], "includes": {"minKernel": "99.0"}}
            ]
        });
        let amd64 = convert(&profile, &target("x86_64", &DEFAULT_CAPS)).unwrap();
        assert_eq!(
            amd64,
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "syscalls": [
                    {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                    {"names": ["fchown"], "action": "SCMP_ACT_LOG"},
                    {"names": ["arch_prctl"], "action": "SCMP_ACT_TRAP"},
                    {"names": ["fchmod"], "action": "SCMP_ACT_TRAP"}
                ]
            })
        );
        let arm64 = convert(&profile, &target("aarch64", &DEFAULT_CAPS)).unwrap();
        assert_eq!(arm64["architectures"], json!(["SCMP_ARCH_AARCH64"]));
        let names: Vec<&Value> = rules_of(&arm64).iter().map(|r| &r["names"][0]).collect();
        assert_eq!(
            names,
            [
                &json!("mkdir"),
                &json!("fchown"),
                &json!("cacheflush"),
                &json!("fchmod")
            ]
        );
        let riscv = convert(&profile, &target("riscv64", &DEFAULT_CAPS)).unwrap();
        assert!(riscv.get("architectures").is_none());
    }

    #[test]
    fn plain_oci_fields_pass_through() {
        let profile = json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 7, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"}]}]
        });
        let mut expected = profile.clone();
        expected["syscalls"][0]["args"][0] =
            json!({"index": 0, "value": 7, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"});
        assert_eq!(from_docker_profile(&profile).unwrap(), expected);
        let empty = from_docker_profile(&json!({"defaultAction": "SCMP_ACT_ALLOW"})).unwrap();
        assert_eq!(
            empty,
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})
        );
    }

    #[test]
    fn malformed_profiles_are_rejected() {
        let rule = |rule: Value| json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [rule]});
        let cases = [
            (
                json!(["SCMP_ACT_ERRNO"]),
                "the profile must be a JSON object",
            ),
            (json!({"syscalls": []}), "defaultAction is required"),
            (json!({"defaultAction": 1}), "defaultAction: invalid type"),
            (
                json!({"defaultAction": "SCMP_ACT_DENY"}),
                "defaultAction: unknown action \"SCMP_ACT_DENY\"",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}),
                "syscalls: invalid type: map, expected a sequence",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}),
                "only returned by SCMP_ACT_ERRNO",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]}),
                "unknown architecture \"x86_64\"",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
                    "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}),
                "either architectures or archMap",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}),
                "unknown flag",
            ),
            (rule(json!("read")), "syscalls[0] must be a JSON object"),
            (
                rule(json!({"names": ["read"]})),
                "syscalls[0]: action is required",
            ),
            (
                rule(json!({"names": ["read"], "action": "SCMP_ACT_OK"})),
                "syscalls[0].action: unknown action",
            ),
            (
                rule(json!({"names": ["read"], "action": "SCMP_ACT_NOTIFY"})),
                "SCMP_ACT_NOTIFY is not supported",
            ),
            (
                rule(json!({"names": [], "action": "SCMP_ACT_ALLOW"})),
                "syscalls[0]: needs syscall names",
            ),
            (
                rule(json!({"action": "SCMP_ACT_ALLOW"})),
                "syscalls[0]: needs syscall names",
            ),
            (
                rule(json!({"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"})),
                "either name or names",
            ),
            (
                rule(json!({"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1})),
                "not SCMP_ACT_KILL",
            ),
            (
                rule(
                    json!({"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}),
                ),
                "index 6 is out of range",
            ),
            (
                rule(
                    json!({"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}),
                ),
                "unknown operator",
            ),
            (
                rule(
                    json!({"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}),
                ),
                "syscalls[0].args: invalid value",
            ),
            (
                rule(
                    json!({"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "new"}}),
                ),
                "syscalls[0].includes.minKernel: \"new\"",
            ),
            // Validated even when the rule does not apply here.
            (
                rule(
                    json!({"names": ["read"], "action": "SCMP_ACT_BAD", "includes": {"arches": ["s390x"]}}),
                ),
                "unknown action",
            ),
        ];
        for (profile, expected) in cases {
            let message = error_of(profile.clone());
            assert!(
                message.starts_with("invalid seccomp profile: "),
                "{message}"
            );
            assert!(
                message.contains(expected),
                "{profile}: {message:?} lacks {expected:?}"
            );
        }
        assert_eq!(
            from_docker_profile(&json!(null))
                .unwrap_err()
                .status
                .as_u16(),
            400
        );
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel_version("6.8.0-45-generic\n"), Some((6, 8, 0)));
        assert_eq!(parse_kernel_version("6.18.44-fc-v595"), Some((6, 18, 44)));
        assert_eq!(parse_kernel_version("4.8"), Some((4, 8, 0)));
        assert_eq!(parse_kernel_version("5.10-rc1"), Some((5, 10, 0)));
        assert_eq!(parse_kernel_version("5"), None);
        assert_eq!(parse_kernel_version("x.1"), None);
        assert!(host_kernel().is_some());
    }

    #[test]
    fn default_profile_compiles_with_the_runtime() {
        use berth_runtime::security::seccomp::SeccompProgram;
        for arch in ["x86_64", "aarch64"] {
            let profile = default_for(&target(arch, &DEFAULT_CAPS));
            // Typed by `compile`'s parameter: oci-spec's `LinuxSeccomp`.
            let spec = serde_json::from_value(profile).expect("the OCI form parses");
            let program = SeccompProgram::compile(&spec).expect("the profile compiles");
            assert!(program.instruction_count() > 100, "{arch}: {program:?}");
        }
    }

    /// Runs `check` in a forked child under the default profile; returns
    /// its exit code. The child only makes raw syscalls, so forking from the
    /// multi-threaded test harness is safe.
    fn under_default_profile(check: fn() -> i32) -> i32 {
        use berth_runtime::security::seccomp::SeccompProgram;
        let spec = serde_json::from_value(default_profile()).unwrap();
        let program = SeccompProgram::compile(&spec).unwrap();
        // SAFETY: the child only makes async-signal-safe calls, then _exit.
        match unsafe { libc::fork() } {
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            0 => {
                // SAFETY: plain syscalls; `load` does not allocate.
                unsafe {
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                        || program.load().is_err()
                    {
                        libc::_exit(100);
                    }
                    libc::_exit(check())
                }
            }
            child => {
                let status =
                    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None).unwrap();
                match status {
                    nix::sys::wait::WaitStatus::Exited(_, code) => code,
                    other => panic!("child: {other:?}"),
                }
            }
        }
    }

    /// A persona flag the default profile refuses.
    const READ_IMPLIES_EXEC: libc::c_ulong = 0x0400000;

    fn fails_with(ret: libc::c_long, errno: i32) -> bool {
        ret == -1 && nix::errno::Errno::last_raw() == errno
    }

    #[test]
    fn loaded_default_profile_denies_namespaces_only() {
        let code = under_default_profile(|| {
            // SAFETY: raw syscalls with valid (or null) arguments.
            unsafe {
                if !fails_with(libc::unshare(libc::CLONE_NEWNS).into(), libc::EPERM) {
                    return 1;
                }
                if !fails_with(libc::syscall(libc::SYS_clone3, 0, 0), libc::ENOSYS) {
                    return 2;
                }
                if !fails_with(
                    libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0).into(),
                    libc::EPERM,
                ) {
                    return 3;
                }
                if libc::syscall(libc::SYS_personality, 0xffff_ffffu32) < 0 {
                    return 4;
                }
                if !fails_with(
                    libc::syscall(libc::SYS_personality, READ_IMPLIES_EXEC),
                    libc::EPERM,
                ) {
                    return 5;
                }
                if libc::syscall(libc::SYS_getppid) <= 0 {
                    return 6;
                }
                // uname(NULL) is allowed: EFAULT, not EPERM.
                if !fails_with(libc::syscall(libc::SYS_uname, 0), libc::EFAULT) {
                    return 7;
                }
                0
            }
        });
        assert_eq!(code, 0);
    }
}
