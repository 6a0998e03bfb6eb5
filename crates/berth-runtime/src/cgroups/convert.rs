//! Pure conversions from OCI (cgroup v1 flavoured) values to what the v1 and
//! v2 control files accept, following runc so containers behave the same
//! under either runtime.
//!
//! Convention (runc's): a value of 0 means "not set" for memory, cpu shares,
//! quota, period, pids and block-io weights.

use super::error::{CgroupError, Result};

/// cpu.shares (2..=262144, default 1024) → cpu.weight (1..=10000, default
/// 100): `1 + ((shares - 2) * 9999) / 262142`. 0 stays "unset".
pub fn cpu_shares_to_weight(shares: u64) -> Option<u64> {
    if shares == 0 {
        return None;
    }
    let shares = shares.clamp(2, 262_144);
    Some(1 + ((shares - 2) * 9999) / 262_142)
}

/// blkio.weight (10..=1000) → io.weight (1..=10000):
/// `1 + (weight - 10) * 9999 / 990`. 0 stays "unset".
pub fn blkio_weight_to_io_weight(weight: u16) -> Option<u64> {
    if weight == 0 {
        return None;
    }
    let weight = u64::from(weight.clamp(10, 1000));
    Some(1 + (weight - 10) * 9999 / 990)
}

/// The `cpu.max` line for a quota and period: `"$QUOTA $PERIOD"`, with
/// `max` for no quota (-1, or unset while a period is given). `None` when
/// neither is set.
pub fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let quota = quota.unwrap_or(0);
    let period = period.unwrap_or(0);
    if quota == 0 && period == 0 {
        return None;
    }
    let mut line = if quota > 0 {
        quota.to_string()
    } else {
        "max".to_owned()
    };
    if period != 0 {
        line.push(' ');
        line.push_str(&period.to_string());
    }
    Some(line)
}

/// A v2 byte limit: negative means unlimited (`max`); 0 is "unset".
pub fn v2_limit(value: Option<i64>) -> Option<String> {
    match value {
        None | Some(0) => None,
        Some(v) if v < 0 => Some("max".to_owned()),
        Some(v) => Some(v.to_string()),
    }
}

/// `memory.swap.max` from the spec's memory+swap total and memory limit:
/// v2 limits swap alone, so it is `swap - limit`. Like runc: swap unset with
/// an unlimited memory means unlimited swap too; -1 is `max`.
pub fn v2_swap_max(swap: Option<i64>, limit: Option<i64>) -> Result<Option<String>> {
    let swap = swap.unwrap_or(0);
    let limit = limit.unwrap_or(0);
    let invalid = |reason: String| CgroupError::InvalidResource {
        setting: "memory.swap",
        reason,
    };
    if limit == -1 && swap == 0 {
        return Ok(Some("max".to_owned()));
    }
    match swap {
        0 => Ok(None),
        -1 => Ok(Some("max".to_owned())),
        s if s < 0 => Err(invalid(format!("{s} is negative"))),
        _ if limit <= 0 => Err(invalid(format!(
            "swap {swap} needs a positive memory limit (have {limit})"
        ))),
        s if s < limit => Err(invalid(format!(
            "memory+swap {s} is below the memory limit {limit}"
        ))),
        s => Ok(Some((s - limit).to_string())),
    }
}

/// Checks the v1 pair: memory+swap must not be below memory.
pub fn check_v1_swap(swap: Option<i64>, limit: Option<i64>) -> Result<()> {
    match (swap, limit) {
        (Some(s), Some(l)) if s > 0 && l > 0 && s < l => Err(CgroupError::InvalidResource {
            setting: "memory.swap",
            reason: format!("memory+swap {s} is below the memory limit {l}"),
        }),
        _ => Ok(()),
    }
}

/// `pids.max`: a positive limit, `max` for a negative one, 0 is "unset".
pub fn pids_max(limit: i64) -> Option<String> {
    match limit {
        0 => None,
        l if l < 0 => Some("max".to_owned()),
        l => Some(l.to_string()),
    }
}

/// Checks a hugepage size such as `2MB` before it becomes part of a file
/// name (`hugetlb.2MB.max`).
pub fn hugepage_size(size: &str) -> Result<&str> {
    let valid = !size.is_empty() && size.bytes().all(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(size)
    } else {
        Err(CgroupError::InvalidResource {
            setting: "hugepageLimits.pageSize",
            reason: format!("{size:?} is not a size like 2MB or 1GB"),
        })
    }
}

