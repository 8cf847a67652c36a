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

#[tokio::test]
async fn the_command_serves_until_sigterm_then_releases_the_lease() {
    let cluster = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.sim.write_kubeconfig(&kubeconfig).unwrap();
    let (webhook, health, metrics) = (free_port(), free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_openlit-operator"))
        .arg("run")
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAMESPACE", OPERATOR_NAMESPACE)
        .env("POD_NAME", "replica-cli")
        .env("WEBHOOK_PORT", webhook.to_string())
        .env("HEALTH_PORT", health.to_string())
        .env("METRICS_PORT", metrics.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
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
