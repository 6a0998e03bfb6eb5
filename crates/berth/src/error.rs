//! How a command ends: an [`Exit`] carries docker's exit code and the
//! message to print; everything else is reported by `main` (exit 1, or
//! the "Cannot connect" message when the daemon is not there).

use std::fmt;

/// Ends the command with `code`, printing `message` (if any) to stderr.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: Option<String>,
}

impl Exit {
    pub fn msg(code: i32, message: impl Into<String>) -> anyhow::Error {
        Exit {
            code,
            message: Some(message.into()),
        }
        .into()
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for Exit {}

/// Docker's exec and attach end with moby/term's EscapeError when the
/// user types the detach keys: its text on stderr, exit 1 (run and start
/// end quietly with 0 instead).
pub fn detached() -> anyhow::Error {
    Exit::msg(1, "read escape sequence")
}

/// Whether the error is "the daemon is not reachable" (never turned into
/// a command's own exit code: it keeps docker's exit 1 and message).
pub fn is_connect(err: &anyhow::Error) -> bool {
    err.downcast_ref::<berth_api::Error>()
        .is_some_and(berth_api::Error::is_connect)
}

/// docker's `reportError` for run/create/start: `berth: MESSAGE.` and, for
/// errors before the container exists, `See 'berth CMD --help'.`.
pub fn report_line(cmd: &str, err: &anyhow::Error, with_help: bool) -> String {
    let text = format!("{err:#}");
    let mut line = format!("berth: {}.", text.trim_end_matches('.'));
    if with_help {
        line.push_str(&format!("\nSee 'berth {cmd} --help'."));
    }
    line
}

/// docker's exit code for a container that could not be created or
/// started: 127 when the command was not found, 126 when it could not be
/// invoked, 125 for any other refusal.
pub fn start_error_code(err: &anyhow::Error) -> i32 {
    let text = format!("{err:#}");
    if text.contains("executable file not found")
        || text.contains("no such file or directory")
        || text.contains("system cannot find the file specified")
    {
        127
    } else if text.contains("permission denied") || text.contains("is a directory") {
        126
    } else {
        125
    }
}

/// Turns a daemon refusal in run/create/start into docker's report and
/// exit code; "cannot connect" passes through unchanged.
pub fn refused(cmd: &str, err: anyhow::Error, with_help: bool) -> anyhow::Error {
    if is_connect(&err) || err.downcast_ref::<Exit>().is_some() {
        return err;
    }
    Exit::msg(start_error_code(&err), report_line(cmd, &err, with_help))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_like_docker_run() {
        let e = anyhow::anyhow!("Error response from daemon: OCI runtime create failed: exec: \"nope\": executable file not found in $PATH");
        assert_eq!(start_error_code(&e), 127);
        let e = anyhow::anyhow!("Error response from daemon: exec: \"/etc\": permission denied");
        assert_eq!(start_error_code(&e), 126);
        let e = anyhow::anyhow!("Error response from daemon: No such image: x:latest");
        assert_eq!(start_error_code(&e), 125);
        assert_eq!(
            report_line("run", &e, true),
            "berth: Error response from daemon: No such image: x:latest.\nSee 'berth run --help'."
        );
    }
}
