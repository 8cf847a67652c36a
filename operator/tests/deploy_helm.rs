//! The Helm chart in `operator/deploy/helm/openlit-operator`, rendered by Helm itself
//! (`helm template`): with default values it renders the kustomize base object for object; other
//! values render installations the operator accepts, with names, ports and permissions that agree.
//!
//! Helm is found through `HELM`, then `PATH`, then `~/.local/bin/helm`, and installed there by
//! `ci/install-tool.sh helm` when missing; a machine where that fails fails these tests, saying
//! how to install Helm.

mod deploy_support;

use std::collections::BTreeMap;
use std::process::Command;

use deploy_support::*;
use openlit_operator::config::{CertMode, FailurePolicy, LogFormat, LogLevel};
use serde_json::Value;

/// `helm template <release> <chart> --namespace <ns> --include-crds` with `--set` pairs.
fn render(release: &str, namespace: &str, sets: &[&str]) -> Result<Vec<Value>, String> {
    let mut command = Command::new(helm());
    command.args(["template", release]).arg(chart_dir()).args([
        "--namespace",
        namespace,
        "--include-crds",
    ]);
    for set in sets {
        command.args(["--set", set]);
    }
    let out = command.output().expect("helm runs");
    if out.status.success() {
        Ok(documents(&String::from_utf8(out.stdout).unwrap()))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Writes whole floating-point numbers as integers (`300.0` and `300` are the same value to the API
/// server; kustomize re-serialises one form, Helm passes `crds/` through as written).
fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9e15 => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

fn by_key(objects: Vec<Value>) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for object in objects.into_iter().map(normalize) {
        let k = key(&object);
        assert!(map.insert(k.clone(), object).is_none(), "{k} twice");
    }
    map
}

#[test]
fn default_values_render_the_kustomize_base() {
    let chart = by_key(render("openlit", "openlit", &[]).unwrap());
    let mut base = by_key(documents(&kustomize()));
    // `helm install --create-namespace` makes the namespace; the chart does not own it.
    assert!(base.remove("Namespace//openlit").is_some());
    let chart_keys: Vec<&String> = chart.keys().collect();
    let base_keys: Vec<&String> = base.keys().collect();
    assert_eq!(chart_keys, base_keys, "the same objects");
    for (k, expected) in &base {
        let got = &chart[k];
        assert!(
            got == expected,
            "{k} differs.\nkustomize:\n{}\nhelm:\n{}",
            serde_json::to_string_pretty(expected).unwrap(),
            serde_json::to_string_pretty(got).unwrap()
        );
    }
}

#[test]
fn the_chart_carries_the_generated_crd_and_the_workspace_version() {
    // The chart's crds/ holds a link to the generated CRD, so the two can never drift apart.
    let link = chart_dir().join("crds/autoinstrumentations.openlit.io.yaml");
    assert_eq!(
        std::fs::canonicalize(&link).unwrap(),
        std::fs::canonicalize(deploy_dir().join("crd.yaml")).unwrap(),
        "{} links to operator/deploy/crd.yaml",
        link.display()
    );
    let chart: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(chart["appVersion"], workspace_version());
    assert_eq!(chart["version"], workspace_version());
}

#[test]
fn chosen_values_render_an_installation_the_operator_accepts() {
    let objects = render(
        "release-x",
        "team-a-system",
        &[
            "installationName=team-a",
            "replicaCount=3",
            "image.tag=1.2.3",
            "watchNamespaces={apps,ml}",
            "webhook.failurePolicy=Fail",
            "webhook.timeoutSeconds=10",
            "webhook.port=10443",
            "webhook.service.port=8443",
            "certificates.validityDays=30",
            "certificates.refreshDays=5",
            "leaderElection.leaseDurationSeconds=20",
            "logging.level=debug",
            "logging.format=text",
            "health.port=9090",
            "metrics.port=9091",
            "nodeSelector.kubernetes\\.io/os=linux",
            "tolerations[0].key=dedicated,tolerations[0].operator=Exists",
            "extraEnv[0].name=RUST_LOG,extraEnv[0].value=openlit_operator=trace",
            "resources.limits.memory=512Mi",
            "networkPolicy.webhook.from[0].ipBlock.cidr=10.0.0.0/24",
            "networkPolicy.webhook.from[1].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=kube-system",
            "networkPolicy.webhook.from[1].podSelector.matchLabels.k8s-app=konnectivity-agent",
            "networkPolicy.metrics.from[0].namespaceSelector.matchLabels.team=monitoring",
        ],
    )
    .unwrap();
    let deployment = find(&objects, "Deployment", Some("team-a-operator"));
    assert_eq!(deployment["metadata"]["namespace"], "team-a-system");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    let mut container = operator_container(deployment).clone();
    assert_eq!(container["image"], "ghcr.io/openlit/openlit-operator:1.2.3");
    assert_eq!(container["resources"]["limits"]["memory"], "512Mi");
    let env = container["env"].as_array_mut().unwrap();
    let extra = env.iter().position(|v| v["name"] == "RUST_LOG").unwrap();
    assert_eq!(env.remove(extra)["value"], "openlit_operator=trace");

    let config = config_of(&container, "team-a-system", "team-a-operator-1");
    assert_eq!(config.installation_name, "team-a");
    assert_eq!(config.namespaces(), vec!["apps", "ml"]);
    assert_eq!(config.webhook_failure_policy, FailurePolicy::Fail);
    assert_eq!(config.webhook_timeout_seconds, 10);
    assert_eq!(config.cert_validity_days, 30);
    assert_eq!(config.cert_refresh_days, Some(5));
    assert_eq!(config.lease_duration_seconds, 20);
    assert_eq!(config.log_level, LogLevel::Debug);
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(
        config.webhook_config_name(),
        "team-a-mutating-webhook-configuration"
    );

    // Ports agree everywhere.
    assert_eq!(container_port(&container, "webhook"), config.webhook_port);
    assert_eq!(config.webhook_port, 10443);
    assert_eq!(container_port(&container, "health"), config.health_port);
    assert_eq!(container_port(&container, "metrics"), config.metrics_port);
    let service = find(&objects, "Service", Some(&config.service_name()));
    assert_eq!(
        service["spec"]["ports"][0]["port"],
        config.webhook_service_port
    );
    assert_eq!(config.webhook_service_port, 8443);
    assert_eq!(
        resolve_port(&container, &service["spec"]["ports"][0]["targetPort"]),
        config.webhook_port
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            resolve_port(&container, &container[probe]["httpGet"]["port"]),
            config.health_port
        );
    }

    // Cluster-scoped names derive from the installation, so two installations do not collide.
    let cluster_role = find(&objects, "ClusterRole", Some("team-a-operator"));
    find(&objects, "ClusterRoleBinding", Some("team-a-operator"));
    assert_granted_by_name(
        cluster_role,
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "patch",
        &config.webhook_config_name(),
    );
    assert_grants_exactly(
        cluster_role,
        &cluster_grants_needed(&config, "team-a-operator"),
    );
    let role = find(&objects, "Role", Some("team-a-operator"));
    assert_eq!(role["metadata"]["namespace"], "team-a-system");
    assert_grants_exactly(role, &namespace_grants_needed(&config));
    assert_granted_by_name(role, "", "secrets", "get", &config.secret_name());
    assert_granted_by_name(
        role,
        "coordination.k8s.io",
        "leases",
        "update",
        &config.lease_name(),
    );
    // The NetworkPolicy follows the chosen ports, and admits only the chosen peers to the webhook.
    let policy = find(&objects, "NetworkPolicy", Some("team-a-operator"));
    assert_eq!(policy["metadata"]["namespace"], "team-a-system");
    let admitted = admitted_ports(policy, deployment);
    assert_eq!(
        admitted.keys().copied().collect::<Vec<u16>>(),
        vec![config.metrics_port, config.webhook_port]
    );
    assert_eq!(
        admitted[&config.webhook_port],
        vec![
            serde_json::json!({"ipBlock": {"cidr": "10.0.0.0/24"}}),
            serde_json::json!({
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "konnectivity-agent"}}
            }),
        ]
    );
    assert_eq!(
        admitted[&config.metrics_port],
        vec![serde_json::json!({"namespaceSelector": {"matchLabels": {"team": "monitoring"}}})]
    );
    let binding = find(&objects, "RoleBinding", Some("team-a-operator"));
    assert_eq!(binding["subjects"][0]["namespace"], "team-a-system");
    assert_eq!(binding["subjects"][0]["name"], pod["serviceAccountName"]);
}

