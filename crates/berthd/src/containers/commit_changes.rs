//! `docker commit --change`: Dockerfile instructions applied to the
//! committed config, and the result merged with the container's config,
//! as dockerd does it (its builder's `BuildFromConfig`, then `merge`).
//!
//! Accepted: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK (see
//! `healthcheck_instruction.rs`), LABEL, ONBUILD, STOPSIGNAL, USER,
//! VOLUME, WORKDIR, as dockerd accepts them. Words are split shell-style (quotes,
//! backslashes) and `$VAR`, `${VAR}` and `${VAR:-default}` expand from the
//! config's environment at that point, as in a Dockerfile.

use serde_json::{json, Map, Value};

use super::healthcheck_instruction;
use crate::http::ApiError;

/// Applies `changes` (each may hold several lines) to `config`.
pub fn apply(config: &mut Value, changes: &[&str]) -> Result<(), ApiError> {
    if !config.is_object() {
        *config = json!({});
    }
    // An ENTRYPOINT drops an inherited CMD unless a CMD came first here.
    let mut cmd_set = false;
    for line in changes.iter().flat_map(|c| c.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        apply_one(
            config,
            &word.to_ascii_uppercase(),
            rest.trim(),
            &mut cmd_set,
        )?;
    }
    Ok(())
}

fn apply_one(
    config: &mut Value,
    word: &str,
    rest: &str,
    cmd_set: &mut bool,
) -> Result<(), ApiError> {
    let env = env_of(config);
    match word {
        "CMD" => {
            config["Cmd"] = json!(command(config, word, rest)?);
            *cmd_set = true;
        }
        "ENTRYPOINT" => {
            config["Entrypoint"] = json!(command(config, word, rest)?);
            if !*cmd_set {
                config["Cmd"] = Value::Null;
            }
        }
        "ENV" => {
            for (k, v) in pairs(word, rest, &env)? {
                set_env(config, &k, &v);
            }
        }
        "LABEL" => {
            let labels = object_at(config, "Labels");
            for (k, v) in pairs(word, rest, &env)? {
                labels.insert(k, json!(v));
            }
        }
        "EXPOSE" => {
            let ports = object_at(config, "ExposedPorts");
            for spec in words(rest, &env)? {
                for port in expose(&spec)? {
                    ports.insert(port, json!({}));
                }
            }
        }
        "VOLUME" => {
            let list = match json_array(rest) {
                Some(list) => list,
                None => words(rest, &env)?,
            };
            let volumes = object_at(config, "Volumes");
            for v in list {
                if v.trim().is_empty() {
                    return Err(bad("VOLUME specified can not be an empty string"));
                }
                volumes.insert(v, json!({}));
            }
        }
        "USER" | "STOPSIGNAL" => {
            let value = one_value(word, rest, &env)?;
            let key = if word == "USER" { "User" } else { "StopSignal" };
            config[key] = json!(value);
        }
        "WORKDIR" => {
            let dir = one_value(word, rest, &env)?;
            let base = config["WorkingDir"]
                .as_str()
                .filter(|d| !d.is_empty())
                .unwrap_or("/");
            config["WorkingDir"] = json!(join_clean(base, &dir));
        }
        "ONBUILD" => {
            let trigger = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match trigger.as_str() {
                "" => return Err(bad("ONBUILD requires at least one argument")),
                "ONBUILD" => {
                    return Err(bad("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"))
                }
                "FROM" | "MAINTAINER" => {
                    return Err(bad(format!(
                        "{trigger} isn't allowed as an ONBUILD trigger"
                    )))
                }
                _ => {}
            }
            array_at(config, "OnBuild").push(json!(rest));
        }
        "HEALTHCHECK" => {
            config["Healthcheck"] = healthcheck_instruction::parse(rest).map_err(bad)?
        }
        other => return Err(bad(format!("{other} is not a valid change command"))),
    }
    Ok(())
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

fn env_of(config: &Value) -> Vec<String> {
    config["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn set_env(config: &mut Value, key: &str, value: &str) {
    let list = array_at(config, "Env");
    let entry = json!(format!("{key}={value}"));
    let same = |e: &Value| e.as_str().is_some_and(|s| s.split('=').next() == Some(key));
    match list.iter_mut().find(|e| same(e)) {
        Some(e) => *e = entry,
        None => list.push(entry),
    }
}

fn object_at<'a>(config: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !config[key].is_object() {
        config[key] = json!({});
    }
    match &mut config[key] {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

fn array_at<'a>(config: &'a mut Value, key: &str) -> &'a mut Vec<Value> {
    if !config[key].is_array() {
        config[key] = json!([]);
    }
    match &mut config[key] {
        Value::Array(a) => a,
        _ => unreachable!("just made an array"),
    }
}

