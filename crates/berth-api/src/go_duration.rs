//! Go's duration strings (`1h30m`, `10s`, `500ms`, `1.5s`), as docker's
//! flags (`--health-interval`, `--since 10m`) and Dockerfile options
//! (`HEALTHCHECK --interval=30s`) take them.

/// Seconds in `text`; `None` unless every part is a number and a unit
/// (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`). `0` alone is zero, as in Go.
pub fn seconds(text: &str) -> Option<f64> {
    if text == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Nanoseconds in `text` (the unit of the API's durations).
pub fn nanos(text: &str) -> Option<i64> {
    seconds(text).map(|s| (s * 1e9).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(seconds("1h30m"), Some(5400.0));
        assert_eq!(seconds("0"), Some(0.0));
        assert_eq!(nanos("1.5s"), Some(1_500_000_000));
        assert_eq!(nanos("250ms"), Some(250_000_000));
        for bad in ["", "bogus", "10", "5x", "s"] {
            assert_eq!(seconds(bad), None, "{bad}");
        }
    }
}
