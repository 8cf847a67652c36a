//! The controller against the simulator, observed only through the API: status, Events, the
//! number of status writes, leader gating, and recovery from API failures.
mod run_support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use openlit_operator::controller::{self, ControllerHandle, ControllerSettings};
use openlit_operator::crd::AutoInstrumentation;
use openlit_operator::metrics::Metrics;
use run_support::{Cluster, advance_until, cluster, eventually, resource, until, valid_spec};
use serde_json::json;
use tokio::sync::watch;

const NS: &str = "apps";

fn start(cluster: &Cluster, leading: watch::Receiver<bool>) -> ControllerHandle {
    controller::spawn(
        cluster.client.clone(),
        cluster.clock.clone(),
        Arc::new(Metrics::new()),
        leading,
        ControllerSettings {
            namespaces: vec![],
            instance: "replica-a".into(),
            request_timeout: openlit_operator::api::DEFAULT_REQUEST_TIMEOUT,
        },
    )
}

fn invalid_spec() -> serde_json::Value {
    json!({"selector": {}, "otlp": {"endpoint": "http://collector.observability:4318"}})
}

fn ready(r: &AutoInstrumentation) -> Option<(String, String, String)> {
    let status = r.status.as_ref()?;
    let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until the resource's status describes its current generation.
async fn observed(cluster: &Cluster, name: &str) -> AutoInstrumentation {
    let api = cluster.resources(NS);
    eventually(&format!("{name} has a current status"), || {
        let api = api.clone();
        async move {
            let r = api.get(name).await.ok()?;
            let current = r.status.as_ref()?.observed_generation == r.metadata.generation;
            current.then_some(r)
        }
    })
    .await
}

async fn events_about(cluster: &Cluster, name: &str) -> Vec<Event> {
    Api::<Event>::namespaced(cluster.client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect()
}

async fn create(cluster: &Cluster, name: &str, spec: serde_json::Value) {
    cluster
        .resources(NS)
        .create(&PostParams::default(), &resource(name, spec))
        .await
        .unwrap();
}

async fn set_spec(cluster: &Cluster, name: &str, spec: serde_json::Value) {
    cluster
        .resources(NS)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_invalid_resource_is_not_ready_with_the_reason_and_a_warning_event() {
    let cluster = cluster().await;
    let (_tx, leading) = watch::channel(true);
    let _controller = start(&cluster, leading);
    create(&cluster, "broken", invalid_spec()).await;

    let r = observed(&cluster, "broken").await;
    let (status, reason, message) = ready(&r).unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ValidationFailed")
    );
    assert!(message.contains("spec.selector"), "{message}");
    let status = r.status.unwrap();
    assert!(status.validation_errors[0].contains("matchLabels or matchExpressions"));
    let events = events_about(&cluster, "broken").await;
    assert!(
        events.iter().any(|e| e.type_.as_deref() == Some("Warning")
            && e.reason.as_deref() == Some("ValidationFailed")
            && e.note.as_deref().unwrap_or("").contains("spec.selector")),
        "{events:?}"
    );
}

#[tokio::test]
async fn fixing_an_invalid_resource_makes_it_ready_with_the_new_generation() {
    let cluster = cluster().await;
    let (_tx, leading) = watch::channel(true);
    let _controller = start(&cluster, leading);
    create(&cluster, "broken", invalid_spec()).await;
    let before = observed(&cluster, "broken").await;
    let failed_at = before.status.as_ref().unwrap().conditions[0]
        .last_transition_time
        .clone();

    cluster.advance(Duration::from_secs(60));
    set_spec(&cluster, "broken", valid_spec("chat")).await;
    let after = eventually("the resource is ready", || async {
        let r = cluster.resources(NS).get("broken").await.ok()?;
        (ready(&r)?.0 == "True").then_some(r)
    })
    .await;
    let status = after.status.as_ref().unwrap();
    assert_eq!(after.metadata.generation, Some(2));
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(status.conditions[0].observed_generation, Some(2));
    assert_eq!(status.conditions[0].reason, "ValidationPassed");
    assert!(status.validation_errors.is_empty());
    assert_ne!(status.conditions[0].last_transition_time, failed_at);
    until("a Normal Valid event is published", || async {
        events_about(&cluster, "broken").await.iter().any(|e| {
            e.reason.as_deref() == Some("ValidationPassed") && e.type_.as_deref() == Some("Normal")
        })
    })
    .await;
}

#[tokio::test]
async fn each_spec_change_causes_exactly_one_status_write() {
    let cluster = cluster().await;
    let (_tx, leading) = watch::channel(true);
    let _controller = start(&cluster, leading);

    create(&cluster, "chat", valid_spec("chat")).await;
    observed(&cluster, "chat").await;
    assert_eq!(cluster.status_writes(), 1);

    set_spec(&cluster, "chat", json!({"otlp": {"timeout": 10}})).await;
    let r = observed(&cluster, "chat").await;
    assert_eq!(r.status.unwrap().observed_generation, Some(2));
    assert_eq!(cluster.status_writes(), 2);

    // A metadata-only change is not a spec change.
    cluster
        .resources(NS)
        .patch(
            "chat",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "ml"}}})),
        )
        .await
        .unwrap();
    // A later resource serves as a marker: once its status is written, the label change has
    // been seen too (watch events arrive in order).
    create(&cluster, "marker", valid_spec("marker")).await;
    observed(&cluster, "marker").await;
    assert_eq!(cluster.status_writes(), 3);
    let r = cluster.resources(NS).get("chat").await.unwrap();
    assert_eq!(r.status.unwrap().observed_generation, Some(2));
}

