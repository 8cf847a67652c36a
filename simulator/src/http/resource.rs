//! Handlers for resource paths: get, list, watch, create, update, patch, delete, logs, exec,
//! proxy.

use super::query::{self, Target};
use super::watch::WatchParams;
use super::{AppState, error_response, json_response, table};
use crate::cluster::{self, FieldValidation, UserInfo, WriteOptions};
use crate::delete::{self, DeleteOptions};
use crate::error::ApiError;
use crate::faults::{FaultAction, fault_error};
use crate::read::{self, Filter, ListOptions};
use crate::write::{self, PatchType};
use axum::body::{Body, Bytes};
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use serde_json::Value;
use std::collections::HashMap;

fn verb(method: &Method, t: &Target, q: &HashMap<String, String>) -> &'static str {
    if t.subresource == "proxy" {
        return super::proxy::verb(method);
    }
    if t.subresource == "exec" {
        // Authorized as `create` whether it arrives as a WebSocket GET or a SPDY POST.
        return "create";
    }
    let watch = t.watch_prefix || q.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (method.as_str(), t.name.is_some()) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

/// The object a create or update sends: JSON, or protobuf for the built-in kinds kubesim decodes
/// (what kubectl's imperative `create` sends); any other protobuf body gets the API server's 415,
/// as from a server without that codec.
fn request_object(kind: &str, headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = ctype.split(';').next().unwrap_or_default().trim();
    if media != "application/vnd.kubernetes.protobuf" {
        return parse_body(kind, body);
    }
    super::protobuf_objects::decode(body).ok_or_else(|| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json (kubesim decodes {media} only for some fields of Namespace, ConfigMap, Secret, ServiceAccount and Deployment)"
            ),
        )
    })
}

fn parse_body(kind: &str, body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let summary: String = String::from_utf8_lossy(body).chars().take(30).collect();
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; json parse error: {e} ({summary})"
        ))
    })
}

fn write_options(
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<WriteOptions, ApiError> {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let field_validation = match q.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Strict") => FieldValidation::Strict,
        Some("Ignore") => FieldValidation::Ignore,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}. Valid values are Strict, Warn, Ignore"
            )));
        }
    };
    Ok(WriteOptions {
        dry_run: q.get("dryRun").is_some_and(|d| d == "All"),
        field_manager: q
            .get("fieldManager")
            .cloned()
            .unwrap_or_else(|| cluster::manager_from_user_agent(ua)),
        field_validation,
        force: q.get("force").is_some_and(|f| f == "true"),
        user: UserInfo::admin(),
    })
}

fn list_options(q: &HashMap<String, String>) -> ListOptions {
    ListOptions {
        label_selector: q.get("labelSelector").cloned(),
        field_selector: q.get("fieldSelector").cloned(),
        limit: q.get("limit").and_then(|l| l.parse().ok()),
        continue_token: q.get("continue").cloned(),
    }
}

