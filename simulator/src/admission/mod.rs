//! The mutating admission chain: every matching MutatingWebhookConfiguration is called over HTTPS.

mod call;
mod matching;

use crate::cluster::{Cluster, WriteOptions};
use crate::error::ApiError;
use crate::resources::ResourceDef;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub use call::WebhookOutcome;

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// CREATE.
    Create,
    /// UPDATE.
    Update,
}

impl Operation {
    /// As written in rules and AdmissionReview.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
        }
    }
}

/// What is being admitted.
#[derive(Debug, Clone)]
pub struct Attributes {
    /// The resource.
    pub def: ResourceDef,
    /// Namespace of the request.
    pub namespace: String,
    /// Name (empty for a create with generateName).
    pub name: String,
    /// CREATE or UPDATE.
    pub operation: Operation,
    /// Subresource written, if any.
    pub subresource: String,
    /// The object before the update.
    pub old: Option<Value>,
    /// Request options.
    pub opts: WriteOptions,
}

/// `(namespace, name, port)` of a service.
type ServiceKey = (String, String, u16);

/// Where webhook services (`clientConfig.service`) are reachable: `(namespace, name, port)` → address.
#[derive(Clone, Default)]
pub struct ServiceRegistry {
    map: Arc<Mutex<HashMap<ServiceKey, SocketAddr>>>,
}

impl ServiceRegistry {
    /// Route calls for service `namespace/name:port` to `addr`.
    pub fn register(&self, namespace: &str, name: &str, port: u16, addr: SocketAddr) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((namespace.into(), name.into(), port), addr);
    }

    /// Forget a service endpoint.
    pub fn unregister(&self, namespace: &str, name: &str, port: u16) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).remove(&(
            namespace.into(),
            name.into(),
            port,
        ));
    }

    /// Resolve a service endpoint.
    pub fn resolve(&self, namespace: &str, name: &str, port: u16) -> Option<SocketAddr> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(namespace.into(), name.into(), port))
            .copied()
    }
}

struct Hook {
    config: String,
    spec: Value,
}

fn matching_hooks(c: &Cluster, attrs: &Attributes, obj: &Value) -> Vec<Hook> {
    if attrs.def.group == "admissionregistration.k8s.io" {
        return vec![];
    }
    let t = c.store.txn();
    let configs = t.list(
        &(
            "admissionregistration.k8s.io".into(),
            "mutatingwebhookconfigurations".into(),
        ),
        None,
    );
    let ns_labels = if attrs.def.kind == "Namespace" && attrs.def.group.is_empty() {
        obj["metadata"]["labels"].clone()
    } else if attrs.def.namespaced {
        t.get_ref(&("".into(), "namespaces".into()), "", &attrs.namespace)
            .map(|n| n["metadata"]["labels"].clone())
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    drop(t);
    let mut hooks = vec![];
    for cfg in configs {
        let config = cfg["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for w in cfg["webhooks"].as_array().into_iter().flatten() {
            if matching::matches(w, attrs, obj, &ns_labels) {
                hooks.push(Hook {
                    config: config.clone(),
                    spec: w.clone(),
                });
            }
        }
    }
    hooks
}

/// Run the mutating webhooks for a request; returns the mutated object and the warnings.
pub async fn mutate(
    c: &Cluster,
    attrs: &Attributes,
    mut obj: Value,
) -> Result<(Value, Vec<String>), ApiError> {
    let hooks = matching_hooks(c, attrs, &obj);
    if hooks.is_empty() {
        return Ok((obj, vec![]));
    }
    let mut warnings = vec![];
    let mut after_call: Vec<Option<Value>> = vec![None; hooks.len()];
    for (i, hook) in hooks.iter().enumerate() {
        obj = invoke(c, attrs, hook, obj, &mut warnings).await?;
        after_call[i] = Some(obj.clone());
    }
    for (i, hook) in hooks.iter().enumerate() {
        let again = hook.spec["reinvocationPolicy"].as_str() == Some("IfNeeded")
            && after_call[i].as_ref() != Some(&obj);
        if again {
            obj = invoke(c, attrs, hook, obj, &mut warnings).await?;
        }
    }
    Ok((obj, warnings))
}

async fn invoke(
    c: &Cluster,
    attrs: &Attributes,
    hook: &Hook,
    obj: Value,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let name = hook.spec["name"].as_str().unwrap_or_default().to_string();
    let review = review(attrs, &obj);
    match call::call(c, &hook.spec, &review).await {
        Ok(outcome) => {
            warnings.extend(outcome.warnings.clone());
            if !outcome.allowed {
                return Err(denied(&name, &outcome.result));
            }
            match outcome.patch {
                Some(p) => {
                    let mut patched = obj.clone();
                    let p: json_patch::Patch =
                        serde_json::from_value(p).map_err(|e| ApiError::internal(e.to_string()))?;
                    json_patch::patch(&mut patched, &p)
                        .map_err(|e| ApiError::internal(e.to_string()))?;
                    Ok(patched)
                }
                None => Ok(obj),
            }
        }
        Err(msg) => {
            let _ = hook.config.len();
            let msg = format!("failed calling webhook \"{name}\": {msg}");
            if hook.spec["failurePolicy"].as_str() == Some("Ignore") {
                Ok(obj)
            } else {
                Err(ApiError::internal(msg))
            }
        }
    }
}

fn denied(name: &str, result: &Value) -> ApiError {
    let by = format!("admission webhook \"{name}\" denied the request");
    let code = result["code"].as_u64().filter(|c| *c >= 400).unwrap_or(400) as u16;
    let message = match (result["message"].as_str(), result["reason"].as_str()) {
        (Some(m), _) if !m.is_empty() => format!("{by}: {m}"),
        (_, Some(r)) if !r.is_empty() => format!("{by}: {r}"),
        _ => format!("{by} without explanation"),
    };
    ApiError {
        code,
        reason: result["reason"].as_str().unwrap_or_default().to_string(),
        message,
        details: result.get("details").cloned(),
    }
}

fn review(attrs: &Attributes, obj: &Value) -> Value {
    let d = &attrs.def;
    let kind = json!({"group": d.group, "version": d.version, "kind": d.kind});
    let resource = json!({"group": d.group, "version": d.version, "resource": d.plural});
    let options_kind = match attrs.operation {
        Operation::Create => "CreateOptions",
        Operation::Update => "UpdateOptions",
    };
    let mut options = json!({"kind": options_kind, "apiVersion": "meta.k8s.io/v1"});
    if !attrs.opts.field_manager.is_empty() {
        options["fieldManager"] = json!(attrs.opts.field_manager);
    }
    let mut req = json!({
        "uid": crate::cluster::new_uid(),
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "operation": attrs.operation.as_str(),
        "userInfo": attrs.opts.user.to_json(),
        "object": obj,
        "oldObject": attrs.old.clone().unwrap_or(Value::Null),
        "dryRun": attrs.opts.dry_run,
        "options": options,
    });
    if !attrs.name.is_empty() {
        req["name"] = json!(attrs.name);
    }
    if d.namespaced {
        req["namespace"] = json!(attrs.namespace);
    }
    if !attrs.subresource.is_empty() {
        req["subResource"] = json!(attrs.subresource);
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
}
