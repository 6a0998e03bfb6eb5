//! # berth-runtime
//!
//! Berth's OCI runtime library: it turns an OCI bundle (a root filesystem and a
//! runtime-spec 1.x `config.json`) into an isolated Linux process, and manages
//! that container's life: create, start, exec, signal, pause, resume, delete.
//!
//! The `berth-runtime` binary in this crate is a thin runc-compatible command
//! line over this library, so containerd and dockerd can drive it.
//!
//! ## Process model
//! Every function that forks (`Container::create`, `Container::run`,
//! `Container::exec`) must be called from a **single-threaded** process: the
//! child is cloned straight from the caller. `berth-runtime` is such a process
//! (no async runtime, no thread pool). Multithreaded embedders (a daemon)
//! must spawn a helper process (berth's per-container shim) that calls into
//! this library. [`process::ensure_single_threaded`] enforces it at run time.
//!
//! ## Example
//! ```no_run
//! use berth_runtime::{Container, CreateOptions, StateRoot};
//!
//! # fn main() -> Result<(), berth_runtime::Error> {
//! let root = StateRoot::new("/run/berth-runtime")?;
//! let container = Container::create(&root, "demo", "/path/to/bundle", &CreateOptions::default())?;
//! container.start()?;
//! let status = container.wait()?;
//! println!("exited with {status}");
//! container.delete(false)?;
//! # Ok(())
//! # }
//! ```

pub mod cgroups;
pub mod container;
pub mod error;
pub mod hooks;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod spec;
pub mod state;
pub mod syscall;
pub mod user;

pub use container::{Container, CreateOptions, ExecOptions};
pub use error::{Error, Result};
pub use state::{ContainerState, StateRoot, Status};
