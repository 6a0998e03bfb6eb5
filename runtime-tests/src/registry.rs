//! A real local registry for integration tests: Debian's `docker-registry`
//! (distribution 2.8) on 127.0.0.1 and a free port, its storage, config and
//! log in a private tempdir, images pushed with skopeo.
//!
//! Each [`Registry`] is one process. Dropping it kills (SIGKILL) and reaps
//! the process and removes the tempdir, also while a test unwinds from a
//! panic; if the whole test binary dies (SIGKILL, abort), the kernel kills
//! the registry too (`PR_SET_PDEATHSIG`, armed from a spawner thread that
//! lives as long as the process, so a `Registry` may be moved between
//! threads freely), but its `/tmp/berth-registry-*` dir stays behind.
//!
//! Nothing here talks to any address but 127.0.0.1: readiness and the
//! small HTTP helpers use a hand-written HTTP/1.1 request over a
//! `TcpStream`, and the skopeo helpers refuse `docker://` references to any
//! other host.
//!
//! Errors are [`Error`]s whose text carries the command, its output and the
//! registry's [`Registry::log_tail`]; `unwrap()`/`expect()` print it as is.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// Where the registry binary is unless `BERTH_REGISTRY_BIN` says otherwise.
pub const DEFAULT_REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// The realm the htpasswd auth announces in `WWW-Authenticate`.
pub const AUTH_REALM: &str = "berth-test-registry";
/// The OCI layout ref name [`build_multi_platform_layout`] gives the index.
pub const MULTI_PLATFORM_REF: &str = "multi";

pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Every response of one registry carries this header with a value unique
/// to that registry, so readiness never mistakes another server that won a
/// port race for ours.
const INSTANCE_HEADER: &str = "X-Berth-Registry-Instance";
/// How long the registry may take to answer `GET /v2/` after spawning.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(20);
/// Connect/read/write timeout of one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Connect/read/write timeout of the public HTTP helpers.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// `skopeo --command-timeout`, so a wedged push fails instead of hanging.
const SKOPEO_TIMEOUT: &str = "180s";
/// Free-port attempts before giving up (a port race costs one attempt).
const PORT_ATTEMPTS: u32 = 8;
/// Lines of the registry log [`Registry::log_tail`] returns.
const LOG_TAIL_LINES: usize = 40;

/// An error with its context (command, output, registry log tail).
#[derive(Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Debug prints the text as is, so `unwrap()` shows readable multi-line logs.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", what())))
    }
}

/// A response read by the hand-written HTTP/1.1 client.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    /// Header names as sent (Go canonicalises them, e.g. `Www-Authenticate`).
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).context(|| {
            format!(
                "HTTP {} body is not JSON: {}",
                self.status,
                self.body_text()
            )
        })
    }
}

/// A running `docker-registry` process; see the module docs.
pub struct Registry {
    child: Mutex<Option<Child>>,
    tmp: Option<TempDir>,
    dir: PathBuf,
    port: u16,
    instance: String,
    creds: Option<(String, String)>,
}

impl Registry {
    /// A registry without authentication (`GET /v2/` answers 200).
    pub fn start() -> Result<Registry> {
        Registry::launch(None)
    }

    /// A registry with htpasswd (bcrypt) basic auth for one user
    /// (`GET /v2/` answers 401 without credentials).
    pub fn start_with_auth(user: &str, password: &str) -> Result<Registry> {
        Registry::launch(Some((user.to_string(), password.to_string())))
    }

