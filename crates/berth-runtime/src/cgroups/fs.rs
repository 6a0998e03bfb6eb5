//! Small file helpers over cgroupfs that attach the path (and the value) to
//! every error.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use super::error::{CgroupError, Result};

/// How often `mkdir -p` is retried when a concurrent `destroy` removes an
/// empty shared parent between our mkdirs.
const MKDIR_ATTEMPTS: usize = 5;
/// How long `rmdir` keeps retrying EBUSY while exiting processes (zombies
/// still charged to the cgroup) leave.
const RMDIR_ATTEMPTS: usize = 100;
const RMDIR_PAUSE: Duration = Duration::from_millis(10);

/// A cgroup directory in one hierarchy.
#[derive(Clone, Copy, Debug)]
pub struct Dir<'a>(pub &'a Path);

impl Dir<'_> {
    /// The path of control file `name` in this directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Whether control file `name` exists (features vary by kernel).
    pub fn has(&self, name: &str) -> bool {
        self.file(name).exists()
    }

    /// Reads control file `name`, trimmed.
    pub fn read(&self, name: &str) -> Result<String> {
        read_trimmed(&self.file(name))
    }

    /// Writes `value` to control file `name`.
    pub fn write(&self, name: &str, value: &str) -> Result<()> {
        let path = self.file(name);
        write_raw(&path, value.as_bytes()).map_err(|source| CgroupError::Write {
            path,
            value: value.to_owned(),
            source,
        })
    }

    /// Writes `value` to `name`, returning the raw I/O error so the caller
    /// can react to a particular errno (and wrap it with `write_error`).
    pub fn try_write(&self, name: &str, value: &str) -> std::io::Result<()> {
        write_raw(&self.file(name), value.as_bytes())
    }

    /// Builds the error for a failed write of `value` to `name`.
    pub fn write_error(&self, name: &str, value: &str, source: std::io::Error) -> CgroupError {
        CgroupError::Write {
            path: self.file(name),
            value: value.to_owned(),
            source,
        }
    }

    /// Reads `key value` lines of `name` and returns the value of `key`.
    pub fn keyed(&self, name: &str, key: &str) -> Result<Option<u64>> {
        let path = self.file(name);
        let text = read_trimmed(&path)?;
        keyed_value(&text, key).map_err(|reason| CgroupError::Parse {
            path,
            content: text.clone(),
            reason,
        })
    }

    /// Reads a single number from `name`; `max` reads as `u64::MAX`.
    pub fn number(&self, name: &str) -> Result<u64> {
        let path = self.file(name);
        let text = read_trimmed(&path)?;
        parse_number(&text).ok_or(CgroupError::Parse {
            path,
            content: text,
            reason: "expected a number or \"max\"",
        })
    }

    /// Like `number`, but `None` when the file does not exist.
    pub fn optional_number(&self, name: &str) -> Result<Option<u64>> {
        if !self.has(name) {
            return Ok(None);
        }
        self.number(name).map(Some)
    }
}

/// Reads a whole file, trimmed.
pub fn read_trimmed(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| CgroupError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// One `write(2)` of the whole value: cgroupfs treats each write as one
/// command. No O_CREAT: a missing control file is an error, never a new
/// regular file. O_TRUNC keeps fake trees in tests readable; cgroupfs
/// ignores it.
pub fn write_raw(path: &Path, value: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    let written = file.write(value)?;
    if written != value.len() {
        return Err(std::io::Error::new(
            ErrorKind::WriteZero,
            format!("short write: {written} of {} bytes", value.len()),
        ));
    }
    Ok(())
}

/// `mkdir -p`, retried when a concurrent removal of an empty shared parent
/// (another container's `destroy`) makes a step fail with ENOENT.
pub fn mkdir_all(path: &Path) -> Result<()> {
    let mut attempt = 0;
    loop {
        match std::fs::create_dir_all(path) {
            Ok(()) => return Ok(()),
            // NotFound: another container's destroy removed a shared
            // parent between our mkdirs. AlreadyExists (that is not a
            // directory a moment later): the same race seen from the
            // kernel's side while that parent is being torn down. Both
            // are transient: try again.
            Err(e)
                if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::AlreadyExists)
                    && attempt + 1 < MKDIR_ATTEMPTS =>
            {
                attempt += 1;
            }
            Err(source) => {
                return Err(CgroupError::Mkdir {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Removes a cgroup directory and the cgroups nested in it (a container may
/// create its own), retrying EBUSY briefly. A missing directory is fine.
pub fn remove_tree(path: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| CgroupError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    rmdir_retrying(path)
}

/// `rmdir`, retrying EBUSY while the last processes finish exiting.
fn rmdir_retrying(path: &Path) -> Result<()> {
    let mut attempt = 0;
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if is_busy(&e) && attempt + 1 < RMDIR_ATTEMPTS => {
                attempt += 1;
                sleep(RMDIR_PAUSE);
            }
            Err(source) => {
                return Err(CgroupError::Rmdir {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Removes the empty parents of `dir` strictly below `root`, bottom up.
/// Stops quietly at the first one still in use by other containers.
pub fn remove_empty_parents(root: &Path, dir: &Path) -> Result<()> {
    let mut current = dir.parent();
    while let Some(parent) = current {
        if parent == root || !parent.starts_with(root) {
            break;
        }
        match std::fs::remove_dir(parent) {
            // Someone else removed it already: its parent may be empty now.
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) if is_busy(&e) || e.raw_os_error() == Some(libc::ENOTEMPTY) => break,
            Err(source) => {
                return Err(CgroupError::Rmdir {
                    path: parent.to_path_buf(),
                    source,
                })
            }
        }
        current = parent.parent();
    }
    Ok(())
}

fn is_busy(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EBUSY)
}

/// Parses a number, `max` meaning unlimited (`u64::MAX`).
pub fn parse_number(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => Some(u64::MAX),
        t => t.parse().ok(),
    }
}

/// Finds `key` in `key value` lines (memory.events, cpu.stat,
/// memory.oom_control…).
pub fn keyed_value(text: &str, key: &str) -> std::result::Result<Option<u64>, &'static str> {
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        if fields.next() == Some(key) {
            let value = fields.next().ok_or("key without a value")?;
            return parse_number(value).map(Some).ok_or("value is not a number");
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_values() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_value(text, "oom_kill"), Ok(Some(3)));
        assert_eq!(keyed_value(text, "oom"), Ok(None));
        assert!(keyed_value("oom_kill x", "oom_kill").is_err());
        assert_eq!(keyed_value("frozen max", "frozen"), Ok(Some(u64::MAX)));
    }

    #[test]
    fn write_errors_name_file_and_value() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Dir(tmp.path()).write("pids.max", "10").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("pids.max") && text.contains("\"10\""),
            "{text}"
        );
    }

    #[test]
    fn remove_tree_and_parents() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let dir = root.join("a/b/c");
        mkdir_all(&dir.join("nested/deeper")).unwrap();
        std::fs::create_dir_all(root.join("a/other")).unwrap();
        remove_tree(&dir).unwrap();
        remove_empty_parents(root, &dir).unwrap();
        assert!(!root.join("a/b").exists());
        // a/ still holds another container's dir.
        assert!(root.join("a/other").exists());
        // Already gone is fine.
        remove_tree(&dir).unwrap();
        remove_empty_parents(root, &dir).unwrap();
    }
}
