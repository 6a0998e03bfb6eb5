//! Capability sets from the spec's `process.capabilities`.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{Error, Result};

/// The five sets, converted once before fork.
#[derive(Debug, Clone, Default)]
pub struct CapabilitySets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

impl CapabilitySets {
    /// Converts the spec's sets. A missing set is empty: capabilities are
    /// only ever granted by name.
    pub fn from_spec(spec: Option<&LinuxCapabilities>) -> Result<Self> {
        let Some(spec) = spec else {
            return Ok(Self::default());
        };
        Ok(CapabilitySets {
            bounding: convert(spec.bounding())?,
            effective: convert(spec.effective())?,
            permitted: convert(spec.permitted())?,
            inheritable: convert(spec.inheritable())?,
            ambient: convert(spec.ambient())?,
        })
    }

    /// Shrinks the bounding set to what the spec allows. Needs CAP_SETPCAP,
    /// so it runs before the user switch.
    pub fn drop_bounding(&self) -> Result<()> {
        for cap in caps::all() {
            if !self.bounding.contains(&cap)
                && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
            {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| cap_error("drop bounding", e))?;
            }
        }
        Ok(())
    }

    /// Sets effective, permitted and inheritable, then raises ambient.
    /// Effective goes first: the kernel refuses a permitted set smaller
    /// than the current effective one.
    pub fn apply(&self) -> Result<()> {
        caps::set(None, CapSet::Effective, &self.effective)
            .map_err(|e| cap_error("set effective", e))?;
        caps::set(None, CapSet::Permitted, &self.permitted)
            .map_err(|e| cap_error("set permitted", e))?;
        caps::set(None, CapSet::Inheritable, &self.inheritable)
            .map_err(|e| cap_error("set inheritable", e))?;
        caps::clear(None, CapSet::Ambient).map_err(|e| cap_error("clear ambient", e))?;
        for cap in &self.ambient {
            // The kernel only allows ambient capabilities that are also
            // permitted and inheritable; runc warns and goes on, so do we.
            if self.permitted.contains(cap) && self.inheritable.contains(cap) {
                caps::raise(None, CapSet::Ambient, *cap)
                    .map_err(|e| cap_error("raise ambient", e))?;
            } else {
                eprintln!("berth-runtime: warning: ambient {cap} ignored: not in permitted and inheritable");
            }
        }
        Ok(())
    }
}

fn convert(set: &Option<Capabilities>) -> Result<CapsHashSet> {
    set.iter()
        .flatten()
        .map(|cap| {
            let name = cap.to_string();
            let canonical = if name.starts_with("CAP_") {
                name
            } else {
                format!("CAP_{}", name.to_uppercase())
            };
            Capability::from_str(&canonical)
                .map_err(|_| Error::InvalidSpec(format!("unknown capability {canonical}")))
        })
        .collect()
}

fn cap_error(op: &str, e: caps::errors::CapsError) -> Error {
    Error::InvalidSpec(format!("capabilities: {op}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_sets_convert() {
        let spec: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_CHOWN","CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]}"#,
        )
        .unwrap();
        let sets = CapabilitySets::from_spec(Some(&spec)).unwrap();
        assert_eq!(sets.bounding.len(), 2);
        assert!(sets.effective.contains(&Capability::CAP_KILL));
        assert!(sets.inheritable.is_empty() && sets.ambient.is_empty());
    }
}
