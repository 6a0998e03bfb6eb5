//! Starting a container's shim and talking to it (see the berth-shim
//! crate for the protocol). The shim is a separate program started with
//! fork+exec (`std::process::Command`); the daemon itself never forks to
//! run container code.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

    /// Whether a shim answers on the socket (is still running).
    pub fn served(&self) -> bool {
        std::os::unix::net::UnixStream::connect(&self.socket).is_ok()
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
    prestart(launch).go().await
}

/// A shim started ahead of its bundle (`--await-go`): it execs and starts
/// up while berthd mounts the filesystem and writes the bundle, then waits
/// for [`Prestarted::go`]. Dropped without it, the shim exits (it reads
/// EOF) and is reaped.
///
/// A thread of the blocking pool spawns it and sees it through: spawning
/// blocks until the child has exec'd, which berthd need not wait for.
pub struct Prestarted {
    /// Tells the thread to let the shim go on; dropped, to cancel it.
    go: Option<std::sync::mpsc::Sender<()>>,
    /// The thread: the ready line, or the shim's stderr.
    task: Option<tokio::task::JoinHandle<std::io::Result<ReadyLine>>>,
    shim: String,
}

/// Starts a shim that waits for [`Prestarted::go`] before doing anything.
pub fn prestart(launch: Launch<'_>) -> Prestarted {
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
        .arg("--await-go")
        .args(&launch.extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if launch.tty {
        cmd.arg("--tty");
    }
    if launch.stdin {
        cmd.arg("--stdin");
    }
    let (go, given) = std::sync::mpsc::channel();
    let task = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn()?;
        if given.recv().is_err() {
            // Cancelled: EOF on its stdin, and the shim exits at once.
            drop(child.stdin.take());
            child.wait()?;
            return Err(std::io::Error::other("cancelled"));
        }
        read_ready_line(child)
    });
    Prestarted {
        go: Some(go),
        task: Some(task),
        shim: launch.shim.path.display().to_string(),
    }
}

impl Prestarted {
    /// Lets the shim go on (the bundle is ready) and waits for its ready
    /// line.
    pub async fn go(mut self) -> Result<Ready, ApiError> {
        let shim = std::mem::take(&mut self.shim);
        let failed =
            |e: &dyn std::fmt::Display| ApiError::internal(format!("starting {shim}: {e}"));
        if let Some(go) = self.go.take() {
            // A thread that ended already (the spawn failed) says why below.
            let _ = go.send(());
        }
        let task = self
            .task
            .take()
            .ok_or_else(|| failed(&"the shim was already started"))?;
        let (line, stderr) = task
            .await
            .map_err(|e| failed(&e))?
            .map_err(|e| failed(&e))?;
        let Some(line) = line else {
            return Err(ApiError::internal(format!(
                "the shim exited without reporting: {}",
                stderr.trim()
            )));
        };
        let line = line.as_str();
        let ready: Ready = serde_json::from_str(line).map_err(|e| {
            ApiError::internal(format!("bad ready line from the shim ({e}): {line}"))
        })?;
        if let Some(error) = &ready.error {
            return Err(ApiError::internal(error.clone()));
        }
        Ok(ready)
    }
}

/// The shim's ready line if it printed one, and its stderr if not.
type ReadyLine = (Option<String>, String);

/// Sends the go line, reads the ready line, and reaps the process we
/// started (it exits as soon as it has forked). Returns the line, or the
/// shim's stderr when there is none.
fn read_ready_line(mut child: Child) -> std::io::Result<ReadyLine> {
    use std::io::{BufRead, Read, Write};
    if let Some(mut stdin) = child.stdin.take() {
        // A shim that died already shows as a missing ready line below.
        let _ = stdin.write_all(b"go\n");
    }
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
    let mut stream = connect(socket).await?;
    send_request(&mut stream, request).await?;
    let reply = read_reply(&mut stream).await?;
    Ok((stream, reply))
}

async fn connect(socket: &Path) -> Result<UnixStream, ApiError> {
    UnixStream::connect(socket).await.map_err(|e| {
        ApiError::internal(format!(
            "connecting to the shim at {}: {e}",
            socket.display()
        ))
    })
}

async fn send_request(stream: &mut UnixStream, request: &Request) -> Result<(), ApiError> {
    let mut line = serde_json::to_vec(request).map_err(|e| ApiError::internal(e.to_string()))?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .await
        .map_err(|e| ApiError::internal(format!("talking to the shim: {e}")))
}

/// Reads the reply line. What follows it (attach output) must stay in the
/// stream, so the line is found by peeking and only it is consumed: one
/// or two reads rather than one per byte.
async fn read_reply(stream: &mut UnixStream) -> Result<Reply, ApiError> {
    let failed = |e: std::io::Error| ApiError::internal(format!("reading from the shim: {e}"));
    let mut line = Vec::new();
    let mut peeked = [0u8; 4096];
    loop {
        stream.readable().await.map_err(failed)?;
        let n = match stream.try_io(tokio::io::Interest::READABLE, || {
            let fd = stream.as_raw_fd();
            nix::sys::socket::recv(fd, &mut peeked, nix::sys::socket::MsgFlags::MSG_PEEK)
                .map_err(std::io::Error::from)
        }) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(failed(e)),
        };
        if n == 0 {
            break;
        }
        // Take the line and its newline, or all there is so far.
        let end = peeked[..n].iter().position(|&b| b == b'\n');
        let take = end.map_or(n, |i| i + 1);
        let start = line.len();
        line.resize(start + take, 0);
        stream
            .read_exact(&mut line[start..])
            .await
            .map_err(failed)?;
        if end.is_some() {
            line.pop();
            break;
        }
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

/// Waits for the exit and the shim's cleanup after it. An error means the
/// shim is gone (see [`ShimPaths::exit_record`]).
pub async fn wait(socket: &Path) -> Result<ExitRecord, ApiError> {
    let (exit, stream) = wait_exit(register_wait(socket).await?).await?;
    closed(stream).await;
    Ok(exit)
}

/// Asks the shim for the exit, to be read with [`wait_exit`]. Registered
/// before the start, the wait learns of a short-lived process's exit the
/// moment the shim does, rather than once the shim is gone.
pub async fn register_wait(socket: &Path) -> Result<UnixStream, ApiError> {
    let mut stream = connect(socket).await?;
    send_request(&mut stream, &Request::Wait).await?;
    Ok(stream)
}

/// The exit reported on a registered wait, and the connection, which the
/// shim closes once it has deleted the container from the runtime (its
/// cgroups and state) after answering: see [`closed`].
pub async fn wait_exit(mut stream: UnixStream) -> Result<(ExitRecord, UnixStream), ApiError> {
    let reply = checked(read_reply(&mut stream).await?)?;
    let exit = reply
        .exit
        .ok_or_else(|| ApiError::internal("the shim's wait reply has no exit status"))?;
    Ok((exit, stream))
}

/// Returns once the shim has closed a wait's connection: it is done with
/// the container (or gone).
pub async fn closed(mut stream: UnixStream) {
    let mut rest = [0u8; 256];
    // Nothing follows the reply; an error is the shim gone, as EOF.
    while let Ok(n) = stream.read(&mut rest).await {
        if n == 0 {
            break;
        }
    }
}
