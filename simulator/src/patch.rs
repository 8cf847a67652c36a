//! JSON patch, JSON merge patch and strategic merge patch.

use crate::error::ApiError;
use serde_json::{Map, Value};

/// Apply an RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Apply an RFC 6902 JSON patch.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let p: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "the server rejected our request due to an error in our request: {e}"
        ))
    })?;
    let mut work = target.clone();
    json_patch::patch(&mut work, &p).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    })?;
    *target = work;
    Ok(())
}

/// The merge key of a list field in the built-in types, given the field name and the parent path.
/// `None` means the list is atomic (replaced as a whole).
pub fn merge_key(kind: &str, path: &[String], field: &str) -> Option<&'static str> {
    let parent = path.last().map(String::as_str).unwrap_or_default();
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "ports" if kind == "Service" && parent == "spec" => Some("port"),
        "ports" => Some("containerPort"),
        "hostAliases" => Some("ip"),
        "ownerReferences" => Some("uid"),
        "conditions" => Some("type"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "webhooks"
            if matches!(
                kind,
                "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration"
            ) && path.is_empty() =>
        {
            Some("name")
        }
        _ => None,
    }
}

/// Primitive lists that strategic merge patch merges (set semantics) instead of replacing.
fn merged_primitive_list(field: &str) -> bool {
    field == "finalizers"
}

/// Apply a strategic merge patch for an object of the given kind.
pub fn strategic_merge_patch(
    kind: &str,
    target: &mut Value,
    patch: &Value,
) -> Result<(), ApiError> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "strategic merge patch must be a JSON object",
        ));
    }
    smp_object(kind, &mut vec![], target, patch);
    Ok(())
}

fn smp_object(kind: &str, path: &mut Vec<String>, target: &mut Value, patch: &Value) {
    let Some(pm) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = pm.clone();
        p.remove("$patch");
        *target = Value::Object(strip_directives(p));
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let retain: Option<Vec<String>> = pm.get("$retainKeys").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    });
    for (k, v) in pm {
        if k.starts_with('$') {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let _ = field;
            continue;
        }
        let Some(tm) = target.as_object_mut() else {
            return;
        };
        if v.is_null() {
            tm.remove(k);
            continue;
        }
        match v {
            Value::Object(_) => {
                let entry = tm.entry(k.clone()).or_insert(Value::Null);
                path.push(k.clone());
                smp_object(kind, path, entry, v);
                path.pop();
            }
            Value::Array(items) => {
                let entry = tm.entry(k.clone()).or_insert(Value::Array(vec![]));
                if let Some(key) = merge_key(kind, path, k) {
                    path.push(k.clone());
                    smp_list(kind, path, key, entry, items);
                    path.pop();
                } else if merged_primitive_list(k) {
                    let mut cur = entry.as_array().cloned().unwrap_or_default();
                    for i in items {
                        if !cur.contains(i) {
                            cur.push(i.clone());
                        }
                    }
                    *entry = Value::Array(cur);
                } else {
                    *entry = strip_directives_value(v.clone());
                }
            }
            _ => {
                tm.insert(k.clone(), v.clone());
            }
        }
    }
    // `$deleteFromPrimitiveList/<field>` directives.
    for (k, v) in pm {
        if let (Some(field), Some(del)) =
            (k.strip_prefix("$deleteFromPrimitiveList/"), v.as_array())
            && let Some(list) = target.get_mut(field).and_then(Value::as_array_mut)
        {
            list.retain(|x| !del.contains(x));
        }
    }
    if let (Some(keys), Some(tm)) = (retain, target.as_object_mut()) {
        tm.retain(|k, _| keys.contains(k));
    }
}

fn smp_list(kind: &str, path: &mut Vec<String>, key: &str, target: &mut Value, items: &[Value]) {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *target = Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .map(|i| strip_directives_value(i.clone()))
                .collect(),
        );
        return;
    }
    let mut list = target.as_array().cloned().unwrap_or_default();
    for item in items {
        let id = item.get(key).cloned();
        let pos = id
            .as_ref()
            .and_then(|id| list.iter().position(|e| e.get(key) == Some(id)));
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(p) = pos {
                list.remove(p);
            }
            continue;
        }
        match pos {
            Some(p) => smp_object(kind, path, &mut list[p], item),
            None => list.push(strip_directives_value(item.clone())),
        }
    }
    *target = Value::Array(list);
}

/// A patch value as stored: directives dropped, and `null` members too (a built-in object decodes
/// them as absent fields).
fn strip_directives(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
        .map(|(k, v)| (k, strip_directives_value(v)))
        .collect()
}

fn strip_directives_value(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives(m)),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_directives_value).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn smp_merges_containers_and_env_by_name() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]},
            {"name": "b", "image": "y"}]}});
        let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}], "containers": [
            {"name": "a", "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "3"}]}]}});
        strategic_merge_patch("Pod", &mut pod, &patch).unwrap();
        assert_eq!(pod["spec"]["containers"][0]["image"], "x");
        assert_eq!(
            pod["spec"]["containers"][0]["env"],
            json!([{"name": "A", "value": "3"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(pod["spec"]["containers"][1]["name"], "b");
    }

    #[test]
    fn smp_delete_directive() {
        let mut pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        strategic_merge_patch(
            "Pod",
            &mut pod,
            &json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
        )
        .unwrap();
        assert_eq!(pod["spec"]["containers"], json!([{"name": "b"}]));
    }
}
