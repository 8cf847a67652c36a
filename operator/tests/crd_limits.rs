//! Size limits of the resource's fields: the generated CRD bounds every string, list and map, and
//! validation enforces the same numbers, so a resource stored under a CRD without limits is
//! refused by the operator with a message naming the field and the limit. A value at its limit
//! is accepted by both.

mod crd_support;

use crd_support::{from_json, schema, schema_errors};
use openlit_operator::crd::limits::*;
use openlit_operator::crd::validate;
use serde_json::{Value, json};

const ENDPOINT: &str = "http://openlit.openlit.svc:4318";

/// A valid spec selecting `app=chat`, with `change` merged into it (objects merge, other values
/// replace).
fn spec(change: Value) -> Value {
    let mut spec = json!({
        "selector": {"matchLabels": {"app": "chat"}},
        "otlp": {"endpoint": ENDPOINT},
    });
    merge(&mut spec, change);
    spec
}

fn merge(into: &mut Value, change: Value) {
    match (into, change) {
        (Value::Object(into), Value::Object(change)) => {
            for (key, value) in change {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, change) => *into = change,
    }
}

/// A spec whose `selector` is exactly `selector`.
fn selected(selector: Value) -> Value {
    json!({"selector": selector, "otlp": {"endpoint": ENDPOINT}})
}

fn python(fields: Value) -> Value {
    spec(json!({"python": {"instrumentation": fields}}))
}

fn document(spec: Value) -> Value {
    json!({
        "apiVersion": "openlit.io/v1alpha1",
        "kind": "AutoInstrumentation",
        "metadata": {"name": "limits", "namespace": "default"},
        "spec": spec,
    })
}

/// The operator's validation errors for a spec.
fn errors(spec: &Value) -> Vec<String> {
    validate(&from_json(document(spec.clone()))).errors
}

/// What the generated schema refuses in a spec.
fn refused(spec: &Value) -> Vec<String> {
    schema_errors(&schema(), &document(spec.clone()))
}

/// `at_limit` is valid for both the operator and the schema; `over` gets exactly `message` from
/// the operator and is refused by the schema at `path`.
#[track_caller]
fn bounded(at_limit: Option<Value>, over: Value, message: &str, path: &str) {
    if let Some(at_limit) = at_limit {
        assert_eq!(errors(&at_limit), Vec::<String>::new(), "{message}");
        assert_eq!(refused(&at_limit), Vec::<String>::new(), "{message}");
    }
    assert_eq!(errors(&over), [message]);
    let refused = refused(&over);
    assert!(
        refused
            .iter()
            .any(|r| r.starts_with(&format!(".spec.{path}: "))
                && (r.contains("more than max") || r.contains("does not match"))),
        "the schema refuses .spec.{path}: {refused:?}"
    );
}

fn repeat(text: &str, times: usize) -> String {
    text.repeat(times)
}

#[test]
fn otlp_fields() {
    let path = format!("{ENDPOINT}/");
    bounded(
        Some(spec(
            json!({"otlp": {"endpoint": format!("{path}{}", repeat("p", MAX_ENDPOINT_LEN - path.len()))}}),
        )),
        spec(
            json!({"otlp": {"endpoint": format!("{path}{}", repeat("p", MAX_ENDPOINT_LEN + 1 - path.len()))}}),
        ),
        "spec.otlp.endpoint is 2049 characters long; at most 2048 are allowed",
        "otlp.endpoint",
    );
    bounded(
        Some(spec(
            json!({"otlp": {"headers": format!("k={}", repeat("v", MAX_HEADERS_LEN - 2))}}),
        )),
        spec(json!({"otlp": {"headers": format!("k={}", repeat("v", MAX_HEADERS_LEN - 1))}})),
        "spec.otlp.headers is 8193 characters long; at most 8192 are allowed",
        "otlp.headers",
    );
    let secret = |name: String| {
        spec(json!({"otlp": {"headersFrom": {"secretKeyRef": {"name": name, "key": "headers"}}}}))
    };
    bounded(
        Some(secret(repeat("s", MAX_REFERENCE_LEN))),
        secret(repeat("s", MAX_REFERENCE_LEN + 1)),
        "spec.otlp.headersFrom.secretKeyRef.name is 513 characters long; at most 512 are allowed",
        "otlp.headersFrom.secretKeyRef.name",
    );
}

#[test]
fn python_strings() {
    bounded(
        Some(python(
            json!({"customPackages": repeat("a,", MAX_CUSTOM_PACKAGES_LEN / 2)}),
        )),
        python(json!({"customPackages": repeat("a,", MAX_CUSTOM_PACKAGES_LEN / 2) + "b"})),
        "spec.python.instrumentation.customPackages is 16385 characters long; at most 16384 are allowed",
        "python.instrumentation.customPackages",
    );
    bounded(
        None,
        python(json!({"customInitImage": repeat("a/", 600)})),
        "spec.python.instrumentation.customInitImage is 1200 characters long; at most 1024 are allowed",
        "python.instrumentation.customInitImage",
    );
    // A 128-character tag is allowed (it only draws the semantic-versioning warning).
    let tag = |len: usize| python(json!({"version": format!("1.0.0-{}", repeat("a", len - 6))}));
    bounded(
        Some(tag(MAX_VERSION_LEN)),
        tag(MAX_VERSION_LEN + 1),
        "spec.python.instrumentation.version is 129 characters long; at most 128 are allowed",
        "python.instrumentation.version",
    );
    bounded(
        Some(spec(
            json!({"resource": {"environment": repeat("e", MAX_ENVIRONMENT_LEN)}}),
        )),
        spec(json!({"resource": {"environment": repeat("e", MAX_ENVIRONMENT_LEN + 1)}})),
        "spec.resource.environment is 257 characters long; at most 256 are allowed",
        "resource.environment",
    );
}

#[test]
fn environment_lists() {
    let entries = |count: usize| -> Value {
        (0..count)
            .map(|i| json!({"name": format!("VAR_{i}"), "value": "x"}))
            .collect()
    };
    bounded(
        Some(python(json!({"env": entries(MAX_ENV_ENTRIES)}))),
        python(json!({"env": entries(MAX_ENV_ENTRIES + 1)})),
        "spec.python.instrumentation.env has 129 entries; at most 128 are allowed",
        "python.instrumentation.env",
    );
    let named = |len: usize| python(json!({"env": [{"name": repeat("N", len), "value": "x"}]}));
    bounded(
        Some(named(MAX_ENV_NAME_LEN)),
        named(MAX_ENV_NAME_LEN + 1),
        "spec.python.instrumentation.env[0].name is 257 characters long; at most 256 are allowed",
        "python.instrumentation.env[0].name",
    );
    let valued = |len: usize| python(json!({"env": [{"name": "N", "value": repeat("v", len)}]}));
    bounded(
        Some(valued(MAX_ENV_VALUE_LEN)),
        valued(MAX_ENV_VALUE_LEN + 1),
        "spec.python.instrumentation.env[0].value is 16385 characters long; at most 16384 are allowed",
        "python.instrumentation.env[0].value",
    );
    let from = |len: usize| {
        python(
            json!({"env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": repeat("f", len)}}}]}),
        )
    };
    bounded(
        Some(from(MAX_REFERENCE_LEN)),
        from(MAX_REFERENCE_LEN + 1),
        "spec.python.instrumentation.env[0].valueFrom.fieldRef.fieldPath is 513 characters long; at most 512 are allowed",
        "python.instrumentation.env[0].valueFrom.fieldRef.fieldPath",
    );
}

