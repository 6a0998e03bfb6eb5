//! The shim's event loop: one `poll` over the socket berthd connects to,
//! the attached clients, the process's output, and a signalfd for
//! SIGCHLD. Single-threaded by design (the runtime forks from here).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::json_log::{JsonLog, Stream};
use crate::protocol::{frame_header, ExitRecord, Reply, Request, STDERR, STDOUT};
use crate::stdio::ProcessIo;

/// How long a client may take to send its request line, or to take
/// output before it is dropped (a stuck client must not stall the
/// container's output forever).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// What starts the process (a container's start, or an exec) and reports
/// how it ended.
pub trait Process {
    /// Starts the process; returns its pid and, for an exec, its stdio
    /// (which only exists from now on).
    fn start(&mut self) -> Result<(i32, Option<ProcessIo>)>;
    /// The pid, if started.
    fn pid(&self) -> Option<i32>;
    /// Whether the cgroup saw an OOM kill (asked after the exit).
    fn oom_killed(&self) -> bool;
    /// Cleanup after the exit (deletes the runtime container).
    fn cleanup(&mut self);
}

impl<T: Process + ?Sized> Process for Box<T> {
    fn start(&mut self) -> Result<(i32, Option<ProcessIo>)> {
        (**self).start()
    }
    fn pid(&self) -> Option<i32> {
        (**self).pid()
    }
    fn oom_killed(&self) -> bool {
        (**self).oom_killed()
    }
    fn cleanup(&mut self) {
        (**self).cleanup()
    }
}

struct Client {
    stream: UnixStream,
    stdout: bool,
    stderr: bool,
    /// Reading stdin from this client (until its EOF).
    stdin: bool,
}

/// The state of a shim serving one process.
pub struct Shim<P: Process> {
    pub process: P,
    pub io: Option<ProcessIo>,
    pub tty: bool,
    pub listener: UnixListener,
    pub log: Option<JsonLog>,
    pub exit_file: PathBuf,
    clients: Vec<Client>,
    waiters: Vec<UnixStream>,
    exit: Option<ExitRecord>,
    started: bool,
    signals: SignalFd,
}

/// What became ready in one poll round.
#[derive(Default)]
struct Ready {
    listener: bool,
    signal: bool,
    outputs: Vec<usize>,
    clients: Vec<usize>,
}

