//! Structural schemas of custom resources: pruning unknown fields, applying defaults, validation.

use crate::error::Cause;
use serde_json::{Value, json};

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn preserves(s: &Value) -> bool {
    s["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true)
}

fn is_embedded(s: &Value) -> bool {
    s["x-kubernetes-embedded-resource"].as_bool() == Some(true)
}

/// Remove fields the schema does not declare; returns their paths (for strict validation).
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut unknown = vec![];
    if let Some(m) = obj.as_object_mut() {
        for (k, v) in m.iter_mut() {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(ps) = schema["properties"].get(k) {
                prune_node(ps, v, k, &mut unknown);
            }
        }
        if !preserves(schema) {
            let declared = schema["properties"].as_object();
            m.retain(|k, _| {
                let keep = matches!(k.as_str(), "apiVersion" | "kind" | "metadata")
                    || declared.is_some_and(|d| d.contains_key(k));
                if !keep {
                    unknown.push(k.clone());
                }
                keep
            });
        }
    }
    unknown.sort();
    unknown
}

fn prune_node(schema: &Value, v: &mut Value, path: &str, unknown: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(props) = schema["properties"].as_object() {
                let preserve = preserves(schema) || is_embedded(schema);
                m.retain(|k, _| {
                    let keep = props.contains_key(k)
                        || preserve
                        || (is_embedded(schema)
                            && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"));
                    if !keep {
                        unknown.push(join(path, k));
                    }
                    keep
                });
                for (k, child) in m.iter_mut() {
                    if let Some(ps) = props.get(k) {
                        prune_node(ps, child, &join(path, k), unknown);
                    }
                }
            } else if schema["additionalProperties"].is_object() {
                for (k, child) in m.iter_mut() {
                    prune_node(
                        &schema["additionalProperties"],
                        child,
                        &join(path, k),
                        unknown,
                    );
                }
            } else if !preserves(schema)
                && schema["additionalProperties"] != json!(true)
                && schema.get("type").is_some()
            {
                for k in m.keys() {
                    unknown.push(join(path, k));
                }
                m.clear();
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for (i, item) in items.iter_mut().enumerate() {
                prune_node(&schema["items"], item, &format!("{path}[{i}]"), unknown);
            }
        }
        _ => {}
    }
}

/// Apply `default` values of the schema where fields are missing.
pub fn apply_defaults(schema: &Value, v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(props) = schema["properties"].as_object() {
                for (k, ps) in props {
                    let missing = match m.get(k) {
                        None => true,
                        Some(Value::Null) => ps["nullable"].as_bool() != Some(true),
                        _ => false,
                    };
                    if missing && let Some(d) = ps.get("default") {
                        m.insert(k.clone(), d.clone());
                    }
                    if let Some(child) = m.get_mut(k)
                        && k != "metadata"
                    {
                        apply_defaults(ps, child);
                    }
                }
            } else if schema["additionalProperties"].is_object() {
                for child in m.values_mut() {
                    apply_defaults(&schema["additionalProperties"], child);
                }
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for item in items {
                apply_defaults(&schema["items"], item);
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) => "\"object\"".into(),
        Value::Array(_) => "\"array\"".into(),
        other => other.to_string(),
    }
}

fn invalid(out: &mut Vec<Cause>, path: &str, value: &Value, detail: String) {
    out.push(Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {}: {detail}", show(value)),
        field: path.into(),
    });
}

/// Validate an object against its schema; returns the causes of a 422.
pub fn validate(schema: &Value, obj: &Value) -> Vec<Cause> {
    let mut out = vec![];
    if let (Some(props), Some(m)) = (schema["properties"].as_object(), obj.as_object()) {
        for (k, ps) in props {
            if k == "metadata" {
                continue;
            }
            if let Some(child) = m.get(k) {
                validate_node(ps, child, k, &mut out);
            }
        }
        for r in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !m.contains_key(r) {
                out.push(Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value".into(),
                    field: r.into(),
                });
            }
        }
    }
    out
}

