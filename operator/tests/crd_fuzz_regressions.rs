//! The inputs of the `autoinstrumentation` fuzz target (`operator/fuzz`) kept as tests: its seed
//! corpus and every regression input go through the target's own harness (deserialisation,
//! validation, policy compilation, one admission), on a thread with a runtime worker's stack.

use std::path::Path;

use serde_json::json;

#[path = "../fuzz/harness/resource.rs"]
mod harness;
use harness::exercise;

/// The stack of a tokio worker thread.
const WORKER_STACK: usize = 2 * 1024 * 1024;

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
