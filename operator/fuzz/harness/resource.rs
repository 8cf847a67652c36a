//! One input of the `autoinstrumentation` fuzz target: an `AutoInstrumentation` as JSON (or YAML)
//! goes through what the operator does with every resource it watches (deserialisation,
//! validation, policy compilation) and through an admission of a pod it selects. None of it may
//! panic or overflow the stack, and a resource with validation errors must never instrument.
//! Shared by the fuzz target and by `operator/tests/crd_fuzz_regressions.rs`, which replays the
//! target's inputs under `cargo test`.

use std::collections::BTreeMap;

use openlit_operator::crd::{AutoInstrumentation, validate};
use openlit_operator::inject::{Decision, InjectConfig, Policy, mutate};
use serde_json::{Value, json};

fn resource(bytes: &[u8]) -> Option<AutoInstrumentation> {
    if let Ok(resource) = serde_json::from_slice(bytes) {
        return Some(resource);
    }
    serde_saphyr::from_str(std::str::from_utf8(bytes).ok()?).ok()
}

/// Runs one input through the checks; `true` when the input was a resource.
pub fn exercise(bytes: &[u8]) -> bool {
    let Some(mut resource) = resource(bytes) else {
        return false;
    };
    resource.metadata.namespace = Some("shop".into());
    let validation = validate(&resource);
    let policy = Policy::compile(&resource, "ghcr.io/openlit");
    assert_eq!(policy.errors.is_empty(), validation.is_valid());

    // A pod carrying every label the resource's selector names, so that it is often selected.
    let labels: BTreeMap<String, String> = resource
        .spec
        .selector
        .match_labels
        .clone()
        .unwrap_or_default();
    let pod = json!({
        "metadata": {"name": "chat", "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "python:3.12", "env": [
            {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "team=a,service.name=x"}
        ]}]}
    });
    let selected = policy.selects(&labels);
    let mutation = mutate(&pod, "shop", &[policy], &InjectConfig::default());
    let instrumented = matches!(mutation.decision, Decision::Instrumented { .. });
    assert!(
        validation.is_valid() || !instrumented,
        "an invalid resource never instruments"
    );
    assert!(
        selected || !instrumented,
        "an unselected pod is never instrumented"
    );
    let _: Value = serde_json::to_value(&mutation.patch).expect("the patch serialises");
    true
}
