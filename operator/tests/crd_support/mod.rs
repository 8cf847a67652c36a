//! Helpers shared by the `crd_*` tests: loading resources from YAML, and a small evaluator of the
//! generated OpenAPI schema (types, enums, patterns, bounds, sizes, required fields, unknown
//! fields and defaults) so that tests can check what the API server would accept and store.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use openlit_operator::crd::{AutoInstrumentation, crd, validate};
use regex::Regex;
use serde_json::Value;

/// Parses one `AutoInstrumentation` from YAML.
pub fn resource(yaml: &str) -> AutoInstrumentation {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("resource does not parse: {e}\n{yaml}"))
}

/// Parses every YAML document of a string as JSON values.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(yaml).unwrap_or_else(|e| panic!("YAML does not parse: {e}"))
}

/// The directory of example resources.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/resources")
}

/// The `openAPIV3Schema` of the generated CRD, as JSON.
pub fn schema() -> Value {
    let crd = serde_json::to_value(crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Everything the schema rejects in `value` (unknown fields included, since the API server
/// would silently drop them), as `path: problem` lines.
pub fn schema_errors(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check_node(schema, value, "", &mut errors);
    errors
}

fn check_node(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let mut fail = |problem: String| errors.push(format!("{path}: {problem}"));
    if value.is_null() {
        if schema["nullable"] != Value::Bool(true) {
            fail("null is not allowed".into());
        }
        return;
    }
    if let (Some(max), Some(text)) = (schema["maxLength"].as_u64(), value.as_str()) {
        let len = text.chars().count() as u64;
        if len > max {
            fail(format!("{len} characters, more than maxLength {max}"));
        }
    }
    if let (Some(max), Some(array)) = (schema["maxItems"].as_u64(), value.as_array())
        && array.len() as u64 > max
    {
        fail(format!("{} items, more than maxItems {max}", array.len()));
    }
    if let (Some(max), Some(object)) = (schema["maxProperties"].as_u64(), value.as_object())
        && object.len() as u64 > max
    {
        fail(format!(
            "{} properties, more than maxProperties {max}",
            object.len()
        ));
    }
    if schema["x-kubernetes-int-or-string"] == Value::Bool(true) {
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            fail(format!("expected an integer or string, got {value}"));
        }
        return;
    }
    let type_ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        other => {
            fail(format!("schema has no usable type ({other:?})"));
            return;
        }
    };
    if !type_ok {
        fail(format!("expected {}, got {value}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        fail(format!("{value} is not one of {}", schema["enum"]));
    }
    if let (Some(pattern), Some(text)) = (schema["pattern"].as_str(), value.as_str()) {
        let regex = Regex::new(pattern).unwrap_or_else(|e| panic!("bad pattern {pattern}: {e}"));
        if !regex.is_match(text) {
            fail(format!("{text:?} does not match {pattern}"));
        }
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema["minimum"].as_f64()
            && number < min
        {
            fail(format!("{number} is below the minimum {min}"));
        }
        if let Some(max) = schema["maximum"].as_f64()
            && number > max
        {
            fail(format!("{number} is above the maximum {max}"));
        }
    }
    if let Some(object) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten() {
            let key = required.as_str().unwrap();
            if !object.contains_key(key) {
                fail(format!("required field '{key}' is missing"));
            }
        }
        let properties = schema["properties"].as_object();
        for (key, child) in object {
            let child_path = format!("{path}.{key}");
            match (
                properties.and_then(|p| p.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(child_schema), _) => check_node(child_schema, child, &child_path, errors),
                (None, Some(additional)) => check_node(additional, child, &child_path, errors),
                (None, None)
                    if path.is_empty()
                        && ["apiVersion", "kind", "metadata"].contains(&key.as_str()) => {}
                (None, None) => {
                    errors.push(format!("{child_path}: unknown field (would be pruned)"))
                }
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            check_node(items, item, &format!("{path}[{index}]"), errors);
        }
    }
}

/// Applies the schema's defaults the way the API server does: a missing property with a default
/// gets it, then defaulting continues inside every property present (including defaulted ones).
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    if let (Some(properties), Some(object)) =
        (schema["properties"].as_object(), value.as_object_mut())
    {
        for (key, property) in properties {
            if let Some(default) = property.get("default")
                && !object.contains_key(key)
            {
                object.insert(key.clone(), default.clone());
            }
        }
        for (key, child) in object.iter_mut() {
            if let Some(property) = properties.get(key) {
                apply_defaults(property, child);
            }
        }
    } else if let (Some(additional), Some(object)) =
        (schema.get("additionalProperties"), value.as_object_mut())
    {
        for child in object.values_mut() {
            apply_defaults(additional, child);
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array_mut()) {
        for item in array {
            apply_defaults(items, item);
        }
    }
}

/// Turns a JSON value back into a typed resource.
pub fn from_json(value: Value) -> AutoInstrumentation {
    serde_json::from_value(value).unwrap()
}

/// Wraps a spec written at column 0 into a full resource document.
pub fn document_with_spec(spec_yaml: &str) -> String {
    let indented: String = spec_yaml
        .trim_matches('\n')
        .lines()
        .map(|line| format!("  {line}\n"))
        .collect();
    format!(
        "apiVersion: openlit.io/v1alpha1\nkind: AutoInstrumentation\nmetadata:\n  name: case\n  namespace: default\nspec:\n{indented}"
    )
}

/// A resource and its raw JSON form, from a spec written at column 0.
pub fn resource_with_spec(spec_yaml: &str) -> (AutoInstrumentation, Value) {
    let document = document_with_spec(spec_yaml);
    let raw: Value = serde_saphyr::from_str(&document)
        .unwrap_or_else(|e| panic!("case does not parse: {e}\n{document}"));
    (resource(&document), raw)
}

/// An expected validation message: the whole text, or its beginning.
pub enum Msg {
    /// Exactly this text.
    Is(&'static str),
    /// Text starting with this.
    StartsWith(&'static str),
}

impl Msg {
    fn matches(&self, actual: &str) -> bool {
        match self {
            Msg::Is(text) => actual == *text,
            Msg::StartsWith(prefix) => actual.starts_with(prefix),
        }
    }
}

/// A validation case: a spec (YAML at column 0) and exactly the messages it must produce.
pub struct Case {
    pub name: &'static str,
    pub spec: String,
    pub errors: Vec<Msg>,
    pub warnings: Vec<Msg>,
}

/// Validates every case and compares the messages, in order and in number. Every resource the
/// code finds free of errors must also be accepted by the generated schema, so that the API
/// server never refuses what the operator would accept.
pub fn check(cases: Vec<Case>) {
    let schema = schema();
    for case in cases {
        let (resource, raw) = resource_with_spec(&case.spec);
        let result = validate(&resource);
        let same = |actual: &[String], expected: &[Msg]| {
            actual.len() == expected.len() && actual.iter().zip(expected).all(|(a, e)| e.matches(a))
        };
        assert!(
            same(&result.errors, &case.errors) && same(&result.warnings, &case.warnings),
            "{}: got errors {:?} and warnings {:?}",
            case.name,
            result.errors,
            result.warnings
        );
        assert_eq!(result.is_valid(), case.errors.is_empty(), "{}", case.name);
        if result.is_valid() {
            let rejected = schema_errors(&schema, &raw);
            assert!(
                rejected.is_empty(),
                "{}: valid for the operator but refused by the CRD schema: {rejected:?}",
                case.name
            );
        }
    }
}
