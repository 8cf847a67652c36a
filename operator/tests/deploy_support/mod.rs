//! Helpers shared by the `deploy_*` tests: rendering the kustomize base and the Helm chart, finding
//! objects among the rendered documents, and reading a Deployment's environment the way the
//! operator reads its own (through [`Config::from_args`]).
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// `kubectl kustomize operator/deploy`.
pub fn kustomize() -> String {
    run(Command::new("kubectl").arg("kustomize").arg(deploy_dir()))
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
