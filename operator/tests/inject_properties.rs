//! Properties of the mutation over generated pods: the patch applies, applying it again adds
//! nothing, and nothing the pod had is removed or changed except the two documented merges.

use openlit_operator::crd::AutoInstrumentation;
use openlit_operator::inject::{InjectConfig, Policy, mutate};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn policies() -> Vec<Policy> {
    let yaml = r#"
apiVersion: openlit.io/v1alpha1
kind: AutoInstrumentation
metadata: {name: ai, namespace: shop, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  selector: {matchExpressions: [{key: app, operator: In, values: [chat, search]}]}
  python:
    instrumentation:
      env: [{name: FROM_RESOURCE, value: "1"}, {name: OTEL_SERVICE_NAME, value: resource-name}]
  otlp: {endpoint: "http://collector:4318", headers: "k=v"}
"#;
    let resource: AutoInstrumentation = serde_saphyr::from_str(yaml).unwrap();
    vec![Policy::compile(&resource, "ghcr.io/openlit")]
}

fn env_entry() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "PYTHONPATH",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SERVICE_NAME",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OPENLIT_K8S_POD_NAME",
        "APP_MODE",
        "FROM_RESOURCE",
    ]);
    let values = prop::sample::select(vec![
        "",
        "/app",
        "team=a,k8s.pod.name=mine",
        "x=y=z",
        "plain",
    ]);
    (names, values, any::<bool>()).prop_map(|(name, value, from_secret)| {
        if from_secret && name != "PYTHONPATH" {
            json!({"name": name, "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}})
        } else {
            json!({"name": name, "value": value})
        }
    })
}

fn container() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec!["app", "worker", "istio-proxy", "tools", "api"]);
    let images = prop::sample::select(vec![
        "python:3.12-slim",
        "python:3.12-alpine",
        "nginx:1.27",
        "busybox:1.36",
        "registry.example.com:5000/team/llm-api:2",
    ]);
    (
        names,
        images,
        prop::option::of(prop::collection::vec(env_entry(), 0..5)),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(name, image, env, mounts, unknown)| {
            let mut c = json!({"name": name, "image": image});
            if let Some(env) = env {
                c["env"] = Value::Array(env);
            }
            if mounts {
                c["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
            }
            if unknown {
                c["futureField"] = json!({"nested": [1, 2, 3]});
            }
            c
        })
}

fn pod() -> impl Strategy<Value = Value> {
    let labels = prop::sample::select(vec![
        json!({"app": "chat"}),
        json!({"app": "search", "tier": "web"}),
        json!({"app": "other"}),
    ]);
    let annotations = prop::option::of(prop::sample::select(vec![
        json!({"team": "ml"}),
        json!({"openlit.io/inject-python": "true"}),
        json!({"openlit.io/exclude-containers": "worker"}),
    ]));
    (
        labels,
        annotations,
        prop::collection::vec(container(), 1..4),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(labels, annotations, containers, named, init, volumes)| {
            let mut metadata = Map::new();
            if named {
                metadata.insert("name".into(), json!("chat-0"));
            } else {
                metadata.insert("generateName".into(), json!("chat-"));
            }
            metadata.insert("labels".into(), labels);
            if let Some(a) = annotations {
                metadata.insert("annotations".into(), a);
            }
            let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                "spec": {"containers": containers, "unknownSpecField": "kept"}, "status": {"phase": "Pending"}});
            if init {
                pod["spec"]["initContainers"] = json!([{"name": "migrate", "image": "python:3.12"}]);
            }
            if volumes {
                pod["spec"]["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
            }
            pod
        })
}

