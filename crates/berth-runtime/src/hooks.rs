//! OCI hooks: programs the runtime runs at points of a container's life,
//! with the container state as JSON on their stdin.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks, Spec};

use crate::error::{Error, Result};

/// Runs one hook and waits for it (killing it after its timeout).
pub fn run(kind: &'static str, hook: &Hook, state: &str) -> Result<()> {
    let fail = |reason: String| Error::Hook {
        kind,
        path: hook.path().clone(),
        reason,
    };
    let args = hook.args().as_deref().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some(arg0) = args.first() {
        cmd.arg0(arg0);
    }
    cmd.args(args.iter().skip(1))
        .env_clear()
        .envs(
            hook.env()
                .iter()
                .flatten()
                .filter_map(|kv| kv.split_once('=')),
        )
        .stdin(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state.as_bytes());
    }
    let timeout = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let started = Instant::now();
    loop {
        match child.try_wait().map_err(|e| fail(format!("wait: {e}")))? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => return Err(fail(format!("exited with {status}"))),
            None if timeout.is_some_and(|t| started.elapsed() >= t) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "timed out after {}s",
                    timeout.unwrap_or_default().as_secs()
                )));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// The hooks of one kind in a spec (empty when there are none).
pub fn of_kind(spec: &Spec, pick: impl Fn(&Hooks) -> &Option<Vec<Hook>>) -> &[Hook] {
    spec.hooks()
        .as_ref()
        .and_then(|h| pick(h).as_deref())
        .unwrap_or_default()
}

/// Runs every hook of a list, stopping at the first failure.
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &str) -> Result<()> {
    hooks.iter().try_for_each(|h| run(kind, h, state))
}

/// Runs every hook of a list, warning about failures but going on (the
/// spec's rule for poststart and poststop).
pub fn run_all_warn(kind: &'static str, hooks: &[Hook], state: &str) {
    for hook in hooks {
        if let Err(e) = run(kind, hook, state) {
            eprintln!("berth-runtime: warning: {e}");
        }
    }
}
