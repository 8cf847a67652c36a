//! The inputs of the `autoinstrumentation` fuzz target (`operator/fuzz`) kept as tests: its seed
//! corpus and every regression input go through the same steps as the target (deserialisation,
//! validation, policy compilation, one admission), on a thread with a runtime worker's stack.

use std::collections::BTreeMap;
use std::path::Path;

use openlit_operator::crd::{AutoInstrumentation, validate};
use openlit_operator::inject::{Decision, InjectConfig, Policy, mutate};
use serde_json::json;

/// The stack of a tokio worker thread.
const WORKER_STACK: usize = 2 * 1024 * 1024;

fn resource(bytes: &[u8]) -> Option<AutoInstrumentation> {
    if let Ok(resource) = serde_json::from_slice(bytes) {
        return Some(resource);
    }
    serde_saphyr::from_str(std::str::from_utf8(bytes).ok()?).ok()
}

/// What the fuzz target does with one input; `true` when the input was a resource.
fn exercise(bytes: &[u8]) -> bool {
    let Some(mut resource) = resource(bytes) else {
        return false;
    };
    resource.metadata.namespace = Some("shop".into());
    let validation = validate(&resource);
    let policy = Policy::compile(&resource, "ghcr.io/openlit");
    assert_eq!(policy.errors.is_empty(), validation.is_valid());
    let labels: BTreeMap<String, String> = resource
        .spec
        .selector
        .match_labels
        .clone()
        .unwrap_or_default();
    let pod = json!({
        "metadata": {"name": "chat", "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "python:3.12"}]}
    });
    let mutation = mutate(&pod, "shop", &[policy], &InjectConfig::default());
    if !validation.is_valid() {
        assert!(!matches!(mutation.decision, Decision::Instrumented { .. }));
    }
    true
}

fn inputs(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    inputs
}

fn on_worker_stack(inputs: Vec<(String, Vec<u8>)>) -> usize {
    std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || {
            inputs
                .iter()
                .filter(|(name, bytes)| {
                    println!("{name}");
                    exercise(bytes)
                })
                .count()
        })
        .unwrap()
        .join()
        .expect("every input is handled without a panic")
}

#[test]
fn regression_inputs_are_handled() {
    let inputs = inputs("regressions-resource");
    assert!(!inputs.is_empty());
    on_worker_stack(inputs);
}

#[test]
fn the_seed_corpus_is_made_of_resources() {
    let inputs = inputs("seeds-resource");
    let total = inputs.len();
    let multi_document = inputs
        .iter()
        .filter(|(name, _)| name.ends_with("openlit-compatible.yaml"))
        .count();
    assert_eq!(on_worker_stack(inputs), total - multi_document);
}

#[test]
fn a_marker_200000_parentheses_deep_is_handled() {
    let depth = 200_000;
    let resource = json!({
        "apiVersion": "openlit.io/v1alpha1",
        "kind": "AutoInstrumentation",
        "metadata": {"name": "deep"},
        "spec": {
            "selector": {"matchLabels": {"app": "chat"}},
            "otlp": {"endpoint": "http://c:4318"},
            "python": {"instrumentation": {"customPackages": format!(
                "x; {}python_version > \"3\"{}", "(".repeat(depth), ")".repeat(depth)
            )}},
        },
    });
    on_worker_stack(vec![("deep".into(), resource.to_string().into_bytes())]);
}
