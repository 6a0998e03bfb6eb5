//! The v1 device controller: `devices.deny` / `devices.allow` rules.
//!
//! On cgroup v2 device access is controlled by an eBPF program attached to
//! the cgroup, which this runtime does not load yet.
//! TODO(devices-v2): attach a BPF_PROG_TYPE_CGROUP_DEVICE program built from
//! the rules. Until then v2 containers rely on the mount namespace and the
//! minimal /dev the runtime creates, which already limits which device
//! nodes exist inside the container.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

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

/// The writes that implement `rules`, in order: first deny everything
/// (`a` to devices.deny, as runc does, so the result does not depend on what
/// the parent allowed), then each rule as given.
pub fn plan(rules: &[LinuxDeviceCgroup]) -> Result<Vec<(RuleFile, String)>> {
    let mut writes = vec![(RuleFile::Deny, "a".to_owned())];
    for rule in rules {
        let file = if rule.allow() {
            RuleFile::Allow
        } else {
            RuleFile::Deny
        };
        writes.push((file, rule_line(rule)?));
    }
    Ok(writes)
}

/// `TYPE MAJOR:MINOR ACCESS`, with `*` for a missing number and `rwm` for a
/// missing access string.
fn rule_line(rule: &LinuxDeviceCgroup) -> Result<String> {
    let kind = match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C => 'c',
        other => {
            return Err(invalid(format!(
                "type {:?} has no device cgroup rule (use a, b or c)",
                other.as_str()
            )))
        }
    };
    let number = |n: Option<i64>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
    let access = rule
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(invalid(format!(
            "access {access:?} must use only r, w and m"
        )));
    }
    Ok(format!(
        "{kind} {}:{} {access}",
        number(rule.major()),
        number(rule.minor())
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
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
    }
}