#[test]
fn files_mode_mounts_the_issued_certificate_and_drops_the_secret_permissions() {
    let objects = render(
        "openlit",
        "openlit",
        &[
            "certificates.mode=files",
            "certificates.files.secretName=openlit-webhook-tls",
        ],
    )
    .unwrap();
    let deployment = find(&objects, "Deployment", None);
    let container = operator_container(deployment);
    let config = config_of(container, "openlit", "openlit-operator-1");
    assert_eq!(config.cert_mode, CertMode::Files);
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == config.webhook_cert_dir.as_str())
        .expect("the certificate directory is mounted");
    assert_eq!(mount["readOnly"], true);
    let volume = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], "openlit-webhook-tls");
    let role = find(&objects, "Role", None);
    assert!(grants(role, "", "secrets", "get").is_empty());
    assert!(grants(role, "", "secrets", "create").is_empty());
}

#[test]
fn optional_objects_can_be_left_out() {
    let objects = render(
        "openlit",
        "openlit",
        &[
            "rbac.create=false",
            "serviceAccount.create=false",
            "serviceAccount.name=platform-operator",
            "podDisruptionBudget.enabled=false",
            "metrics.service.enabled=false",
            "networkPolicy.enabled=false",
        ],
    )
    .unwrap();
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "Service").count(), 1);
    for kind in [
        "ClusterRole",
        "Role",
        "ServiceAccount",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ] {
        assert!(!kinds.contains(&kind), "{kind} left out");
    }
    let deployment = find(&objects, "Deployment", None);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "platform-operator"
    );
}

#[test]
fn values_the_operator_would_refuse_fail_at_render_time() {
    for (sets, needle) in [
        (vec!["installationName=Team_A"], "installationName"),
        (
            vec!["installationName=a-very-long-installation-name-beyond-forty-chars"],
            "installationName",
        ),
        (
            vec!["certificates.mode=files"],
            "certificates.files.secretName",
        ),
        (vec!["certificates.mode=vault"], "certificates.mode"),
    ] {
        let error = render("openlit", "openlit", &sets).unwrap_err();
        assert!(error.contains(needle), "{sets:?}: {error}");
    }
}
