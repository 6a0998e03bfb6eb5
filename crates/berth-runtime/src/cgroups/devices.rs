//! Device rules (`linux.resources.devices`).
//!
//! - **v1**: the devices controller's `devices.deny` / `devices.allow`
//!   files, written in order (`plan`).
//! - **v2**: there are no device files; the kernel runs the eBPF programs
//!   (`BPF_PROG_TYPE_CGROUP_DEVICE`) attached to the task's cgroup2 cgroup
//!   and its ancestors. `apply_v2` replays the same writes on an emulation
//!   of the v1 controller (`V1Emulation`, mirroring
//!   `security/device_cgroup.c`), turns the result into a program
//!   (`device_bpf`) and attaches it, so a rule list means the same on
//!   both versions.
//!
//! In a hybrid layout the v1 devices hierarchy enforces the rules and no
//! program is attached (see `apply::apply_devices`).

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::device_bpf;
use super::error::{CgroupError, Result};
use super::fs::Dir;

/// Which v1 file a rule is written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleFile {
    Allow,
    Deny,
}

impl RuleFile {
    fn name(self) -> &'static str {
        match self {
            RuleFile::Allow => "devices.allow",
            RuleFile::Deny => "devices.deny",
        }
    }
}

/// Access bits, with the kernel's values (`DEVCG_ACC_*`, the same as the
/// eBPF context's `BPF_DEVCG_ACC_*`).
pub const ACC_MKNOD: u8 = 1;
pub const ACC_READ: u8 = 2;
pub const ACC_WRITE: u8 = 4;
pub const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// A device type a rule can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevKind {
    /// `a`: every device. In v1 any `a` line resets the whole list.
    All,
    /// `b`
    Block,
    /// `c`
    Char,
}

impl DevKind {
    fn letter(self) -> char {
        match self {
            DevKind::All => 'a',
            DevKind::Block => 'b',
            DevKind::Char => 'c',
        }
    }
}

/// One spec rule, validated: numbers as the kernel stores them (`None` is
/// the `*` wildcard), access as `ACC_*` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: DevKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

impl Rule {
    /// Validates a spec rule: type a, b or c (missing = a), numbers that
    /// fit the kernel's u32, access made of r, w and m (missing or empty =
    /// rwm).
    pub fn parse(rule: &LinuxDeviceCgroup) -> Result<Rule> {
        let kind = match rule.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => DevKind::All,
            LinuxDeviceType::B => DevKind::Block,
            LinuxDeviceType::C => DevKind::Char,
            other => {
                return Err(invalid(format!(
                    "type {:?} has no device cgroup rule (use a, b or c)",
                    other.as_str()
                )))
            }
        };
        let text = rule
            .access()
            .as_deref()
            .filter(|a| !a.is_empty())
            .unwrap_or("rwm");
        let mut access = 0;
        for c in text.chars() {
            access |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => return Err(invalid(format!("access {text:?} must use only r, w and m"))),
            };
        }
        Ok(Rule {
            allow: rule.allow(),
            kind,
            major: number("major", rule.major())?,
            minor: number("minor", rule.minor())?,
            access,
        })
    }

    /// The v1 line: `TYPE MAJOR:MINOR ACCESS`, `*` for a wildcard.
    fn line(&self) -> String {
        let number = |n: Option<u32>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
        let access: String = [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
            .iter()
            .filter(|(bit, _)| self.access & bit != 0)
            .map(|(_, c)| *c)
            .collect();
        format!(
            "{} {}:{} {access}",
            self.kind.letter(),
            number(self.major),
            number(self.minor)
        )
    }
}

/// The kernel parses a rule's numbers as u32, and `4294967295` (~0) is
/// how it stores `*`; anything else that does not fit is refused.
fn number(what: &str, n: Option<i64>) -> Result<Option<u32>> {
    match n {
        None => Ok(None),
        Some(n) => match u32::try_from(n) {
            Ok(u32::MAX) => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(invalid(format!(
                "{what} number {n} is out of range (0..=4294967295)"
            ))),
        },
    }
}

/// The rules to enforce, in order: first a deny of everything (as runc
/// does, so the result does not depend on what the parent allowed), then
/// each spec rule as given. Both versions start from this list.
pub fn effective_rules(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    let deny_all = Rule {
        allow: false,
        kind: DevKind::All,
        major: None,
        minor: None,
        access: ACC_ALL,
    };
    let mut out = vec![deny_all];
    for rule in rules {
        out.push(Rule::parse(rule)?);
    }
    Ok(out)
}

