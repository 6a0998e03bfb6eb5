//! The flags `run` and `create` share, turned into the create request
//! exactly as docker's CLI fills Config and HostConfig.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use berth_api::types::{
    ContainerConfig, CreateRequest, Empty, EndpointSettings, HostConfig, LogConfig,
    NetworkingConfig, PortBinding, RestartPolicy, Ulimit,
};
use clap::Args;

use super::health_flags::HealthFlags;
use super::mount_flag::parse_mount;

#[derive(Debug, Args, Default)]
pub struct ContainerOpts {
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<std::path::PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname", value_name = "string")]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "string")]
    pub entrypoint: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volumes: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mounts: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<f64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub ulimits: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opts: Vec<String>,
    #[command(flatten)]
    pub health: HealthFlags,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string")]
    pub restart: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int")]
    pub stop_timeout: Option<i64>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub labels: Vec<String>,
    /// Connect a container to a network
    #[arg(long = "network", visible_alias = "net", value_name = "network")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long = "expose", value_name = "list")]
    pub expose: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing", value_parser = ["always", "missing", "never"])]
    pub pull: String,
    /// Runtime to use for this container
    #[arg(long, value_name = "string")]
    pub runtime: Option<String>,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
}

/// The create request plus what is sent beside it.
pub struct CreateSpec {
    pub request: CreateRequest,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub image: String,
}

impl ContainerOpts {
    /// Builds the request for IMAGE [COMMAND] [ARG...]; `attach` says
    /// whether the client will attach (run without -d).
    pub fn to_spec(&self, args: &[String], attach: bool) -> anyhow::Result<CreateSpec> {
        let (image, cmd) = args.split_first().context("requires at least 1 argument")?;
        if image.starts_with('-') {
            // A flag clap could not place lands here (run's args take hyphens).
            bail!(crate::error::Exit::msg(
                125,
                format!("unknown flag: {image}\nSee 'berth run --help'.")
            ));
        }
        let config = self.config(image, cmd, attach)?;
        let host_config = self.host_config()?;
        let networking_config = self.networking_config();
        Ok(CreateSpec {
            request: CreateRequest {
                config,
                host_config,
                networking_config,
            },
            name: self.name.clone(),
            platform: self.platform.clone(),
            image: image.clone(),
        })
    }

    fn config(&self, image: &str, cmd: &[String], attach: bool) -> anyhow::Result<ContainerConfig> {
        let attach_stdin = attach && self.interactive;
        let mut exposed: BTreeMap<String, Empty> = BTreeMap::new();
        for spec in self.publish.iter().chain(&self.expose) {
            for (port, _) in parse_publish(spec)? {
                exposed.insert(port, Empty::default());
            }
        }
        let (volumes, _) = split_volumes(&self.volumes);
        Ok(ContainerConfig {
            hostname: self.hostname.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            attach_stdin,
            attach_stdout: attach,
            attach_stderr: attach,
            exposed_ports: exposed,
            tty: self.tty,
            open_stdin: self.interactive,
            stdin_once: attach_stdin,
            env: self.env()?,
            cmd: (!cmd.is_empty()).then(|| cmd.to_vec()),
            image: image.to_string(),
            volumes,
            working_dir: self.workdir.clone().unwrap_or_default(),
            // `--entrypoint ""` resets the image's entrypoint.
            entrypoint: self.entrypoint.as_ref().map(|e| vec![e.clone()]),
            labels: parse_labels(&self.labels),
            stop_signal: self.stop_signal.clone().unwrap_or_default(),
            stop_timeout: self.stop_timeout,
            healthcheck: self.health.healthcheck()?,
            ..Default::default()
        })
    }

    fn host_config(&self) -> anyhow::Result<HostConfig> {
        let mut port_bindings: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
        for spec in &self.publish {
            for (port, binding) in parse_publish(spec)? {
                port_bindings.entry(port).or_default().push(binding);
            }
        }
        let (_, binds) = split_volumes(&self.volumes);
        Ok(HostConfig {
            binds,
            network_mode: self.network.clone().unwrap_or_default(),
            port_bindings,
            restart_policy: self.restart.as_deref().map(parse_restart).transpose()?,
            auto_remove: self.rm,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            publish_all_ports: self.publish_all,
            readonly_rootfs: self.read_only,
            security_opt: self.security_opt.clone(),
            init: self.init.then_some(true),
            memory: self
                .memory
                .as_deref()
                .map(parse_bytes)
                .transpose()?
                .unwrap_or(0),
            nano_cpus: self.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
            pids_limit: self.pids_limit,
            runtime: self.runtime.clone().unwrap_or_default(),
            mounts: self
                .mounts
                .iter()
                .map(|m| parse_mount(m))
                .collect::<anyhow::Result<_>>()?,
            tmpfs: self.tmpfs.iter().map(|t| parse_tmpfs(t)).collect(),
            ulimits: self
                .ulimits
                .iter()
                .map(|u| parse_ulimit(u))
                .collect::<anyhow::Result<_>>()?,
            log_config: self.log_config()?,
            ..Default::default()
        })
    }