/// Every value of `before` is still in `after`: objects keep their keys, arrays keep their
/// elements as a prefix (env lists by name), scalars are equal; only the values of PYTHONPATH and
/// OTEL_RESOURCE_ATTRIBUTES may grow.
fn assert_preserved(before: &Value, after: &Value, path: &str) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, value) in b {
                let next = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{path}/{key} was removed"));
                assert_preserved(value, next, &format!("{path}/{key}"));
            }
        }
        (Value::Array(b), Value::Array(a)) if path.ends_with("/env") => {
            for entry in b {
                let name = entry["name"].as_str().unwrap();
                let last_before = b.iter().rev().find(|e| e["name"] == name).unwrap();
                let found: Vec<&Value> = a.iter().filter(|e| e["name"] == name).collect();
                assert_eq!(
                    found.len(),
                    b.iter().filter(|e| e["name"] == name).count(),
                    "{path}: {name} count changed"
                );
                let last_after = a.iter().rev().find(|e| e["name"] == name).unwrap();
                match name {
                    "PYTHONPATH" => {
                        let old = last_before["value"].as_str().unwrap_or("");
                        let new = last_after["value"].as_str().unwrap();
                        let expected = if old.is_empty() {
                            "/instrumentation-packages".to_string()
                        } else {
                            format!("/instrumentation-packages:{old}")
                        };
                        // Unchanged when the container was not instrumented.
                        assert!(new == old || new == expected, "{path}: {old} became {new}");
                    }
                    "OTEL_RESOURCE_ATTRIBUTES" if last_before.get("value").is_some() => {
                        let new = last_after["value"].as_str().unwrap();
                        for pair in last_before["value"]
                            .as_str()
                            .unwrap()
                            .split(',')
                            .filter(|p| p.contains('='))
                        {
                            let (k, v) = pair.split_once('=').unwrap();
                            assert!(
                                new.split(',').any(|p| p == format!("{k}={v}")),
                                "{path}: user pair {pair} lost in {new}"
                            );
                        }
                    }
                    _ => assert_eq!(last_before, last_after, "{path}: {name} changed"),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            assert!(a.len() >= b.len(), "{path} lost elements");
            for (i, (x, y)) in b.iter().zip(a).enumerate() {
                assert_preserved(x, y, &format!("{path}/{i}"));
            }
        }
        _ => assert_eq!(before, after, "{path} changed"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_patch_applies_preserves_the_pod_and_is_idempotent(pod in pod()) {
        let policies = policies();
        let config = InjectConfig { operator_namespace: "openlit".into(), ..InjectConfig::default() };
        let first = mutate(&pod, "shop", &policies, &config);
        let mut once = pod.clone();
        json_patch::patch(&mut once, &first.patch).expect("the patch applies");
        assert_preserved(&pod, &once, "");

        let second = mutate(&once, "shop", &policies, &config);
        let mut twice = once.clone();
        json_patch::patch(&mut twice, &second.patch).expect("the second patch applies");
        prop_assert_eq!(&twice, &once, "a second invocation changed the pod");

        // Every instrumented container loads the packages first.
        for container in once["spec"]["containers"].as_array().unwrap() {
            let mounted = container["volumeMounts"].as_array().into_iter().flatten().any(|m| m["name"] == "instrumentation-packages");
            let pythonpath = container["env"].as_array().into_iter().flatten().rev().find(|e| e["name"] == "PYTHONPATH");
            if mounted {
                let value = pythonpath.and_then(|e| e["value"].as_str()).unwrap_or_default();
                prop_assert!(value.starts_with("/instrumentation-packages"), "PYTHONPATH {}", value);
            }
        }

        // No container ends up with a variable defined twice by the operator.
        for (index, container) in once["spec"]["containers"].as_array().unwrap().iter().enumerate() {
            let before = &pod["spec"]["containers"][index];
            let names_before: Vec<&str> = before["env"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str()).collect();
            for entry in container["env"].as_array().into_iter().flatten() {
                let name = entry["name"].as_str().unwrap();
                let count = container["env"].as_array().unwrap().iter().filter(|e| e["name"] == name).count();
                let count_before = names_before.iter().filter(|n| **n == name).count();
                prop_assert!(count == count_before || (count_before == 0 && count == 1), "{} duplicated", name);
            }
        }
    }
}
