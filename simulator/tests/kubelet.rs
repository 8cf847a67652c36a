//! The kubelet runs init containers, resolves environments and volumes, and reports status.
mod common;

use common::wait_for;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, PostParams};
use kubesim::{Exit, Image};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn phase(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default()
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn init_container_copies_files_and_app_sees_resolved_env() {
    let sim = kubesim::Simulator::start().await.unwrap();
    sim.register_image(
        Image::new("example.com/sdk:1.0")
            .file("/opt/sdk/sitecustomize.py", "import sdk\n")
            .file("/opt/sdk/sdk/__init__.py", "VERSION = '1.0'\n")
            .program(|p| match p.fs.copy_dir("/opt/sdk", "/instrumentation") {
                Ok(n) => {
                    p.println(format!("copied {n} files"));
                    Exit::Code(0)
                }
                Err(e) => {
                    p.println(e);
                    Exit::Code(1)
                }
            }),
    );
    sim.register_image(
        Image::new("example.com/app:2")
            .env("PATH", "/usr/bin")
            .program(|p| {
                let site = p
                    .read_to_string("/instrumentation/sitecustomize.py")
                    .unwrap_or_default();
                p.println(format!(
                    "service={} site={}",
                    p.env["OTEL_SERVICE_NAME"],
                    site.trim()
                ));
                Exit::Running
            }),
    );
    let client = sim.client().unwrap();
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    secrets.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "creds"}, "stringData": {}, "data": {"token": "czNjcjN0"}})).unwrap()).await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"endpoint": "http://collector:4318", "LEVEL": "debug"}})).unwrap()).await.unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "shop", "labels": {"app": "shop"}},
        "spec": {
            "volumes": [{"name": "instr", "emptyDir": {}}],
            "initContainers": [{"name": "copy-sdk", "image": "example.com/sdk:1.0", "volumeMounts": [{"name": "instr", "mountPath": "/instrumentation"}]}],
            "containers": [{
                "name": "app", "image": "example.com/app:2",
                "volumeMounts": [{"name": "instr", "mountPath": "/instrumentation"}],
                "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
                "env": [
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "APP_LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
                    {"name": "ENDPOINT", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "endpoint"}}},
                    {"name": "OTEL_SERVICE_NAME", "value": "$(POD_NAME).$(POD_NAMESPACE)"},
                    {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "k8s.pod.name=$(POD_NAME),missing=$(NOPE),lit=$$(POD_NAME)"},
                    {"name": "PYTHONPATH", "value": "/instrumentation"},
                    {"name": "PYTHONPATH", "value": "/instrumentation:$(PYTHONPATH)"}
                ]
            }]
        }
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let running = wait_for(&pods, "shop", |p| phase(p) == "Running" && ready(p)).await;
    let st = running.status.unwrap();
    let init = &st.init_container_statuses.unwrap()[0];
    assert_eq!(
        init.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
    assert!(
        st.container_statuses.unwrap()[0]
            .state
            .as_ref()
            .unwrap()
            .running
            .is_some()
    );
    let conds: Vec<(String, String)> = st
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    for t in ["Initialized", "Ready", "ContainersReady", "PodScheduled"] {
        assert!(
            conds.contains(&(t.to_string(), "True".to_string())),
            "{t} in {conds:?}"
        );
    }
    let app = sim
        .container("default", "shop", "app")
        .expect("app container started");
    let mut expected: BTreeMap<String, String> =
        kubesim::kubelet::env::service_env().into_iter().collect();
    for (k, v) in [
        ("PATH", "/usr/bin"),
        ("HOSTNAME", "shop"),
        ("CFG_endpoint", "http://collector:4318"),
        ("CFG_LEVEL", "debug"),
        ("POD_NAME", "shop"),
        ("POD_NAMESPACE", "default"),
        ("APP_LABEL", "shop"),
        ("NODE", "kubesim-node"),
        ("TOKEN", "s3cr3t"),
        ("ENDPOINT", "http://collector:4318"),
        ("OTEL_SERVICE_NAME", "shop.default"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "k8s.pod.name=shop,missing=$(NOPE),lit=$(POD_NAME)",
        ),
        ("PYTHONPATH", "/instrumentation:/instrumentation"),
    ] {
        expected.insert(k.to_string(), v.to_string());
    }
    assert_eq!(app.env, expected);
    assert_eq!(
        app.files("/instrumentation"),
        vec![
            "/instrumentation/sdk/__init__.py",
            "/instrumentation/sitecustomize.py"
        ]
    );
    assert_eq!(
        app.file("/instrumentation/sdk/__init__.py").as_deref(),
        Some("VERSION = '1.0'\n")
    );
    assert_eq!(
        app.file("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
            .as_deref(),
        Some("default")
    );
    assert_eq!(app.logs, "service=shop.default site=import sdk\n");
    assert_eq!(
        sim.container("default", "shop", "copy-sdk").unwrap().logs,
        "copied 2 files\n"
    );
}

#[tokio::test]
async fn failed_init_container_restarts_with_backoff_on_the_virtual_clock() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let a = attempts.clone();
    sim.register_image(Image::new("flaky:1").program(move |p| {
        let n = a.fetch_add(1, Ordering::SeqCst);
        p.println(format!("attempt {n}"));
        if n == 0 { Exit::Code(2) } else { Exit::Code(0) }
    }));
    let pods: Api<Pod> = Api::default_namespaced(sim.client().unwrap());
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {
        "initContainers": [{"name": "init", "image": "flaky:1"}],
        "containers": [{"name": "app", "image": "busybox:1.36"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let waiting = wait_for(&pods, "p", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.init_container_statuses.as_ref())
            .is_some_and(|s| s[0].restart_count == 1)
    })
    .await;
    let init = &waiting
        .status
        .as_ref()
        .unwrap()
        .init_container_statuses
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        init.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("CrashLoopBackOff")
    );
    assert_eq!(
        init.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        2
    );
    assert_eq!(phase(&waiting), "Pending");
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        1,
        "no retry before the backoff elapses"
    );
    sim.clock().advance(Duration::from_secs(10));
    let running = wait_for(&pods, "p", |p| phase(p) == "Running").await;
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(
        running.status.unwrap().init_container_statuses.unwrap()[0].restart_count,
        1
    );
}
