//! Whole replicas started with `Operator::start` against the simulator: readiness, probes and
//! metrics over HTTP, admissions through the API server, hand-over between two replicas, and
//! recovery when the API server is unavailable at start.
mod run_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use openlit_operator::config::Config;
use openlit_operator::run::{Listeners, Operator, OperatorHandle};
use run_support::{Cluster, OPERATOR_NAMESPACE, cluster, eventually, resource, until, valid_spec};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LEASE: &str = "openlit-operator-leader";
const LEASE_DURATION: Duration = Duration::from_secs(15);

fn config(identity: &str) -> Config {
    Config {
        pod_namespace: OPERATOR_NAMESPACE.into(),
        pod_name: Some(identity.into()),
        ..Config::default()
    }
}

async fn start(cluster: &Cluster, identity: &str) -> OperatorHandle {
    start_with(cluster, cluster.client.clone(), identity).await
}

async fn start_with(cluster: &Cluster, client: kube::Client, identity: &str) -> OperatorHandle {
    Operator::start(
        config(identity),
        client,
        cluster.clock.clone(),
        Listeners::loopback().await.unwrap(),
    )
    .await
    .unwrap()
}

/// A plain HTTP/1.1 GET; returns the status code and body.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: operator\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

async fn ready(operator: &OperatorHandle) {
    until("the replica is ready", || async {
        get(operator.health_addr(), "/readyz")
            .await
            .is_some_and(|(status, _)| status == 200)
    })
    .await;
}

/// The value of one sample in a Prometheus exposition.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn route_admissions(cluster: &Cluster, operator: &OperatorHandle) {
    cluster.sim.register_service_endpoint(
        OPERATOR_NAMESPACE,
        "openlit-webhook-service",
        443,
        operator.webhook_addr(),
    );
}

async fn webhook_registered(cluster: &Cluster) {
    let api: Api<MutatingWebhookConfiguration> = Api::all(cluster.client.clone());
    until("the webhook configuration exists", || async {
        api.get_opt("openlit-mutating-webhook-configuration")
            .await
            .ok()
            .flatten()
            .is_some_and(|c| {
                c.webhooks
                    .unwrap_or_default()
                    .iter()
                    .any(|w| w.client_config.ca_bundle.is_some())
            })
    })
    .await;
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "chat"}},
        "spec": {"containers": [{"name": "app", "image": "python:3.12-slim"}]}
    }))
    .unwrap()
}

async fn create_pod(cluster: &Cluster, name: &str) -> Pod {
    Api::<Pod>::namespaced(cluster.client.clone(), "apps")
        .create(&PostParams::default(), &pod(name))
        .await
        .unwrap()
}

fn instrumented_by(pod: &Pod) -> Option<String> {
    pod.metadata
        .annotations
        .as_ref()?
        .get("openlit.io/instrumented-by")
        .cloned()
}

