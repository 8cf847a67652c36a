//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`: the TokenRequest subresource, so
//! `kubectl create token` issues tokens the API server accepts.

use super::{AppState, json_response};
use crate::auth::{self, Attributes, Requester};
use crate::error::{ApiError, Cause};
use axum::body::Bytes;
use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
const MIN_EXPIRATION_SECONDS: i64 = 600;

/// Issue a token for the ServiceAccount `namespace/name`.
pub fn token_request(
    st: &AppState,
    requester: &Requester,
    method: &Method,
    namespace: &str,
    name: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let c = &st.cluster;
    if method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    c.requests.record("create", "serviceaccounts", "token");
    let attrs = Attributes {
        verb: "create".into(),
        group: String::new(),
        resource: "serviceaccounts".into(),
        subresource: "token".into(),
        namespace: namespace.into(),
        name: name.into(),
    };
    auth::authorize(c, requester, &attrs)?;
    let request: Value = if body.is_empty() {
        json!({})
    } else if let Some(decoded) = super::protobuf::token_request(body) {
        decoded
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type TokenRequest): {e}"
            ))
        })?
    };
    let exists = c
        .store
        .txn()
        .get_ref(&(String::new(), "serviceaccounts".into()), namespace, name)
        .is_some();
    if !exists {
        return Err(ApiError::not_found("", "serviceaccounts", name));
    }
    let seconds = request["spec"]["expirationSeconds"]
        .as_i64()
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    if seconds < MIN_EXPIRATION_SECONDS {
        return Err(ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: format!(
                    "Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
                field: "spec.expirationSeconds".into(),
            }],
        ));
    }
    let token = c.auth.tokens.issue(namespace, name);
    let expires = c.clock.now() + chrono::Duration::seconds(seconds);
    let response = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": {
            "audiences": request["spec"]["audiences"].as_array().cloned().unwrap_or_else(|| vec![json!("https://kubernetes.default.svc.cluster.local")]),
            "expirationSeconds": seconds,
            "boundObjectRef": request["spec"]["boundObjectRef"].clone(),
        },
        "status": {
            "token": token,
            "expirationTimestamp": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
    });
    Ok(json_response(201, &response, &[]))
}
