//! Daemon addresses in docker's `-H` forms: `unix:///run/x.sock`, a bare
//! absolute path, `tcp://127.0.0.1:2375`.

use std::path::PathBuf;

use crate::error::Error;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    /// `host:port`, plain HTTP (no TLS).
    Tcp(String),
}

impl Host {
    /// Parses `unix://PATH`, `PATH` (absolute or relative) or
    /// `tcp://HOST:PORT` (also `http://`).
    pub fn parse(input: &str) -> Result<Host, Error> {
        let invalid = |reason| Error::InvalidHost {
            host: input.to_string(),
            reason,
        };
        if let Some(path) = input.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(invalid("empty socket path"));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        let tcp = input
            .strip_prefix("tcp://")
            .or_else(|| input.strip_prefix("http://"));
        if let Some(addr) = tcp {
            let addr = addr.trim_end_matches('/');
            if !addr.contains(':') {
                return Err(invalid("tcp address needs a port"));
            }
            return Ok(Host::Tcp(addr.to_string()));
        }
        if input.contains("://") {
            return Err(invalid("unsupported scheme (use unix:// or tcp://)"));
        }
        if input.is_empty() {
            return Err(invalid("empty host"));
        }
        Ok(Host::Unix(PathBuf::from(input)))
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_forms() {
        assert_eq!(
            Host::parse("unix:///run/berth/berth.sock").unwrap(),
            Host::Unix("/run/berth/berth.sock".into())
        );
        assert_eq!(
            Host::parse("/tmp/d.sock").unwrap(),
            Host::Unix("/tmp/d.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375").unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert!(Host::parse("ssh://x").is_err());
        assert!(Host::parse("unix://").is_err());
        assert!(Host::parse("tcp://nohost").is_err());
    }
}
