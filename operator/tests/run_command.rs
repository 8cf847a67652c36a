//! The `openlit-operator run` binary against a simulator through a kubeconfig: it becomes ready,
//! logs JSON lines, and on SIGTERM stops cleanly and releases its Lease.
mod run_support;

use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use run_support::{OPERATOR_NAMESPACE, cluster, until};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn status(port: u16, path: &str) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: operator\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

/// Ports of one operator process: webhook, health, metrics.
struct Ports {
    webhook: u16,
    health: u16,
    metrics: u16,
}

impl Ports {
    fn free() -> Self {
        Ports {
            webhook: free_port(),
            health: free_port(),
            metrics: free_port(),
        }
    }
}

/// `openlit-operator run` as replica `pod_name` on `kubeconfig`, with its standard output piped
/// and killed when dropped.
fn spawn_operator(
    kubeconfig: &std::path::Path,
    pod_name: &str,
    ports: &Ports,
) -> tokio::process::Child {
    Command::new(env!("CARGO_BIN_EXE_openlit-operator"))
        .arg("run")
        .env_clear()
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAMESPACE", OPERATOR_NAMESPACE)
        .env("POD_NAME", pod_name)
        .env("WEBHOOK_PORT", ports.webhook.to_string())
        .env("HEALTH_PORT", ports.health.to_string())
        .env("METRICS_PORT", ports.metrics.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn the_command_serves_until_sigterm_then_releases_the_lease() {
    let cluster = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.sim.write_kubeconfig(&kubeconfig).unwrap();
    let ports = Ports::free();
    let (health, metrics) = (ports.health, ports.metrics);
    let mut child = spawn_operator(&kubeconfig, "replica-cli", &ports);
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut all = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push(line);
        }
        all
    });

    until("the binary is ready", || async {
        status(health, "/readyz").await == Some(200)
    })
    .await;
    assert_eq!(status(metrics, "/metrics").await, Some(200));
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), OPERATOR_NAMESPACE);
    let holder = |lease: Lease| lease.spec.and_then(|s| s.holder_identity);
    assert_eq!(
        holder(leases.get("openlit-operator-leader").await.unwrap()).as_deref(),
        Some("replica-cli")
    );

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the operator stops within 30 s")
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    assert_eq!(
        holder(leases.get("openlit-operator-leader").await.unwrap()).filter(|h| !h.is_empty()),
        None,
        "the lease is released"
    );

    let lines = lines.await.unwrap();
    assert!(!lines.is_empty());
    for line in &lines {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        for field in ["timestamp", "level", "target", "message"] {
            assert!(entry.get(field).is_some(), "{field} missing in {line}");
        }
    }
    assert!(
        lines.iter().any(|l| l.contains("became the leader")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains("released the lease")));
}

/// The operator as its own process, its webhook Service routed to it by an EndpointSlice that
/// names a loopback address, as `kubesim serve` routes Services to processes on this machine.
#[tokio::test]
async fn an_operator_process_instruments_pods_through_its_service_route() {
    let cluster = cluster().await;
    // A cluster served to other processes follows real time, as `kubesim serve` does, so the
    // certificate the operator issues on its own clock is already valid to the admission chain.
    let clock = tokio::spawn(kubesim::clock::follow_real_time(
        cluster.sim.clock().clone(),
        Duration::from_millis(100),
    ));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.sim.write_kubeconfig(&kubeconfig).unwrap();
    let ports = Ports::free();
    let (webhook, health) = (ports.webhook, ports.health);
    let route = serde_json::json!([
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "openlit-webhook-service", "namespace": OPERATOR_NAMESPACE},
         "spec": {"ports": [{"port": 443, "targetPort": webhook}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "openlit-webhook-service-1", "namespace": OPERATOR_NAMESPACE,
                      "labels": {"kubernetes.io/service-name": "openlit-webhook-service"}},
         "addressType": "IPv4",
         "ports": [{"port": webhook, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}]},
    ]);
    for object in route.as_array().unwrap() {
        let object: kube::api::DynamicObject = serde_json::from_value(object.clone()).unwrap();
        let gvk = kube::api::GroupVersionKind::try_from(object.types.as_ref().unwrap()).unwrap();
        let (resource, _) = kube::discovery::pinned_kind(&cluster.client, &gvk)
            .await
            .unwrap();
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(cluster.client.clone(), OPERATOR_NAMESPACE, &resource);
        api.create(&kube::api::PostParams::default(), &object)
            .await
            .unwrap();
    }
    let _child = spawn_operator(&kubeconfig, "replica-process", &ports);
    until("the binary is ready", || async {
        status(health, "/readyz").await == Some(200)
    })
    .await;
    cluster
        .resources("apps")
        .create(
            &kube::api::PostParams::default(),
            &run_support::resource("demo", run_support::valid_spec("demo")),
        )
        .await
        .unwrap();
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(cluster.client.clone(), "apps");
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"generateName": "demo-", "labels": {"app": "demo"}},
        "spec": {"containers": [{"name": "app", "image": "python:3.12-slim"}]},
    }))
    .unwrap();
    // The resource reaches the operator's cache through its watch; until then pods pass untouched.
    let created = run_support::eventually("a pod is instrumented through the Service", || async {
        let created = pods
            .create(&kube::api::PostParams::default(), &pod)
            .await
            .ok()?;
        let init = created
            .spec
            .as_ref()?
            .init_containers
            .clone()
            .unwrap_or_default();
        init.iter()
            .any(|c| c.name == "auto-instrumentation-openlit")
            .then_some(created)
    })
    .await;
    assert!(
        created
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("openlit.io/instrumented-by")
    );
    clock.abort();
}
