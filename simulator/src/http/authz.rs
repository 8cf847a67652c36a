//! The authorization of resource requests: who sends it, and what it asks for in RBAC's terms.

use super::AppState;
use super::query::Target;
use crate::auth::{self, Attributes, Requester};
use crate::error::ApiError;
use crate::resources::ResourceDef;
use crate::write::ns_key;
use axum::http::{HeaderMap, header};
use std::collections::HashMap;

/// The attributes of a resource request: for list and watch, a `metadata.name` field selector
/// names the object; for namespaces, the namespace is the one named.
pub fn attributes(
    verb: &str,
    def: &ResourceDef,
    t: &Target,
    q: &HashMap<String, String>,
) -> Attributes {
    let mut name = t.name.clone().unwrap_or_default();
    if name.is_empty()
        && matches!(verb, "list" | "watch")
        && let Some(selected) = q
            .get("fieldSelector")
            .and_then(|s| auth::name_from_field_selector(s))
    {
        name = selected;
    }
    let mut namespace = t.namespace.clone().unwrap_or_default();
    if def.group.is_empty() && def.plural == "namespaces" && !name.is_empty() {
        namespace = name.clone();
    }
    Attributes {
        verb: verb.to_string(),
        group: def.group.clone(),
        resource: def.plural.clone(),
        subresource: t.subresource.clone(),
        namespace,
        name,
    }
}

/// Refuse a resource request the sender may not make (401 for bad credentials, 403 for RBAC).
/// An apply patch that would create its object also needs `create` on it, as upstream.
pub fn authorize(
    st: &AppState,
    headers: &HeaderMap,
    verb: &str,
    def: &ResourceDef,
    t: &Target,
    q: &HashMap<String, String>,
) -> Result<(), ApiError> {
    let c = &st.cluster;
    let requester = auth::authenticate(c, headers.get(header::AUTHORIZATION))?;
    if requester == Requester::Admin {
        return Ok(());
    }
    let attrs = attributes(verb, def, t, q);
    auth::authorize(c, &requester, &attrs)?;
    let apply = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/apply-patch"));
    if verb == "patch" && apply && t.subresource.is_empty() {
        let ns = t.namespace.clone().unwrap_or_default();
        let exists = c
            .store
            .txn()
            .get_ref(&crate::cluster::gr(def), ns_key(def, &ns), &attrs.name)
            .is_some();
        if !exists {
            let create = Attributes {
                verb: "create".into(),
                ..attrs
            };
            auth::authorize(c, &requester, &create)?;
        }
    }
    Ok(())
}
