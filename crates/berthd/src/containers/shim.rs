//! Starting a container's shim and talking to it (see the berth-shim
//! crate for the protocol). The shim is a separate program started with
//! fork+exec (`std::process::Command`); the daemon itself never forks to
//! run container code.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_runtime::process::exe_guard;
use berth_shim::protocol::{ExitRecord, Ready, Reply, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::http::ApiError;

/// Where one shim lives.
#[derive(Debug, Clone)]
pub struct ShimPaths {
    /// Its socket.
    pub socket: PathBuf,
    /// Its directory (exit.json, shim.log).
    pub dir: PathBuf,
}

impl ShimPaths {
    /// The paths for a container (or exec) id under the exec root: short
    /// names, because socket paths are limited to 108 bytes.
    pub fn new(exec_root: &Path, id: &str) -> ShimPaths {
        let short = &id[..12.min(id.len())];
        ShimPaths {
            socket: exec_root.join(format!("{short}.sock")),
            dir: exec_root.join(short),
        }
    }

    /// The exit record the shim left, if any.
    pub fn exit_record(&self) -> Option<ExitRecord> {
        let bytes = std::fs::read(self.dir.join("exit.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Removes the shim's files.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The shim program, and a read-only view of it to execute (see
/// [`exe_guard::protected_view`]): made once, it spares every shim the
/// re-execution that protects its binary against CVE-2019-5736.
pub struct ShimProgram {
    pub path: PathBuf,
    view: Option<OwnedFd>,
}

impl ShimProgram {
    /// Without a view (an old kernel and no memfd), shims protect
    /// themselves by re-executing, as when run by hand.
    pub fn new(path: PathBuf) -> ShimProgram {
        let view = exe_guard::protected_view(&path).ok();
        ShimProgram { path, view }
    }

    fn command(&self) -> Command {
        match &self.view {
            // ELF programs run from a close-on-exec descriptor, as with
            // fexecve(3): the kernel opens the file before closing it.
            Some(fd) => {
                let mut cmd = Command::new(format!("/proc/self/fd/{}", fd.as_raw_fd()));
                cmd.arg0(&self.path);
                cmd
            }
            None => Command::new(&self.path),
        }
    }
}

/// How to start a shim.
pub struct Launch<'a> {
    pub shim: &'a ShimProgram,
    pub mode: &'a str,
    pub id: &'a str,
    pub runtime_root: &'a Path,
    pub paths: &'a ShimPaths,
    pub tty: bool,
    pub stdin: bool,
    /// Extra arguments of the mode (`--bundle`, `--log`, `--process`).
    pub extra: Vec<String>,
}

/// Starts a shim and waits for its ready line. The shim forks and the
/// process we started exits at once; we reap it here.
pub async fn launch(launch: Launch<'_>) -> Result<Ready, ApiError> {
    let _ = std::fs::remove_dir_all(&launch.paths.dir);
    let mut cmd = launch.shim.command();
    cmd.arg(launch.mode)
        .arg("--id")
        .arg(launch.id)
        .arg("--runtime-root")
        .arg(launch.runtime_root)
        .arg("--socket")
        .arg(&launch.paths.socket)
        .arg("--dir")
        .arg(&launch.paths.dir)
        .arg("--seccomp-cache")
        .arg(launch.runtime_root.join("seccomp-cache"))
        .args(&launch.extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if launch.tty {
        cmd.arg("--tty");
    }
    if launch.stdin {
        cmd.arg("--stdin");
    }
    let shim = launch.shim.path.display().to_string();
    // Only the first line: the container's process keeps a copy of the
    // pipe until it execs (at start), so waiting for EOF would deadlock.
    let (line, stderr) = tokio::task::spawn_blocking(move || read_ready_line(cmd))
        .await
        .map_err(|e| ApiError::internal(format!("starting {shim}: {e}")))?
        .map_err(|e| ApiError::internal(format!("starting {shim}: {e}")))?;
    let Some(line) = line else {
        return Err(ApiError::internal(format!(
            "the shim exited without reporting: {}",
            stderr.trim()
        )));
    };
    let line = line.as_str();
    let ready: Ready = serde_json::from_str(line)
        .map_err(|e| ApiError::internal(format!("bad ready line from the shim ({e}): {line}")))?;
    if let Some(error) = &ready.error {
        return Err(ApiError::internal(error.clone()));
    }
    Ok(ready)
}

/// Runs the shim and reads its ready line; reaps the process we started
/// (it exits as soon as it has forked). Returns the line, or the shim's
/// stderr when there is none.
fn read_ready_line(mut cmd: Command) -> std::io::Result<(Option<String>, String)> {
    use std::io::{BufRead, Read};
    let mut child = cmd.spawn()?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        std::io::BufReader::new(stdout).read_line(&mut line)?;
    }
    let mut stderr = String::new();
    if line.is_empty() {
        if let Some(mut err) = child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
    }
    drop(child.stderr.take());
    child.wait()?;
    Ok((
        (!line.trim().is_empty()).then(|| line.trim().to_string()),
        stderr,
    ))
}

/// Connects and sends a request; returns the connection and the reply.
async fn request(socket: &Path, request: &Request) -> Result<(UnixStream, Reply), ApiError> {
    let mut stream = UnixStream::connect(socket).await.map_err(|e| {
        ApiError::internal(format!(
            "connecting to the shim at {}: {e}",
            socket.display()
        ))
    })?;
    let mut line = serde_json::to_vec(request).map_err(|e| ApiError::internal(e.to_string()))?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .await
        .map_err(|e| ApiError::internal(format!("talking to the shim: {e}")))?;
    let reply = read_reply(&mut stream).await?;
    Ok((stream, reply))
}

/// Reads the reply line byte by byte: what follows it (attach output)
/// must stay in the stream.
async fn read_reply(stream: &mut UnixStream) -> Result<Reply, ApiError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let n = stream
            .read(&mut byte)
            .await
            .map_err(|e| ApiError::internal(format!("reading from the shim: {e}")))?;
        if n == 0 || byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
        if line.len() > 64 * 1024 {
            return Err(ApiError::internal("the shim's reply is too long"));
        }
    }
    serde_json::from_slice(&line)
        .map_err(|e| ApiError::internal(format!("bad reply from the shim: {e}")))
}

fn checked(reply: Reply) -> Result<Reply, ApiError> {
    if reply.ok {
        Ok(reply)
    } else {
        Err(ApiError::internal(
            reply.error.unwrap_or_else(|| "the shim refused".into()),
        ))
    }
}

/// Starts the process.
pub async fn start(socket: &Path) -> Result<Reply, ApiError> {
    checked(request(socket, &Request::Start).await?.1)
}

/// Opens an attach stream.
pub async fn attach(
    socket: &Path,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> Result<UnixStream, ApiError> {
    let (stream, reply) = request(
        socket,
        &Request::Attach {
            stdin,
            stdout,
            stderr,
        },
    )
    .await?;
    checked(reply)?;
    Ok(stream)
}

/// Resizes the terminal.
pub async fn resize(socket: &Path, height: u16, width: u16) -> Result<(), ApiError> {
    checked(request(socket, &Request::Resize { height, width }).await?.1).map(|_| ())
}

/// Waits for the exit. An error means the shim is gone (see
/// [`ShimPaths::exit_record`]).
pub async fn wait(socket: &Path) -> Result<ExitRecord, ApiError> {
    let reply = checked(request(socket, &Request::Wait).await?.1)?;
    reply
        .exit
        .ok_or_else(|| ApiError::internal("the shim's wait reply has no exit status"))
}
