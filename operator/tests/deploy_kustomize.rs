//! The kustomize base in `operator/deploy`: what `kubectl kustomize` renders, and what a cluster
//! (the simulator, driven by the real kubectl) stores after
//! `kubectl kustomize operator/deploy | kubectl apply --server-side -f -`.
//! Both are checked against what the operator itself expects: its settings come from the
//! Deployment's environment through the operator's own parser, and every name, port and permission
//! must agree with them.

mod deploy_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use deploy_support::*;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use kube::discovery::Discovery;
use openlit_operator::config::{CertMode, Config, FailurePolicy};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const NAMESPACE: &str = "openlit";

/// Checks a whole installation (rendered or read back from the API) and returns the operator's
/// configuration as its Deployment sets it.
fn check_installation(objects: &[Value]) -> Config {
    let namespace = find(objects, "Namespace", Some(NAMESPACE));
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted",
        "the operator's namespace enforces the restricted Pod Security Standard"
    );
    let crd = find(objects, "CustomResourceDefinition", None);
    assert_eq!(crd["metadata"]["name"], "autoinstrumentations.openlit.io");

    let deployment = find(objects, "Deployment", Some("openlit-operator"));
    assert_eq!(deployment["metadata"]["namespace"], NAMESPACE);
    let container = operator_container(deployment);
    let config = config_of(container, NAMESPACE, "openlit-operator-abc12-xyz34");
    assert_eq!(config.installation_name, "openlit");
    assert_eq!(config.pod_namespace, NAMESPACE);
    assert_eq!(
        config.pod_name.as_deref(),
        Some("openlit-operator-abc12-xyz34")
    );
    assert_eq!(config.webhook_failure_policy, FailurePolicy::Ignore);
    assert_eq!(config.cert_mode, CertMode::SelfManaged);
    assert!(
        config.namespaces().is_empty(),
        "the base serves every namespace"
    );

    // Identity and namespace come from the downward API.
    let env = container["env"].as_array().unwrap();
    for (name, field) in [
        ("POD_NAMESPACE", "metadata.namespace"),
        ("POD_NAME", "metadata.name"),
    ] {
        let var = env.iter().find(|v| v["name"] == name).unwrap();
        assert_eq!(var["valueFrom"]["fieldRef"]["fieldPath"], field, "{name}");
    }
    for name in env.iter().map(|v| v["name"].as_str().unwrap()) {
        assert!(
            operator_env_names().iter().any(|known| known == name),
            "{name} is not read by the operator"
        );
    }

    // Two replicas kept apart, never both disrupted, the image at the workspace version.
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2);
    assert_eq!(container["args"], serde_json::json!(["run"]));
    assert_eq!(
        container["image"],
        format!("ghcr.io/openlit/openlit-operator:{}", workspace_version())
    );
    let pod = &spec["template"];
    let pod_labels = &pod["metadata"]["labels"];
    assert_eq!(
        pod_labels["openlit.io/inject"], "false",
        "the operator's own pods opt out of injection"
    );
    let selector = spec["selector"]["matchLabels"].as_object().unwrap();
    for (k, v) in selector {
        assert_eq!(&pod_labels[k], v, "the selector matches the pod labels");
    }
    let anti = &pod["spec"]["affinity"]["podAntiAffinity"];
    let term = &anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"];
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        term["labelSelector"]["matchLabels"],
        spec["selector"]["matchLabels"]
    );
    let pdb = find(objects, "PodDisruptionBudget", Some("openlit-operator"));
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"]["selector"], spec["selector"]);

    check_restricted(&pod["spec"], container);
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                container["resources"][kind][resource].is_string(),
                "{kind}.{resource} is set"
            );
        }
    }

    // Probes and ports agree with the operator's settings.
    assert_eq!(container_port(container, "webhook"), config.webhook_port);
    assert_eq!(container_port(container, "metrics"), config.metrics_port);
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path);
        assert_eq!(
            resolve_port(container, &get["port"]),
            config.health_port,
            "{probe}"
        );
        assert!(get["scheme"].is_null() || get["scheme"] == "HTTP");
    }

    // The Service the webhook configuration points at.
    let service = find(objects, "Service", Some(&config.service_name()));
    assert_eq!(service["metadata"]["namespace"], NAMESPACE);
    let port = &service["spec"]["ports"][0];
    assert_eq!(port["port"], config.webhook_service_port);
    assert_eq!(
        resolve_port(container, &port["targetPort"]),
        config.webhook_port
    );
    assert_eq!(
        &service["spec"]["selector"],
        &spec["selector"]["matchLabels"]
    );
    let metrics = find(objects, "Service", Some("openlit-operator-metrics"));
    assert_eq!(
        resolve_port(container, &metrics["spec"]["ports"][0]["targetPort"]),
        config.metrics_port
    );

    check_rbac(objects, deployment, &config);
    check_network_policy(objects, deployment, &config);
    config
}

/// The `restricted` Pod Security Standard, plus a read-only root filesystem.
fn check_restricted(pod_spec: &Value, container: &Value) {
    let pod_sc = &pod_spec["securityContext"];
    let sc = &container["securityContext"];
    let effective = |field: &str| {
        if sc[field].is_null() {
            pod_sc[field].clone()
        } else {
            sc[field].clone()
        }
    };
    assert_eq!(effective("runAsNonRoot"), true);
    assert_ne!(effective("runAsUser"), 0);
    assert_eq!(effective("seccompProfile")["type"], "RuntimeDefault");
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert!(sc["privileged"].is_null() || sc["privileged"] == false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(sc["capabilities"]["add"].is_null());
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(
            pod_spec[host].is_null() || pod_spec[host] == false,
            "{host}"
        );
    }
    for volume in pod_spec["volumes"].as_array().cloned().unwrap_or_default() {
        assert!(
            volume.get("emptyDir").is_some() || volume.get("secret").is_some(),
            "volume types allowed by the restricted profile: {volume}"
        );
    }
}

