//! The local end of a container's stdio: the terminal (raw mode, size),
//! the streams of an attach or exec, and signals forwarded to the
//! container.

pub mod attach;
pub mod signals;
pub mod tty;