    fn launch(creds: Option<(String, String)>) -> Result<Registry> {
        let bin = registry_bin();
        if !bin.is_file() {
            return Err(Error::new(format!(
                "registry binary {} not found (apt-get install docker-registry, \
                 or set BERTH_REGISTRY_BIN)",
                bin.display()
            )));
        }
        let tmp = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .context(|| "creating the registry tempdir".to_string())?;
        let dir = tmp.path().to_path_buf();
        let mut registry = Registry {
            child: Mutex::new(None),
            tmp: Some(tmp),
            dir,
            port: 0,
            instance: instance_id(),
            creds,
        };
        fs::create_dir(registry.dir.join("storage"))
            .context(|| format!("creating {}/storage", registry.dir.display()))?;
        if let Some((user, password)) = &registry.creds {
            registry.write_htpasswd(user, password)?;
        }
        let mut taken = Vec::new();
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port()?;
            match registry.spawn_on(&bin, port, attempt)? {
                Launch::Ready => return Ok(registry),
                Launch::PortTaken => taken.push(port),
            }
        }
        Err(Error::new(format!(
            "docker-registry lost the port race {PORT_ATTEMPTS} times (ports {taken:?})\n{}",
            registry.log_report()
        )))
    }

    fn write_htpasswd(&self, user: &str, password: &str) -> Result<()> {
        if user.is_empty() || user.contains(':') {
            return Err(Error::new(format!(
                "registry user {user:?} must be non-empty and have no ':'"
            )));
        }
        // -B: bcrypt, the only hash the registry accepts; -n: to stdout.
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .stdin(Stdio::null())
            .output()
            .context(|| "running htpasswd (apt-get install apache2-utils)".to_string())?;
        if !out.status.success() {
            return Err(Error::new(format!(
                "htpasswd -Bbn {user} *** failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let path = self.dir.join("htpasswd");
        fs::write(&path, &out.stdout).context(|| format!("writing {}", path.display()))
    }

    fn config_yaml(&self, port: u16) -> String {
        // JSON strings are valid YAML double-quoted scalars.
        let q = |s: &str| Value::from(s).to_string();
        let storage = self.dir.join("storage");
        let mut yaml = format!(
            "version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
  headers:
    {INSTANCE_HEADER}: [{instance}]
health:
  storagedriver:
    enabled: false
",
            storage = q(&storage.to_string_lossy()),
            secret = q(&self.instance),
            instance = q(&self.instance),
        );
        if self.creds.is_some() {
            yaml.push_str(&format!(
                "auth:
  htpasswd:
    realm: {realm}
    path: {path}
",
                realm = q(AUTH_REALM),
                path = q(&self.dir.join("htpasswd").to_string_lossy()),
            ));
        }
        yaml
    }

    fn spawn_on(&mut self, bin: &Path, port: u16, attempt: u32) -> Result<Launch> {
        self.port = port;
        let config = self.dir.join("config.yml");
        fs::write(&config, self.config_yaml(port))
            .context(|| format!("writing {}", config.display()))?;
        let log_path = self.log_path();
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .context(|| format!("opening {}", log_path.display()))?;
        writeln!(log, "--- berth harness: attempt {attempt}, port {port} ---")
            .context(|| format!("writing {}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .context(|| format!("duplicating {}", log_path.display()))?;

        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg(&config)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            // Access log goes to stdout, everything else to stderr.
            .stdout(log)
            .stderr(log_err);
        // REGISTRY_* variables override the config file; keep them out.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(key);
            }
        }
        let child = spawn_killed_with_process(cmd)
            .context(|| format!("spawning {} serve {}", bin.display(), config.display()))?;
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        self.wait_ready()
    }

    /// Polls `GET /v2/` until our instance answers with the expected status,
    /// the process exits, or READY_TIMEOUT passes.
    fn wait_ready(&self) -> Result<Launch> {
        let expected = if self.creds.is_some() { 401 } else { 200 };
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last;
        loop {
            if let Some(status) = self.exit_status()? {
                // Reaped by try_wait; nothing left to kill.
                self.take_child();
                let log = self.read_log();
                let attempt_log = log.rsplit("--- berth harness:").next().unwrap_or("");
                if attempt_log.contains("address already in use") {
                    return Ok(Launch::PortTaken);
                }
                return Err(Error::new(format!(
                    "docker-registry exited ({status}) before answering GET /v2/ on {}\n{}",
                    self.host(),
                    self.log_report()
                )));
            }
            match http_request(self.port, "GET", "/v2/", &[], PROBE_TIMEOUT) {
                Ok(resp) if resp.header(INSTANCE_HEADER) == Some(self.instance.as_str()) => {
                    if resp.status == expected {
                        return Ok(Launch::Ready);
                    }
                    return Err(Error::new(format!(
                        "GET /v2/ on {} answered {} {} (wanted {expected}): {}\n{}",
                        self.host(),
                        resp.status,
                        resp.reason,
                        resp.body_text(),
                        self.log_report()
                    )));
                }
                Ok(resp) => {
                    last = format!(
                        "a server that is not this registry answered {} {}",
                        resp.status, resp.reason
                    )
                }
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "docker-registry on {} did not answer GET /v2/ within {READY_TIMEOUT:?} \
                     (last probe: {last})\n{}",
                    self.host(),
                    self.log_report()
                )));
            }
            std::thread::sleep(READY_POLL);
        }
    }

    fn exit_status(&self) -> Result<Option<ExitStatus>> {
        let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(child) => child
                .try_wait()
                .context(|| "waiting for docker-registry".to_string()),
            None => Ok(None),
        }
    }

    fn take_child(&self) -> Option<Child> {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// "127.0.0.1:PORT".
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// "http://127.0.0.1:PORT".
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// "127.0.0.1:PORT/REPO:TAG" (or REPO@DIGEST): an image reference.
    pub fn image_ref(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.host())
    }

    /// "docker://127.0.0.1:PORT/REPO:TAG": a skopeo reference.
    pub fn docker_ref(&self, repo_and_tag: &str) -> String {
        format!("docker://{}", self.image_ref(repo_and_tag))
    }

    /// The (user, password) given to [`Registry::start_with_auth`].
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The tempdir: config.yml, htpasswd, storage/, registry.log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("registry.log")
    }

    /// The registry's pid (None once it has exited and been reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.id())
    }

    /// Ok if the process is still running; otherwise how it exited + log.
    pub fn check_alive(&self) -> Result<()> {
        match self.exit_status()? {
            None if self.pid().is_some() => Ok(()),
            None => Err(Error::new(format!(
                "docker-registry on {} is not running\n{}",
                self.host(),
                self.log_report()
            ))),
            Some(status) => Err(Error::new(format!(
                "docker-registry on {} exited ({status})\n{}",
                self.host(),
                self.log_report()
            ))),
        }
    }

    fn read_log(&self) -> String {
        match fs::read(self.log_path()) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => format!("(cannot read {}: {e})", self.log_path().display()),
        }
    }

    /// The last lines of the registry's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.read_log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    fn log_report(&self) -> String {
        format!(
            "--- tail of {} ---\n{}\n--- end of registry log ---",
            self.log_path().display(),
            self.log_tail()
        )
    }

    // ---- HTTP (hand-written HTTP/1.1 over TcpStream, 127.0.0.1 only) ----

    /// An anonymous request, e.g. `request("HEAD", "/v2/x/manifests/y",
    /// &[("Accept", MEDIA_TYPE_OCI_MANIFEST)])`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse> {
        http_request(self.port, method, path, headers, HTTP_TIMEOUT)
            .map_err(|e| Error::new(format!("{e}\n{}", self.log_report())))
    }

    /// Anonymous `GET path`.
    pub fn get(&self, path: &str) -> Result<HttpResponse> {
        self.request("GET", path, &[])
    }

    /// `GET path` with basic auth if the registry has credentials.
    pub fn get_authenticated(&self, path: &str) -> Result<HttpResponse> {
        match &self.creds {
            Some((user, password)) => {
                let auth = basic_auth(user, password);
                self.request("GET", path, &[("Authorization", &auth)])
            }
            None => self.get(path),
        }
    }

    fn get_json_ok(&self, path: &str) -> Result<Value> {
        let resp = self.get_authenticated(path)?;
        if resp.status != 200 {
            return Err(Error::new(format!(
                "GET {path} on {} answered {} {}: {}\n{}",
                self.host(),
                resp.status,
                resp.reason,
                resp.body_text(),
                self.log_report()
            )));
        }
        resp.json()
    }

    /// `GET /v2/_catalog`: the repository names.
    pub fn catalog(&self) -> Result<Vec<String>> {
        let value = self.get_json_ok("/v2/_catalog")?;
        string_list(&value["repositories"])
            .ok_or_else(|| Error::new(format!("unexpected /v2/_catalog answer: {value}")))
    }

    /// `GET /v2/REPO/tags/list`: the tags of `repo`.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let value = self.get_json_ok(&format!("/v2/{repo}/tags/list"))?;
        string_list(&value["tags"])
            .ok_or_else(|| Error::new(format!("unexpected tags/list answer for {repo}: {value}")))
    }

    // ---- skopeo ----

    fn skopeo(&self) -> Command {
        let mut cmd = Command::new("skopeo");
        // --insecure-policy: do not depend on the host's policy.json;
        // --tmpdir: keep skopeo's scratch files in our tempdir.
        cmd.args(["--insecure-policy", "--command-timeout", SKOPEO_TIMEOUT])
            .arg("--tmpdir")
            .arg(&self.dir)
            .stdin(Stdio::null());
        cmd
    }

    fn run_skopeo(&self, mut cmd: Command) -> Result<Output> {
        let creds = self
            .creds
            .as_ref()
            .map(|(u, p)| (format!("{u}:{p}"), format!("{u}:***")));
        let shown = show_command(&cmd, creds.as_ref());
        let out = cmd
            .output()
            .context(|| format!("running {shown} (is skopeo installed?)"))?;
        if !out.status.success() {
            let alive = match self.check_alive() {
                Ok(()) => String::new(),
                Err(e) => format!("\n{e}"),
            };
            return Err(Error::new(format!(
                "{shown} failed ({})\nstdout:\n{}\nstderr:\n{}{alive}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_report()
            )));
        }
        Ok(out)
    }

    /// Adds the TLS/credential flags for `reference` with flag `prefix`
    /// ("src-", "dest-" or "" for inspect) and refuses other hosts.
    fn registry_flags(&self, cmd: &mut Command, prefix: &str, reference: &str) -> Result<()> {
        let Some(rest) = reference.strip_prefix("docker://") else {
            return Ok(());
        };
        if !rest.starts_with(&format!("{}/", self.host())) {
            return Err(Error::new(format!(
                "refusing {reference}: the harness only talks to this registry ({})",
                self.host()
            )));
        }
        cmd.arg(format!("--{prefix}tls-verify=false"));
        match &self.creds {
            Some((user, password)) => cmd
                .arg(format!("--{prefix}creds"))
                .arg(format!("{user}:{password}")),
            None => cmd.arg(format!("--{prefix}no-creds")),
        };
        Ok(())
    }

    /// `skopeo copy SRC DST` (with this registry's TLS/credential flags for
    /// whichever side is on it); returns the digest of the manifest written.
    pub fn skopeo_copy(&self, src: &str, dst: &str) -> Result<String> {
        self.skopeo_copy_with(src, dst, &[])
    }

    /// [`Registry::skopeo_copy`] with extra `skopeo copy` flags
    /// (e.g. `--all`, `--preserve-digests`, `--format oci`).
    pub fn skopeo_copy_with(&self, src: &str, dst: &str, extra: &[&str]) -> Result<String> {
        let digest_file = tempfile::Builder::new()
            .prefix("digest-")
            .tempfile_in(&self.dir)
            .context(|| format!("creating a digest file in {}", self.dir.display()))?;
        let mut cmd = self.skopeo();
        cmd.arg("copy").args(extra);
        self.registry_flags(&mut cmd, "src-", src)?;
        self.registry_flags(&mut cmd, "dest-", dst)?;
        cmd.arg("--digestfile")
            .arg(digest_file.path())
            .arg(src)
            .arg(dst);
        self.run_skopeo(cmd)?;
        let digest = fs::read_to_string(digest_file.path())
            .context(|| format!("reading {}", digest_file.path().display()))?;
        let digest = digest.trim().to_string();
        if !is_sha256_digest(&digest) {
            return Err(Error::new(format!(
                "skopeo copy {src} {dst} wrote no valid digest ({digest:?})"
            )));
        }
        Ok(digest)
    }

    /// Pushes `oci:LAYOUT:TAG_IN_LAYOUT` to REPO:TAG (digests preserved,
    /// so the pushed manifest is byte-identical); returns its digest.
    pub fn push_oci_layout(
        &self,
        layout_dir: &Path,
        tag_in_layout: &str,
        repo_and_tag: &str,
    ) -> Result<String> {
        let src = format!("oci:{}:{tag_in_layout}", layout_dir.display());
        self.skopeo_copy_with(
            &src,
            &self.docker_ref(repo_and_tag),
            &["--preserve-digests"],
        )
    }

    /// Pushes `docker-archive:TAR` to REPO:TAG; returns the pushed manifest
    /// digest (skopeo compresses the layers, so it is a new manifest).
    pub fn push_docker_archive(&self, tar: &Path, repo_and_tag: &str) -> Result<String> {
        let src = format!("docker-archive:{}", tar.display());
        self.skopeo_copy(&src, &self.docker_ref(repo_and_tag))
    }

    /// `skopeo inspect EXTRA docker://HOST/IMAGE` (IMAGE: repo:tag or
    /// repo@digest), stdout as bytes.
    pub fn skopeo_inspect(&self, image: &str, extra: &[&str]) -> Result<Vec<u8>> {
        let reference = self.docker_ref(image);
        let mut cmd = self.skopeo();
        cmd.arg("inspect").args(extra);
        self.registry_flags(&mut cmd, "", &reference)?;
        cmd.arg(&reference);
        Ok(self.run_skopeo(cmd)?.stdout)
    }

    /// The manifest (or index) exactly as the registry stores it.
    /// `reference` is a tag or a "sha256:..." digest.
    pub fn raw_manifest(&self, repo: &str, reference: &str) -> Result<Vec<u8>> {
        self.skopeo_inspect(&repo_ref(repo, reference), &["--raw"])
    }

    /// The digest of the manifest (or index) `repo`:`reference` names:
    /// sha256 of the raw bytes, as the registry addresses it.
    pub fn manifest_digest(&self, repo: &str, reference: &str) -> Result<String> {
        Ok(sha256_digest(&self.raw_manifest(repo, reference)?))
    }

    /// Builds the two-platform OCI layout ([`build_multi_platform_layout`])
    /// and pushes the whole index with `skopeo copy --all
    /// --preserve-digests`; checks `skopeo inspect --raw` gives back the
    /// index with both manifests. Returns (index digest, [(platform such as
    /// "linux/amd64", manifest digest)] in index order).
    pub fn push_multi_platform_index(
        &self,
        repo_and_tag: &str,
    ) -> Result<(String, Vec<(String, String)>)> {
        let work = tempfile::Builder::new()
            .prefix("multi-")
            .tempdir_in(&self.dir)
            .context(|| format!("creating a tempdir in {}", self.dir.display()))?;
        let layout = build_multi_platform_layout(&work.path().join("oci"))?;
        let src = format!("oci:{}:{MULTI_PLATFORM_REF}", layout.dir.display());
        let pushed = self.skopeo_copy_with(
            &src,
            &self.docker_ref(repo_and_tag),
            &["--all", "--preserve-digests"],
        )?;
        if pushed != layout.index_digest {
            return Err(Error::new(format!(
                "pushing the index to {repo_and_tag} gave digest {pushed}, built {}",
                layout.index_digest
            )));
        }
        let (repo, tag) = split_repo_tag(repo_and_tag);
        let raw = self.raw_manifest(repo, tag)?;
        if sha256_digest(&raw) != pushed {
            return Err(Error::new(format!(
                "{repo_and_tag} now has digest {}, pushed {pushed}",
                sha256_digest(&raw)
            )));
        }
        let index: Value = serde_json::from_slice(&raw)
            .context(|| format!("parsing the raw manifest of {repo_and_tag}"))?;
        let found = index_platforms(&index);
        if index["mediaType"] != MEDIA_TYPE_OCI_INDEX || found != layout.manifests {
            return Err(Error::new(format!(
                "skopeo inspect --raw {repo_and_tag} is not the index pushed: \
                 got {found:?}, wanted {:?}\n{index}",
                layout.manifests
            )));
        }
        for (platform, digest) in &layout.manifests {
            let got = self.manifest_digest(repo, digest)?;
            if &got != digest {
                return Err(Error::new(format!(
                    "{repo}@{digest} ({platform}) comes back as {got}"
                )));
            }
        }
        work.close()
            .context(|| "removing the multi-platform layout".to_string())?;
        Ok((pushed, layout.manifests))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut child) = self.take_child() {
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!(
                    "registry: docker-registry on {} had already exited ({status})\n{}",
                    self.host(),
                    self.log_report()
                );
            } else {
                if let Err(e) = child.kill() {
                    eprintln!("registry: killing pid {}: {e}", child.id());
                }
                if let Err(e) = child.wait() {
                    eprintln!("registry: reaping pid {}: {e}", child.id());
                }
            }
        }
        if let Some(tmp) = self.tmp.take() {
            if let Err(e) = tmp.close() {
                eprintln!("registry: removing {}: {e}", self.dir.display());
            }
        }
    }
}