/// The v1 writes that implement `rules`, in order (`effective_rules`).
/// The leading deny-all is written as the bare `a`.
pub fn plan(rules: &[LinuxDeviceCgroup]) -> Result<Vec<(RuleFile, String)>> {
    let mut writes = Vec::new();
    for (i, rule) in effective_rules(rules)?.iter().enumerate() {
        let file = if rule.allow {
            RuleFile::Allow
        } else {
            RuleFile::Deny
        };
        let line = if i == 0 { "a".to_owned() } else { rule.line() };
        writes.push((file, line));
    }
    Ok(writes)
}

fn invalid(reason: String) -> CgroupError {
    CgroupError::InvalidResource {
        setting: "devices",
        reason,
    }
}

/// Applies `rules` to a v1 devices cgroup.
pub fn apply_v1(dir: Dir<'_>, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for (file, line) in plan(rules)? {
        dir.write(file.name(), &line)?;
    }
    Ok(())
}

/// Applies `rules` to a cgroup2 directory: the eBPF program equivalent to
/// the v1 writes, attached in place of any device program attached there
/// before (so a later `apply` can loosen the rules, not only tighten them).
pub fn apply_v2(dir: Dir<'_>, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let emulation = V1Emulation::replay(&effective_rules(rules)?);
    let program = device_bpf::program(&emulation);
    device_bpf::attach(dir.0, &program)
}

/// One entry of the v1 exception list: a block or char device (or range),
/// with the access it grants (default deny) or refuses (default allow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    /// `Block` or `Char`, never `All` (an `a` line resets the list).
    pub kind: DevKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

/// The state of a v1 devices cgroup: a default behaviour and a list of
/// exceptions to it, updated write by write exactly as the kernel's
/// `devcgroup_update_access` does (parent checks left out: on v2 the
/// ancestors' programs run as well and keep that part).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V1Emulation {
    pub default_allow: bool,
    pub exceptions: Vec<Exception>,
}

impl V1Emulation {
    /// The state after writing `rules` in order, from v1's initial state
    /// (allow everything).
    pub fn replay(rules: &[Rule]) -> Self {
        let mut state = V1Emulation {
            default_allow: true,
            exceptions: Vec::new(),
        };
        for rule in rules {
            state.write(rule);
        }
        state
    }

    /// One write to devices.allow (`rule.allow`) or devices.deny.
    pub fn write(&mut self, rule: &Rule) {
        if rule.kind == DevKind::All {
            // Any line starting with `a` is "a": clear and set the default,
            // whatever numbers and access follow.
            self.exceptions.clear();
            self.default_allow = rule.allow;
            return;
        }
        let ex = Exception {
            kind: rule.kind,
            major: rule.major,
            minor: rule.minor,
            access: rule.access,
        };
        // An allow in a default-deny cgroup adds an exception; in a
        // default-allow one it removes access from an exception (and the
        // mirror image for deny).
        if rule.allow == self.default_allow {
            self.remove(&ex);
        } else {
            self.add(ex);
        }
    }

    /// `dev_exception_add`: merged into the entry with the same type and
    /// numbers (exactly the same: a wildcard is not a superset here).
    fn add(&mut self, ex: Exception) {
        match self.exceptions.iter_mut().find(|e| same_key(e, &ex)) {
            Some(existing) => existing.access |= ex.access,
            None => self.exceptions.push(ex),
        }
    }

    /// `dev_exception_rm`: clears access bits of the entry with exactly the
    /// same type and numbers, dropping it when none are left.
    fn remove(&mut self, ex: &Exception) {
        for existing in self.exceptions.iter_mut().filter(|e| same_key(e, ex)) {
            existing.access &= !ex.access;
        }
        self.exceptions.retain(|e| e.access != 0);
    }

    /// Whether access `access` (ACC_* bits) to device `kind major:minor` is
    /// allowed: `devcgroup_legacy_check_permission`. Default deny needs
    /// one exception granting all the access; default allow refuses when
    /// any exception overlaps it. The reference the program is tested
    /// against.
    #[cfg(test)]
    pub fn allows(&self, kind: DevKind, major: u32, minor: u32, access: u8) -> bool {
        let hits = |e: &&Exception| {
            e.kind == kind
                && !matches!(e.major, Some(m) if m != major)
                && !matches!(e.minor, Some(m) if m != minor)
        };
        if self.default_allow {
            !self
                .exceptions
                .iter()
                .filter(hits)
                .any(|e| e.access & access != 0)
        } else {
            self.exceptions
                .iter()
                .filter(hits)
                .any(|e| access & !e.access == 0)
        }
    }
}

