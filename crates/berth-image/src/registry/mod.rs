//! A client for registries speaking the OCI distribution spec (Docker
//! Registry HTTP API v2): manifests and blobs in and out, with anonymous,
//! basic and bearer-token authentication.
//!
//! The client is blocking ([ureq]): a pull reads each layer straight from
//! the socket into the decompressor and the unpacker on its own thread, so
//! there is no async-to-sync bridge and no buffering between the network
//! and the disk. The daemon calls it from blocking tasks.
//!
//! Plain HTTP is used only for registries on `localhost`/`127.0.0.0/8`/`::1`
//! and for those the user marks insecure; TLS otherwise, verified against
//! the system's roots (rustls with the platform verifier). Authorization
//! headers are never sent along a redirect (blob downloads are often
//! redirected to a storage host).
//!
//! A [`Session`] is one repository on one registry with the access it needs
//! (pull, or pull and push). Opening it pings `/v2/`; a 401 there carries
//! the challenge, answered before any other request (so upload bodies are
//! never sent twice), and again if a token expires mid-way.

pub mod auth;
pub mod credentials;

use std::fs::File;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use ureq::http::{Response, StatusCode};
use ureq::Body;

pub use auth::{parse_challenges, Challenge, Credentials};
pub use credentials::{CredentialStore, CredentialsError};

use crate::archive::MAX_JSON_SIZE;
use crate::reference::Reference;
use crate::store::BlobDigest;

/// Manifest media types asked for, most preferred first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Why a registry operation failed, in terms a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached at all.
    #[error("cannot reach registry {registry}: {detail}")]
    Unreachable { registry: String, detail: String },
    /// The registry refused our credentials, or wants some.
    #[error("unauthorized: access to {repository} on {registry} was denied{}", detail_suffix(.detail))]
    Unauthorized {
        registry: String,
        repository: String,
        detail: String,
    },
    /// The tag or digest does not exist.
    #[error("manifest unknown: {reference} not found")]
    ManifestUnknown { reference: String },
    /// The repository does not exist (or is hidden from us).
    #[error("repository {repository} not found on {registry}")]
    NameUnknown {
        registry: String,
        repository: String,
    },
    /// Any other unexpected answer.
    #[error("registry {registry}: {method} {url}: HTTP {status}{}", detail_suffix(.detail))]
    Http {
        registry: String,
        method: &'static str,
        url: String,
        status: u16,
        detail: String,
    },
    /// A manifest whose content does not hash to the digest it was asked
    /// for or announced with.
    #[error("manifest {reference}: content digest mismatch: expected {expected}, got {actual}")]
    ManifestDigest {
        reference: String,
        expected: String,
        actual: String,
    },
    /// A response that is too large or not what the API specifies.
    #[error("registry {registry}: {what}")]
    Protocol { registry: String, what: String },
    /// Reading a local file to upload failed.
    #[error("registry {registry}: reading {what}: {source}")]
    Local {
        registry: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// A registry client shared by every pull and push.
#[derive(Clone)]
pub struct RegistryClient {
    agent: ureq::Agent,
    insecure: Vec<String>,
}

impl Default for RegistryClient {
    fn default() -> Self {
        RegistryClient::new(Vec::new())
    }
}

impl RegistryClient {
    /// A client; `insecure_registries` (`host:port`) are reached over plain
    /// HTTP, like `localhost` and `127.0.0.0/8` always are.
    pub fn new(insecure_registries: Vec<String>) -> RegistryClient {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            // A stalled connection fails instead of hanging a pull forever.
            .timeout_per_read(Some(Duration::from_secs(120)))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections_per_host(8)
            .build();
        RegistryClient {
            agent: config.into(),
            insecure: insecure_registries,
        }
    }

    /// Whether `registry` is spoken to over plain HTTP.
    pub fn is_insecure(&self, reference: &Reference) -> bool {
        reference.is_insecure_by_default()
            || self.insecure.iter().any(|r| r == reference.registry())
    }

    /// Opens a session on the reference's repository. `push` asks for push
    /// access as well as pull.
    pub fn session(
        &self,
        reference: &Reference,
        credentials: Option<Credentials>,
        push: bool,
    ) -> Result<Session, RegistryError> {
        let scheme = if self.is_insecure(reference) {
            "http"
        } else {
            "https"
        };
        let host = reference.registry_host_for_api();
        let session = Session {
            agent: self.agent.clone(),
            registry: reference.registry().to_string(),
            repository: reference.repository().to_string(),
            origin: format!("{scheme}://{host}"),
            credentials,
            actions: if push { "pull,push" } else { "pull" },
            authorization: Mutex::new(None),
        };
        session.ping()?;
        Ok(session)
    }

    /// Checks credentials against a registry (what `docker login` does):
    /// pings `/v2/` and answers its challenge.
    pub fn login(&self, registry: &str, credentials: Credentials) -> Result<(), RegistryError> {
        let reference = Reference::parse(&format!("{registry}/login-check")).map_err(|e| {
            RegistryError::Protocol {
                registry: registry.to_string(),
                what: format!("invalid registry name: {e}"),
            }
        })?;
        // Opening a session answers the challenge and checks the answer; a
        // registry that lets anyone in accepts any login, as with docker.
        self.session(&reference, Some(credentials), false)?;
        Ok(())
    }
}

/// A manifest as fetched: its bytes, media type and digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: BlobDigest,
}

