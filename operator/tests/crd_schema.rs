//! The generated CRD: identity, printer columns, and a schema the API server accepts (structural,
//! with enums, patterns, bounds and defaults that are consistent with themselves).

mod crd_support;

use openlit_operator::crd::{
    DEFAULT_OTLP_TIMEOUT_SECONDS, DEFAULT_PROVIDER, DEFAULT_PULL_POLICY, DEFAULT_VERSION, crd,
};
use regex::Regex;
use serde_json::{Value, json};

use crd_support::{apply_defaults, schema, schema_errors};

#[test]
fn identity_matches_openlit() {
    let crd = crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("autoinstrumentations.openlit.io")
    );
    assert_eq!(crd.spec.group, "openlit.io");
    assert_eq!(crd.spec.scope, "Namespaced");
    let names = &crd.spec.names;
    assert_eq!(names.kind, "AutoInstrumentation");
    assert_eq!(names.plural, "autoinstrumentations");
    assert_eq!(names.singular.as_deref(), Some("autoinstrumentation"));
    assert_eq!(names.short_names.as_deref(), Some(&["ai".to_string()][..]));
    assert_eq!(crd.spec.versions.len(), 1);
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.served && version.storage);
    assert!(version.subresources.as_ref().unwrap().status.is_some());
}

#[test]
fn printer_columns() {
    let crd = crd();
    let columns: Vec<(String, String, String)> = crd.spec.versions[0]
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.name.clone(), c.type_.clone(), c.json_path.clone()))
        .collect();
    let expected = [
        (
            "Provider",
            "string",
            ".spec.python.instrumentation.provider",
        ),
        ("Endpoint", "string", ".spec.otlp.endpoint"),
        (
            "Ready",
            "string",
            ".status.conditions[?(@.type==\"Ready\")].status",
        ),
        ("Age", "date", ".metadata.creationTimestamp"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(columns, expected);
}

/// Checks the structural-schema rules of apiextensions.k8s.io/v1 on every node.
fn structural_problems(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(object) = node.as_object() else {
        problems.push(format!("{path}: schema node is not an object"));
        return;
    };
    for forbidden in [
        "$ref",
        "definitions",
        "$defs",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "$schema",
    ] {
        if object.contains_key(forbidden) {
            problems.push(format!("{path}: uses {forbidden}"));
        }
    }
    let int_or_string = object.get("x-kubernetes-int-or-string") == Some(&json!(true));
    let preserve = object.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    match object.get("type").and_then(Value::as_str) {
        Some("object" | "array" | "string" | "integer" | "number" | "boolean") => {}
        Some(other) => problems.push(format!("{path}: unknown type {other}")),
        None if int_or_string || preserve => {}
        None => problems.push(format!("{path}: missing type")),
    }
    if object.get("type").is_some_and(|t| !t.is_string()) {
        problems.push(format!("{path}: type must be a single string"));
    }
    if object.contains_key("properties") && object.contains_key("additionalProperties") {
        problems.push(format!("{path}: both properties and additionalProperties"));
    }
    if object.get("additionalProperties") == Some(&json!(false)) {
        problems.push(format!("{path}: additionalProperties: false"));
    }
    if object.get("uniqueItems") == Some(&json!(true)) {
        problems.push(format!("{path}: uniqueItems: true"));
    }
    if object.get("type") == Some(&json!("array")) && !object.contains_key("items") {
        problems.push(format!("{path}: array without items"));
    }
    if let Some(pattern) = object.get("pattern").and_then(Value::as_str)
        && Regex::new(pattern).is_err()
    {
        problems.push(format!("{path}: pattern does not compile: {pattern}"));
    }
    if let Some(required) = object.get("required").and_then(Value::as_array) {
        let properties = object.get("properties").and_then(Value::as_object);
        for key in required {
            if !properties.is_some_and(|p| p.contains_key(key.as_str().unwrap_or_default())) {
                problems.push(format!("{path}: required {key} is not a property"));
            }
        }
    }
    if let Some(default) = object.get("default") {
        for error in schema_errors(node, default) {
            problems.push(format!("{path}: default {default} is invalid: {error}"));
        }
    }
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        for (key, child) in properties {
            structural_problems(child, &format!("{path}.{key}"), problems);
        }
    }
    if let Some(additional) = object.get("additionalProperties").filter(|a| a.is_object()) {
        structural_problems(additional, &format!("{path}[*]"), problems);
    }
    if let Some(items) = object.get("items") {
        structural_problems(items, &format!("{path}[]"), problems);
    }
}

