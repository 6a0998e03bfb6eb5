//! The Engine API routes: `/vX.Y` prefix handling, then method and path
//! to a handler.

pub mod archive;
pub mod containers;
pub mod df;
pub mod exec;
pub mod hijack;
pub mod images;
pub mod networks;
pub mod system;
pub mod volumes;

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request};

use crate::daemon::Daemon;
use crate::http::{ApiError, ApiResult, Query, Reply};
use crate::version;

/// What a handler gets.
pub struct Call {
    pub daemon: Arc<Daemon>,
    pub req: Request<Incoming>,
    pub query: Query,
    /// The API version the client asked for (the newest when unversioned).
    pub version: (u32, u32),
}

/// Routes one request; errors become Docker's JSON errors.
pub async fn handle(daemon: Arc<Daemon>, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_string();
    let (version, tail) = match version::strip_prefix(&path) {
        Ok((v, t)) => (
            v.unwrap_or_else(|| version::parse(version::API_VERSION).unwrap_or((1, 47))),
            t.to_string(),
        ),
        Err(e) => return e.into_reply(),
    };
    let query = Query::parse(req.uri().query());
    let method = req.method().clone();
    let call = Call {
        daemon,
        req,
        query,
        version,
    };
    let segments: Vec<&str> = tail.trim_matches('/').split('/').collect();
    match dispatch(&method, &segments, call).await {
        Ok(reply) => reply,
        Err(e) => e.into_reply(),
    }
}

async fn dispatch(method: &Method, seg: &[&str], call: Call) -> ApiResult {
    use Method as M;
    match (method, seg) {
        (&M::GET | &M::HEAD, ["_ping"]) => system::ping(call),
        (&M::GET, ["version"]) => system::version(call),
        (&M::GET, ["info"]) => system::info(call).await,
        (&M::GET, ["events"]) => system::events(call).await,
        (&M::POST, ["auth"]) => system::auth(call).await,
        (&M::POST, ["commit"]) => archive::commit(call).await,
        (&M::GET, ["system", "df"]) => df::disk_usage(call).await,

        (&M::POST, ["containers", "create"]) => containers::create(call).await,
        (&M::GET, ["containers", "json"]) => containers::list(call).await,
        (&M::POST, ["containers", "prune"]) => containers::prune(call).await,
        (&M::GET, ["containers", id, "json"]) => containers::inspect(call, id).await,
        (&M::POST, ["containers", id, "start"]) => containers::start(call, id).await,
        (&M::POST, ["containers", id, "stop"]) => containers::stop(call, id).await,
        (&M::POST, ["containers", id, "restart"]) => containers::restart(call, id).await,
        (&M::POST, ["containers", id, "kill"]) => containers::kill(call, id).await,
        (&M::POST, ["containers", id, "wait"]) => containers::wait(call, id).await,
        (&M::POST, ["containers", id, "attach"]) => containers::attach(call, id).await,
        (&M::POST, ["containers", id, "resize"]) => containers::resize(call, id).await,
        (&M::POST, ["containers", id, "rename"]) => containers::rename(call, id).await,
        (&M::GET, ["containers", id, "logs"]) => containers::logs(call, id).await,
        (&M::GET, ["containers", id, "top"]) => containers::top(call, id).await,
        (&M::GET | &M::HEAD, ["containers", id, "archive"]) => archive::get(call, id).await,
        (&M::PUT, ["containers", id, "archive"]) => archive::put(call, id).await,
        (&M::GET, ["containers", id, "export"]) => archive::export(call, id).await,
        (&M::GET, ["containers", id, "changes"]) => archive::changes(call, id).await,
        (&M::POST, ["containers", id, "update"]) => containers::update(call, id).await,
        (&M::GET, ["containers", id, "stats"]) => containers::stats(call, id).await,
        (&M::POST, ["containers", id, "pause"]) => containers::pause(call, id, true).await,
        (&M::POST, ["containers", id, "unpause"]) => containers::pause(call, id, false).await,
        (&M::POST, ["containers", id, "exec"]) => exec::create(call, id).await,
        (&M::DELETE, ["containers", id]) => containers::remove(call, id).await,

        (&M::POST, ["exec", id, "start"]) => exec::start(call, id).await,
        (&M::POST, ["exec", id, "resize"]) => exec::resize(call, id).await,
        (&M::GET, ["exec", id, "json"]) => exec::inspect(call, id).await,

        (&M::POST, ["build", "prune"]) => system::build_prune(call),
        (_, ["images", ..]) | (_, ["build"]) => images::dispatch(method, seg, call).await,

        (&M::POST, ["volumes", "create"]) => volumes::create(call).await,
        (&M::GET, ["volumes"]) => volumes::list(call).await,
        (&M::POST, ["volumes", "prune"]) => volumes::prune(call).await,
        (&M::GET, ["volumes", name]) => volumes::inspect(call, name).await,
        (&M::DELETE, ["volumes", name]) => volumes::remove(call, name).await,

        (&M::GET, ["networks"]) => networks::list(call).await,
        (&M::POST, ["networks", "prune"]) => networks::prune(call).await,
        (&M::GET, ["networks", id]) => networks::inspect(call, id).await,

        _ => Err(ApiError::not_found(format!(
            "page not found: {method} /{}",
            seg.join("/")
        ))),
    }
}