#[test]
fn go_section() {
    let go = |fields: Value| spec(json!({"go": fields}));
    bounded(
        None,
        go(json!({"image": repeat("i", MAX_IMAGE_REFERENCE_LEN + 1)})),
        "spec.go.image is 1025 characters long; at most 1024 are allowed",
        "go.image",
    );
    let entries: Value = (0..=MAX_ENV_ENTRIES)
        .map(|i| json!({"name": format!("V{i}"), "value": "x"}))
        .collect();
    bounded(
        None,
        go(json!({"env": entries})),
        "spec.go.env has 129 entries; at most 128 are allowed",
        "go.env",
    );
}

#[test]
fn init_container_resources() {
    let requests = |count: usize| -> Value {
        let map: serde_json::Map<String, Value> = (0..count)
            .map(|i| (format!("example.com/r{i}"), json!("1")))
            .collect();
        python(json!({"resources": {"requests": map}}))
    };
    bounded(
        Some(requests(MAX_RESOURCE_ENTRIES)),
        requests(MAX_RESOURCE_ENTRIES + 1),
        "spec.python.instrumentation.resources.requests has 17 entries; at most 16 are allowed",
        "python.instrumentation.resources.requests",
    );
    let quantity = |len: usize| python(json!({"resources": {"limits": {"cpu": repeat("1", len)}}}));
    bounded(
        Some(quantity(MAX_QUANTITY_LEN)),
        quantity(MAX_QUANTITY_LEN + 1),
        "spec.python.instrumentation.resources.limits['cpu'] is 65 characters long; at most 64 are allowed",
        "python.instrumentation.resources.limits.cpu",
    );
}