#[test]
fn schema_is_structural() {
    let mut problems = Vec::new();
    structural_problems(&schema(), "", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn structural_check_catches_violations() {
    let mut problems = Vec::new();
    let bad = json!({
        "type": "object",
        "properties": {
            "a": {"$ref": "#/definitions/A"},
            "b": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "c": {"type": "array"},
            "d": {"type": "string", "enum": ["x"], "default": "y"},
            "e": {"x-kubernetes-int-or-string": true}
        },
        "required": ["z"]
    });
    structural_problems(&bad, "", &mut problems);
    let joined = problems.join("\n");
    for expected in [
        ".a: uses $ref",
        ".a: missing type",
        ".b: uses anyOf",
        ".c: array without items",
        ".d: default \"y\" is invalid",
        ": required \"z\" is not a property",
    ] {
        assert!(
            joined.contains(expected),
            "missing {expected:?} in\n{joined}"
        );
    }
    assert!(!joined.contains(".e:"), "{joined}");
}

fn at<'a>(schema: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(schema, |node, key| match *key {
        "[]" => &node["items"],
        key => &node["properties"][key],
    })
}

#[test]
fn required_fields() {
    let schema = schema();
    assert_eq!(schema["required"], json!(["spec"]));
    assert_eq!(
        at(&schema, &["spec"])["required"],
        json!(["otlp", "selector"])
    );
    assert_eq!(
        at(&schema, &["spec", "otlp"])["required"],
        json!(["endpoint"])
    );
    assert_eq!(
        at(&schema, &["spec", "selector", "matchExpressions", "[]"])["required"],
        json!(["key", "operator"])
    );
    // Required objects carry no default that would make them silently present.
    assert!(at(&schema, &["spec", "selector"]).get("default").is_none());
    assert!(at(&schema, &["spec", "otlp"]).get("default").is_none());
    assert!(
        at(&schema, &["spec", "otlp", "endpoint"])
            .get("default")
            .is_none()
    );
}

#[test]
fn enums_and_bounds() {
    let schema = schema();
    let instrumentation = ["spec", "python", "instrumentation"];
    let field = |name: &str| {
        let mut path = instrumentation.to_vec();
        path.push(name);
        at(&schema, &path).clone()
    };
    assert_eq!(
        field("provider")["enum"],
        json!(["openlit", "openinference", "openllmetry", "custom"])
    );
    assert_eq!(
        field("imagePullPolicy")["enum"],
        json!(["Always", "IfNotPresent", "Never"])
    );
    assert_eq!(field("onFailure")["enum"], json!(["continue", "block"]));
    for selector in ["selector", "ignore"] {
        assert_eq!(
            at(
                &schema,
                &["spec", selector, "matchExpressions", "[]", "operator"]
            )["enum"],
            json!(["In", "NotIn", "Exists", "DoesNotExist"])
        );
    }
    let timeout = at(&schema, &["spec", "otlp", "timeout"]);
    assert_eq!(timeout["minimum"].as_f64(), Some(1.0));
    assert_eq!(timeout["maximum"].as_f64(), Some(300.0));
}

#[test]
fn defaults_are_the_code_defaults() {
    let schema = schema();
    let instrumentation = at(&schema, &["spec", "python", "instrumentation"]);
    assert_eq!(
        instrumentation["properties"]["provider"]["default"],
        json!(DEFAULT_PROVIDER)
    );
    assert_eq!(
        instrumentation["properties"]["version"]["default"],
        json!(DEFAULT_VERSION)
    );
    assert_eq!(
        instrumentation["properties"]["imagePullPolicy"]["default"],
        json!(DEFAULT_PULL_POLICY)
    );
    assert_eq!(
        instrumentation["properties"]["enabled"]["default"],
        json!(true)
    );
    assert_eq!(
        instrumentation["properties"]["onFailure"]["default"],
        json!("continue")
    );
    assert_eq!(
        at(&schema, &["spec", "otlp", "timeout"])["default"],
        json!(DEFAULT_OTLP_TIMEOUT_SECONDS)
    );
}

