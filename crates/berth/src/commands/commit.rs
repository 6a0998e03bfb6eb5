//! `berth commit`: a container's changes as a new image.

use anyhow::Context as _;
use berth_api::types::IdResponse;
use berth_api::Query;
use clap::Args;
use serde_json::{json, Map, Value};

use super::images::split_tag;
use crate::context::{seg, Ctx};

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub repository: Option<String>,
}

pub async fn run(ctx: &Ctx, args: CommitArgs) -> anyhow::Result<i32> {
    let (repo, tag) = match args.repository.as_deref() {
        Some(r) => split_tag(r),
        None => ("", ""),
    };
    let tag = if tag == "<none>" { "" } else { tag };
    let q = Query::new()
        .set("container", &args.container)
        .set("repo", repo)
        .set("tag", tag)
        .set("comment", args.message.as_deref().unwrap_or(""))
        .set("author", args.author.as_deref().unwrap_or(""))
        .set("pause", args.pause);
    let config = if args.change.is_empty() {
        Value::Null
    } else {
        // Lists and maps are replaced whole by the daemon's merge: start
        // them from the container's own.
        let path = format!("/containers/{}/json", seg(&args.container));
        let current: Value = ctx.client.get(&path, &Query::new()).await?;
        changes_config(&args.change, &current["Config"])?
    };
    let q = args.change.iter().fold(q, |q, c| q.set("changes", c));
    let resp: IdResponse = ctx.client.post("/commit", &q, Some(&config)).await?;
    println!("{}", resp.id);
    Ok(0)
}

/// The `--change` instructions docker's commit accepts, as the config
/// fields they set (the daemon merges them over the container's).
pub fn changes_config(changes: &[String], current: &Value) -> anyhow::Result<Value> {
    let mut config = Map::new();
    for key in ["Env", "Labels", "ExposedPorts", "Volumes"] {
        if let Some(v) = current.get(key).filter(|v| !v.is_null()) {
            config.insert(key.into(), v.clone());
        }
    }
    for change in changes {
        let (instr, rest) = change
            .trim()
            .split_once(char::is_whitespace)
            .map(|(i, r)| (i.to_uppercase(), r.trim()))
            .with_context(|| format!("dockerfile parse error: {change:?}"))?;
        let (key, value) = match instr.as_str() {
            "CMD" => ("Cmd", command(rest)),
            "ENTRYPOINT" => ("Entrypoint", command(rest)),
            "WORKDIR" => ("WorkingDir", json!(rest)),
            "USER" => ("User", json!(rest)),
            "STOPSIGNAL" => ("StopSignal", json!(rest)),
            "ENV" => ("Env", append(&config, "Env", env_pair(rest))),
            "LABEL" => ("Labels", label(&config, rest)),
            "EXPOSE" => ("ExposedPorts", set_of(&config, "ExposedPorts", &port(rest))),
            "VOLUME" => ("Volumes", set_of(&config, "Volumes", rest)),
            other => anyhow::bail!("{other} is not a valid change command"),
        };
        config.insert(key.into(), value);
    }
    config.retain(|k, _| changes.iter().any(|c| touches(c, k)));
    Ok(Value::Object(config))
}

/// Whether the instruction `change` sets the config field `key`.
fn touches(change: &str, key: &str) -> bool {
    let instr = change
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_uppercase();
    matches!(
        (instr.as_str(), key),
        ("CMD", "Cmd")
            | ("ENTRYPOINT", "Entrypoint")
            | ("WORKDIR", "WorkingDir")
            | ("USER", "User")
            | ("STOPSIGNAL", "StopSignal")
            | ("ENV", "Env")
            | ("LABEL", "Labels")
            | ("EXPOSE", "ExposedPorts")
            | ("VOLUME", "Volumes")
    )
}

/// `["a","b"]` (exec form) or a shell line (`/bin/sh -c LINE`).
fn command(rest: &str) -> Value {
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(list) => json!(list),
        Err(_) => json!(["/bin/sh", "-c", rest]),
    }
}

fn env_pair(rest: &str) -> String {
    match rest.split_once('=') {
        Some(_) => rest.to_string(),
        None => rest.replacen(char::is_whitespace, "=", 1),
    }
}

fn append(config: &Map<String, Value>, key: &str, item: String) -> Value {
    let mut list = config
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.push(json!(item));
    Value::Array(list)
}

fn label(config: &Map<String, Value>, rest: &str) -> Value {
    let mut map = config
        .get("Labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
    map.insert(k.trim().into(), json!(v.trim().trim_matches('"')));
    Value::Object(map)
}

fn port(rest: &str) -> String {
    if rest.contains('/') {
        rest.to_string()
    } else {
        format!("{rest}/tcp")
    }
}

fn set_of(config: &Map<String, Value>, key: &str, item: &str) -> Value {
    let mut map = config
        .get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    map.insert(item.trim().into(), json!({}));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_become_config() {
        let current = json!({"Env": ["PATH=/bin"], "Labels": {"a": "b"}});
        let c = changes_config(
            &[
                "CMD [\"sh\", \"-c\", \"x\"]".into(),
                "ENV A=1".into(),
                "env B 2".into(),
                "EXPOSE 80".into(),
                "WORKDIR /w".into(),
            ],
            &current,
        )
        .unwrap_or_default();
        assert_eq!(c["Cmd"], json!(["sh", "-c", "x"]));
        assert_eq!(c["Env"], json!(["PATH=/bin", "A=1", "B=2"]));
        assert!(c.get("Labels").is_none());
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(c["WorkingDir"], json!("/w"));
        assert!(changes_config(&["FROM x".into()], &current).is_err());
    }
}
