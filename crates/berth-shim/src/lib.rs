//! # berth-shim
//!
//! One small, single-threaded process per container (and per exec) that
//! outlives berthd. It creates the container through the runtime library
//! (so the clone dance happens here, never in the multithreaded daemon),
//! owns the container's stdio (pipes, or the pty master), writes the
//! json-file log, reaps the process and records its exit status.
//!
//! berthd talks to it over a Unix socket, one request per connection, as
//! a JSON line ([`protocol::Request`]): `attach` (the connection then
//! carries the output, framed as Docker's stdcopy when there is no
//! terminal, and takes stdin), `start`, `resize`, `wait`, `state`.
//!
//! Life of a shim: berthd runs `berth-shim run ...`; it forks, the child
//! becomes a session leader and creates the container (the process waits
//! at its exec fifo), then prints one ready line ([`protocol::Ready`]) on
//! the stdout berthd reads, and serves. berthd attaches whatever clients
//! asked to, then sends `start`. When the process exits the shim drains
//! its output, writes `exit.json` ([`protocol::ExitRecord`]), answers
//! every `wait`, deletes the runtime container and exits.

pub mod args;
pub mod json_log;
pub mod protocol;
pub mod serve;
pub mod stdio;