#[test]
fn defaults_apply_even_when_python_is_absent() {
    // Nested defaults only apply inside an object that exists; `python` and
    // `python.instrumentation` default to {} so the provider defaults always land.
    let schema = schema();
    let mut resource = json!({
        "apiVersion": "openlit.io/v1alpha1",
        "kind": "AutoInstrumentation",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"app": "chat"}},
            "otlp": {"endpoint": "http://collector:4318"}
        }
    });
    apply_defaults(&schema, &mut resource);
    assert_eq!(
        resource["spec"]["python"],
        json!({"instrumentation": {
            "enabled": true,
            "provider": "openlit",
            "version": "latest",
            "imagePullPolicy": "IfNotPresent",
            "onFailure": "continue"
        }})
    );
    assert_eq!(resource["spec"]["otlp"]["timeout"], json!(30));
    assert!(resource["spec"].get("ignore").is_none());
    assert!(resource["spec"].get("go").is_none());
    assert!(schema_errors(&schema, &resource).is_empty());
}

#[test]
fn explicit_values_are_not_overwritten_by_defaults() {
    let schema = schema();
    let mut resource = json!({
        "spec": {
            "selector": {"matchLabels": {"app": "chat"}},
            "python": {"instrumentation": {"provider": "openllmetry", "enabled": false}},
            "otlp": {"endpoint": "http://collector:4318", "timeout": 5}
        }
    });
    apply_defaults(&schema, &mut resource);
    let instrumentation = &resource["spec"]["python"]["instrumentation"];
    assert_eq!(instrumentation["provider"], json!("openllmetry"));
    assert_eq!(instrumentation["enabled"], json!(false));
    assert_eq!(instrumentation["version"], json!("latest"));
    assert_eq!(resource["spec"]["otlp"]["timeout"], json!(5));
}

#[test]
fn schema_rejects_what_the_api_server_should_refuse() {
    let schema = schema();
    let base = json!({
        "spec": {
            "selector": {"matchLabels": {"app": "chat"}},
            "otlp": {"endpoint": "http://collector:4318"}
        }
    });
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no selector",
            json!({"spec": {"otlp": {"endpoint": "http://c:4318"}}}),
            "required field 'selector'",
        ),
        (
            "no otlp",
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}}}),
            "required field 'otlp'",
        ),
        (
            "no endpoint",
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "otlp": {}}}),
            "required field 'endpoint'",
        ),
        (
            "provider",
            with(
                &base,
                "/spec/python",
                json!({"instrumentation": {"provider": "datadog"}}),
            ),
            "is not one of",
        ),
        (
            "pull policy",
            with(
                &base,
                "/spec/python",
                json!({"instrumentation": {"imagePullPolicy": "Sometimes"}}),
            ),
            "is not one of",
        ),
        (
            "operator",
            with(
                &base,
                "/spec/selector",
                json!({"matchExpressions": [{"key": "a", "operator": "Equals"}]}),
            ),
            "is not one of",
        ),
        (
            "timeout low",
            with(
                &base,
                "/spec/otlp",
                json!({"endpoint": "http://c:4318", "timeout": 0}),
            ),
            "below the minimum",
        ),
        (
            "timeout high",
            with(
                &base,
                "/spec/otlp",
                json!({"endpoint": "http://c:4318", "timeout": 301}),
            ),
            "above the maximum",
        ),
        (
            "endpoint scheme",
            with(&base, "/spec/otlp", json!({"endpoint": "ftp://c"})),
            "does not match",
        ),
        (
            "image digest",
            with(
                &base,
                "/spec/python",
                json!({"instrumentation": {"customInitImage": "ghcr.io/x/y@sha256:abc"}}),
            ),
            "does not match",
        ),
        (
            "packages",
            with(
                &base,
                "/spec/python",
                json!({"instrumentation": {"customPackages": "a|b"}}),
            ),
            "does not match",
        ),
        (
            "env name",
            with(
                &base,
                "/spec/python",
                json!({"instrumentation": {"env": [{"name": "1BAD", "value": "x"}]}}),
            ),
            "does not match",
        ),
        (
            "label value",
            with(
                &base,
                "/spec/selector",
                json!({"matchLabels": {"app": "not valid"}}),
            ),
            "does not match",
        ),
        (
            "unknown field",
            with(
                &base,
                "/spec/otlp",
                json!({"endpoint": "http://c:4318", "protocol": "grpc"}),
            ),
            "unknown field",
        ),
    ];
    for (name, resource, expected) in cases {
        let errors = schema_errors(&schema, &resource);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{name}: expected an error containing {expected:?}, got {errors:?}"
        );
    }
    assert!(schema_errors(&schema, &base).is_empty());
}

/// A copy of `base` with the value at `pointer` replaced.
fn with(base: &Value, pointer: &str, value: Value) -> Value {
    let mut copy = base.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    copy.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(key.to_string(), value);
    copy
}