#[tokio::test]
async fn only_the_leader_writes_and_a_new_leader_writes_only_what_is_missing() {
    let cluster = cluster().await;
    let (set_leading, leading) = watch::channel(false);
    let controller = start(&cluster, leading);
    create(&cluster, "chat", valid_spec("chat")).await;
    until("the follower has seen the resource", || async {
        controller.resources() == 1
    })
    .await;
    assert_eq!(cluster.status_writes(), 0);
    assert!(
        cluster
            .resources(NS)
            .get("chat")
            .await
            .unwrap()
            .status
            .is_none()
    );

    set_leading.send_replace(true);
    observed(&cluster, "chat").await;
    assert_eq!(cluster.status_writes(), 1);

    // Losing and regaining leadership re-checks everything but writes nothing new.
    set_leading.send_replace(false);
    set_leading.send_replace(true);
    create(&cluster, "marker", valid_spec("marker")).await;
    observed(&cluster, "marker").await;
    assert_eq!(cluster.status_writes(), 2);
}

#[tokio::test]
async fn resources_selecting_the_same_pods_get_a_warning_event() {
    let cluster = cluster().await;
    let (_tx, leading) = watch::channel(true);
    let _controller = start(&cluster, leading);
    create(&cluster, "first", valid_spec("chat")).await;
    observed(&cluster, "first").await;
    create(
        &cluster,
        "second",
        json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["chat", "search"]}]},
               "otlp": {"endpoint": "http://collector.observability:4318"}}),
    )
    .await;
    create(&cluster, "unrelated", valid_spec("billing")).await;
    observed(&cluster, "unrelated").await;
    until("second gets a SelectorOverlap event", || async {
        events_about(&cluster, "second").await.iter().any(|e| {
            e.reason.as_deref() == Some("SelectorOverlap")
                && e.note.as_deref().unwrap_or("").contains("apps/first")
        })
    })
    .await;
    assert!(
        !events_about(&cluster, "unrelated")
            .await
            .iter()
            .any(|e| e.reason.as_deref() == Some("SelectorOverlap"))
    );
}

#[tokio::test]
async fn a_conflict_on_the_status_write_is_retried_after_a_backoff() {
    let cluster = cluster().await;
    let (_tx, leading) = watch::channel(true);
    let _controller = start(&cluster, leading);
    cluster
        .sim
        .faults()
        .conflict_next("autoinstrumentations/status", 1);
    create(&cluster, "chat", valid_spec("chat")).await;
    until("the first write was refused", || async {
        cluster.status_writes() == 1
    })
    .await;
    assert!(
        cluster
            .resources(NS)
            .get("chat")
            .await
            .unwrap()
            .status
            .is_none()
    );
    // The retry waits for its backoff on the virtual clock.
    advance_until(
        &cluster,
        Duration::from_secs(1),
        Duration::from_secs(5),
        "the status is written",
        || async {
            cluster
                .resources(NS)
                .get("chat")
                .await
                .is_ok_and(|r| r.status.is_some())
        },
    )
    .await;
    assert_eq!(cluster.status_writes(), 2);
}

#[tokio::test]
async fn a_broken_watch_is_resumed() {
    let cluster = cluster().await;
    let (_tx, leading) = watch::channel(true);
    let _controller = start(&cluster, leading);
    create(&cluster, "before", valid_spec("a")).await;
    observed(&cluster, "before").await;

    cluster.sim.faults().break_watches("autoinstrumentations");
    create(&cluster, "after", valid_spec("b")).await;
    advance_until(
        &cluster,
        Duration::from_secs(1),
        Duration::from_secs(60),
        "the resource created after the break gets a status",
        || async {
            cluster
                .resources(NS)
                .get("after")
                .await
                .is_ok_and(|r| r.status.is_some())
        },
    )
    .await;
    assert_eq!(cluster.status_writes(), 2);
}

#[tokio::test]
async fn an_api_server_unavailable_at_start_is_waited_for() {
    let cluster = cluster().await;
    create(&cluster, "chat", valid_spec("chat")).await;
    cluster
        .sim
        .faults()
        .refuse("autoinstrumentations", &[], 503);
    let (_tx, leading) = watch::channel(true);
    let controller = start(&cluster, leading);
    until("the watch has been refused", || async {
        cluster
            .sim
            .request_count("list", "autoinstrumentations", "")
            >= 1
    })
    .await;
    assert!(!controller.is_synced());

    cluster.sim.faults().clear();
    advance_until(
        &cluster,
        Duration::from_secs(1),
        Duration::from_secs(60),
        "the controller syncs and writes the status",
        || async {
            controller.is_synced()
                && cluster
                    .resources(NS)
                    .get("chat")
                    .await
                    .is_ok_and(|r| r.status.is_some())
        },
    )
    .await;
    assert_eq!(cluster.status_writes(), 1);
}
