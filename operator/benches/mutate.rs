//! Cost of one admission decision and patch for a typical pod and for a 50-container pod.

use criterion::{Criterion, criterion_group, criterion_main};
use openlit_operator::crd::AutoInstrumentation;
use openlit_operator::inject::{InjectConfig, Policy, mutate};
use serde_json::{Value, json};
use std::hint::black_box;

fn policies() -> Vec<Policy> {
    (0..20)
        .map(|i| {
            let yaml = format!(
                "metadata: {{name: ai-{i}, namespace: {ns}, creationTimestamp: \"2026-01-01T00:00:{i:02}Z\"}}\nspec:\n  selector: {{matchLabels: {{app: {app}}}}}\n  otlp: {{endpoint: \"http://collector:4318\"}}\n",
                ns = if i % 2 == 0 { "shop" } else { "openlit" },
                app = if i == 7 { "chat" } else { "other" },
            );
            let resource: AutoInstrumentation = serde_saphyr::from_str(&yaml).expect("resource");
            Policy::compile(&resource, "ghcr.io/openlit")
        })
        .collect()
}

fn pod(containers: usize) -> Value {
    let containers: Vec<Value> = (0..containers)
        .map(|i| {
            json!({
                "name": format!("app-{i}"),
                "image": "python:3.12-slim",
                "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "team=ml"}],
                "ports": [{"containerPort": 8080}],
                "resources": {"requests": {"cpu": "100m"}},
            })
        })
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "chat-7d9f8b6c5d-", "namespace": "shop",
            "labels": {"app": "chat", "pod-template-hash": "7d9f8b6c5d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "chat-7d9f8b6c5d", "uid": "u", "controller": true}]},
        "spec": {"containers": containers, "volumes": [{"name": "kube-api-access-x", "projected": {"sources": []}}]},
    })
}

fn bench(c: &mut Criterion) {
    let policies = policies();
    let config = InjectConfig::default();
    for (label, size) in [
        ("mutate one-container pod", 1),
        ("mutate 50-container pod", 50),
    ] {
        let pod = pod(size);
        assert!(!mutate(&pod, "shop", &policies, &config).patch.is_empty());
        c.bench_function(label, |b| {
            b.iter(|| mutate(black_box(&pod), "shop", black_box(&policies), &config))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
