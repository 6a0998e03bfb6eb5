//! The Dockerfile `HEALTHCHECK` instruction, as `docker commit --change`
//! takes it (and the builder will):
//!
//! ```text
//! HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D]
//!             [--start-interval=D] [--retries=N] CMD command
//! HEALTHCHECK NONE
//! ```
//!
//! `CMD ["exec", "form"]` becomes `["CMD", "exec", "form"]`, the shell
//! form `["CMD-SHELL", "the text"]`; durations are Go's (`30s`, `1m`),
//! in nanoseconds, zero or at least 1ms, as dockerd requires.

use berth_api::go_duration;
use serde_json::{json, Map, Value};

/// The `Config.Healthcheck` value for `HEALTHCHECK <rest>`, or the
/// message dockerd gives for it.
pub fn parse(rest: &str) -> Result<Value, String> {
    let mut health = Map::new();
    let mut remaining = rest.trim_start();
    // Leading `--name=value` words are the options.
    while let Some(flag) = remaining.strip_prefix("--") {
        let (word, tail) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| format!("Missing a value on flag: --{word}"))?;
        let (key, value) = option(name, value)?;
        health.insert(key.into(), value);
        remaining = tail.trim_start();
    }
    let (kind, args) = remaining
        .split_once(char::is_whitespace)
        .unwrap_or((remaining, ""));
    let args = args.trim();
    match kind.to_ascii_uppercase().as_str() {
        "" => Err("HEALTHCHECK requires at least one argument".into()),
        "NONE" if args.is_empty() => Ok(json!({"Test": ["NONE"]})),
        "NONE" => Err("HEALTHCHECK NONE takes no arguments".into()),
        "CMD" => {
            let test = match exec_form(args) {
                Some(list) if !list.is_empty() => [vec!["CMD".to_string()], list].concat(),
                Some(_) => return Err("Missing command after HEALTHCHECK CMD".into()),
                None if args.is_empty() => {
                    return Err("Missing command after HEALTHCHECK CMD".into())
                }
                None => vec!["CMD-SHELL".to_string(), args.to_string()],
            };
            health.insert("Test".into(), json!(test));
            Ok(Value::Object(health))
        }
        other => Err(format!("Unknown type \"{other}\" in HEALTHCHECK (try CMD)")),
    }
}

/// One `--name=value` option: the Healthcheck key and its value.
fn option(name: &str, value: &str) -> Result<(&'static str, Value), String> {
    let key = match name {
        "interval" => "Interval",
        "timeout" => "Timeout",
        "start-period" => "StartPeriod",
        "start-interval" => "StartInterval",
        "retries" => {
            let retries: i32 = value
                .parse()
                .map_err(|_| format!("invalid value for --retries: {value:?}"))?;
            if retries < 0 {
                return Err(format!("--retries cannot be negative ({retries})"));
            }
            return Ok(("Retries", json!(retries)));
        }
        other => return Err(format!("Unknown flag: {other}")),
    };
    let nanos =
        go_duration::nanos(value).ok_or_else(|| format!("time: invalid duration \"{value}\""))?;
    if nanos != 0 && nanos < 1_000_000 {
        return Err(format!("Interval \"{name}\" cannot be less than 1ms"));
    }
    Ok((key, json!(nanos)))
}

/// A JSON array of strings, if `text` is one.
fn exec_form(text: &str) -> Option<Vec<String>> {
    text.starts_with('[')
        .then(|| serde_json::from_str(text).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_and_exec_forms_with_options() {
        assert_eq!(
            parse("--interval=5s --retries=3 CMD wget -q -O- localhost || exit 1").unwrap(),
            json!({
                "Test": ["CMD-SHELL", "wget -q -O- localhost || exit 1"],
                "Interval": 5_000_000_000u64,
                "Retries": 3,
            })
        );
        assert_eq!(
            parse("--timeout=1m30s --start-period=100ms cmd [\"/bin/check\", \"-v\"]").unwrap(),
            json!({
                "Test": ["CMD", "/bin/check", "-v"],
                "Timeout": 90_000_000_000u64,
                "StartPeriod": 100_000_000u64,
            })
        );
        assert_eq!(parse("NONE").unwrap(), json!({"Test": ["NONE"]}));
    }

    #[test]
    fn bad_instructions_say_why() {
        for (rest, wanted) in [
            ("", "requires at least one argument"),
            ("NONE now", "takes no arguments"),
            ("CMD", "Missing command"),
            ("CMD []", "Missing command"),
            ("RUN true", "Unknown type \"RUN\""),
            ("--interval CMD true", "Missing a value on flag"),
            ("--every=5s CMD true", "Unknown flag: every"),
            ("--interval=soon CMD true", "invalid duration"),
            ("--interval=10us CMD true", "cannot be less than 1ms"),
            ("--retries=-1 CMD true", "cannot be negative"),
        ] {
            let err = parse(rest).unwrap_err();
            assert!(err.contains(wanted), "{rest:?}: {err}");
        }
    }
}
