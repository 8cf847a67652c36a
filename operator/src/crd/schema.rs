//! Adjustments to the derived JSON schemas that attributes alone cannot express: required fields
//! that also carry serde defaults (so that a resource applied without the CRD still
//! deserialises), and patterns and size limits on fields of Kubernetes types.
//!
//! About defaults: the API server applies a property's `default` only when the object holding
//! that property exists. `spec.otlp` is required, so `otlp.timeout` always gets its default;
//! `spec.python` and `spec.python.instrumentation` default to `{}` so that the provider, version,
//! pull policy and failure-mode defaults inside them apply to every stored resource too.

use schemars::Schema;
use serde_json::{Map, Value, json};

use super::env_vars::ENV_NAME_PATTERN;
use super::labels::{LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN};
use super::limits::{
    MAX_ENV_NAME_LEN, MAX_ENV_VALUE_LEN, MAX_LABEL_VALUE_LEN, MAX_QUANTITY_LEN, MAX_REFERENCE_LEN,
    MAX_RESOURCE_ENTRIES,
};

/// Walks `path` through nested objects and returns the object found there.
fn object_at<'a>(schema: &'a mut Schema, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut node = schema.as_object_mut()?;
    for key in path {
        node = node.get_mut(*key)?.as_object_mut()?;
    }
    Some(node)
}

/// Marks `fields` as required and drops the serde-derived defaults they carry.
fn require(schema: &mut Schema, fields: &[&str]) {
    if let Some(properties) = object_at(schema, &["properties"]) {
        for field in fields {
            if let Some(property) = properties.get_mut(*field).and_then(Value::as_object_mut) {
                property.remove("default");
            }
        }
    }
    if let Some(object) = schema.as_object_mut() {
        let mut required: Vec<String> = object
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        required.extend(fields.iter().map(|f| f.to_string()));
        required.sort();
        required.dedup();
        object.insert("required".into(), json!(required));
    }
}

/// Sets `key` to `value` on the object at `path`, when that object exists.
fn set(schema: &mut Schema, path: &[&str], key: &str, value: Value) {
    if let Some(node) = object_at(schema, path) {
        node.insert(key.into(), value);
    }
}

/// Sets `maxLength` to `max` on every string (and int-or-string) node of `object`, itself
/// included, that has none.
fn bound_strings(object: &mut Map<String, Value>, max: usize) {
    let is_string = object.get("type") == Some(&json!("string"))
        || object.get("x-kubernetes-int-or-string") == Some(&json!(true));
    if is_string && !object.contains_key("maxLength") {
        object.insert("maxLength".into(), json!(max));
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        for child in properties.values_mut() {
            if let Value::Object(child) = child {
                bound_strings(child, max);
            }
        }
    }
    for key in ["additionalProperties", "items"] {
        if let Some(Value::Object(child)) = object.get_mut(key) {
            bound_strings(child, max);
        }
    }
}

/// An environment variable list (`python.instrumentation.env`, `go.env`): the name, the value
/// and every string of `valueFrom` are bounded.
fn bound_env(schema: &mut Schema) {
    let Some(fields) = object_at(schema, &["properties", "env", "items", "properties"]) else {
        return;
    };
    for (field, max) in [("name", MAX_ENV_NAME_LEN), ("value", MAX_ENV_VALUE_LEN)] {
        if let Some(Value::Object(property)) = fields.get_mut(field) {
            property.insert("maxLength".into(), json!(max));
        }
    }
    if let Some(Value::Object(source)) = fields.get_mut("valueFrom") {
        bound_strings(source, MAX_REFERENCE_LEN);
    }
}

/// `python.instrumentation.resources`: requests and limits hold few quantities, claims few
/// entries, each string short.
fn bound_resources(schema: &mut Schema) {
    for (field, key) in [
        ("requests", "maxProperties"),
        ("limits", "maxProperties"),
        ("claims", "maxItems"),
    ] {
        set(
            schema,
            &["properties", "resources", "properties", field],
            key,
            json!(MAX_RESOURCE_ENTRIES),
        );
    }
    if let Some(resources) = object_at(schema, &["properties", "resources"]) {
        bound_strings(resources, MAX_QUANTITY_LEN);
    }
}

/// `spec`: `selector` and `otlp` are required; `python` defaults to `{}`.
pub(crate) fn spec_schema(schema: &mut Schema) {
    require(schema, &["selector", "otlp"]);
    set(schema, &["properties", "python"], "default", json!({}));
}

/// `spec.python`: `instrumentation` defaults to `{}`.
pub(crate) fn python_schema(schema: &mut Schema) {
    set(
        schema,
        &["properties", "instrumentation"],
        "default",
        json!({}),
    );
}

/// `spec.otlp`: `endpoint` is required.
pub(crate) fn otlp_schema(schema: &mut Schema) {
    require(schema, &["endpoint"]);
}

/// Label selectors: label values follow the Kubernetes label syntax.
pub(crate) fn selector_schema(schema: &mut Schema) {
    set(
        schema,
        &["properties", "matchLabels", "additionalProperties"],
        "pattern",
        json!(LABEL_VALUE_PATTERN),
    );
    set(
        schema,
        &["properties", "matchLabels", "additionalProperties"],
        "maxLength",
        json!(MAX_LABEL_VALUE_LEN),
    );
}

/// Selector requirements: keys and values follow the Kubernetes label syntax.
pub(crate) fn requirement_schema(schema: &mut Schema) {
    set(
        schema,
        &["properties", "key"],
        "pattern",
        json!(LABEL_KEY_PATTERN),
    );
    set(
        schema,
        &["properties", "values", "items"],
        "pattern",
        json!(LABEL_VALUE_PATTERN),
    );
    set(
        schema,
        &["properties", "values", "items"],
        "maxLength",
        json!(MAX_LABEL_VALUE_LEN),
    );
}

/// `python.instrumentation`: environment variable names follow the Kubernetes syntax; the
/// environment and the init container's resources are bounded.
pub(crate) fn instrumentation_schema(schema: &mut Schema) {
    set(
        schema,
        &["properties", "env", "items", "properties", "name"],
        "pattern",
        json!(ENV_NAME_PATTERN),
    );
    bound_env(schema);
    bound_resources(schema);
}

/// `go`: its environment is bounded like Python's.
pub(crate) fn go_schema(schema: &mut Schema) {
    bound_env(schema);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_merges_and_drops_defaults() {
        let mut schema: Schema = serde_json::from_value(json!({
            "type": "object",
            "required": ["a"],
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "object", "default": {}},
            }
        }))
        .unwrap();
        require(&mut schema, &["b"]);
        assert_eq!(schema.get("required"), Some(&json!(["a", "b"])));
        assert_eq!(
            schema.get("properties").unwrap()["b"],
            json!({"type": "object"})
        );
    }

    #[test]
    fn set_ignores_missing_paths() {
        let mut schema: Schema = serde_json::from_value(json!({"type": "object"})).unwrap();
        set(&mut schema, &["properties", "x"], "pattern", json!("^a$"));
        assert_eq!(schema.as_value(), &json!({"type": "object"}));
    }
}
