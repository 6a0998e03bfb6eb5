//! The process's environment and executable, computed inside the
//! container (after pivot_root) so PATH lookups see the container's files.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The spec's env plus HOME (from the container's passwd) when missing.
pub fn build_env(env: &[String], uid: u32) -> Vec<String> {
    let mut env = env.to_vec();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let home = crate::user::home_of(uid, &crate::user::parse_passwd(&passwd));
        env.push(format!("HOME={home}"));
    }
    env
}

/// Finds `program` as execve would with PATH from `env`.
pub fn find_executable(program: &str, env: &[String]) -> Result<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(not_found(
                program,
                "no such file or directory, or not executable",
            ))
        };
    }
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path_var
        .split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| not_found(program, "executable file not found in $PATH"))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn not_found(program: &str, why: &str) -> Error {
    Error::InitFailed(format!("exec: {program:?}: {why}"))
}

/// Converts strings to C strings, refusing interior NUL bytes.
pub fn to_cstrings(items: &[String], what: &str) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| Error::InvalidSpec(format!("{what} {s:?} contains a NUL byte")))
        })
        .collect()
}

pub fn path_cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidSpec(format!("path {} contains a NUL byte", path.display())))
}

/// chdir into the process cwd and make sure it is inside the container's
/// root: a cwd reached through a leaked host descriptor shows up as an
/// unreachable path (CVE-2024-21626).
pub fn enter_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd)
        .map_err(|e| Error::sys(format!("chdir to cwd {}", cwd.display()), e))?;
    match nix::unistd::getcwd() {
        Ok(actual) if actual.is_absolute() => Ok(()),
        _ => Err(Error::InitFailed(format!(
            "cwd {} is outside the container root",
            cwd.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lookup_uses_env_path() {
        let env = vec!["PATH=/nonexistent:/bin".to_string()];
        assert_eq!(
            find_executable("sh", &env).unwrap(),
            PathBuf::from("/bin/sh")
        );
        assert!(find_executable("definitely-not-here", &env)
            .unwrap_err()
            .to_string()
            .contains("not found in $PATH"));
    }
}
