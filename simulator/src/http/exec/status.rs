//! The exec's outcome on the error channel (3): a `metav1.Status` marshalled as the API server
//! sends it for each subprotocol.
//!
//! For `v4.channel.k8s.io` the API server proxies the kubelet's status, which wraps containerd's
//! error (`command terminated with non-zero exit code: error executing command [false], exit code
//! 1`). For `v5.channel.k8s.io` the API server translates the stream itself and re-wraps what it
//! got from the kubelet over SPDY (`command terminated with non-zero exit code: command terminated
//! with exit code 1`; internal errors get a second `Internal error occurred: `).

use crate::kubelet::ExecEnd;
use serde::Serialize;

/// A remotecommand WebSocket subprotocol kubesim speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `v4.channel.k8s.io`: binary channels, Status JSON on the error channel.
    V4,
    /// `v5.channel.k8s.io`: v4 plus the close signal on channel 255.
    V5,
}

impl Protocol {
    /// The subprotocol names, most preferred first.
    pub const NAMES: [&'static str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

    /// The protocol with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "v5.channel.k8s.io" => Some(Protocol::V5),
            "v4.channel.k8s.io" => Some(Protocol::V4),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct Cause {
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    message: String,
}

#[derive(Serialize)]
struct Details {
    causes: Vec<Cause>,
}

/// `metav1.Status` with Go's field order and `omitempty`s.
#[derive(Serialize)]
struct StreamStatus {
    metadata: Empty,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
}

fn success() -> StreamStatus {
    StreamStatus {
        metadata: Empty {},
        status: "Success",
        message: None,
        reason: None,
        details: None,
        code: None,
    }
}

fn exit_code(code: u8, exit_error: String) -> StreamStatus {
    StreamStatus {
        metadata: Empty {},
        status: "Failure",
        message: Some(format!(
            "command terminated with non-zero exit code: {exit_error}"
        )),
        reason: Some("NonZeroExitCode"),
        details: Some(Details {
            causes: vec![Cause {
                reason: Some("ExitCode"),
                message: code.to_string(),
            }],
        }),
        code: None,
    }
}

/// `apierrors.NewInternalError(err)`.
fn internal(err: String) -> StreamStatus {
    StreamStatus {
        metadata: Empty {},
        status: "Failure",
        message: Some(format!("Internal error occurred: {err}")),
        reason: Some("InternalError"),
        details: Some(Details {
            causes: vec![Cause {
                reason: None,
                message: err,
            }],
        }),
        code: Some(500),
    }
}

/// The error-channel payload for how `argv` ended.
pub fn encode(end: &ExecEnd, argv: &[String], protocol: Protocol) -> Vec<u8> {
    let status = match (end, protocol) {
        (ExecEnd::Exited(0), _) => success(),
        (ExecEnd::Exited(code), Protocol::V4) => exit_code(
            *code,
            format!(
                "error executing command [{}], exit code {code}",
                argv.join(" ")
            ),
        ),
        (ExecEnd::Exited(code), Protocol::V5) => {
            exit_code(*code, format!("command terminated with exit code {code}"))
        }
        (ExecEnd::NotStarted(runtime), protocol) => {
            let kubelet = format!("error executing command in container: {runtime}");
            match protocol {
                Protocol::V4 => internal(kubelet),
                Protocol::V5 => internal(format!("Internal error occurred: {kubelet}")),
            }
        }
    };
    serde_json::to_vec(&status).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(end: ExecEnd, protocol: Protocol) -> String {
        String::from_utf8(encode(&end, &["false".into()], protocol)).unwrap()
    }

    #[test]
    fn statuses_as_the_api_server_marshals_them() {
        assert_eq!(
            text(ExecEnd::Exited(0), Protocol::V5),
            r#"{"metadata":{},"status":"Success"}"#
        );
        assert_eq!(
            text(ExecEnd::Exited(1), Protocol::V4),
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [false], exit code 1","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"1"}]}}"#
        );
        assert_eq!(
            text(ExecEnd::Exited(2), Protocol::V5),
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: command terminated with exit code 2","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"2"}]}}"#
        );
        assert_eq!(
            text(ExecEnd::NotStarted("boom".into()), Protocol::V4),
            r#"{"metadata":{},"status":"Failure","message":"Internal error occurred: error executing command in container: boom","reason":"InternalError","details":{"causes":[{"message":"error executing command in container: boom"}]},"code":500}"#
        );
        assert!(
            text(ExecEnd::NotStarted("boom".into()), Protocol::V5).contains(
                r#""message":"Internal error occurred: Internal error occurred: error executing command in container: boom""#
            )
        );
    }
}