#[test]
fn selectors() {
    let labels = |count: usize| -> Value {
        let map: serde_json::Map<String, Value> =
            (0..count).map(|i| (format!("k{i}"), json!("v"))).collect();
        selected(json!({"matchLabels": map}))
    };
    bounded(
        Some(labels(MAX_MATCH_LABELS)),
        labels(MAX_MATCH_LABELS + 1),
        "spec.selector.matchLabels has 65 entries; at most 64 are allowed",
        "selector.matchLabels",
    );
    let expressions = |count: usize| -> Value {
        let list: Value = (0..count)
            .map(|i| json!({"key": format!("k{i}"), "operator": "Exists"}))
            .collect();
        selected(json!({"matchExpressions": list}))
    };
    bounded(
        Some(expressions(MAX_MATCH_EXPRESSIONS)),
        expressions(MAX_MATCH_EXPRESSIONS + 1),
        "spec.selector.matchExpressions has 65 entries; at most 64 are allowed",
        "selector.matchExpressions",
    );
    let values = |count: usize| -> Value {
        let values: Vec<String> = (0..count).map(|i| format!("v{i}")).collect();
        spec(
            json!({"ignore": {"matchExpressions": [{"key": "tier", "operator": "In", "values": values}]}}),
        )
    };
    bounded(
        Some(values(MAX_SELECTOR_VALUES)),
        values(MAX_SELECTOR_VALUES + 1),
        "spec.ignore.matchExpressions[0].values has 257 entries; at most 256 are allowed",
        "ignore.matchExpressions[0].values",
    );
    // The longest valid key: a 253-character DNS prefix, '/', a 63-character name.
    let prefix = [
        repeat("a", 63),
        repeat("b", 63),
        repeat("c", 63),
        repeat("d", 61),
    ]
    .join(".");
    let key = format!("{prefix}/{}", repeat("n", 63));
    assert_eq!(key.len(), MAX_LABEL_KEY_LEN);
    let keyed = |key: String| {
        spec(json!({"ignore": {"matchExpressions": [{"key": key, "operator": "Exists"}]}}))
    };
    bounded(
        Some(keyed(key.clone())),
        keyed(format!("{key}n")),
        "spec.ignore.matchExpressions[0].key is 318 characters long; at most 317 are allowed",
        "ignore.matchExpressions[0].key",
    );
    let valued = |len: usize| selected(json!({"matchLabels": {"app": repeat("v", len)}}));
    bounded(
        Some(valued(MAX_LABEL_VALUE_LEN)),
        valued(MAX_LABEL_VALUE_LEN + 1),
        "spec.selector.matchLabels['app'] is 64 characters long; at most 63 are allowed",
        "selector.matchLabels.app",
    );
    // A key longer than any label key is named by the limit, not quoted.
    let long_key = repeat("k", 100_000);
    let errors = errors(&selected(json!({"matchLabels": {long_key: "v"}})));
    assert_eq!(
        errors,
        ["spec.selector.matchLabels key is 100000 characters long; at most 317 are allowed"]
    );
}