/// A v1 memory.swappiness value: 0..=100; -1 in the original Go struct
/// meant "unset", which a u64 cannot hold.
pub fn swappiness(value: u64) -> Result<String> {
    if value > 100 {
        return Err(CgroupError::InvalidResource {
            setting: "memory.swappiness",
            reason: format!("{value} is above 100"),
        });
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_matches_runc() {
        assert_eq!(cpu_shares_to_weight(0), None);
        assert_eq!(cpu_shares_to_weight(2), Some(1));
        assert_eq!(cpu_shares_to_weight(1024), Some(39));
        assert_eq!(cpu_shares_to_weight(262_144), Some(10_000));
        // Out of range values are clamped rather than wrapping.
        assert_eq!(cpu_shares_to_weight(1), Some(1));
        assert_eq!(cpu_shares_to_weight(u64::MAX), Some(10_000));
    }

    #[test]
    fn blkio_weight_to_io_weight_matches_runc() {
        assert_eq!(blkio_weight_to_io_weight(0), None);
        assert_eq!(blkio_weight_to_io_weight(10), Some(1));
        assert_eq!(blkio_weight_to_io_weight(500), Some(1 + 490 * 9999 / 990));
        assert_eq!(blkio_weight_to_io_weight(1000), Some(10_000));
        assert_eq!(blkio_weight_to_io_weight(5), Some(1));
    }

    #[test]
    fn cpu_max_lines() {
        assert_eq!(cpu_max(None, None), None);
        assert_eq!(cpu_max(Some(0), Some(0)), None);
        assert_eq!(
            cpu_max(Some(50_000), Some(100_000)).unwrap(),
            "50000 100000"
        );
        assert_eq!(cpu_max(Some(50_000), None).unwrap(), "50000");
        assert_eq!(cpu_max(Some(-1), Some(100_000)).unwrap(), "max 100000");
        assert_eq!(cpu_max(None, Some(20_000)).unwrap(), "max 20000");
        assert_eq!(cpu_max(Some(-1), None).unwrap(), "max");
    }

    #[test]
    fn memory_limits() {
        assert_eq!(v2_limit(None), None);
        assert_eq!(v2_limit(Some(0)), None);
        assert_eq!(v2_limit(Some(-1)).unwrap(), "max");
        assert_eq!(v2_limit(Some(1 << 20)).unwrap(), "1048576");
    }

    #[test]
    fn swap_is_memory_plus_swap_in_the_spec() {
        let mib = 1 << 20;
        assert_eq!(
            v2_swap_max(Some(96 * mib), Some(64 * mib))
                .unwrap()
                .unwrap(),
            (32 * mib).to_string()
        );
        assert_eq!(
            v2_swap_max(Some(64 * mib), Some(64 * mib))
                .unwrap()
                .unwrap(),
            "0"
        );
        assert_eq!(
            v2_swap_max(Some(-1), Some(64 * mib)).unwrap().unwrap(),
            "max"
        );
        assert_eq!(v2_swap_max(None, Some(-1)).unwrap().unwrap(), "max");
        assert_eq!(v2_swap_max(None, Some(64 * mib)).unwrap(), None);
        assert!(v2_swap_max(Some(mib), Some(64 * mib)).is_err());
        assert!(v2_swap_max(Some(mib), None).is_err());
        assert!(check_v1_swap(Some(mib), Some(64 * mib)).is_err());
        assert!(check_v1_swap(Some(-1), Some(64 * mib)).is_ok());
    }

    #[test]
    fn pids_values() {
        assert_eq!(pids_max(0), None);
        assert_eq!(pids_max(-1).unwrap(), "max");
        assert_eq!(pids_max(10).unwrap(), "10");
    }

    #[test]
    fn hugepage_sizes_are_file_name_safe() {
        assert_eq!(hugepage_size("2MB").unwrap(), "2MB");
        assert!(hugepage_size("../x").is_err());
        assert!(hugepage_size("").is_err());
    }

    #[test]
    fn swappiness_range() {
        assert_eq!(swappiness(0).unwrap(), "0");
        assert!(swappiness(101).is_err());
    }
}
