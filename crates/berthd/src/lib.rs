//! # berthd
//!
//! The Berth daemon: the Docker Engine API on a Unix socket, so `berth`,
//! the stock docker CLI, docker-compose and docker-py work against it.
//!
//! - [`server`]: the socket and hyper's HTTP/1.1 (with upgrades);
//! - [`api`]: routes and handlers, in Docker's JSON shapes;
//! - [`daemon`]: the shared state (config, images, containers, events);
//! - [`containers`]: the container service: records, the OCI spec, the
//!   root filesystem, per-container shims (which do all forking), and the
//!   lifecycle;
//! - [`http`], [`filters`], [`version`]: API plumbing.

#![recursion_limit = "256"]

pub mod api;
pub mod containers;
pub mod daemon;
pub mod filters;
pub mod http;
pub mod ids;
pub mod server;
pub mod version;
pub mod volumes;