/// A JSON array of strings (the exec form), if `rest` is one.
fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str(rest).ok()
}

/// CMD/ENTRYPOINT: the exec form as given, the shell form through the
/// config's `Shell` (default `/bin/sh -c`).
fn command(config: &Value, word: &str, rest: &str) -> Result<Vec<String>, ApiError> {
    if let Some(list) = json_array(rest) {
        return Ok(list);
    }
    if rest.is_empty() {
        return Err(bad(format!("{word} requires at least one argument")));
    }
    let mut shell: Vec<String> = config["Shell"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if shell.is_empty() {
        shell = vec!["/bin/sh".into(), "-c".into()];
    }
    shell.push(rest.to_string());
    Ok(shell)
}

fn one_value(word: &str, rest: &str, env: &[String]) -> Result<String, ApiError> {
    let value = words(rest, env)?.join(" ");
    if value.is_empty() {
        return Err(bad(format!("{word} requires exactly one argument")));
    }
    Ok(value)
}

/// ENV/LABEL: `k=v k2="v 2"`, or the old `KEY value with spaces` form.
fn pairs(word: &str, rest: &str, env: &[String]) -> Result<Vec<(String, String)>, ApiError> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if first.is_empty() {
        return Err(bad(format!("{word} requires at least one argument")));
    }
    if !first.contains('=') {
        let value = rest[first.len()..].trim();
        if value.is_empty() {
            return Err(bad(format!("{word} must have two arguments")));
        }
        return Ok(vec![(first.to_string(), words(value, env)?.join(" "))]);
    }
    words(rest, env)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(bad(format!("{word} names can not be blank: {w:?}"))),
        })
        .collect()
}

/// EXPOSE's `80`, `53/udp`, `8000-8002/tcp`.
fn expose(spec: &str) -> Result<Vec<String>, ApiError> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let invalid = || bad(format!("invalid containerPort: {spec}"));
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(format!("invalid proto: {proto}")));
    }
    let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
    let lo: u16 = lo.parse().map_err(|_| invalid())?;
    let hi: u16 = hi.parse().map_err(|_| invalid())?;
    if hi < lo {
        return Err(invalid());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// `base` joined with `dir` (absolute `dir` replaces it), cleaned.
fn join_clean(base: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{base}/{dir}")
    };
    format!("/{}", super::fs_view::clean(&joined).join("/"))
}

/// Shell-style words: quotes group, backslash escapes (not in single
/// quotes), variables expand (not in single quotes).
fn words(text: &str, env: &[String]) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
                continue;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => match chars.next() {
                Some(next) => word.push(next),
                None => word.push('\\'),
            },
            (_, '$') => word.push_str(&expand(&mut chars, env)),
            (_, c) => word.push(c),
        }
        in_word = true;
    }
    if quote.is_some() {
        return Err(bad(format!(
            "unexpected end of statement while looking for matching quote: {text}"
        )));
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

/// After a `$`: `NAME`, `{NAME}` or `{NAME:-default}`.
fn expand(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, env: &[String]) -> String {
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find_map(|e| e.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(str::to_string)
    };
    if chars.peek() == Some(&'{') {
        chars.next();
        let inner: String = chars.by_ref().take_while(|c| *c != '}').collect();
        return match inner.split_once(":-") {
            Some((name, default)) => lookup(name)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string()),
            None => lookup(&inner).unwrap_or_default(),
        };
    }
    let mut name = String::new();
    while let Some(c) = chars
        .peek()
        .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
    {
        name.push(*c);
        chars.next();
    }
    if name.is_empty() {
        return "$".into();
    }
    lookup(&name).unwrap_or_default()
}