    /// `--log-driver` and `--log-opt k=v`; `None` leaves the daemon's
    /// default (json-file).
    fn log_config(&self) -> anyhow::Result<Option<LogConfig>> {
        if self.log_driver.is_none() && self.log_opts.is_empty() {
            return Ok(None);
        }
        let kind = self.log_driver.clone().unwrap_or_default();
        if kind == "none" && !self.log_opts.is_empty() {
            bail!("invalid logging opts for driver none");
        }
        let config = parse_labels(&self.log_opts);
        Ok(Some(LogConfig { kind, config }))
    }

    fn networking_config(&self) -> Option<NetworkingConfig> {
        let network = self.network.as_ref()?;
        if self.network_alias.is_empty() {
            return None;
        }
        let mut endpoints = BTreeMap::new();
        endpoints.insert(
            network.clone(),
            EndpointSettings {
                aliases: self.network_alias.clone(),
            },
        );
        Some(NetworkingConfig {
            endpoints_config: endpoints,
        })
    }

    /// `--env-file` entries first, then `-e`, as docker merges them.
    /// `KEY` alone takes the value from our environment (left out if unset).
    fn env(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for path in &self.env_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("open {}", path.display()))?;
            for line in text.lines() {
                let line = line.trim_start();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                out.extend(env_entry(line));
            }
        }
        out.extend(self.env.iter().filter_map(|e| env_entry(e)));
        Ok(out)
    }
}

fn env_entry(entry: &str) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_string());
    }
    std::env::var(entry).ok().map(|v| format!("{entry}={v}"))
}

/// `k=v` labels or options (`k` alone is an empty value).
pub fn parse_labels(list: &[String]) -> BTreeMap<String, String> {
    list.iter().map(|l| key_value(l)).collect()
}

/// One `k=v` (`k` alone has an empty value).
pub fn key_value(text: &str) -> (String, String) {
    let (k, v) = text.split_once('=').unwrap_or((text, ""));
    (k.to_string(), v.to_string())
}

/// `--tmpfs /dir[:options]`.
fn parse_tmpfs(spec: &str) -> (String, String) {
    let (dir, options) = spec.split_once(':').unwrap_or((spec, ""));
    (dir.to_string(), options.to_string())
}

/// The resource names `--ulimit` takes (docker's go-units list).
const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `--ulimit name=soft[:hard]` (one value sets both).
pub fn parse_ulimit(spec: &str) -> anyhow::Result<Ulimit> {
    let Some((name, limits)) = spec.split_once('=') else {
        bail!("invalid ulimit argument: {spec}");
    };
    if !ULIMIT_NAMES.contains(&name) {
        bail!("invalid ulimit type: {name}");
    }
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let number = |n: &str| -> anyhow::Result<i64> {
        n.parse()
            .with_context(|| format!("invalid ulimit argument: {spec}"))
    };
    let (soft, hard) = (number(soft)?, number(hard)?);
    if soft > hard {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `-v` values: `/ctr` alone is an anonymous volume (Config.Volumes);
/// anything with a source goes to HostConfig.Binds as given.
fn split_volumes(list: &[String]) -> (BTreeMap<String, Empty>, Vec<String>) {
    let mut anonymous = BTreeMap::new();
    let mut binds = Vec::new();
    for v in list {
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            anonymous.insert(v.clone(), Empty::default());
        }
    }
    (anonymous, binds)
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn parse_restart(s: &str) -> anyhow::Result<RestartPolicy> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    let maximum_retry_count = match count {
        Some(c) => c.parse().with_context(|| {
            format!("invalid restart policy format: maximum retry count must be an integer: {s}")
        })?,
        None => 0,
    };
    match name {
        "no" | "always" | "unless-stopped" | "on-failure" => Ok(RestartPolicy {
            name: name.to_string(),
            maximum_retry_count,
        }),
        _ => bail!("invalid restart policy format: {s}"),
    }
}

/// docker's RAMInBytes: `512m`, `1g`, `100k`, `1024b`, `1048576`
/// (1024-based, suffix case-insensitive, optional trailing `b`).
pub fn parse_bytes(s: &str) -> anyhow::Result<i64> {
    let lower = s.trim().to_ascii_lowercase();
    let body = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, mult) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 1i64 << 10),
        Some('m') => (&body[..body.len() - 1], 1 << 20),
        Some('g') => (&body[..body.len() - 1], 1 << 30),
        Some('t') => (&body[..body.len() - 1], 1 << 40),
        Some('p') => (&body[..body.len() - 1], 1 << 50),
        _ => (body, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid size: '{s}'"))?;
    if n < 0.0 {
        bail!("invalid size: '{s}'");
    }
    Ok((n * mult as f64) as i64)
}