fn same_key(a: &Exception, b: &Exception) -> bool {
    a.kind == b.kind && a.major == b.major && a.minor == b.minor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    fn emulate(json: &str) -> V1Emulation {
        V1Emulation::replay(&effective_rules(&rules(json)).unwrap())
    }

    #[test]
    fn deny_all_first_then_rules_in_order() {
        let rules = rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rw"},
                {"allow": false, "type": "b", "major": 8, "minor": 0}]"#,
        );
        let plan = plan(&rules).unwrap();
        let expected = [
            (RuleFile::Deny, "a"),
            (RuleFile::Deny, "a *:* rwm"),
            (RuleFile::Allow, "c 1:3 rwm"),
            (RuleFile::Allow, "c 136:* rw"),
            (RuleFile::Deny, "b 8:0 rwm"),
        ];
        let got: Vec<(RuleFile, &str)> = plan.iter().map(|(f, l)| (*f, l.as_str())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn bad_rules_are_rejected() {
        let err = plan(&rules(r#"[{"allow": true, "type": "p"}]"#)).unwrap_err();
        assert!(err.to_string().contains("\"p\""), "{err}");
        let err = plan(&rules(r#"[{"allow": true, "access": "rwx"}]"#)).unwrap_err();
        assert!(err.to_string().contains("rwx"), "{err}");
        let err = plan(&rules(r#"[{"allow": true, "type": "c", "major": -1}]"#)).unwrap_err();
        assert!(err.to_string().contains("-1"), "{err}");
    }

    #[test]
    fn access_is_written_in_canonical_order() {
        let plan = plan(&rules(
            r#"[{"allow": true, "type": "b", "major": 4294967295, "minor": 2, "access": "mwr"}]"#,
        ))
        .unwrap();
        assert_eq!(plan[1], (RuleFile::Allow, "b *:2 rwm".to_owned()));
    }

    #[test]
    fn emulation_of_the_usual_list() {
        let state = emulate(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"},
                {"allow": true, "type": "c", "major": 136, "access": "rw"}]"#,
        );
        assert!(!state.default_allow);
        assert_eq!(state.exceptions.len(), 3);
        assert!(state.allows(DevKind::Char, 1, 3, ACC_ALL));
        assert!(state.allows(DevKind::Char, 1, 5, ACC_READ));
        assert!(!state.allows(DevKind::Char, 1, 5, ACC_READ | ACC_WRITE));
        assert!(!state.allows(DevKind::Char, 1, 7, ACC_READ));
        assert!(!state.allows(DevKind::Block, 1, 3, ACC_READ));
        assert!(state.allows(DevKind::Char, 136, 9, ACC_WRITE));
        assert!(!state.allows(DevKind::Char, 136, 9, ACC_MKNOD));
    }

    #[test]
    fn emulation_merges_and_removes_like_the_kernel() {
        // Two allows of the same device merge: rw is allowed as a whole.
        let state = emulate(
            r#"[{"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"},
                {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "w"}]"#,
        );
        assert!(state.allows(DevKind::Char, 1, 5, ACC_READ | ACC_WRITE));
        // A later deny takes bits away from the same entry.
        let state = emulate(
            r#"[{"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rw"},
                {"allow": false, "type": "c", "major": 1, "minor": 5, "access": "w"}]"#,
        );
        assert!(state.allows(DevKind::Char, 1, 5, ACC_READ));
        assert!(!state.allows(DevKind::Char, 1, 5, ACC_READ | ACC_WRITE));
        // v1 removes only the identical entry: a deny of 1:5 does not cut
        // a hole in an earlier c *:* allow.
        let state = emulate(
            r#"[{"allow": true, "type": "c", "access": "rwm"},
                {"allow": false, "type": "c", "major": 1, "minor": 5}]"#,
        );
        assert!(state.allows(DevKind::Char, 1, 5, ACC_READ));
    }

    #[test]
    fn emulation_allow_all_then_deny_is_partial() {
        let state = emulate(
            r#"[{"allow": true, "access": "rwm"},
                {"allow": false, "type": "b", "major": 8, "access": "w"}]"#,
        );
        assert!(state.default_allow);
        assert!(state.allows(DevKind::Block, 8, 0, ACC_READ));
        // Any overlap with a refused bit refuses the whole access.
        assert!(!state.allows(DevKind::Block, 8, 0, ACC_READ | ACC_WRITE));
        assert!(state.allows(DevKind::Char, 8, 0, ACC_WRITE));
        // An `a` line with numbers is still "a" (the kernel ignores them).
        let state = emulate(r#"[{"allow": true, "type": "a", "major": 1, "access": "r"}]"#);
        assert!(state.default_allow && state.exceptions.is_empty());
    }

    #[test]
    fn empty_list_denies_everything() {
        let state = emulate("[]");
        assert!(!state.default_allow && state.exceptions.is_empty());
    }
}
