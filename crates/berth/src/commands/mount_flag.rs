//! `--mount type=bind|volume|tmpfs,source=...,target=...,...`, parsed as
//! docker's CLI does (its `opts.MountOpt`): comma-separated (CSV, so a
//! field may be quoted), `key=value` fields, a few flags that stand alone.

use anyhow::{anyhow, bail};
use berth_api::types::{BindOptions, Mount, TmpfsOptions, VolumeDriverConfig, VolumeOptions};

use super::container_opts::{key_value, parse_bytes};

/// One `--mount` value as a `HostConfig.Mounts` entry.
pub fn parse_mount(spec: &str) -> anyhow::Result<Mount> {
    parse(spec).map_err(|e| anyhow!("invalid argument \"{spec}\" for \"--mount\" flag: {e}"))
}

fn parse(spec: &str) -> anyhow::Result<Mount> {
    let mut mount = Mount {
        kind: "volume".into(),
        ..Default::default()
    };
    let mut bind = BindOptions::default();
    let mut volume = VolumeOptions::default();
    let mut tmpfs = TmpfsOptions::default();
    // Which kinds of options were given, to refuse mixing them.
    let (mut has_bind, mut has_volume, mut has_tmpfs) = (false, false, false);
    for field in csv_fields(spec)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let value_of = |key: &str| {
            value.ok_or_else(|| anyhow!("invalid field '{key}' must be a key=value pair"))
        };
        match key.as_str() {
            "readonly" | "ro" => mount.read_only = flag_value(&key, value)?,
            "volume-nocopy" => {
                volume.no_copy = flag_value(&key, value)?;
                has_volume = true;
            }
            "bind-nonrecursive" => {
                bind.non_recursive = flag_value(&key, value)?;
                has_bind = true;
            }
            "type" => mount.kind = value_of(&key)?.to_ascii_lowercase(),
            "source" | "src" => mount.source = value_of(&key)?.to_string(),
            "target" | "dst" | "destination" => mount.target = value_of(&key)?.to_string(),
            "consistency" => {
                value_of(&key)?;
            }
            "bind-propagation" => {
                bind.propagation = value_of(&key)?.to_ascii_lowercase();
                has_bind = true;
            }
            "volume-label" => {
                let (k, v) = key_value(value_of(&key)?);
                volume.labels.insert(k, v);
                has_volume = true;
            }
            "volume-driver" => {
                volume
                    .driver_config
                    .get_or_insert_with(Default::default)
                    .name = value_of(&key)?.to_string();
                has_volume = true;
            }
            "volume-opt" => {
                let (k, v) = key_value(value_of(&key)?);
                let driver = volume
                    .driver_config
                    .get_or_insert_with(VolumeDriverConfig::default);
                driver.options.insert(k, v);
                has_volume = true;
            }
            "tmpfs-size" => {
                let size = value_of(&key)?;
                tmpfs.size_bytes =
                    parse_bytes(size).map_err(|_| anyhow!("invalid value for {key}: {size}"))?;
                has_tmpfs = true;
            }
            "tmpfs-mode" => {
                let mode = value_of(&key)?;
                tmpfs.mode = Some(
                    u32::from_str_radix(mode, 8)
                        .map_err(|_| anyhow!("invalid value for {key}: {mode}"))?,
                );
                has_tmpfs = true;
            }
            _ => bail!("unexpected key '{key}' in '{field}'"),
        }
    }
    if mount.target.is_empty() {
        bail!("target is required");
    }
    for (given, prefix, kind) in [
        (has_bind, "bind", "bind"),
        (has_volume, "volume", "volume"),
        (has_tmpfs, "tmpfs", "tmpfs"),
    ] {
        if given && mount.kind != kind {
            bail!(
                "cannot mix '{prefix}-*' options with mount type '{}'",
                mount.kind
            );
        }
    }
    mount.bind_options = has_bind.then_some(bind);
    mount.volume_options = has_volume.then_some(volume);
    mount.tmpfs_options = has_tmpfs.then_some(tmpfs);
    Ok(mount)
}

/// A flag field: alone it is true, else `true|false|1|0`.
fn flag_value(key: &str, value: Option<&str>) -> anyhow::Result<bool> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("1") | Some("true") => Ok(true),
        Some("0") | Some("false") => Ok(false),
        Some(other) => bail!("invalid value for {key}: {other}"),
    }
}

/// Splits one CSV record: commas separate fields, `"..."` quotes a field
/// (with `""` for a quote inside), as Go's encoding/csv reads it.
fn csv_fields(line: &str) -> anyhow::Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '"') if field.is_empty() => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (_, c) => field.push(c),
        }
    }
    if quoted {
        bail!("extraneous or missing \" in quoted-field");
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_volume_and_tmpfs_mounts() {
        let m = parse_mount("type=bind,source=/srv,target=/data,readonly").unwrap();
        assert_eq!(
            (
                m.kind.as_str(),
                m.source.as_str(),
                m.target.as_str(),
                m.read_only
            ),
            ("bind", "/srv", "/data", true)
        );
        let m = parse_mount("src=cache,dst=/cache,volume-nocopy").unwrap();
        assert_eq!(m.kind, "volume");
        assert!(m.volume_options.unwrap().no_copy);
        let m =
            parse_mount("type=tmpfs,destination=/scratch,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
        let t = m.tmpfs_options.unwrap();
        assert_eq!((t.size_bytes, t.mode), (64 << 20, Some(0o1770)));
        let m = parse_mount("type=bind,src=/a,dst=/b,bind-propagation=rshared,ro=false").unwrap();
        assert_eq!(m.bind_options.unwrap().propagation, "rshared");
        assert!(!m.read_only);
    }

    #[test]
    fn quoted_fields_may_hold_commas() {
        let m = parse_mount(r#"type=volume,"volume-label=a=b,c",target=/x"#).unwrap();
        assert_eq!(m.volume_options.unwrap().labels["a"], "b,c");
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        for (spec, wanted) in [
            ("type=bind,source=/a", "target is required"),
            (
                "type=bind,src=/a,dst=/b,tmpfs-size=1m",
                "cannot mix 'tmpfs-*'",
            ),
            ("type=volume,target=/b,bogus=1", "unexpected key 'bogus'"),
            (
                "type,target=/b",
                "invalid field 'type' must be a key=value pair",
            ),
            (
                "target=/b,readonly=maybe",
                "invalid value for readonly: maybe",
            ),
            (
                "type=tmpfs,target=/b,tmpfs-mode=999",
                "invalid value for tmpfs-mode",
            ),
            ("type=bind,\"src=/a", "missing \""),
        ] {
            let err = parse_mount(spec).unwrap_err().to_string();
            assert!(err.contains(wanted), "{spec}: {err}");
            assert!(err.starts_with("invalid argument"), "{err}");
        }
    }
}
