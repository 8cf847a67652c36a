//! Deletion: preconditions, finalizers and deletionTimestamp, propagation policy.

use crate::cluster::{Cluster, gr};
use crate::error::{ApiError, success_status};
use crate::resources::ResourceDef;
use crate::store::EventType;
use crate::write::ns_key;
use serde_json::{Value, json};

/// Options of a delete request.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `propagationPolicy`: `Background` (default), `Foreground` or `Orphan`.
    pub propagation: Option<String>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Read a DeleteOptions body (possibly empty) merged with query parameters.
    pub fn from_body(body: &Value) -> Self {
        DeleteOptions {
            propagation: body["propagationPolicy"]
                .as_str()
                .map(str::to_string)
                .or_else(|| match body["orphanDependents"].as_bool() {
                    Some(true) => Some("Orphan".into()),
                    _ => None,
                }),
            uid: body["preconditions"]["uid"].as_str().map(str::to_string),
            resource_version: body["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_string),
            dry_run: body["dryRun"].as_array().is_some_and(|a| !a.is_empty()),
        }
    }
}

/// Delete an object. Returns the body to send (the object, or a success Status) and the HTTP code.
pub fn delete(
    c: &Cluster,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    opts: &DeleteOptions,
) -> Result<(Value, u16), ApiError> {
    let key = gr(def);
    let mut t = c.store.txn();
    let Some(mut obj) = t.get(&key, ns_key(def, ns), name) else {
        return Err(ApiError::not_found(&def.group, &def.plural, name));
    };
    let uid = obj["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if opts.uid.as_ref().is_some_and(|u| *u != uid) {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {}, UID in object meta: {uid}",
                crate::error::qualified_resource(&def.group, &def.plural),
                opts.uid.clone().unwrap_or_default()
            ),
        ));
    }
    if let Some(rv) = &opts.resource_version
        && obj["metadata"]["resourceVersion"].as_str() != Some(rv.as_str())
    {
        return Err(ApiError::conflict(&def.group, &def.plural, name));
    }
    if opts.dry_run {
        return Ok((obj, 200));
    }
    let orphan = opts.propagation.as_deref() == Some("Orphan");
    let has_finalizers = obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    let is_namespace = def.group.is_empty() && def.plural == "namespaces";
    if has_finalizers || is_namespace {
        if obj["metadata"]["deletionTimestamp"].is_null() {
            obj["metadata"]["deletionTimestamp"] = json!(c.clock.timestamp());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if is_namespace {
                obj["status"]["phase"] = json!("Terminating");
            }
            obj = t.put(&key, ns_key(def, ns), name, obj, EventType::Modified);
        }
        drop(t);
        if orphan {
            orphan_dependents(c, &uid);
        }
        return Ok((obj, 200));
    }
    let removed = t.remove(&key, ns_key(def, ns), name).unwrap_or(obj);
    drop(t);
    if orphan {
        orphan_dependents(c, &uid);
    }
    after_delete(c, def, &removed);
    if def.custom || def.kind == "Pod" {
        Ok((removed, 200))
    } else {
        Ok((success_status(&def.group, &def.plural, name, &uid), 200))
    }
}

/// Side effects of an object being removed from the store.
pub fn after_delete(c: &Cluster, def: &ResourceDef, obj: &Value) {
    if def.kind == "CustomResourceDefinition" {
        let group = obj["spec"]["group"].as_str().unwrap_or_default();
        let plural = obj["spec"]["names"]["plural"].as_str().unwrap_or_default();
        let key = (group.to_string(), plural.to_string());
        let mut t = c.store.txn();
        let all: Vec<Value> = t.list(&key, None);
        for o in all {
            let ns = o["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let n = o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            t.remove(&key, &ns, &n);
        }
        drop(t);
        c.registry.unregister_crd(group, plural);
    }
}

/// Remove ownerReferences to `uid` from every object (Orphan propagation).
fn orphan_dependents(c: &Cluster, uid: &str) {
    let defs = c.registry.all();
    let mut t = c.store.txn();
    for def in defs {
        let key = gr(&def);
        let owned: Vec<Value> = t
            .iter(&key, None)
            .filter(|o| {
                o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|x| x["uid"] == uid))
            })
            .cloned()
            .collect();
        for mut o in owned {
            if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|x| x["uid"] != uid);
            }
            let ns = o["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let n = o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            t.put(&key, &ns, &n, o, EventType::Modified);
        }
    }
}
