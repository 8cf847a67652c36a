//! `pods/exec`: checks the request like the API server does (errors before the upgrade are
//! `Status` bodies), then upgrades to a WebSocket speaking `v5.channel.k8s.io` or
//! `v4.channel.k8s.io` and runs the command in the simulated container.

mod options;
mod session;
mod status;

pub use options::ExecOptions;
pub use status::Protocol;

use super::AppState;
use crate::error::ApiError;
use crate::read;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use serde_json::Value;

fn names(pod: &Value, key: &str) -> Vec<String> {
    pod["spec"][key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The container the exec targets, chosen and checked as the API server does.
fn container(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let apps = names(pod, "containers");
    let inits = names(pod, "initContainers");
    match asked {
        Some(c) => {
            let known = apps
                .iter()
                .chain(&inits)
                .chain(&names(pod, "ephemeralContainers"))
                .any(|n| n == c);
            if known {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None => match apps.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            _ => {
                let mut msg = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    apps.join(" ")
                );
                if !inits.is_empty() {
                    msg.push_str(&format!(
                        " or one of the init containers: [{}]",
                        inits.join(" ")
                    ));
                }
                Err(ApiError::bad_request(msg))
            }
        },
    }
}

/// The answer to a request that is no WebSocket upgrade.
fn not_websocket(headers: &HeaderMap) -> ApiError {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if upgrade.is_empty() {
        ApiError::bad_request("Upgrade request required")
    } else {
        ApiError::bad_request(format!(
            "kubesim serves exec over WebSocket only ({}), not {upgrade}",
            Protocol::NAMES.join(", ")
        ))
    }
}

/// Serve `pods/exec` for pod `namespace/name` (`GET` or `POST`, as upstream); `ws` is the
/// WebSocket upgrade, if the request is one.
pub fn serve(
    st: &AppState,
    method: &Method,
    namespace: &str,
    name: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    ws: Option<WebSocketUpgrade>,
) -> Result<Response, ApiError> {
    if method != Method::GET && method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let opts = ExecOptions::parse(raw_query)?;
    let c = &st.cluster;
    let def = c.resource("", "v1", "pods")?;
    let pod = read::get(c, &def, namespace, name)?;
    let container = container(&pod, name, opts.container.as_deref())?;
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    if !(opts.stdin || opts.stdout || opts.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    if opts.command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let exec = c
        .kubelet
        .exec(namespace, name, &container, opts.command.clone())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to upgrade connection: container not found (\"{container}\")"
            ))
        })?;
    let ws = ws
        .ok_or_else(|| not_websocket(headers))?
        .protocols(Protocol::NAMES);
    let protocol = ws
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .and_then(Protocol::from_name)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "kubesim supports the exec subprotocols {} only",
                Protocol::NAMES.join(", ")
            ))
        })?;
    Ok(ws.on_upgrade(move |socket| session::run(socket, protocol, opts, exec)))
}
