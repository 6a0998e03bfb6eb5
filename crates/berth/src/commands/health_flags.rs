//! `--health-cmd`, `--health-interval`, ... and `--no-healthcheck`: the
//! container's `Config.Healthcheck`, filled as docker's CLI fills it.

use anyhow::{anyhow, bail};
use berth_api::types::HealthConfig;
use clap::Args;

use berth_api::go_duration;

#[derive(Debug, Args, Default)]
pub struct HealthFlags {
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "duration")]
    pub interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub retries: Option<i64>,
    /// Start period for the container to initialize before starting
    /// health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_name = "duration")]
    pub start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    /// (default 0s)
    #[arg(long = "health-start-interval", value_name = "duration")]
    pub start_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "duration")]
    pub timeout: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub disabled: bool,
}

impl HealthFlags {
    /// `None` when no flag was given: the image's HEALTHCHECK applies.
    pub fn healthcheck(&self) -> anyhow::Result<Option<HealthConfig>> {
        let any_setting = self.cmd.is_some()
            || self.interval.is_some()
            || self.retries.is_some()
            || self.start_period.is_some()
            || self.start_interval.is_some()
            || self.timeout.is_some();
        if self.disabled {
            if any_setting {
                bail!("--no-healthcheck conflicts with --health-* options");
            }
            return Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..Default::default()
            }));
        }
        if !any_setting {
            return Ok(None);
        }
        let retries = self.retries.unwrap_or(0);
        if retries < 0 {
            bail!("--health-retries cannot be negative");
        }
        Ok(Some(HealthConfig {
            // No --health-cmd: keep the image's probe, change its timing.
            test: match &self.cmd {
                Some(cmd) => vec!["CMD-SHELL".into(), cmd.clone()],
                None => Vec::new(),
            },
            interval: nanos("--health-interval", &self.interval)?,
            timeout: nanos("--health-timeout", &self.timeout)?,
            start_period: nanos("--health-start-period", &self.start_period)?,
            start_interval: nanos("--health-start-interval", &self.start_interval)?,
            retries,
        }))
    }
}

/// A Go duration flag in nanoseconds (0 when not given).
fn nanos(flag: &str, value: &Option<String>) -> anyhow::Result<i64> {
    let Some(text) = value else {
        return Ok(0);
    };
    if let Some(negative) = text.strip_prefix('-') {
        if go_duration::seconds(negative).is_some() {
            bail!("{flag} cannot be negative");
        }
    }
    go_duration::nanos(text).ok_or_else(|| {
        anyhow!(
            "invalid argument \"{text}\" for \"{flag}\" flag: time: invalid duration \"{text}\""
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_fill_the_healthcheck() {
        let flags = HealthFlags {
            cmd: Some("wget -q -O- localhost".into()),
            interval: Some("1m30s".into()),
            timeout: Some("500ms".into()),
            retries: Some(3),
            ..Default::default()
        };
        let hc = flags.healthcheck().unwrap().unwrap();
        assert_eq!(hc.test, ["CMD-SHELL", "wget -q -O- localhost"]);
        assert_eq!(hc.interval, 90_000_000_000);
        assert_eq!(hc.timeout, 500_000_000);
        assert_eq!(hc.retries, 3);
        assert_eq!(hc.start_period, 0);
        assert_eq!(HealthFlags::default().healthcheck().unwrap(), None);
    }

    #[test]
    fn no_healthcheck_disables_and_conflicts() {
        let off = HealthFlags {
            disabled: true,
            ..Default::default()
        };
        assert_eq!(off.healthcheck().unwrap().unwrap().test, ["NONE"]);
        let both = HealthFlags {
            disabled: true,
            cmd: Some("true".into()),
            ..Default::default()
        };
        assert!(both
            .healthcheck()
            .unwrap_err()
            .to_string()
            .contains("conflicts"));
    }

    #[test]
    fn bad_durations_are_refused() {
        for (interval, wanted) in [("soon", "invalid duration"), ("-5s", "cannot be negative")] {
            let flags = HealthFlags {
                interval: Some(interval.into()),
                ..Default::default()
            };
            let err = flags.healthcheck().unwrap_err().to_string();
            assert!(err.contains(wanted), "{interval}: {err}");
        }
    }
}
