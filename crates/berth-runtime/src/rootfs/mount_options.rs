//! Mount option strings (`ro`, `nosuid`, `rbind`, `rslave`, `mode=755`) split
//! into mount(2) flags, propagation flags and filesystem data.

use nix::mount::MsFlags;

use crate::error::{Error, Result};

/// A spec mount's options, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Propagation changes applied after the mount (MS_SHARED etc.).
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific options, passed as mount data.
    pub data: String,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn is_readonly(&self) -> bool {
        self.flags.contains(MsFlags::MS_RDONLY)
    }
}

/// Parses the options of one mount.
pub fn parse(options: &[String]) -> Result<MountOptions> {
    let mut parsed = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        if let Some((clear, flag)) = flag_option(opt) {
            if clear {
                parsed.flags.remove(flag);
            } else {
                parsed.flags.insert(flag);
            }
        } else if let Some(p) = propagation_option(opt) {
            parsed.propagation.push(p);
        } else if IGNORED.contains(&opt.as_str()) {
            continue;
        } else if UNSUPPORTED.contains(&opt.as_str()) {
            return Err(Error::Unsupported(format!(
                "mount option {opt:?} is not supported yet"
            )));
        } else {
            data.push(opt.as_str());
        }
    }
    parsed.data = data.join(",");
    Ok(parsed)
}

/// Options runc accepts that change nothing for us.
const IGNORED: [&str; 3] = ["defaults", "tmpcopyup", "nodiratime_ignored"];
/// Options with meaning we do not implement: refusing beats silently ignoring.
const UNSUPPORTED: [&str; 4] = ["idmap", "ridmap", "rro", "rrw"];

/// (clear?, flag) for flag options.
fn flag_option(opt: &str) -> Option<(bool, MsFlags)> {
    let set = |f| Some((false, f));
    let clear = |f| Some((true, f));
    match opt {
        "ro" => set(MsFlags::MS_RDONLY),
        "rw" => clear(MsFlags::MS_RDONLY),
        "nosuid" => set(MsFlags::MS_NOSUID),
        "suid" => clear(MsFlags::MS_NOSUID),
        "nodev" => set(MsFlags::MS_NODEV),
        "dev" => clear(MsFlags::MS_NODEV),
        "noexec" => set(MsFlags::MS_NOEXEC),
        "exec" => clear(MsFlags::MS_NOEXEC),
        "sync" => set(MsFlags::MS_SYNCHRONOUS),
        "async" => clear(MsFlags::MS_SYNCHRONOUS),
        "dirsync" => set(MsFlags::MS_DIRSYNC),
        "remount" => set(MsFlags::MS_REMOUNT),
        "mand" => set(MsFlags::MS_MANDLOCK),
        "nomand" => clear(MsFlags::MS_MANDLOCK),
        "noatime" => set(MsFlags::MS_NOATIME),
        "atime" => clear(MsFlags::MS_NOATIME),
        "nodiratime" => set(MsFlags::MS_NODIRATIME),
        "diratime" => clear(MsFlags::MS_NODIRATIME),
        "relatime" => set(MsFlags::MS_RELATIME),
        "norelatime" => clear(MsFlags::MS_RELATIME),
        "strictatime" => set(MsFlags::MS_STRICTATIME),
        "nostrictatime" => clear(MsFlags::MS_STRICTATIME),
        "bind" => set(MsFlags::MS_BIND),
        "rbind" => set(MsFlags::MS_BIND | MsFlags::MS_REC),
        _ => None,
    }
}

fn propagation_option(opt: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

/// Parses `linux.rootfsPropagation`.
pub fn parse_propagation(value: &str) -> Result<MsFlags> {
    propagation_option(value).ok_or_else(|| {
        Error::InvalidSpec(format!(
            "rootfsPropagation {value:?} is not a propagation mode"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_data_and_propagation_are_split() {
        let p = parse(&opts(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rslave",
        ]))
        .unwrap();
        assert_eq!(p.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(p.data, "mode=755,size=65536k");
        assert_eq!(p.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    }

    #[test]
    fn later_options_win() {
        let p = parse(&opts(&["rbind", "ro", "rw"])).unwrap();
        assert!(p.is_bind() && !p.is_readonly());
        assert!(p.flags.contains(MsFlags::MS_REC));
    }

    #[test]
    fn unsupported_options_are_refused() {
        assert!(parse(&opts(&["idmap"])).is_err());
        assert!(parse_propagation("sideways").is_err());
    }
}
