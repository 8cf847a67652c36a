//! Measures the operator process against an in-process simulator: time from start to ready, and
//! resident memory idle and with 1,000 AutoInstrumentation resources.
//!
//! ```sh
//! cargo build --release -p openlit-operator
//! cargo run --release -p openlit-operator --example footprint
//! ```
//!
//! The operator binary is taken from `OPERATOR_BIN`, or next to this example's directory.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use openlit_operator::crd::AutoInstrumentation;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RESOURCES: usize = 1000;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn operator_binary() -> Result<PathBuf, Error> {
    if let Ok(path) = std::env::var("OPERATOR_BIN") {
        return Ok(PathBuf::from(path));
    }
    let example = std::env::current_exe()?;
    let profile_dir = example
        .parent()
        .and_then(|examples| examples.parent())
        .ok_or("cannot find the target directory")?;
    Ok(profile_dir.join("openlit-operator"))
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: operator\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    Some((status, response.split_once("\r\n\r\n")?.1.to_string()))
}

fn rss_kib(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).ok_or("bad VmRSS")?.parse()?)
}

fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn wait_for(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> Result<(), Error> {
    let started = Instant::now();
    while !check().await {
        if started.elapsed() > limit {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sim = kubesim::Simulator::builder()
        .controllers(false)
        .start()
        .await?;
    let client = sim.client()?;
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &openlit_operator::crd::crd())
        .await?;
    for name in ["openlit", "apps"] {
        Api::<Namespace>::all(client.clone())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name}}))?,
            )
            .await?;
    }
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)?;
    let (webhook, health, metrics) = (free_port()?, free_port()?, free_port()?);

    let started = Instant::now();
    let mut child = tokio::process::Command::new(operator_binary()?)
        .arg("run")
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAMESPACE", "openlit")
        .env("POD_NAME", "footprint")
        .env("WEBHOOK_PORT", webhook.to_string())
        .env("HEALTH_PORT", health.to_string())
        .env("METRICS_PORT", metrics.to_string())
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("no pid")?;
    wait_for("ready", Duration::from_secs(60), async || {
        http_get(health, "/readyz")
            .await
            .is_some_and(|(s, _)| s == 200)
    })
    .await?;
    let to_ready = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(pid)?;

    let api: Api<AutoInstrumentation> = Api::namespaced(client.clone(), "apps");
    let created = Instant::now();
    futures::stream::iter(0..RESOURCES)
        .map(|i| {
            let api = api.clone();
            async move {
                let resource: AutoInstrumentation = serde_json::from_value(json!({
                    "apiVersion": "openlit.io/v1alpha1", "kind": "AutoInstrumentation",
                    "metadata": {"name": format!("r-{i}")},
                    "spec": {"selector": {"matchLabels": {"app": format!("app-{i}")}},
                             "otlp": {"endpoint": "http://collector.observability:4318"}},
                }))?;
                api.create(&PostParams::default(), &resource).await?;
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    wait_for(
        "1,000 resources reconciled and cached",
        Duration::from_secs(120),
        async || {
            http_get(metrics, "/metrics").await.is_some_and(|(_, m)| {
                sample(&m, "openlit_operator_cached_resources") >= RESOURCES as f64
                    && sample(&m, r#"openlit_operator_reconciles_total{result="success"}"#)
                        >= RESOURCES as f64
            })
        },
    )
    .await?;
    let reconciled = created.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded = rss_kib(pid)?;

    println!(
        "start to ready:                  {} ms",
        to_ready.as_millis()
    );
    println!(
        "RSS idle (after ready):          {:.1} MiB",
        idle as f64 / 1024.0
    );
    println!(
        "RSS with {RESOURCES} resources:          {:.1} MiB",
        loaded as f64 / 1024.0
    );
    println!(
        "create + reconcile {RESOURCES} resources: {} ms",
        reconciled.as_millis()
    );
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    Ok(())
}
