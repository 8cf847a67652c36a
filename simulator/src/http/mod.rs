//! The HTTP front end: routes Kubernetes REST paths to the API operations.

pub mod authz;
mod discovery;
mod exec;
mod jsonpath;
mod openapi;
mod protobuf;
mod protobuf_objects;
pub mod proxy;
pub mod query;
mod resource;
pub mod table;
mod token;
pub mod watch;

use crate::cluster::Cluster;
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::Value;
use std::net::SocketAddr;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    /// The cluster served.
    pub cluster: Cluster,
    /// The address clients reach the server at.
    pub addr: SocketAddr,
}

/// A JSON response.
pub fn json_response(code: u16, body: &Value, warnings: &[String]) -> Response {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json");
    for w in warnings {
        let text = w.replace('"', "\\\"");
        b = b.header("Warning", format!("299 - \"{text}\""));
    }
    b.body(Body::from(serde_json::to_vec(body).unwrap_or_default()))
        .unwrap_or_default()
}

/// The response for an API error.
pub fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.status(), &[])
}

fn text(code: u16, s: &str) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::OK))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(s.to_string()))
        .unwrap_or_default()
}

/// Build the router.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

async fn handle(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    body: Bytes,
) -> Response {
    let ws = upgrade.ok();
    // Bad credentials are refused on every path; who may do what is decided per resource request.
    let requester = match crate::auth::authenticate(&st.cluster, headers.get(header::AUTHORIZATION))
    {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let path = uri.path().to_string();
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let reg = &st.cluster.registry;
    let not_found = || error_response(&ApiError::unknown_resource());
    let ok = |v: Option<Value>| match v {
        Some(v) => json_response(200, &v, &[]),
        None => not_found(),
    };
    match segs.as_slice() {
        ["version"] => ok(Some(discovery::version())),
        ["healthz"] | ["readyz"] | ["livez"] => text(200, "ok"),
        ["api"] => ok(Some(discovery::api_versions(&st.addr.to_string()))),
        ["apis"] => ok(Some(discovery::api_groups(reg))),
        ["apis", g] => ok(discovery::api_group(reg, g)),
        ["api", "v1"] => ok(discovery::resource_list(reg, "", "v1")),
        ["apis", g, v] => ok(discovery::resource_list(reg, g, v)),
        ["openapi", "v3"] => ok(Some(openapi::root(reg))),
        ["openapi", "v3", rest @ ..] => ok(openapi::group_version(reg, &rest.join("/"))),
        [
            "api",
            "v1",
            "namespaces",
            ns,
            "serviceaccounts",
            name,
            "token",
        ] => match token::token_request(&st, &requester, &method, ns, name, &body) {
            Ok(r) => r,
            Err(e) => error_response(&e),
        },
        ["api", "v1", rest @ ..] => {
            resource::handle(&st, method, "", "v1", rest, &uri, &headers, body, ws).await
        }
        ["apis", g, v, rest @ ..] => {
            resource::handle(&st, method, g, v, rest, &uri, &headers, body, ws).await
        }
        _ => text(404, "404 page not found\n"),
    }
}