/// Least privilege: cluster-wide only the resources, their status, Events and the webhook
/// configuration by name; the Secret and the Lease by name, in the operator's namespace.
/// The NetworkPolicy admits the webhook and metrics ports, from any source, and no other port:
/// the health port is probed by the kubelet from the node, which a NetworkPolicy always admits.
fn check_network_policy(objects: &[Value], deployment: &Value, config: &Config) {
    let policy = find(objects, "NetworkPolicy", Some("openlit-operator"));
    let admitted = admitted_ports(policy, deployment);
    let any_source: Vec<Value> = Vec::new();
    assert_eq!(
        admitted,
        BTreeMap::from([
            (config.webhook_port, any_source.clone()),
            (config.metrics_port, any_source),
        ]),
        "{}",
        policy["spec"]
    );
    assert!(!admitted.contains_key(&config.health_port));
}

fn check_rbac(objects: &[Value], deployment: &Value, config: &Config) {
    let account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap();
    let sa = find(objects, "ServiceAccount", Some(account));
    assert_eq!(sa["metadata"]["namespace"], NAMESPACE);
    let subject =
        serde_json::json!([{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]);

    let cluster_role = find(objects, "ClusterRole", None);
    let name = cluster_role["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with(&config.installation_name), "{name}");
    let binding = find(objects, "ClusterRoleBinding", None);
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], name);
    assert_eq!(binding["subjects"], subject);
    assert_no_wildcards(cluster_role);
    assert_eq!(
        config.webhook_config_owner.as_deref(),
        Some(name),
        "the webhook configuration is owned by the installation's ClusterRole"
    );
    // Events go through events.k8s.io/v1 only; Secrets, Leases, Pods and Namespaces are never read
    // cluster-wide: the exact list says so.
    assert_grants_exactly(cluster_role, &cluster_grants_needed(config, name));

    let role = find(objects, "Role", None);
    assert_eq!(role["metadata"]["namespace"], config.pod_namespace);
    let role_binding = find(objects, "RoleBinding", None);
    assert_eq!(role_binding["metadata"]["namespace"], config.pod_namespace);
    assert_eq!(role_binding["roleRef"]["kind"], "Role");
    assert_eq!(role_binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(role_binding["subjects"], subject);
    assert_no_wildcards(role);
    assert_grants_exactly(role, &namespace_grants_needed(config));
}

#[test]
fn the_kustomize_base_renders_what_the_operator_expects() {
    let objects = documents(&kustomize());
    let keys: Vec<String> = objects.iter().map(key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), keys.len(), "no object twice: {keys:?}");
    check_installation(&objects);
}

/// `kubectl apply --server-side -f -` with `manifest` on standard input.
async fn apply(kubeconfig: &Path, manifest: &str) -> String {
    let mut child = tokio::process::Command::new(kubectl())
        .args(["apply", "--server-side", "-f", "-"])
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(manifest.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("kubectl apply finished in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl apply failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_base_to_a_cluster_and_the_api_holds_what_the_operator_expects() {
    let sim = kubesim::Simulator::start().await.expect("simulator starts");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();

    let rendered = kustomize();
    let objects = documents(&rendered);

    // The documented command, as a user runs it (with the kubectl the tests found first on PATH).
    let kubectl = kubectl();
    let path = std::env::join_paths(kubectl.parent().map(Path::to_path_buf).into_iter().chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH entries join");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("kubectl kustomize \"$1\" | kubectl apply --server-side -f -")
        .arg("sh")
        .arg(deploy_dir())
        .env("KUBECONFIG", &kubeconfig)
        .env("PATH", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "apply failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for object in &objects {
        let name = object["metadata"]["name"].as_str().unwrap();
        assert!(
            stdout.contains(&format!("/{name} serverside-applied")),
            "{} applied:\n{stdout}",
            key(object)
        );
    }
    // Applying again changes nothing and is accepted (field ownership is stable).
    apply(&kubeconfig, &rendered).await;

    // Read every object back through the API.
    let client = sim.client().unwrap();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let mut stored = Vec::new();
    for object in &objects {
        let (group, version) = match object["apiVersion"].as_str().unwrap().split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (
                String::new(),
                object["apiVersion"].as_str().unwrap().to_string(),
            ),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, object["kind"].as_str().unwrap());
        let (resource, _) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("{gvk:?} is served"));
        let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        let got = api
            .get(object["metadata"]["name"].as_str().unwrap())
            .await
            .unwrap_or_else(|e| panic!("{} is stored: {e}", key(object)));
        stored.push(serde_json::to_value(got).unwrap());
    }
    let config = check_installation(&stored);

    // The Deployment runs: two operator pods, labelled to be left alone by the webhook.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, &config.pod_namespace);
    let params = ListParams::default()
        .labels("app.kubernetes.io/name=openlit-operator,app.kubernetes.io/instance=openlit");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = pods.list(&params).await.unwrap();
        if list.items.len() == 2 {
            for pod in &list.items {
                let labels = pod.metadata.labels.clone().unwrap_or_default();
                assert_eq!(
                    labels.get("openlit.io/inject").map(String::as_str),
                    Some("false")
                );
                let spec = pod.spec.as_ref().unwrap();
                assert_eq!(
                    spec.service_account_name.as_deref(),
                    Some("openlit-operator")
                );
            }
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "two operator pods within 60 s; found {}",
            list.items.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
