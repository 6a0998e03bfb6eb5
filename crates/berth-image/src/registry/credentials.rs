//! Registry credentials in docker's `config.json` format, so that
//! `berth login` and `docker login` share them:
//!
//! ```json
//! { "auths": { "127.0.0.1:5000": { "auth": "<base64 of user:password>" } } }
//! ```
//!
//! Docker Hub's key is `https://index.docker.io/v1/`. Keys written by other
//! tools may carry a scheme or a path (`https://host/v1/`), so lookups
//! compare host names only. Every other field of the file (credential
//! helpers, proxies, aliases) is kept as it is when the file is rewritten.
//! Credential helpers (`credsStore`) are not run.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::auth::Credentials;
use crate::reference::DEFAULT_REGISTRY;

/// The key docker uses for Docker Hub.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Why the credentials file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("credentials file {}: {op}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("credentials file {}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("credentials file {}: {what}", path.display())]
    Invalid { path: PathBuf, what: String },
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn default_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// The key a registry is stored under.
pub fn config_key(registry: &str) -> String {
    if registry == DEFAULT_REGISTRY {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// `https://host:port/v1/` -> `host:port`; Docker Hub's aliases ->
/// `docker.io`.
fn host_of(key: &str) -> &str {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DEFAULT_REGISTRY,
        other => other,
    }
}

/// A docker `config.json`, read into memory.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl CredentialStore {
    /// Reads the file; a missing file is an empty store.
    pub fn load(path: &Path) -> Result<CredentialStore, CredentialsError> {
        let doc = match fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(CredentialsError::Invalid {
                        path: path.to_path_buf(),
                        what: "not a JSON object".into(),
                    })
                }
                Err(source) => {
                    return Err(CredentialsError::Json {
                        path: path.to_path_buf(),
                        source,
                    })
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Map::new(),
            Err(source) => {
                return Err(CredentialsError::Io {
                    op: "read",
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Ok(CredentialStore {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// The credentials for a registry (`docker.io`, `127.0.0.1:5000`).
    pub fn get(&self, registry: &str) -> Result<Option<Credentials>, CredentialsError> {
        let Some(auths) = self.doc.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let wanted = host_of(registry);
        for (key, entry) in auths {
            if host_of(key) != wanted {
                continue;
            }
            let Some(encoded) = entry.get("auth").and_then(Value::as_str) else {
                continue;
            };
            return self.decode(key, encoded).map(Some);
        }
        Ok(None)
    }

    fn decode(&self, key: &str, encoded: &str) -> Result<Credentials, CredentialsError> {
        let invalid = |what: &str| CredentialsError::Invalid {
            path: self.path.clone(),
            what: format!("auths[{key:?}].auth: {what}"),
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| invalid("not base64"))?;
        let text = String::from_utf8(raw).map_err(|_| invalid("not UTF-8"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| invalid("not user:password"))?;
        Ok(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        })
    }

    /// Stores credentials for a registry and writes the file.
    pub fn store(&mut self, registry: &str, creds: &Credentials) -> Result<(), CredentialsError> {
        self.remove_entries(registry);
        let raw = format!("{}:{}", creds.username, creds.password);
        let entry = serde_json::json!({
            "auth": base64::engine::general_purpose::STANDARD.encode(raw)
        });
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        if let Some(map) = auths.as_object_mut() {
            map.insert(config_key(registry), entry);
        }
        self.save()
    }

    /// Removes a registry's credentials and writes the file. Returns
    /// whether there were any.
    pub fn erase(&mut self, registry: &str) -> Result<bool, CredentialsError> {
        let removed = self.remove_entries(registry);
        if removed {
            self.save()?;
        }
        Ok(removed)
    }

    fn remove_entries(&mut self, registry: &str) -> bool {
        let Some(auths) = self.doc.get_mut("auths").and_then(Value::as_object_mut) else {
            return false;
        };
        let wanted = host_of(registry).to_string();
        let before = auths.len();
        auths.retain(|key, _| host_of(key) != wanted);
        auths.len() != before
    }

    /// Writes the file atomically (a private temporary file, fsync, rename),
    /// mode 0600: it holds passwords.
    fn save(&self) -> Result<(), CredentialsError> {
        let io = |op: &'static str| {
            let path = self.path.clone();
            move |source| CredentialsError::Io { op, path, source }
        };
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(io("create directory"))?;
        }
        let tmp = self
            .path
            .with_extension(format!("json.tmp-{}", std::process::id()));
        let bytes =
            serde_json::to_vec_pretty(&self.doc).map_err(|source| CredentialsError::Json {
                path: self.path.clone(),
                source,
            })?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create"))?;
        let written = file
            .write_all(&bytes)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .and_then(|()| fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io("write")(e));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn store_get_erase_roundtrip_keeps_other_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"auths":{"https://other:5000/v1/":{"auth":"YTpi"}},"psFormat":"table"}"#,
        )
        .unwrap();
        let mut store = CredentialStore::load(&path).unwrap();
        assert_eq!(store.get("other:5000").unwrap(), Some(creds("a", "b")));
        store.store("127.0.0.1:5000", &creds("u", "p:w")).unwrap();
        store.store("docker.io", &creds("hub", "x")).unwrap();

        let again = CredentialStore::load(&path).unwrap();
        assert_eq!(
            again.get("127.0.0.1:5000").unwrap(),
            Some(creds("u", "p:w"))
        );
        assert_eq!(again.get("docker.io").unwrap(), Some(creds("hub", "x")));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(DOCKER_HUB_KEY) && text.contains("psFormat"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let mut again = again;
        assert!(again.erase("127.0.0.1:5000").unwrap());
        assert!(!again.erase("127.0.0.1:5000").unwrap());
        assert_eq!(
            CredentialStore::load(&path)
                .unwrap()
                .get("127.0.0.1:5000")
                .unwrap(),
            None
        );
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert!(CredentialStore::load(&path)
            .unwrap()
            .get("x")
            .unwrap()
            .is_none());
        fs::write(&path, "{nope").unwrap();
        assert!(matches!(
            CredentialStore::load(&path),
            Err(CredentialsError::Json { .. })
        ));
        fs::write(&path, r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap();
        let err = CredentialStore::load(&path).unwrap().get("h").unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
    }
}
