//! The query of an exec request (`PodExecOptions`): the command, the container and the streams.

use crate::error::ApiError;
use crate::http::query::decode;

/// What an exec request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// The command line: one `command` parameter per word.
    pub command: Vec<String>,
    /// The container, if named.
    pub container: Option<String>,
    /// Whether the client sends stdin.
    pub stdin: bool,
    /// Whether the client wants stdout.
    pub stdout: bool,
    /// Whether the client wants stderr (never with a tty, as the kubelet ignores it then).
    pub stderr: bool,
    /// Whether the command runs on a terminal.
    pub tty: bool,
}

/// A boolean the way Go's `strconv.ParseBool` reads it.
fn parse_bool(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "invalid value for {name}: strconv.ParseBool: parsing \"{other}\": invalid syntax"
        ))),
    }
}

impl ExecOptions {
    /// Read the options from a raw query string; unknown parameters are ignored.
    pub fn parse(raw_query: Option<&str>) -> Result<Self, ApiError> {
        let mut o = ExecOptions::default();
        for pair in raw_query.unwrap_or_default().split('&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode(k), decode(v));
            match k.as_str() {
                "command" => o.command.push(v),
                "container" if !v.is_empty() => o.container = Some(v),
                "stdin" => o.stdin = parse_bool(&k, &v)?,
                "stdout" => o.stdout = parse_bool(&k, &v)?,
                "stderr" => o.stderr = parse_bool(&k, &v)?,
                "tty" => o.tty = parse_bool(&k, &v)?,
                _ => {}
            }
        }
        if o.tty {
            o.stderr = false;
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_commands_and_streams() {
        let o = ExecOptions::parse(Some(
            "&stdout=true&stderr=true&container=app&command=sh&command=-c&command=echo+%24HOME",
        ))
        .unwrap();
        assert_eq!(o.command, ["sh", "-c", "echo $HOME"]);
        assert_eq!(o.container.as_deref(), Some("app"));
        assert!(o.stdout && o.stderr && !o.stdin && !o.tty);
        let tty = ExecOptions::parse(Some("tty=1&stderr=true&command=env")).unwrap();
        assert!(tty.tty && !tty.stderr);
        assert!(ExecOptions::parse(Some("stdin=yes")).is_err());
    }
}