/// dockerd's merge of the committed config with the container's: what the
/// committed one leaves empty comes from the container's; `Env` by name
/// (same-named variables from the committed one win, the rest of the
/// container's are kept), `ExposedPorts`, `Labels` and `Volumes` by key;
/// `Cmd` and `Entrypoint` only when no `Entrypoint` was set.
pub fn merge(user: &mut Value, container: &Value) {
    if !user.is_object() {
        *user = json!({});
    }
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    for key in ["User", "WorkingDir", "StopSignal", "Healthcheck"] {
        if empty(&user[key]) && !container[key].is_null() {
            user[key] = container[key].clone();
        }
    }
    for key in ["ExposedPorts", "Labels", "Volumes"] {
        let theirs = container[key].as_object().cloned().unwrap_or_default();
        let ours = object_at(user, key);
        for (k, v) in theirs {
            ours.entry(k).or_insert(v);
        }
    }
    for e in env_of(container) {
        let key = e.split('=').next().unwrap_or("").to_string();
        let present = env_of(user)
            .iter()
            .any(|u| u.split('=').next() == Some(&key));
        if !present {
            array_at(user, "Env").push(json!(e));
        }
    }
    if empty(&user["Entrypoint"]) {
        if empty(&user["Cmd"]) {
            user["Cmd"] = container["Cmd"].clone();
        }
        if user["Entrypoint"].is_null() {
            user["Entrypoint"] = container["Entrypoint"].clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({
            "Env": ["PATH=/usr/bin:/bin", "HOME=/root"],
            "Cmd": ["sh"],
            "WorkingDir": "/srv",
            "Labels": {"a": "1"},
        })
    }

    #[test]
    fn changes_apply_as_a_dockerfile() {
        let mut c = base();
        let changes = [
            "ENV X=1 Y=\"two words\"",
            "ENV LEGACY spaced value",
            "ENV P=$PATH:/opt",
            "LABEL b=2 \"c d\"=e",
            "EXPOSE 80 53/udp 8000-8001",
            "VOLUME [\"/data\"]",
            "VOLUME /cache /logs",
            "USER nobody",
            "WORKDIR sub",
            "ONBUILD RUN echo hi",
            "STOPSIGNAL SIGINT",
        ];
        apply(&mut c, &changes).unwrap();
        let env = env_of(&c);
        for want in [
            "X=1",
            "Y=two words",
            "LEGACY=spaced value",
            "P=/usr/bin:/bin:/opt",
        ] {
            assert!(env.iter().any(|e| e == want), "{env:?} lacks {want}");
        }
        assert_eq!(c["Labels"], json!({"a": "1", "b": "2", "c d": "e"}));
        assert_eq!(
            c["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
        );
        assert_eq!(
            c["Volumes"],
            json!({"/data": {}, "/cache": {}, "/logs": {}})
        );
        assert_eq!(c["User"], "nobody");
        assert_eq!(c["WorkingDir"], "/srv/sub");
        assert_eq!(c["OnBuild"], json!(["RUN echo hi"]));
        assert_eq!(c["StopSignal"], "SIGINT");
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let mut c = base();
        apply(&mut c, &["ENTRYPOINT [\"/bin/echo\"]"]).unwrap();
        assert_eq!(c["Entrypoint"], json!(["/bin/echo"]));
        assert!(c["Cmd"].is_null(), "an ENTRYPOINT drops the old CMD");
        let mut c = base();
        apply(
            &mut c,
            &["CMD echo $HOME", "ENTRYPOINT [\"/bin/sh\", \"-c\"]"],
        )
        .unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo $HOME"]));
        assert!(apply(&mut c, &["RUN true"]).is_err());
        assert!(apply(&mut c, &["EXPOSE abc"]).is_err());
        assert!(apply(&mut c, &["ENV X=\"open"]).is_err());
    }

    #[test]
    fn merge_keeps_the_containers_env() {
        let mut user = json!({"Env": ["X=1", "HOME=/home"]});
        merge(&mut user, &base());
        assert_eq!(
            user["Env"],
            json!(["X=1", "HOME=/home", "PATH=/usr/bin:/bin"])
        );
        assert_eq!(user["Cmd"], json!(["sh"]));
        assert_eq!(user["WorkingDir"], "/srv");
        assert_eq!(user["Labels"], json!({"a": "1"}));
        let mut user = json!({"Entrypoint": ["/x"]});
        merge(&mut user, &base());
        assert!(user["Cmd"].is_null());
    }
}