impl<P: Process> Shim<P> {
    /// A shim around `process`. SIGCHLD must be blocked already (see
    /// [`block_sigchld`]).
    pub fn new(
        process: P,
        io: Option<ProcessIo>,
        tty: bool,
        listener: UnixListener,
        log: Option<JsonLog>,
        exit_file: PathBuf,
    ) -> Result<Shim<P>> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .context("creating the signalfd")?;
        Ok(Shim {
            process,
            io,
            tty,
            listener,
            log,
            exit_file,
            clients: Vec::new(),
            waiters: Vec::new(),
            exit: None,
            started: false,
            signals,
        })
    }

    /// Serves until the process has exited and its output is drained.
    pub fn run(mut self) -> Result<ExitRecord> {
        loop {
            if let Some(exit) = self.exit.clone() {
                if self.outputs().is_empty() {
                    return Ok(self.finish(exit));
                }
            }
            let ready = self.poll_once()?;
            if ready.signal {
                self.reap();
            }
            for i in ready.outputs.iter().rev() {
                self.pump_output(*i);
            }
            for i in ready.clients.iter().rev() {
                self.pump_stdin(*i);
            }
            if ready.listener {
                self.accept();
            }
        }
    }

    /// The open output fds with their stream ids.
    fn outputs(&self) -> Vec<(BorrowedFd<'_>, u8)> {
        match &self.io {
            Some(ProcessIo::Pipes { stdout, stderr, .. }) => {
                let mut v = Vec::new();
                if let Some(f) = stdout {
                    v.push((f.as_fd(), STDOUT));
                }
                if let Some(f) = stderr {
                    v.push((f.as_fd(), STDERR));
                }
                v
            }
            Some(ProcessIo::Tty { master: Some(m) }) => vec![(m.as_fd(), STDOUT)],
            _ => Vec::new(),
        }
    }

    fn poll_once(&self) -> Result<Ready> {
        let outputs = self.outputs();
        let readers: Vec<usize> = (0..self.clients.len())
            .filter(|i| self.clients[*i].stdin)
            .collect();
        let mut fds = vec![
            PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
        ];
        fds.extend(
            outputs
                .iter()
                .map(|(fd, _)| PollFd::new(*fd, PollFlags::POLLIN)),
        );
        fds.extend(
            readers
                .iter()
                .map(|i| PollFd::new(self.clients[*i].stream.as_fd(), PollFlags::POLLIN)),
        );
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("poll"),
        }
        let hit = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        let mut ready = Ready {
            listener: hit(&fds[0]),
            signal: hit(&fds[1]),
            ..Ready::default()
        };
        for (k, f) in fds[2..2 + outputs.len()].iter().enumerate() {
            if hit(f) {
                ready.outputs.push(k);
            }
        }
        for (k, f) in fds[2 + outputs.len()..].iter().enumerate() {
            if hit(f) {
                ready.clients.push(readers[k]);
            }
        }
        Ok(ready)
    }

    /// Reaps children; records the exit of ours. Others (orphans we
    /// inherit as subreaper) are just reaped.
    fn reap(&mut self) {
        while let Ok(Some(_)) = self.signals.read_signal() {}
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s,
            };
            let (pid, code) = match status {
                WaitStatus::Exited(pid, code) => (pid, code),
                WaitStatus::Signaled(pid, sig, _) => (pid, 128 + sig as i32),
                _ => continue,
            };
            if Some(pid.as_raw()) == self.process.pid() && self.exit.is_none() {
                self.exit = Some(ExitRecord {
                    exit_code: code,
                    oom_killed: self.process.oom_killed(),
                    finished_at: now_rfc3339(),
                });
            }
        }
    }

    /// Reads one chunk of output and hands it to the log and the clients;
    /// closes the output at EOF (or EIO: the pty's last slave closed).
    fn pump_output(&mut self, index: usize) {
        let mut buf = [0u8; 32 * 1024];
        let (n, stream) = {
            let Some((file, stream)) = self.output_file(index) else {
                return;
            };
            (file.read(&mut buf), stream)
        };
        match n {
            Ok(0) | Err(_) => self.close_output(stream),
            Ok(n) => self.deliver(stream, &buf[..n]),
        }
    }

    fn output_file(&mut self, index: usize) -> Option<(&mut File, u8)> {
        match self.io.as_mut()? {
            ProcessIo::Pipes { stdout, stderr, .. } => {
                let mut open: Vec<(&mut File, u8)> = Vec::new();
                if let Some(f) = stdout.as_mut() {
                    open.push((f, STDOUT));
                }
                if let Some(f) = stderr.as_mut() {
                    open.push((f, STDERR));
                }
                open.into_iter().nth(index)
            }
            ProcessIo::Tty { master } => master.as_mut().map(|m| (m, STDOUT)),
        }
    }

    fn close_output(&mut self, stream: u8) {
        match self.io.as_mut() {
            Some(ProcessIo::Pipes { stdout, stderr, .. }) => {
                if stream == STDOUT {
                    *stdout = None;
                } else {
                    *stderr = None;
                }
            }
            Some(ProcessIo::Tty { master }) => *master = None,
            None => {}
        }
    }

    fn deliver(&mut self, stream: u8, data: &[u8]) {
        if let Some(log) = self.log.as_mut() {
            let s = if stream == STDERR {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            let _ = log.write(s, data);
        }
        let tty = self.tty;
        self.clients.retain_mut(|c| {
            let wanted = if stream == STDERR { c.stderr } else { c.stdout };
            if !wanted {
                return true;
            }
            let sent = if tty {
                c.stream.write_all(data)
            } else {
                c.stream
                    .write_all(&frame_header(stream, data.len()))
                    .and_then(|()| c.stream.write_all(data))
            };
            sent.is_ok()
        });
    }

    /// Copies what an attached client sent to the process's stdin; its EOF
    /// closes the process's stdin (Docker's StdinOnce).
    fn pump_stdin(&mut self, index: usize) {
        let mut buf = [0u8; 32 * 1024];
        let n = self.clients[index].stream.read(&mut buf);
        match n {
            Ok(0) | Err(_) => {
                self.clients[index].stdin = false;
                if let Some(ProcessIo::Pipes { stdin, .. }) = self.io.as_mut() {
                    *stdin = None;
                }
            }
            Ok(n) => {
                let target = match self.io.as_mut() {
                    Some(ProcessIo::Pipes { stdin: Some(f), .. }) => Some(f),
                    Some(ProcessIo::Tty { master: Some(m) }) => Some(m),
                    _ => None,
                };
                if let Some(target) = target {
                    let _ = target.write_all(&buf[..n]);
                }
            }
        }
    }

    /// Takes one connection and its request.
    fn accept(&mut self) {
        let Ok((stream, _)) = self.listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
        let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
        let mut line = String::new();
        let mut reader = BufReader::new(&stream);
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let request: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                let _ = send_reply(&stream, &Reply::error(format!("bad request: {e}")));
                return;
            }
        };
        self.handle(stream, request);
    }

    fn handle(&mut self, stream: UnixStream, request: Request) {
        match request {
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                if send_reply(&stream, &Reply::ok()).is_ok() {
                    let _ = stream.set_read_timeout(None);
                    self.clients.push(Client {
                        stream,
                        stdout,
                        stderr,
                        stdin,
                    });
                }
            }
            Request::Start => {
                let reply = self.start();
                let _ = send_reply(&stream, &reply);
            }
            Request::Resize { height, width } => {
                let reply = match self.resize(height, width) {
                    Ok(()) => Reply::ok(),
                    Err(e) => Reply::error(e.to_string()),
                };
                let _ = send_reply(&stream, &reply);
            }
            // Answered once the process has exited and its output is
            // drained (see `finish`).
            Request::Wait => self.waiters.push(stream),
            Request::State => {
                let mut reply = Reply::ok();
                reply.pid = self.process.pid();
                reply.status = Some(
                    match (&self.exit, self.started) {
                        (Some(_), _) => "exited",
                        (None, true) => "running",
                        (None, false) => "created",
                    }
                    .into(),
                );
                let _ = send_reply(&stream, &reply);
            }
        }
    }

    fn start(&mut self) -> Reply {
        if self.started {
            return Reply::error("already started");
        }
        match self.process.start() {
            Ok((pid, io)) => {
                self.started = true;
                trim_heap();
                if io.is_some() {
                    self.io = io;
                }
                let mut reply = Reply::ok();
                reply.pid = Some(pid);
                reply
            }
            Err(e) => {
                // Nothing runs: the shim ends with the code docker gives
                // for a program that cannot be run (127 not found, else 126).
                let message = format!("{e:#}");
                let code = if message.contains("not found") || message.contains("no such file") {
                    127
                } else {
                    126
                };
                self.exit = Some(ExitRecord {
                    exit_code: code,
                    oom_killed: false,
                    finished_at: now_rfc3339(),
                });
                Reply::error(message)
            }
        }
    }

    fn resize(&self, height: u16, width: u16) -> io::Result<()> {
        let Some(ProcessIo::Tty { master: Some(m) }) = &self.io else {
            return Ok(());
        };
        berth_runtime::process::pty::resize(m.as_fd(), height, width).map_err(io::Error::other)
    }

    /// Answers the waiters, closes the clients, writes the exit record,
    /// cleans up the process, and only then closes the waiters'
    /// connections.
    ///
    /// The exit is reported first: the file and the cleanup (cgroups,
    /// runtime state: a millisecond or more, longer on a busy disk) need
    /// not delay `run --rm`. A waiter that needs them done (berthd before
    /// the same container may start again, or it removes our directory)
    /// reads on until its connection closes.
    fn finish(mut self, exit: ExitRecord) -> ExitRecord {
        if let Some(log) = self.log.as_mut() {
            let _ = log.flush_partial();
        }
        let mut reply = Reply::ok();
        reply.exit = Some(exit.clone());
        for waiter in &self.waiters {
            let _ = send_reply(waiter, &reply);
        }
        for client in self.clients.drain(..) {
            let _ = client.stream.shutdown(std::net::Shutdown::Both);
        }
        if let Err(e) = write_exit_file(&self.exit_file, &exit) {
            eprintln!("berth-shim: writing {}: {e}", self.exit_file.display());
        }
        self.process.cleanup();
        for waiter in self.waiters.drain(..) {
            let _ = waiter.shutdown(std::net::Shutdown::Both);
        }
        exit
    }
}

/// Gives the memory freed after setting the process up (spec, seccomp
/// compilation) back to the kernel: the shim then idles for the life of
/// the container, and its footprint is per container.
fn trim_heap() {
    // SAFETY: malloc_trim only releases free heap memory; it takes no
    // pointers and is safe to call at any time in a single-threaded process.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Blocks SIGCHLD (it is read through the signalfd instead). Call before
/// the process can exit.
pub fn block_sigchld() -> Result<()> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block().context("blocking SIGCHLD")
}

fn send_reply(mut stream: &UnixStream, reply: &Reply) -> io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)
}

/// Writes `exit.json` atomically. No fsync: it is read by a berthd that
/// restarted after a crash, from the exec root (/run, tmpfs), which a
/// power cut empties anyway; and waiting for the disk here would delay
/// every container's exit.
fn write_exit_file(path: &std::path::Path, exit: &ExitRecord) -> io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(exit).map_err(io::Error::other)?;
    let mut file = File::create(&tmp)?;
    file.write_all(&bytes)?;
    std::fs::rename(&tmp, path)
}

/// The current time as RFC 3339 with nanoseconds (Docker's format).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}
