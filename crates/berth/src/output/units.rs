//! Human units as docker prints them (go-units): decimal sizes for images
//! and transfers, binary sizes for memory, "N minutes" durations, and
//! timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// go-units `HumanSizeWithPrecision`: 1000-based, `precision` significant
/// digits (`docker images` uses 3, progress bars 4).
pub fn human_size(size: f64, precision: usize) -> String {
    scaled(size, 1000.0, &DECIMAL, precision)
}

/// go-units `BytesSize`: 1024-based, 4 significant digits (memory).
pub fn bytes_size(size: f64) -> String {
    scaled(size, 1024.0, &BINARY, 4)
}

fn scaled(mut size: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", go_g(size, precision), units[i])
}

/// Go's `%.*g`: `precision` significant digits, trailing zeros dropped,
/// exponent form when the exponent is < -4 or >= precision.
pub fn go_g(x: f64, precision: usize) -> String {
    let p = precision.max(1);
    if x == 0.0 {
        return "0".into();
    }
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs());
    }
    let decimals = (p as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// go-units `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let minutes = secs / 60;
    // Hours are rounded, as Go's d.Round(time.Hour) does.
    let hours = (secs + 1800) / 3600;
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", secs / 3600 / 24 / 365),
    }
}

/// "N units ago" for a unix time.
pub fn since(unix: i64) -> String {
    format!("{} ago", human_duration(now_unix() - unix))
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Go's `time.Time.String()` of a unix time, in UTC (Berth does not read
/// the local zone database): `2024-01-02 15:04:05 +0000 UTC`.
pub fn go_time(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC")
}

/// RFC 3339 with fixed nanoseconds, UTC (docker's events format).
pub fn rfc3339_nano(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{nanos:09}Z")
}

/// Calendar fields of a unix time (UTC), Howard Hinnant's algorithm.
fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86400);
    let rem = unix.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    (y, m, d, h as u32, mi as u32, s as u32)
}

/// Days since the epoch of a calendar date (inverse of `civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses docker's `--since`/`--until` values into what the API takes
/// (unix seconds, possibly fractional): a Go duration (`10m`, `1h30m`)
/// counts back from now; a unix timestamp passes through; RFC 3339 dates
/// (`2024-01-02`, `2024-01-02T15:04:05Z`) are converted.
pub fn parse_timestamp(value: &str) -> Option<String> {
    // "0" is the epoch, not "0s ago" (docker's GetTimestamp).
    if let Some(secs) = parse_go_duration(value).filter(|_| value != "0") {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        let t = now.as_secs_f64() - secs;
        return Some(format!("{t:.9}"));
    }
    if value.parse::<f64>().is_ok() {
        return Some(value.to_string());
    }
    parse_rfc3339(value).map(|s| s.to_string())
}

/// `1h30m`, `10s`, `500ms` → seconds.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    berth_api::go_duration::seconds(s)
}

/// `YYYY-MM-DD[THH:MM:SS[.frac]][Z|±HH:MM]` → unix seconds (no zone is UTC).
fn parse_rfc3339(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T').unwrap_or((s, "00:00:00Z"));
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    let (clock, offset) = split_zone(time)?;
    let clock = clock.split('.').next()?;
    let mut tp = clock.split(':');
    let h: i64 = tp.next()?.parse().ok()?;
    let mi: i64 = tp.next()?.parse().ok()?;
    let sec: i64 = tp.next().unwrap_or("0").parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + sec - offset)
}

/// Splits `15:04:05+02:00` into the clock and the offset in seconds.
fn split_zone(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix('Z') {
        return Some((clock, 0));
    }
    if let Some(pos) = time.rfind(['+', '-']) {
        let (clock, zone) = time.split_at(pos);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (zh, zm) = zone[1..].split_once(':')?;
        let off = zh.parse::<i64>().ok()? * 3600 + zm.parse::<i64>().ok()? * 60;
        return Some((clock, sign * off));
    }
    Some((time, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(4_261_000.0, 3), "4.26MB");
        assert_eq!(human_size(1_240_000.0, 3), "1.24MB");
        assert_eq!(human_size(225_300.0, 3), "225kB");
        assert_eq!(human_size(0.0, 3), "0B");
        assert_eq!(human_size(999.0, 4), "999B");
        assert_eq!(human_size(1_000_000.0, 4), "1MB");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(go_g(0.00001234, 3), "1.23e-05");
    }

    #[test]
    fn durations_like_go_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3000), "50 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
    }

    #[test]
    fn times() {
        assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(go_time(1_700_000_000), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(
            rfc3339_nano(1_500_000_000),
            "1970-01-01T00:00:01.500000000Z"
        );
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_rfc3339("1970-01-02"), Some(86400));
        assert_eq!(parse_go_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_timestamp("1700000000"), Some("1700000000".into()));
        assert_eq!(parse_go_duration("bogus"), None);
    }
}
