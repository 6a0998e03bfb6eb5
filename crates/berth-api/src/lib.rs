//! # berth-api
//!
//! The Docker Engine API as the berth CLI (and the tests) speak it:
//! - [`types`]: serde structs for the requests and responses, with
//!   Docker's JSON names, lenient on input (unknown fields ignored,
//!   missing ones defaulted) so a newer or older daemon still parses.
//! - [`Client`]: an async HTTP/1.1 client over a Unix socket (or TCP),
//!   with API version negotiation, typed JSON helpers, streaming of
//!   newline-delimited JSON and raw bodies, and connection hijacking for
//!   `attach` and `exec`.
//! - [`stdcopy`]: the multiplexed stdout/stderr framing of logs and
//!   attach streams without a TTY.
//! - [`detach_keys`]: docker's `--detach-keys` format and a detector for
//!   the sequence in an input stream.
//! - [`go_duration`]: Go's duration strings (`1m30s`), for flags and
//!   Dockerfile options.

pub mod client;
pub mod detach_keys;
pub mod error;
pub mod go_duration;
pub mod hijack;
pub mod host;
pub mod query;
pub mod stdcopy;
pub mod stream;
pub mod types;

pub use client::{Client, RequestBody, API_VERSION};
pub use error::{ApiError, Error};
pub use hijack::Hijacked;
pub use host::Host;
/// HTTP methods, for [`Client::send`] and the streaming calls.
pub use hyper::Method;
/// A response whose body is still to be read (a pending `wait`, a stat's
/// headers).
pub type HttpResponse = hyper::Response<hyper::body::Incoming>;
pub use query::Query;
pub use stream::{JsonStream, RawStream};
