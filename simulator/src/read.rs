//! Get and list with label/field selectors and limit/continue pagination.

use crate::cluster::{Cluster, gr};
use crate::error::ApiError;
use crate::resources::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::write::ns_key;
use base64::Engine;
use serde_json::{Value, json};

/// Options of a list or watch request.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `limit`.
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
}

/// A compiled filter for list and watch.
pub struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    /// Compile the selectors of a request.
    pub fn new(def: &ResourceDef, o: &ListOptions) -> Result<Self, ApiError> {
        Ok(Filter {
            labels: LabelSelector::parse(o.label_selector.as_deref().unwrap_or_default())?,
            fields: FieldSelector::parse(
                o.field_selector.as_deref().unwrap_or_default(),
                &def.kind,
            )?,
        })
    }

    /// Whether an object passes.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(&obj["metadata"]["labels"]) && self.fields.matches(obj)
    }
}

/// Read one object.
pub fn get(c: &Cluster, def: &ResourceDef, ns: &str, name: &str) -> Result<Value, ApiError> {
    c.store
        .txn()
        .get(&gr(def), ns_key(def, ns), name)
        .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(json!({"rv": rv, "start": format!("{ns}/{name}\u{0}")}).to_string())
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok((
        v["rv"].as_u64().ok_or_else(bad)?,
        v["start"].as_str().ok_or_else(bad)?.to_string(),
    ))
}

/// List objects as a `<Kind>List`.
pub fn list(
    c: &Cluster,
    def: &ResourceDef,
    ns: Option<&str>,
    o: &ListOptions,
) -> Result<Value, ApiError> {
    let filter = Filter::new(def, o)?;
    let start = match &o.continue_token {
        Some(t) if !t.is_empty() => Some(decode_continue(t)?),
        _ => None,
    };
    let t = c.store.txn();
    let rv = start.as_ref().map(|s| s.0).unwrap_or_else(|| t.rv());
    let ns = if def.namespaced { ns } else { None };
    let mut items = vec![];
    let mut next = None;
    let mut remaining = 0u64;
    for obj in t.iter(&gr(def), ns) {
        let ons = obj["metadata"]["namespace"].as_str().unwrap_or_default();
        let oname = obj["metadata"]["name"].as_str().unwrap_or_default();
        if let Some((_, after)) = &start
            && format!("{ons}/{oname}\u{0}").as_str() <= after.as_str()
        {
            continue;
        }
        if !filter.matches(obj) {
            continue;
        }
        if o.limit.is_some_and(|l| l > 0 && items.len() >= l) {
            remaining += 1;
            continue;
        }
        items.push(obj.clone());
        if o.limit.is_some_and(|l| l > 0 && items.len() == l) {
            next = Some(encode_continue(rv, ons, oname));
        }
    }
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if remaining > 0
        && let Some(n) = next
    {
        meta["continue"] = json!(n);
        meta["remainingItemCount"] = json!(remaining);
    }
    Ok(
        json!({"kind": def.list_kind(), "apiVersion": def.api_version(), "metadata": meta, "items": items}),
    )
}