/// `-p [ip:][hostPort:]containerPort[/proto]` (ranges of equal length)
/// → ("80/tcp", binding) pairs.
pub fn parse_publish(spec: &str) -> anyhow::Result<Vec<(String, PortBinding)>> {
    let (addr, proto) = match spec.rsplit_once('/') {
        Some((a, p)) => (a, p),
        None => (spec, "tcp"),
    };
    let parts: Vec<&str> = split_host_ip(addr);
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => bail!("invalid port format: {spec}"),
    };
    let ctr_ports = port_range(ctr).with_context(|| format!("invalid containerPort: {ctr}"))?;
    let host_ports = if host.is_empty() {
        None
    } else {
        Some(port_range(host).with_context(|| format!("invalid hostPort: {host}"))?)
    };
    if let Some(h) = &host_ports {
        if h.len() != ctr_ports.len() && h.len() != 1 {
            bail!("invalid ranges specified for container and host Ports: {ctr} and {host}");
        }
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    Ok(ctr_ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let host_port = match &host_ports {
                Some(h) if h.len() == 1 && ctr_ports.len() > 1 => host.to_string(),
                Some(h) => h[i].to_string(),
                None => String::new(),
            };
            (
                format!("{p}/{proto}"),
                PortBinding {
                    host_ip: ip.to_string(),
                    host_port,
                },
            )
        })
        .collect())
}

/// Splits `ip:host:ctr`, keeping a bracketed IPv6 address whole.
fn split_host_ip(addr: &str) -> Vec<&str> {
    if let Some(rest) = addr.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let ip = &addr[..end + 2];
            let tail = addr[end + 2..].trim_start_matches(':');
            let mut v = vec![ip];
            v.extend(tail.split(':'));
            return v;
        }
    }
    addr.split(':').collect()
}

fn port_range(s: &str) -> anyhow::Result<Vec<u16>> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.parse()?, b.parse()?);
    if a > b || a == 0 {
        bail!("invalid range");
    }
    Ok((a..=b).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_forms() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(p[0].0, "80/tcp");
        assert_eq!(p[0].1.host_port, "8080");
        let p = parse_publish("127.0.0.1::53/udp").unwrap();
        assert_eq!(p[0].0, "53/udp");
        assert_eq!(p[0].1.host_ip, "127.0.0.1");
        assert_eq!(p[0].1.host_port, "");
        let p = parse_publish("80").unwrap();
        assert_eq!(p[0].1, PortBinding::default());
        let p = parse_publish("8000-8001:80-81").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].1.host_port, "8001");
        assert!(parse_publish("x:y").is_err());
    }

    #[test]
    fn sizes_and_policies() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("100kb").unwrap(), 100 << 10);
        assert_eq!(parse_bytes("42").unwrap(), 42);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(
            parse_restart("on-failure:3").unwrap().maximum_retry_count,
            3
        );
        assert!(parse_restart("sometimes").is_err());
    }

    #[test]
    fn request_from_flags() {
        let opts = ContainerOpts {
            interactive: true,
            env: vec!["A=1".into()],
            entrypoint: Some(String::new()),
            volumes: vec!["/data".into(), "/h:/c:ro".into()],
            cpus: Some(1.5),
            ..Default::default()
        };
        let args = vec!["busybox".to_string(), "ls".into(), "-l".into()];
        let spec = opts.to_spec(&args, true).unwrap();
        let r = spec.request;
        assert_eq!(r.config.cmd.unwrap(), vec!["ls", "-l"]);
        assert_eq!(r.config.entrypoint.unwrap(), vec![""]);
        assert!(r.config.attach_stdin && r.config.stdin_once && r.config.open_stdin);
        assert!(r.config.volumes.contains_key("/data"));
        assert_eq!(r.host_config.binds, vec!["/h:/c:ro"]);
        assert_eq!(r.host_config.nano_cpus, 1_500_000_000);
        let detached = opts.to_spec(&args, false).unwrap().request.config;
        assert!(!detached.attach_stdin && !detached.attach_stdout && detached.open_stdin);
    }
}