fn validate_node(s: &Value, v: &Value, path: &str, out: &mut Vec<Cause>) {
    if v.is_null() {
        if s["nullable"].as_bool() != Some(true) && s.get("type").is_some() {
            let t = s["type"].as_str().unwrap_or_default();
            out.push(Cause {
                reason: "FieldValueTypeInvalid".into(),
                message: format!(
                    "Invalid value: \"null\": {path} in body must be of type {t}: \"null\""
                ),
                field: path.into(),
            });
        }
        return;
    }
    let int_or_string = s["x-kubernetes-int-or-string"].as_bool() == Some(true);
    if let Some(t) = s["type"].as_str() {
        let actual = type_name(v);
        let ok = t == actual
            || (t == "number" && actual == "integer")
            || (int_or_string && matches!(actual, "integer" | "string"));
        if !ok {
            out.push(Cause {
                reason: "FieldValueTypeInvalid".into(),
                message: format!(
                    "Invalid value: \"{actual}\": {path} in body must be of type {t}: \"{actual}\""
                ),
                field: path.into(),
            });
            return;
        }
    }
    if let Some(e) = s["enum"].as_array()
        && !e.contains(v)
    {
        let allowed: Vec<String> = e.iter().map(show).collect();
        out.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                show(v),
                allowed.join(", ")
            ),
            field: path.into(),
        });
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s["minimum"].as_f64() {
            let excl = s["exclusiveMinimum"].as_bool() == Some(true);
            if n < min || (excl && n == min) {
                let op = if excl {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                invalid(
                    out,
                    path,
                    v,
                    format!("{path} in body should be {op} {}", s["minimum"]),
                );
            }
        }
        if let Some(max) = s["maximum"].as_f64() {
            let excl = s["exclusiveMaximum"].as_bool() == Some(true);
            if n > max || (excl && n == max) {
                let op = if excl {
                    "less than"
                } else {
                    "less than or equal to"
                };
                invalid(
                    out,
                    path,
                    v,
                    format!("{path} in body should be {op} {}", s["maximum"]),
                );
            }
        }
    }
    if let Some(st) = v.as_str() {
        let len = st.chars().count() as u64;
        if let Some(min) = s["minLength"].as_u64()
            && len < min
        {
            invalid(
                out,
                path,
                v,
                format!("{path} in body should be at least {min} chars long"),
            );
        }
        if let Some(max) = s["maxLength"].as_u64()
            && len > max
        {
            out.push(Cause {
                reason: "FieldValueTooLong".into(),
                message: format!("Too long: may not be more than {max} bytes"),
                field: path.into(),
            });
        }
        if let Some(p) = s["pattern"].as_str()
            && let Ok(re) = regex::Regex::new(p)
            && !re.is_match(st)
        {
            invalid(out, path, v, format!("{path} in body should match '{p}'"));
        }
    }
    match v {
        Value::Object(m) => {
            if let Some(max) = s["maxProperties"].as_u64()
                && m.len() as u64 > max
            {
                out.push(Cause {
                    reason: "FieldValueTooMany".into(),
                    message: format!("Too many: {}: must have at most {max} items", m.len()),
                    field: path.into(),
                });
            }
            if let Some(props) = s["properties"].as_object() {
                for (k, ps) in props {
                    if let Some(child) = m.get(k) {
                        validate_node(ps, child, &join(path, k), out);
                    }
                }
            } else if s["additionalProperties"].is_object() {
                for (k, child) in m {
                    validate_node(&s["additionalProperties"], child, &join(path, k), out);
                }
            }
            for r in s["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !m.contains_key(r) {
                    out.push(Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value".into(),
                        field: join(path, r),
                    });
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = s["minItems"].as_u64()
                && (items.len() as u64) < min
            {
                invalid(
                    out,
                    path,
                    v,
                    format!("{path} in body should have at least {min} items"),
                );
            }
            if let Some(max) = s["maxItems"].as_u64()
                && items.len() as u64 > max
            {
                out.push(Cause {
                    reason: "FieldValueTooMany".into(),
                    message: format!("Too many: {}: must have at most {max} items", items.len()),
                    field: path.into(),
                });
            }
            if s["items"].is_object() {
                for (i, item) in items.iter().enumerate() {
                    validate_node(&s["items"], item, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "string", "minLength": 1},
            "replicas": {"type": "integer", "default": 1, "minimum": 0},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "labels": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string", "maxLength": 2}},
            "ports": {"type": "array", "maxItems": 1, "items": {"type": "integer"}},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }}}})
    }

    #[test]
    fn prune_default_validate() {
        let mut o = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w"}, "spec": {"image": "i", "foo": 1, "extra": {"any": 1}}, "bar": 2});
        let unknown = prune(&schema(), &mut o);
        assert_eq!(unknown, vec!["bar", "spec.foo"]);
        apply_defaults(&schema(), &mut o);
        assert_eq!(o["spec"]["replicas"], 1);
        assert_eq!(o["spec"]["extra"]["any"], 1);
        assert!(validate(&schema(), &o).is_empty());
        let bad = json!({"spec": {"replicas": "x", "mode": "c"}});
        let causes = validate(&schema(), &bad);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["spec.mode", "spec.replicas", "spec.image"]);
        assert_eq!(
            causes[1].message,
            "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
        );
    }

    #[test]
    fn sizes_are_bounded() {
        let ok = json!({"spec": {"image": "i", "labels": {"a": "bb"}, "ports": [1]}});
        assert!(validate(&schema(), &ok).is_empty());
        let big =
            json!({"spec": {"image": "i", "labels": {"a": "bbb", "c": "d"}, "ports": [1, 2]}});
        let causes = validate(&schema(), &big);
        let causes: Vec<(&str, &str)> = causes
            .iter()
            .map(|c| (c.field.as_str(), c.reason.as_str()))
            .collect();
        assert_eq!(
            causes,
            [
                ("spec.labels", "FieldValueTooMany"),
                ("spec.labels.a", "FieldValueTooLong"),
                ("spec.ports", "FieldValueTooMany"),
            ]
        );
    }
}