#[test]
fn enumerated_fields_are_bounded_by_their_longest_value() {
    let schema = schema();
    let instrumentation = &schema["properties"]["spec"]["properties"]["python"]["properties"]["instrumentation"]
        ["properties"];
    assert_eq!(instrumentation["provider"]["maxLength"], json!(13));
    assert_eq!(instrumentation["imagePullPolicy"]["maxLength"], json!(12));
    assert_eq!(instrumentation["onFailure"]["maxLength"], json!(8));
    assert_eq!(instrumentation["pythonVersion"]["maxLength"], json!(4));
    // A long unknown value is refused without being quoted in full.
    let errors = errors(&python(json!({"provider": repeat("p", 10_000)})));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("... (10000 characters)") && errors[0].len() < 300,
        "{}",
        errors[0]
    );
}

/// Every string, list and map under `spec` carries a bound.
#[test]
fn every_spec_field_is_bounded_in_the_crd() {
    fn walk(node: &Value, path: &str, unbounded: &mut Vec<String>) {
        let is_string = node["type"] == "string" || node["x-kubernetes-int-or-string"] == true;
        if is_string && node.get("maxLength").is_none() {
            unbounded.push(format!("{path}: string without maxLength"));
        }
        if node["type"] == "array" && node.get("maxItems").is_none() {
            unbounded.push(format!("{path}: list without maxItems"));
        }
        if node.get("additionalProperties").is_some() && node.get("maxProperties").is_none() {
            unbounded.push(format!("{path}: map without maxProperties"));
        }
        for (key, child) in node["properties"].as_object().into_iter().flatten() {
            walk(child, &format!("{path}.{key}"), unbounded);
        }
        if let Some(items) = node.get("items") {
            walk(items, &format!("{path}[]"), unbounded);
        }
        if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
            walk(values, &format!("{path}{{}}"), unbounded);
        }
    }
    let mut unbounded = Vec::new();
    walk(&schema()["properties"]["spec"], "spec", &mut unbounded);
    assert_eq!(unbounded, Vec::<String>::new());
}

/// The marker nested 200,000 parentheses deep, and one that fits the length limit but nests
/// thousands deep: each is a validation error, also on a thread with a small stack.
#[test]
fn deep_markers_are_validation_errors() {
    let marker = |depth: usize| {
        format!(
            "x; {}python_version > \"3\"{}",
            "(".repeat(depth),
            ")".repeat(depth)
        )
    };
    let cases = [
        (
            marker(200_000),
            "spec.python.instrumentation.customPackages is 400023 characters long; at most 16384 are allowed"
                .to_string(),
        ),
        (
            marker(8_000),
            format!(
                "spec.python.instrumentation.customPackages item {:?}... (16023 characters) has text after ';' that is not an environment marker such as python_version >= \"3.9\": parentheses nest more than 32 deep",
                marker(8_000).chars().take(QUOTE_CHARS).collect::<String>()
            ),
        ),
    ];
    for (packages, expected) in cases {
        let spec = python(json!({"customPackages": packages}));
        let found = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || errors(&spec))
            .unwrap()
            .join()
            .expect("validation returns on a small stack");
        assert_eq!(found, [expected]);
    }
}