/// Serve a request under a group version.
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    st: &AppState,
    method: Method,
    group: &str,
    version: &str,
    rest: &[&str],
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    ws: Option<WebSocketUpgrade>,
) -> Response {
    match serve(st, method, group, version, rest, uri, headers, body, ws).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    st: &AppState,
    method: Method,
    group: &str,
    version: &str,
    rest: &[&str],
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    ws: Option<WebSocketUpgrade>,
) -> Result<Response, ApiError> {
    let c = &st.cluster;
    let raw_query = uri.query();
    let (rest, proxy_tail) = super::proxy::split(rest, uri.path());
    let t = query::target(group, version, rest).ok_or_else(ApiError::unknown_resource)?;
    let def = c.resource(group, version, &t.resource)?;
    if (t.namespace.is_some() && !def.namespaced)
        || (!def.namespaced && t.name.is_none() && t.namespace.is_some())
    {
        return Err(ApiError::unknown_resource());
    }
    if def.namespaced && t.namespace.is_none() && t.name.is_some() {
        return Err(ApiError::unknown_resource());
    }
    let known_sub = match t.subresource.as_str() {
        "" => true,
        "status" => def.status_subresource,
        "log" | "exec" => def.kind == "Pod" && def.group.is_empty(),
        "finalize" => def.plural == "namespaces",
        "proxy" => def.group.is_empty() && matches!(def.plural.as_str(), "pods" | "services"),
        _ => false,
    };
    if !known_sub {
        return Err(ApiError::unknown_resource());
    }
    let q = query::parse(raw_query);
    let verb = verb(&method, &t, &q);
    super::authz::authorize(st, headers, verb, &def, &t, &q)?;
    c.requests.record(verb, &def.plural, &t.subresource);
    let (delay, fault) = c.faults.check(verb, &def.plural, &t.subresource);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if matches!(fault, Some(FaultAction::Hang)) {
        c.faults.hold().await;
    }
    if let Some(f) = fault {
        let name = t.name.clone().unwrap_or_default();
        if let Some(e) = fault_error(&f, &def.group, &def.plural, &name)
            && (!matches!(f, FaultAction::Conflict)
                || matches!(verb, "create" | "update" | "patch"))
        {
            return Err(e);
        }
    }
    let ns = t.namespace.clone().unwrap_or_default();
    let name = t.name.clone().unwrap_or_default();
    if t.subresource == "proxy" {
        let req = super::proxy::ProxyRequest {
            method: &method,
            path: uri.path(),
            tail: &proxy_tail,
            query: raw_query,
            headers,
            body,
        };
        return super::proxy::serve(c, &def, &ns, &name, req).await;
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let include = q
        .get("includeObject")
        .cloned()
        .unwrap_or_else(|| "Metadata".into());
    match verb {
        "get" if t.subresource == "log" => logs(st, &ns, &name, &q),
        "create" if t.subresource == "exec" && t.name.is_some() => {
            super::exec::serve(st, &method, &ns, &name, raw_query, headers, ws)
        }
        "get" => {
            let obj = read::get(c, &def, &ns, &name)?;
            if table::wants_table(accept) {
                let rv = obj["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                return Ok(json_response(
                    200,
                    &table::table(&def, &[obj], &rv, None, c.clock.now(), &include),
                    &[],
                ));
            }
            Ok(json_response(200, &obj, &[]))
        }
        "list" => {
            let list = read::list(c, &def, t.namespace.as_deref(), &list_options(&q))?;
            if table::wants_table(accept) {
                let items = list["items"].as_array().cloned().unwrap_or_default();
                let rv = list["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let tbl = table::table(
                    &def,
                    &items,
                    &rv,
                    list["metadata"].get("continue"),
                    c.clock.now(),
                    &include,
                );
                return Ok(json_response(200, &tbl, &[]));
            }
            Ok(json_response(200, &list, &[]))
        }
        "watch" => {
            let mut lo = list_options(&q);
            if let Some(n) = &t.name {
                lo.field_selector = Some(format!("metadata.name={n}"));
            }
            let filter = Filter::new(&def, &lo)?;
            let params = WatchParams {
                resource_version: q.get("resourceVersion").cloned(),
                send_initial_events: q.get("sendInitialEvents").is_some_and(|v| v == "true"),
                bookmarks: q.get("allowWatchBookmarks").is_some_and(|v| v == "true"),
                timeout: q.get("timeoutSeconds").and_then(|v| v.parse().ok()),
                table: table::wants_table(accept),
                include,
            };
            let body = super::watch::watch(c, &def, t.namespace.clone(), filter, params)?;
            Ok(Response::builder()
                .status(200)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::TRANSFER_ENCODING, "chunked")
                .body(body)
                .unwrap_or_default())
        }
        "create" => {
            if t.name.is_some() {
                return Err(ApiError::method_not_allowed());
            }
            let obj = request_object(&def.kind, headers, &body)?;
            let opts = write_options(&q, headers)?;
            let w = write::create(c, &def, &ns, obj, &opts).await?;
            Ok(json_response(201, &w.object, &w.warnings))
        }
        "update" => {
            if t.name.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            let obj = request_object(&def.kind, headers, &body)?;
            let opts = write_options(&q, headers)?;
            let w = write::update(c, &def, &ns, &name, &t.subresource, obj, &opts).await?;
            Ok(json_response(200, &w.object, &w.warnings))
        }
        "patch" => {
            if t.name.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            let ctype = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let ptype = match ctype.split(';').next().unwrap_or_default().trim() {
                "application/json-patch+json" => PatchType::Json,
                "application/merge-patch+json" => PatchType::Merge,
                "application/strategic-merge-patch+json" => PatchType::Strategic,
                "application/apply-patch+yaml" => PatchType::Apply,
                _ => {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json".to_string(),
                    ));
                }
            };
            let patch: Value = if ptype == PatchType::Apply {
                let text = String::from_utf8_lossy(&body);
                serde_saphyr::from_str(&text)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
            } else {
                serde_json::from_slice(&body)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
            };
            let opts = write_options(&q, headers)?;
            if ptype == PatchType::Apply && q.get("fieldManager").is_none_or(|m| m.is_empty()) {
                return Err(ApiError::bad_request(format!(
                    "PATCH {}: fieldManager is required for apply requests",
                    def.gv_path()
                )));
            }
            if ptype != PatchType::Apply && q.contains_key("force") {
                return Err(ApiError::bad_request(
                    "force flag can only be set for apply patch requests",
                ));
            }
            let w = write::patch(c, &def, &ns, &name, &t.subresource, ptype, patch, &opts).await?;
            Ok(json_response(
                if w.created { 201 } else { 200 },
                &w.object,
                &w.warnings,
            ))
        }
        "delete" => {
            let b: Value = if body.is_empty() {
                Value::Null
            } else {
                parse_body("DeleteOptions", &body)?
            };
            let mut opts = DeleteOptions::from_body(&b);
            if let Some(p) = q.get("propagationPolicy") {
                opts.propagation = Some(p.clone());
            }
            opts.dry_run |= q.get("dryRun").is_some_and(|d| d == "All");
            let (v, code) = delete::delete(c, &def, &ns, &name, &opts)?;
            Ok(json_response(code, &v, &[]))
        }
        "deletecollection" => {
            let list = read::list(c, &def, t.namespace.as_deref(), &list_options(&q))?;
            let mut deleted = vec![];
            for item in list["items"].as_array().into_iter().flatten() {
                let ins = item["metadata"]["namespace"].as_str().unwrap_or_default();
                let n = item["metadata"]["name"].as_str().unwrap_or_default();
                if let Ok((v, _)) = delete::delete(c, &def, ins, n, &DeleteOptions::default()) {
                    if v["kind"] != "Status" {
                        deleted.push(v);
                    } else {
                        deleted.push(item.clone());
                    }
                }
            }
            let mut out = list.clone();
            out["items"] = Value::Array(deleted);
            Ok(json_response(200, &out, &[]))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn logs(
    st: &AppState,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let c = &st.cluster;
    let def = c.resource("", "v1", "pods")?;
    let pod = read::get(c, &def, ns, name)?;
    let names: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let init: Vec<String> = pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match q.get("container") {
        Some(cn) if !cn.is_empty() => {
            if !names.contains(cn) && !init.contains(cn) {
                return Err(ApiError::bad_request(format!(
                    "container {cn} is not valid for pod {name}"
                )));
            }
            cn.clone()
        }
        _ if names.len() == 1 => names[0].clone(),
        _ => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let text = c.kubelet.logs(ns, name, &container).ok_or_else(|| {
        ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        ))
    })?;
    Ok(Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(text))
        .unwrap_or_default())
}
