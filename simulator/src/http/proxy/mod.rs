//! The `proxy` subresource of pods and services:
//! `/api/v1/namespaces/{ns}/pods/[http:]{name}[:{port}]/proxy/{path}` (and `services/...`)
//! forwards the request over plain HTTP to the address a test registered for that port
//! (`Simulator::register_pod_endpoint`, `Simulator::register_service_endpoint`).

mod endpoints;
mod forward;
mod location;

pub use endpoints::{PodEndpoints, PodPort};
pub use location::ProxyId;

use crate::cluster::Cluster;
use crate::error::ApiError;
use crate::resources::ResourceDef;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;

/// The RBAC verb of a proxy request, derived from the method as upstream: `GET` and `HEAD` are
/// `get`, `POST` `create`, `PUT` `update`, `PATCH` `patch`, `DELETE` `delete`, others none.
pub fn verb(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" | "HEAD" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    }
}

/// The methods the proxy subresource serves (upstream's list); others get 405.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

/// Where the `k`-th non-empty segment of `path` ends (`path.len()` if it has fewer).
fn after_segments(path: &str, k: usize) -> usize {
    let mut seen = 0;
    let mut i = 0;
    while seen < k && i < path.len() {
        if path[i..].starts_with('/') {
            i += 1;
            continue;
        }
        i = path[i..].find('/').map_or(path.len(), |j| i + j);
        seen += 1;
    }
    i
}

/// Split a namespaced request path (`rest`, the segments after the group version, a suffix of
/// the non-empty segments of `path`) of the form `namespaces/{ns}/{resource}/{id}/proxy/...`
/// into the target part (up to `proxy`) and the raw path after `proxy` (empty, or from a `/`
/// on, as received, trailing slash included). Other paths are returned whole with an empty tail.
pub fn split<'a, 'b>(rest: &'a [&'b str], path: &str) -> (&'a [&'b str], String) {
    if rest.len() < 5 || rest[0] != "namespaces" || rest[4] != "proxy" {
        return (rest, String::new());
    }
    let total = path.split('/').filter(|s| !s.is_empty()).count();
    let end = after_segments(path, total.saturating_sub(rest.len()) + 5);
    (&rest[..5], path[end..].to_string())
}

/// A proxy request, its target resolved and authorized.
pub struct ProxyRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request path, as received.
    pub path: &'a str,
    /// The path after `/proxy`, from [`split`].
    pub tail: &'a str,
    /// The raw query string, forwarded as is.
    pub query: Option<&'a str>,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The request body.
    pub body: Bytes,
}

/// `301` to the path with a trailing slash, as upstream answers `GET`/`HEAD` of `.../proxy`.
fn redirect_to_directory(req: &ProxyRequest<'_>) -> Response {
    let query = req.query.map(|q| format!("?{q}")).unwrap_or_default();
    Response::builder()
        .status(StatusCode::MOVED_PERMANENTLY)
        .header(header::LOCATION, format!("{}/{query}", req.path))
        .body(Body::empty())
        .unwrap_or_default()
}

/// Serve `{pods|services}/{id}/proxy{tail}` in `namespace`: resolve the target, then forward.
pub async fn serve(
    c: &Cluster,
    def: &ResourceDef,
    namespace: &str,
    id: &str,
    req: ProxyRequest<'_>,
) -> Result<Response, ApiError> {
    if !METHODS.contains(req.method) {
        return Err(ApiError::method_not_allowed());
    }
    let pods = def.plural == "pods";
    let id = ProxyId::parse(if pods { "pod" } else { "service" }, id)?;
    let upstream = if pods {
        location::pod(c, namespace, &id)?
    } else {
        location::service(c, namespace, &id)?
    };
    if id.scheme == "https" {
        return Err(ApiError::bad_request(format!(
            "kubesim proxies plain HTTP only: the https scheme in {:?} is not supported",
            id.raw
        )));
    }
    if req.tail.is_empty() && (req.method == Method::GET || req.method == Method::HEAD) {
        return Ok(redirect_to_directory(&req));
    }
    let addr = upstream
        .addr
        .ok_or_else(|| forward::refused(&upstream.host))?;
    let path = if req.tail.is_empty() { "/" } else { req.tail };
    let query = req.query.map(|q| format!("?{q}")).unwrap_or_default();
    let out = forward::Outbound {
        method: req.method.clone(),
        path_and_query: format!("{path}{query}"),
        headers: req.headers,
        body: req.body,
        forwarded_uri: req.path.to_string(),
    };
    Ok(forward::forward(addr, &upstream.host, out).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_split_after_proxy_keeping_the_raw_tail() {
        let path = "/api/v1/namespaces/ns/pods/p:metrics/proxy/a//b/";
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (target, tail) = split(&segs[2..], path);
        assert_eq!(target, ["namespaces", "ns", "pods", "p:metrics", "proxy"]);
        assert_eq!(tail, "/a//b/");
        let path = "/apis/v1/namespaces/ns/services/s/proxy";
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        assert_eq!(split(&segs[2..], path).1, "");
        let path = "/api/v1/namespaces/ns/pods/p/proxy/";
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        assert_eq!(split(&segs[2..], path).1, "/");
        let path = "/api/v1/namespaces/ns/pods/p/log";
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        assert_eq!(split(&segs[2..], path), (&segs[2..], String::new()));
    }
}