enum Launch {
    Ready,
    PortTaken,
}

fn registry_bin() -> PathBuf {
    std::env::var_os("BERTH_REGISTRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_REGISTRY_BIN))
}

/// Unique per registry in this machine's recent history.
fn instance_id() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "berth-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A port that was free a moment ago (the caller retries on a race).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context(|| "binding 127.0.0.1:0 to find a free port".to_string())?;
    let port = listener
        .local_addr()
        .context(|| "reading the free port".to_string())?
        .port();
    Ok(port)
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` with PR_SET_PDEATHSIG = SIGKILL. The signal fires when the
/// *thread* that forked dies, so the fork happens on a thread that lives as
/// long as the test process: the child dies with the process, not with the
/// test thread that started it.
fn spawn_killed_with_process(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure only makes async-signal-safe syscalls.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::other("the test process exited during spawn"));
            }
            Ok(())
        });
    }
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("berth-registry-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("starting the registry spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let gone = || io::Error::other("the registry spawner thread is gone");
    spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| gone())?;
    reply_rx.recv().map_err(|_| gone())?
}

/// One `METHOD path` request to 127.0.0.1:port with `Connection: close`,
/// read to EOF.
fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<HttpResponse> {
    let what = || format!("{method} http://127.0.0.1:{port}{path}");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).context(what)?;
    stream.set_read_timeout(Some(timeout)).context(what)?;
    stream.set_write_timeout(Some(timeout)).context(what)?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         User-Agent: berth-runtime-tests\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).context(what)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).context(what)?;
    parse_response(&raw, method.eq_ignore_ascii_case("HEAD")).context(what)
}

fn parse_response(raw: &[u8], head: bool) -> Result<HttpResponse> {
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| {
        Error::new(format!(
            "incomplete HTTP response ({} bytes): {:?}",
            raw.len(),
            String::from_utf8_lossy(raw)
        ))
    })?;
    let head_text = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let Some(status) = status.filter(|_| version.starts_with("HTTP/1.")) else {
        return Err(Error::new(format!("bad HTTP status line {status_line:?}")));
    };
    let reason = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut response = HttpResponse {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[end + 4..];
    if head || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    let chunked = response
        .header("Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    response.body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = response.header("Content-Length") {
        let len: usize = len
            .parse()
            .context(|| format!("bad Content-Length {len:?}"))?;
        if rest.len() < len {
            return Err(Error::new(format!(
                "body cut short: {} of {len} bytes",
                rest.len()
            )));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end =
            find(data, b"\r\n").ok_or_else(|| Error::new("chunked body: missing size line"))?;
        let line = String::from_utf8_lossy(&data[..line_end]);
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .context(|| format!("chunked body: bad size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if data.len() < size + 2 {
            return Err(Error::new("chunked body cut short"));
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// "Basic base64(user:password)".
pub fn basic_auth(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    if value.is_null() {
        return Some(Vec::new());
    }
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// "sha256:<hex>" of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// "repo:tag", or "repo@sha256:..." when `reference` is a digest.
pub fn repo_ref(repo: &str, reference: &str) -> String {
    if reference.contains(':') {
        format!("{repo}@{reference}")
    } else {
        format!("{repo}:{reference}")
    }
}

/// ("repo", "tag") from "repo:tag" ("latest" when there is no tag).
pub fn split_repo_tag(repo_and_tag: &str) -> (&str, &str) {
    match repo_and_tag.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (repo_and_tag, "latest"),
    }
}

/// [(platform "os/arch[/variant]", digest)] of an image index.
pub fn index_platforms(index: &Value) -> Vec<(String, String)> {
    let Some(manifests) = index["manifests"].as_array() else {
        return Vec::new();
    };
    manifests
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut platform = format!(
                "{}/{}",
                p["os"].as_str().unwrap_or("?"),
                p["architecture"].as_str().unwrap_or("?")
            );
            if let Some(variant) = p["variant"].as_str() {
                platform = format!("{platform}/{variant}");
            }
            (platform, m["digest"].as_str().unwrap_or("?").to_string())
        })
        .collect()
}

/// An OCI layout written by [`build_multi_platform_layout`].
#[derive(Clone, Debug)]
pub struct MultiPlatformLayout {
    pub dir: PathBuf,
    /// The ref name of the index in index.json ([`MULTI_PLATFORM_REF`]).
    pub ref_name: String,
    pub index_digest: String,
    /// [(platform, manifest digest)] in index order: the busybox fixture's
    /// platform first (linux/amd64, digest = the fixture's manifest), then
    /// the tiny image (linux/arm64; linux/amd64 on an arm64 fixture).
    pub manifests: Vec<(String, String)>,
}

/// Writes, into the new directory `dest`, an OCI layout whose ref
/// [`MULTI_PLATFORM_REF`] is an image index of two platform manifests:
/// the busybox fixture image (manifest, config, layer copied verbatim) and
/// a tiny distinct image (one gzipped one-file layer, a config whose
/// "architecture" is "arm64").
pub fn build_multi_platform_layout(dest: &Path) -> Result<MultiPlatformLayout> {
    let busybox = crate::fixture().join("oci");
    let blobs = dest.join("blobs/sha256");
    fs::create_dir_all(&blobs).context(|| format!("creating {}", blobs.display()))?;
    let write_blob = |data: &[u8]| -> Result<(String, usize)> {
        let digest = sha256_digest(data);
        let path = blobs.join(&digest["sha256:".len()..]);
        fs::write(&path, data).context(|| format!("writing {}", path.display()))?;
        Ok((digest, data.len()))
    };
    let read_json = |path: &Path| -> Result<Value> {
        let bytes = fs::read(path).context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes).context(|| format!("parsing {}", path.display()))
    };
    let fixture_blob = |digest: &str| {
        busybox
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };

    // The busybox image: its manifest (ref "latest", else the only one),
    // config and layers, bytes unchanged.
    let fixture_index = read_json(&busybox.join("index.json"))?;
    let entries = fixture_index["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let entry = entries
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "latest")
        .or_else(|| entries.first())
        .ok_or_else(|| Error::new(format!("no manifest in {}/index.json", busybox.display())))?;
    let bb_digest = entry["digest"].as_str().unwrap_or_default().to_string();
    let bb_manifest_bytes =
        fs::read(fixture_blob(&bb_digest)).context(|| format!("reading fixture {bb_digest}"))?;
    if sha256_digest(&bb_manifest_bytes) != bb_digest {
        return Err(Error::new(format!("fixture blob {bb_digest} is corrupt")));
    }
    let bb_manifest: Value = serde_json::from_slice(&bb_manifest_bytes)
        .context(|| format!("parsing fixture manifest {bb_digest}"))?;
    let bb_config_digest = bb_manifest["config"]["digest"].as_str().unwrap_or_default();
    let bb_config = read_json(&fixture_blob(bb_config_digest))?;
    let mut copy = vec![bb_config_digest.to_string()];
    for layer in bb_manifest["layers"].as_array().into_iter().flatten() {
        copy.push(layer["digest"].as_str().unwrap_or_default().to_string());
    }
    write_blob(&bb_manifest_bytes)?;
    for digest in &copy {
        let from = fixture_blob(digest);
        let to = blobs.join(digest.trim_start_matches("sha256:"));
        fs::copy(&from, &to)
            .context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    let bb_os = bb_config["os"].as_str().unwrap_or("linux").to_string();
    let bb_arch = bb_config["architecture"]
        .as_str()
        .unwrap_or("amd64")
        .to_string();

    // The tiny image: one file, gzipped (`gzip -n`: no name, no mtime).
    let tiny_arch = if bb_arch == "arm64" { "amd64" } else { "arm64" };
    let content = format!("berth multi-platform fixture: linux/{tiny_arch}\n");
    let layer_tar = one_file_tar("hello.txt", content.as_bytes());
    let diff_id = sha256_digest(&layer_tar);
    let layer_gz = gzip(&layer_tar)?;
    let (layer_digest, layer_size) = write_blob(&layer_gz)?;
    let epoch = "1970-01-01T00:00:00Z";
    let config = json!({
        "architecture": tiny_arch,
        "os": "linux",
        "created": epoch,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": epoch, "created_by": "berth runtime-tests registry harness"}],
    });
    let (config_digest, config_size) = write_blob(&to_vec(&config)?)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "config": {"mediaType": MEDIA_TYPE_OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": MEDIA_TYPE_OCI_LAYER_GZIP, "digest": layer_digest, "size": layer_size}],
    });
    let (tiny_digest, tiny_size) = write_blob(&to_vec(&manifest)?)?;

    let index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_INDEX,
        "manifests": [
            {
                "mediaType": MEDIA_TYPE_OCI_MANIFEST,
                "digest": bb_digest,
                "size": bb_manifest_bytes.len(),
                "platform": {"architecture": bb_arch, "os": bb_os},
            },
            {
                "mediaType": MEDIA_TYPE_OCI_MANIFEST,
                "digest": tiny_digest,
                "size": tiny_size,
                "platform": {"architecture": tiny_arch, "os": "linux"},
            },
        ],
    });
    let (index_digest, index_size) = write_blob(&to_vec(&index)?)?;
    let layout_index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_INDEX,
        "manifests": [{
            "mediaType": MEDIA_TYPE_OCI_INDEX,
            "digest": index_digest,
            "size": index_size,
            "annotations": {"org.opencontainers.image.ref.name": MULTI_PLATFORM_REF},
        }],
    });
    let write = |name: &str, data: &[u8]| {
        let path = dest.join(name);
        fs::write(&path, data).context(|| format!("writing {}", path.display()))
    };
    write("index.json", &to_vec(&layout_index)?)?;
    write("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(MultiPlatformLayout {
        dir: dest.to_path_buf(),
        ref_name: MULTI_PLATFORM_REF.to_string(),
        index_digest,
        manifests: index_platforms(&index),
    })
}

fn to_vec(value: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(value).context(|| "serializing JSON".to_string())
}

/// A POSIX ustar archive of one regular file (root-owned, 0644, mtime 0).
fn one_file_tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let mut put = |offset: usize, bytes: &[u8]| {
        header[offset..offset + bytes.len()].copy_from_slice(bytes);
    };
    put(0, name.as_bytes());
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", content.len()).as_bytes());
    put(136, b"00000000000\0");
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    put(265, b"root");
    put(297, b"root");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut child = Command::new("gzip")
        .args(["-n", "-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(|| "running gzip".to_string())?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child
        .wait_with_output()
        .context(|| "running gzip".to_string())?;
    writer
        .join()
        .map_err(|_| Error::new("gzip writer thread panicked"))?
        .context(|| "feeding gzip".to_string())?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "gzip -n -9 failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out.stdout)
}

/// The command line for messages, with the "user:password" argument
/// replaced by `mask.1`.
fn show_command(cmd: &Command, mask: Option<&(String, String)>) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        text.push(' ');
        match mask {
            Some((secret, shown)) if arg == secret.as_str() => text.push_str(shown),
            _ => text.push_str(&arg),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_encodes_like_base64() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_auth("u", "p"), "Basic dTpw");
        assert_eq!(basic_auth("ab", "c"), "Basic YWI6Yw==");
    }

    #[test]
    fn parses_chunked_and_sized_responses() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2;x=y\r\nef\r\n0\r\n\r\n";
        let resp = parse_response(raw, false).unwrap();
        assert_eq!((resp.status, resp.body.as_slice()), (200, &b"abcdef"[..]));
        let raw = b"HTTP/1.1 401 Unauthorized\r\nWww-Authenticate: Basic realm=\"r\"\r\nContent-Length: 2\r\n\r\n{}";
        let resp = parse_response(raw, false).unwrap();
        assert_eq!(resp.status, 401);
        assert_eq!(resp.header("www-authenticate"), Some("Basic realm=\"r\""));
        assert_eq!(resp.body, b"{}");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n", false).is_err());
    }

    #[test]
    fn tar_has_a_valid_header_checksum() {
        let tar = one_file_tar("hello.txt", b"hi\n");
        assert_eq!(tar.len(), 512 * 2 + 1024);
        let stored = u32::from_str_radix(std::str::from_utf8(&tar[148..154]).unwrap(), 8).unwrap();
        let mut header = tar[..512].to_vec();
        header[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, header.iter().map(|&b| u32::from(b)).sum::<u32>());
    }

    #[test]
    fn references() {
        assert_eq!(split_repo_tag("a/b:v1"), ("a/b", "v1"));
        assert_eq!(split_repo_tag("a/b"), ("a/b", "latest"));
        assert_eq!(repo_ref("a", "v1"), "a:v1");
        assert_eq!(repo_ref("a", "sha256:00"), "a@sha256:00");
    }
}