/// One repository on one registry, authenticated.
pub struct Session {
    agent: ureq::Agent,
    registry: String,
    repository: String,
    /// `https://host:port`.
    origin: String,
    credentials: Option<Credentials>,
    actions: &'static str,
    /// The `Authorization` header to send, once a challenge was answered.
    authorization: Mutex<Option<String>>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A request to make: method, URL, extra headers.
struct Call<'a> {
    method: &'static str,
    url: String,
    headers: Vec<(&'a str, String)>,
}

impl Session {
    /// The registry (as in the reference: `docker.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path (`library/busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    fn authorization(&self) -> Option<String> {
        self.authorization.lock().map(|a| a.clone()).unwrap_or(None)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.origin, self.repository)
    }

    /// `GET /v2/`: learns whether and how to authenticate.
    fn ping(&self) -> Result<(), RegistryError> {
        let call = Call {
            method: "GET",
            url: format!("{}/v2/", self.origin),
            headers: Vec::new(),
        };
        let resp = self.send_once(&call, None)?;
        match resp.status() {
            s if s.is_success() => return Ok(()),
            StatusCode::UNAUTHORIZED => self.authenticate(&resp)?,
            _ => return Err(self.http_error(&call, resp)),
        }
        // Check the answer now, so bad credentials fail here rather than on
        // the first upload.
        let resp = self.send_once(&call, None)?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.http_error(&call, resp))
        }
    }

    /// Answers the challenge of a 401 response: Basic with our credentials,
    /// or a Bearer token from the realm for this repository's scope.
    fn authenticate(&self, resp: &Response<Body>) -> Result<(), RegistryError> {
        let challenges: Vec<Challenge> = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        let header = if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            format!("Bearer {}", self.fetch_token(bearer)?)
        } else if challenges.iter().any(|c| c.scheme == "basic") {
            match &self.credentials {
                Some(creds) => creds.basic_header(),
                None => return Err(self.unauthorized("authentication required")),
            }
        } else {
            return Err(self.unauthorized("no supported authentication challenge"));
        };
        if let Ok(mut slot) = self.authorization.lock() {
            *slot = Some(header);
        }
        Ok(())
    }

    fn fetch_token(&self, challenge: &Challenge) -> Result<String, RegistryError> {
        let realm = challenge
            .param("realm")
            .ok_or_else(|| self.unauthorized("bearer challenge without a realm"))?;
        let mut query = vec![(
            "scope",
            format!("repository:{}:{}", self.repository, self.actions),
        )];
        if let Some(service) = challenge.param("service") {
            query.push(("service", service.to_string()));
        }
        let mut req = self.agent.get(realm);
        for (k, v) in &query {
            req = req.query(*k, v);
        }
        if let Some(creds) = &self.credentials {
            req = req.header("Authorization", creds.basic_header());
        }
        let mut resp = req.call().map_err(|e| self.unreachable(e))?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(self.unauthorized("the token server refused the credentials"));
        }
        if !resp.status().is_success() {
            return Err(self.unauthorized(&format!("token server answered HTTP {}", resp.status())));
        }
        let body = read_limited(&mut resp, MAX_JSON_SIZE).map_err(|e| self.protocol(&e))?;
        let token: auth::TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| self.protocol(&format!("token response: {e}")))?;
        token
            .into_token()
            .ok_or_else(|| self.unauthorized("the token server returned no token"))
    }

    fn send_once(
        &self,
        call: &Call,
        body: Option<ureq::SendBody>,
    ) -> Result<Response<Body>, RegistryError> {
        let mut req = ureq::http::Request::builder()
            .method(call.method)
            .uri(&call.url);
        if let Some(auth) = self.authorization() {
            req = req.header("Authorization", auth);
        }
        for (k, v) in &call.headers {
            req = req.header(*k, v);
        }
        let result = match body {
            Some(body) => req
                .body(body)
                .map_err(|e| self.protocol(&format!("building request: {e}")))
                .and_then(|r| self.agent.run(r).map_err(|e| self.unreachable(e))),
            None => req
                .body(())
                .map_err(|e| self.protocol(&format!("building request: {e}")))
                .and_then(|r| self.agent.run(r).map_err(|e| self.unreachable(e))),
        };
        result
    }

    /// Sends a request without a body; on a 401 (an expired token, or a
    /// wider scope needed) answers the challenge and retries once.
    fn send(&self, call: &Call) -> Result<Response<Body>, RegistryError> {
        let resp = self.send_once(call, None)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        self.authenticate(&resp)?;
        let resp = self.send_once(call, None)?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized(&error_detail(resp)));
        }
        Ok(resp)
    }

    /// The registry's repositories (`GET /v2/_catalog`), up to `limit`.
    pub fn catalog(&self, limit: usize) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let call = Call {
            method: "GET",
            url: format!("{}/v2/_catalog?n={limit}", self.origin),
            headers: Vec::new(),
        };
        let mut resp = self.send(&call)?;
        if !resp.status().is_success() {
            return Err(self.http_error(&call, resp));
        }
        let body = read_limited(&mut resp, MAX_JSON_SIZE).map_err(|e| self.protocol(&e))?;
        let catalog: Catalog =
            serde_json::from_slice(&body).map_err(|e| self.protocol(&format!("catalog: {e}")))?;
        Ok(catalog.repositories)
    }

    /// Fetches a manifest by tag or digest, checking its digest.
    pub fn manifest(&self, reference: &str) -> Result<FetchedManifest, RegistryError> {
        let call = Call {
            method: "GET",
            url: self.url(&format!("manifests/{reference}")),
            headers: vec![("Accept", MANIFEST_ACCEPT.to_string())],
        };
        let mut resp = self.send(&call)?;
        if !resp.status().is_success() {
            return Err(self.http_error(&call, resp));
        }
        let media_type = header(&resp, "content-type")
            .map(|ct| ct.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let announced = header(&resp, "docker-content-digest");
        let bytes = read_limited(&mut resp, MAX_JSON_SIZE).map_err(|e| self.protocol(&e))?;
        let digest = BlobDigest::of_bytes(&bytes);
        let expected = if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            announced.filter(|d| d.starts_with("sha256:"))
        };
        if let Some(expected) = expected {
            if expected != digest.as_str() {
                return Err(RegistryError::ManifestDigest {
                    reference: format!("{}:{reference}", self.repository),
                    expected,
                    actual: digest.to_string(),
                });
            }
        }
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Opens a blob for reading. The caller verifies the digest as it reads
    /// (the store's writer does). Returns the reader and the announced size.
    pub fn blob(&self, digest: &str) -> Result<(Box<dyn Read + Send>, Option<u64>), RegistryError> {
        let call = Call {
            method: "GET",
            url: self.url(&format!("blobs/{digest}")),
            headers: Vec::new(),
        };
        let resp = self.send(&call)?;
        if !resp.status().is_success() {
            return Err(self.http_error(&call, resp));
        }
        let size = resp.body().content_length();
        Ok((Box::new(resp.into_body().into_reader()), size))
    }

    /// Whether the registry already has a blob.
    pub fn blob_exists(&self, digest: &str) -> Result<bool, RegistryError> {
        let call = Call {
            method: "HEAD",
            url: self.url(&format!("blobs/{digest}")),
            headers: Vec::new(),
        };
        let resp = self.send(&call)?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.http_error(&call, resp)),
        }
    }

    /// Uploads a blob from a file: in one PUT when `chunk_size` is `None`,
    /// else in PATCH requests of `chunk_size` bytes and a closing PUT.
    pub fn upload_blob(
        &self,
        digest: &str,
        file: &mut File,
        size: u64,
        chunk_size: Option<u64>,
    ) -> Result<(), RegistryError> {
        let start = Call {
            method: "POST",
            url: self.url("blobs/uploads/"),
            headers: vec![("Content-Length", "0".to_string())],
        };
        let resp = self.send(&start)?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.http_error(&start, resp));
        }
        let mut location = self.location(&resp)?;
        if let Some(chunk) = chunk_size.filter(|c| *c > 0) {
            let mut offset = 0u64;
            while offset < size {
                let len = chunk.min(size - offset);
                let mut buf = vec![0u8; len as usize];
                file.read_exact(&mut buf)
                    .map_err(|source| RegistryError::Local {
                        registry: self.registry.clone(),
                        what: format!("blob {digest}"),
                        source,
                    })?;
                let call = Call {
                    method: "PATCH",
                    url: location.clone(),
                    headers: vec![
                        ("Content-Type", "application/octet-stream".to_string()),
                        ("Content-Range", format!("{}-{}", offset, offset + len - 1)),
                    ],
                };
                let resp = self.send_once(
                    &call,
                    Some(ureq::SendBody::from_owned_reader(std::io::Cursor::new(buf))),
                )?;
                if resp.status() != StatusCode::ACCEPTED {
                    return Err(self.http_error(&call, resp));
                }
                location = self.location(&resp)?;
                offset += len;
            }
            let call = Call {
                method: "PUT",
                url: with_query(&location, "digest", digest),
                headers: vec![("Content-Length", "0".to_string())],
            };
            let resp = self.send_once(&call, None)?;
            return self.expect_created(&call, resp);
        }
        let call = Call {
            method: "PUT",
            url: with_query(&location, "digest", digest),
            headers: vec![
                ("Content-Type", "application/octet-stream".to_string()),
                ("Content-Length", size.to_string()),
            ],
        };
        let resp = self.send_once(&call, Some(ureq::SendBody::from_reader(file)))?;
        self.expect_created(&call, resp)
    }

    fn expect_created(&self, call: &Call, resp: Response<Body>) -> Result<(), RegistryError> {
        if resp.status() == StatusCode::CREATED || resp.status().is_success() {
            Ok(())
        } else {
            Err(self.http_error(call, resp))
        }
    }

    /// Puts a manifest under a tag (or its digest). Returns the digest.
    pub fn put_manifest(
        &self,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<BlobDigest, RegistryError> {
        let call = Call {
            method: "PUT",
            url: self.url(&format!("manifests/{reference}")),
            headers: vec![("Content-Type", media_type.to_string())],
        };
        let resp = self.send_once(
            &call,
            Some(ureq::SendBody::from_owned_reader(std::io::Cursor::new(
                bytes.to_vec(),
            ))),
        )?;
        if !resp.status().is_success() {
            return Err(self.http_error(&call, resp));
        }
        Ok(BlobDigest::of_bytes(bytes))
    }

    /// The absolute URL of a `Location` header.
    fn location(&self, resp: &Response<Body>) -> Result<String, RegistryError> {
        let loc = header(resp, "location")
            .ok_or_else(|| self.protocol("upload response without a Location"))?;
        if loc.starts_with("http://") || loc.starts_with("https://") {
            Ok(loc)
        } else if loc.starts_with('/') {
            Ok(format!("{}{loc}", self.origin))
        } else {
            Err(self.protocol(&format!("unexpected upload Location {loc:?}")))
        }
    }

    fn unauthorized(&self, detail: &str) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            detail: detail.to_string(),
        }
    }

    fn protocol(&self, what: &str) -> RegistryError {
        RegistryError::Protocol {
            registry: self.registry.clone(),
            what: what.to_string(),
        }
    }

    fn unreachable(&self, e: ureq::Error) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.registry.clone(),
            detail: e.to_string(),
        }
    }

    /// Maps an unexpected response to the error a user can act on.
    fn http_error(&self, call: &Call, resp: Response<Body>) -> RegistryError {
        let status = resp.status();
        let (codes, detail) = error_codes(resp);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return self.unauthorized(&detail);
        }
        if codes.iter().any(|c| c == "MANIFEST_UNKNOWN")
            || (status == StatusCode::NOT_FOUND && call.url.contains("/manifests/"))
        {
            let reference = call.url.rsplit('/').next().unwrap_or_default();
            return RegistryError::ManifestUnknown {
                reference: format!("{}/{}:{reference}", self.registry, self.repository)
                    .replace(":sha256:", "@sha256:"),
            };
        }
        if codes.iter().any(|c| c == "NAME_UNKNOWN") {
            return RegistryError::NameUnknown {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
            };
        }
        RegistryError::Http {
            registry: self.registry.clone(),
            method: call.method,
            url: call.url.clone(),
            status: status.as_u16(),
            detail,
        }
    }
}

fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

/// Reads a whole (small) body, refusing more than `limit` bytes.
fn read_limited(resp: &mut Response<Body>, limit: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("reading response: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!("response larger than {limit} bytes"));
    }
    Ok(out)
}

/// The distribution-spec error codes and messages of an error response.
fn error_codes(mut resp: Response<Body>) -> (Vec<String>, String) {
    let body = read_limited(&mut resp, 64 * 1024).unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(parsed) if !parsed.errors.is_empty() => {
            let codes = parsed.errors.iter().map(|e| e.code.clone()).collect();
            let detail = parsed
                .errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            (codes, detail)
        }
        _ => (
            Vec::new(),
            String::from_utf8_lossy(&body)
                .trim()
                .chars()
                .take(200)
                .collect(),
        ),
    }
}

fn error_detail(resp: Response<Body>) -> String {
    error_codes(resp).1
}