async fn lease_holder(cluster: &Cluster) -> Option<String> {
    Api::<Lease>::namespaced(cluster.client.clone(), OPERATOR_NAMESPACE)
        .get(LEASE)
        .await
        .ok()?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

async fn has_status(cluster: &Cluster, name: &str) -> bool {
    cluster
        .resources("apps")
        .get(name)
        .await
        .is_ok_and(|r| r.status.is_some())
}

#[tokio::test]
async fn a_replica_becomes_ready_and_its_metrics_move_with_reconciles_and_admissions() {
    let cluster = cluster().await;
    let started = Instant::now();
    let operator = start(&cluster, "replica-a").await;
    ready(&operator).await;
    println!("start to ready: {:?}", started.elapsed());
    assert!(operator.is_leader());
    assert_eq!(
        get(operator.health_addr(), "/healthz").await.unwrap().0,
        200
    );
    let before = get(operator.metrics_addr(), "/metrics").await.unwrap().1;
    assert_eq!(sample(&before, "openlit_operator_leader"), 1.0);
    assert!(
        sample(
            &before,
            "openlit_operator_certificate_expiry_timestamp_seconds"
        ) > 0.0
    );

    route_admissions(&cluster, &operator);
    webhook_registered(&cluster).await;
    cluster
        .resources("apps")
        .create(
            &PostParams::default(),
            &resource("chat", valid_spec("chat")),
        )
        .await
        .unwrap();
    until("the resource is reconciled and cached", || async {
        has_status(&cluster, "chat").await
            && get(operator.metrics_addr(), "/metrics")
                .await
                .is_some_and(|(_, m)| sample(&m, "openlit_operator_cached_resources") == 1.0)
    })
    .await;
    let created = create_pod(&cluster, "chat-1").await;
    assert_eq!(instrumented_by(&created).as_deref(), Some("apps/chat"));

    let after = get(operator.metrics_addr(), "/metrics").await.unwrap().1;
    let reconciles = r#"openlit_operator_reconciles_total{result="success"}"#;
    let admissions = r#"openlit_operator_admissions_total{outcome="instrumented"}"#;
    assert!(
        sample(&after, reconciles) > sample(&before, reconciles),
        "{after}"
    );
    assert_eq!(sample(&after, admissions), 1.0, "{after}");
    assert_eq!(
        sample(&after, "openlit_operator_admission_duration_seconds_count"),
        1.0
    );

    operator.shutdown().await;
    assert_eq!(lease_holder(&cluster).await, None, "the lease is released");
}

#[tokio::test]
async fn when_the_leader_crashes_the_other_replica_takes_over_and_admissions_keep_working() {
    let cluster = cluster().await;
    let a = start(&cluster, "replica-a").await;
    until("replica-a leads", || async { a.is_leader() }).await;
    let b = start(&cluster, "replica-b").await;
    ready(&a).await;
    ready(&b).await;
    assert!(!b.is_leader());
    // The Service sends admissions to replica-b, which serves them although it does not lead.
    route_admissions(&cluster, &b);
    webhook_registered(&cluster).await;
    cluster
        .resources("apps")
        .create(
            &PostParams::default(),
            &resource("chat", valid_spec("chat")),
        )
        .await
        .unwrap();
    until("chat has a status", || has_status(&cluster, "chat")).await;
    assert_eq!(cluster.status_writes(), 1);
    until("replica-b has cached the resource", || async {
        b.metrics()
            .encode()
            .contains("openlit_operator_cached_resources 1")
    })
    .await;

    a.abort();
    // Nobody leads for a while: a resource created now waits for the new leader.
    cluster
        .resources("apps")
        .create(
            &PostParams::default(),
            &resource("search", valid_spec("search")),
        )
        .await
        .unwrap();
    let mut admitted = 0;
    let mut moved = Duration::ZERO;
    while !b.is_leader() {
        assert!(
            moved <= LEASE_DURATION,
            "replica-b did not take over in time"
        );
        let created = create_pod(&cluster, &format!("chat-{admitted}")).await;
        assert_eq!(instrumented_by(&created).as_deref(), Some("apps/chat"));
        admitted += 1;
        cluster.advance(Duration::from_secs(1));
        moved += Duration::from_secs(1);
        // Give replica-b's elector a chance to act on the new time.
        for _ in 0..20 {
            if b.is_leader() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert!(admitted > 0);
    assert_eq!(lease_holder(&cluster).await.as_deref(), Some("replica-b"));
    until("the new leader writes the missing status", || {
        has_status(&cluster, "search")
    })
    .await;
    // One write per resource in total: the new leader did not rewrite chat's status.
    assert_eq!(cluster.status_writes(), 2);
    b.shutdown().await;
}

#[tokio::test]
async fn a_leader_stopping_gracefully_hands_over_at_once() {
    let cluster = cluster().await;
    let a = start(&cluster, "replica-a").await;
    until("replica-a leads", || async { a.is_leader() }).await;
    let b = start(&cluster, "replica-b").await;
    ready(&b).await;
    let webhook = a.webhook_addr();
    a.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(webhook).await.is_err(),
        "the stopped replica no longer accepts connections"
    );
    assert_eq!(lease_holder(&cluster).await, None);
    run_support::advance_until(
        &cluster,
        Duration::from_secs(1),
        LEASE_DURATION / 5,
        "replica-b leads",
        || async { b.is_leader() },
    )
    .await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_replica_started_while_the_api_server_is_unavailable_recovers() {
    let cluster = cluster().await;
    cluster
        .resources("apps")
        .create(
            &PostParams::default(),
            &resource("chat", valid_spec("chat")),
        )
        .await
        .unwrap();
    cluster.sim.faults().refuse("*", &[], 503);
    let operator = start(&cluster, "replica-a").await;
    until("the replica has been refused", || async {
        cluster.sim.request_count("get", "leases", "") >= 1
    })
    .await;
    assert!(!operator.is_leader());
    assert_eq!(get(operator.health_addr(), "/readyz").await.unwrap().0, 503);
    assert_eq!(
        get(operator.health_addr(), "/healthz").await.unwrap().0,
        200
    );

    cluster.sim.faults().clear();
    // Recovery needs no restart; the operator retries on its clock, its watches included.
    let mut moved = Duration::ZERO;
    loop {
        let ready = get(operator.health_addr(), "/readyz")
            .await
            .is_some_and(|(s, _)| s == 200);
        if ready && operator.is_leader() && has_status(&cluster, "chat").await {
            break;
        }
        assert!(moved < Duration::from_secs(300), "no recovery");
        cluster.advance(Duration::from_secs(1));
        moved += Duration::from_secs(1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = eventually("status is Ready", || async {
        let r = cluster.resources("apps").get("chat").await.ok()?;
        (r.status?.conditions[0].status == "True").then_some(())
    })
    .await;
    operator.shutdown().await;
}

#[tokio::test]
async fn a_leader_cut_off_from_the_api_stops_writing_before_another_takes_over() {
    let cluster = cluster().await;
    let link = run_support::Link::to(cluster.sim.addr()).await;
    let a = start_with(&cluster, link.client(), "replica-a").await;
    until("replica-a leads", || async { a.is_leader() }).await;
    let b = start(&cluster, "replica-b").await;
    ready(&b).await;
    let writes_before = cluster.status_writes();

    link.cut();
    run_support::advance_until(
        &cluster,
        Duration::from_secs(1),
        LEASE_DURATION * 2 / 3,
        "replica-a steps down",
        || async { !a.is_leader() },
    )
    .await;
    assert!(!b.is_leader(), "no overlap: the old leader stopped first");
    run_support::advance_until(
        &cluster,
        Duration::from_secs(1),
        LEASE_DURATION,
        "replica-b leads",
        || async { b.is_leader() },
    )
    .await;
    cluster
        .resources("apps")
        .create(
            &PostParams::default(),
            &resource("chat", valid_spec("chat")),
        )
        .await
        .unwrap();
    until("the new leader writes", || has_status(&cluster, "chat")).await;
    assert_eq!(cluster.status_writes(), writes_before + 1);
    b.shutdown().await;
    a.abort();
}

#[tokio::test]
async fn a_replica_whose_component_ends_is_not_ready_and_says_which() {
    let cluster = cluster().await;
    let operator = start(&cluster, "replica-a").await;
    ready(&operator).await;
    let failed = operator.failed();

    assert!(operator.crash_component("the webhook configuration"));
    let body = eventually("/readyz to turn 503", || async {
        get(operator.health_addr(), "/readyz")
            .await
            .filter(|(status, _)| *status == 503)
            .map(|(_, body)| body)
    })
    .await;
    assert!(
        body.contains("the webhook configuration was cancelled"),
        "{body}"
    );
    // The `run` command ends the process on this.
    let failures = tokio::time::timeout(Duration::from_secs(10), failed)
        .await
        .unwrap();
    assert_eq!(failures, vec!["the webhook configuration was cancelled"]);
    // Liveness is the process's: it still answers until the process ends.
    assert_eq!(
        get(operator.health_addr(), "/healthz").await.unwrap().0,
        200
    );
    operator.shutdown().await;
}
