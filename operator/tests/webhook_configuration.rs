//! The MutatingWebhookConfiguration (SPEC §5) and the resource cache, as a cluster sees them.

mod webhook_support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use openlit_operator::cache::CacheSettings;
use openlit_operator::clock::{ManualClock, SharedClock};
use openlit_operator::crd::AutoInstrumentation;
use openlit_operator::webhook::PolicySource;
use openlit_operator::webhook_config::{WebhookConfigSettings, desired};
use serde_json::json;
use webhook_support::cluster::*;

const MWC: &str = "openlit-mutating-webhook-configuration";

#[test]
fn the_configuration_follows_the_specification() {
    let mut settings = WebhookConfigSettings::for_installation("openlit", "openlit");
    let config = desired(&settings, "PEM");
    let hook = &config["webhooks"][0];
    assert_eq!(config["metadata"]["name"], MWC);
    assert_eq!(hook["name"], "pod-instrumentation.openlit.io");
    assert_eq!(
        hook["rules"],
        json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"], "scope": "Namespaced"}])
    );
    assert_eq!(hook["sideEffects"], "None");
    assert_eq!(hook["timeoutSeconds"], 5);
    assert_eq!(hook["failurePolicy"], "Ignore");
    assert_eq!(hook["reinvocationPolicy"], "IfNeeded");
    assert_eq!(hook["admissionReviewVersions"], json!(["v1"]));
    assert_eq!(
        hook["namespaceSelector"],
        json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["openlit", "kube-system"]}]})
    );
    assert_eq!(
        hook["objectSelector"],
        json!({"matchExpressions": [
            {"key": "openlit.io/inject", "operator": "NotIn", "values": ["false"]},
            {"key": "app.kubernetes.io/instance", "operator": "NotIn", "values": ["openlit"]},
        ]})
    );
    assert_eq!(
        hook["clientConfig"],
        json!({"caBundle": "UEVN", "service": {"name": "openlit-webhook-service", "namespace": "openlit", "path": "/mutate", "port": 443}})
    );
    settings.namespaces = Some(vec!["shop".into(), "lab".into()]);
    let limited = desired(&settings, "");
    assert_eq!(
        limited["webhooks"][0]["namespaceSelector"]["matchExpressions"][1],
        json!({"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop", "lab"]})
    );
    assert!(
        limited["webhooks"][0]["clientConfig"]
            .get("caBundle")
            .is_none(),
        "left to an external CA injector"
    );
}

#[tokio::test]
async fn only_the_leader_writes_and_drift_is_repaired() {
    let sim = cluster().await;
    let clock: SharedClock = Arc::new(ManualClock::new(Timestamp::now()));
    let follower = Replica::start(
        &sim,
        clock.clone(),
        ReplicaOptions {
            leader: false,
            ..Default::default()
        },
    )
    .await;
    // The Secret exists (another process issued it) but nobody leads.
    let issuer = Replica::start(&sim, clock, ReplicaOptions::default()).await;
    issuer.ready().await;
    issuer.leader.send_replace(false);
    follower.ready().await;
    let mwcs: Api<MutatingWebhookConfiguration> = Api::all(sim.client().unwrap());
    issuer.stop().await;
    mwcs.delete(MWC, &DeleteParams::default()).await.unwrap();
    assert!(mwcs.get_opt(MWC).await.unwrap().is_none());
    assert!(!*follower.leader.borrow());

    follower.leader.send_replace(true);
    eventually(
        "the leader to create the configuration",
        Duration::from_secs(10),
        || async { mwcs.get_opt(MWC).await.unwrap().is_some() },
    )
    .await;

    // Someone changes the failure policy: it is put back.
    let edit =
        json!({"webhooks": [{"name": "pod-instrumentation.openlit.io", "failurePolicy": "Fail"}]});
    mwcs.patch(MWC, &PatchParams::default(), &Patch::Strategic(&edit))
        .await
        .unwrap();
    eventually(
        "the failure policy to be restored",
        Duration::from_secs(10),
        || async {
            let hook = &mwcs.get(MWC).await.unwrap().webhooks.unwrap()[0];
            hook.failure_policy.as_deref() == Some("Ignore")
        },
    )
    .await;
    // Deleted: created again.
    mwcs.delete(MWC, &DeleteParams::default()).await.unwrap();
    eventually(
        "the configuration to come back",
        Duration::from_secs(10),
        || async { mwcs.get_opt(MWC).await.unwrap().is_some() },
    )
    .await;
    follower.stop().await;
}

#[tokio::test]
async fn an_installation_limited_to_namespaces_watches_and_mutates_only_those() {
    let sim = cluster().await;
    let clock: SharedClock = Arc::new(ManualClock::new(Timestamp::now()));
    let mut options = ReplicaOptions {
        cache: CacheSettings {
            namespaces: Some(vec!["shop".into()]),
            ..CacheSettings::new(INSTALLATION)
        },
        ..ReplicaOptions::default()
    };
    options.webhook_config.namespaces = Some(vec!["shop".into()]);
    let replica = Replica::start(&sim, clock, options).await;
    replica.route(&sim);
    let client = sim.client().unwrap();
    // A cluster-wide default in the operator's namespace, and a resource in an unwatched one.
    let mut global = webhook_support::chat_resource();
    global.metadata.namespace = Some(INSTALLATION.into());
    let mut elsewhere = webhook_support::chat_resource();
    elsewhere.metadata.namespace = Some("other".into());
    for resource in [&global, &elsewhere] {
        let api: Api<AutoInstrumentation> = Api::namespaced(
            client.clone(),
            resource.metadata.namespace.as_deref().unwrap(),
        );
        api.create(&PostParams::default(), resource).await.unwrap();
    }
    replica.ready().await;
    eventually(
        "the default in the cache",
        Duration::from_secs(10),
        || async { replica.cache.len() == 1 },
    )
    .await;
    assert_eq!(
        replica.cache.scopes(),
        Some(vec![INSTALLATION.to_string(), "shop".to_string()])
    );
    assert!(
        replica
            .cache
            .candidates("other", INSTALLATION)
            .iter()
            .all(|p| p.resource.namespace == INSTALLATION)
    );
    let mwcs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    eventually(
        "the webhook configuration",
        Duration::from_secs(10),
        || async { mwcs.get_opt(MWC).await.unwrap().is_some() },
    )
    .await;

    let shop: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let other: Api<Pod> = Api::namespaced(client, "other");
    let inside = shop
        .create(&PostParams::default(), &python_pod("a"))
        .await
        .unwrap();
    assert!(is_instrumented(&inside));
    let outside = other
        .create(&PostParams::default(), &python_pod("b"))
        .await
        .unwrap();
    assert!(
        !is_instrumented(&outside),
        "the webhook is not called outside the installation"
    );
    replica.stop().await;
}

#[tokio::test]
async fn the_cache_follows_creates_updates_and_deletes() {
    let sim = cluster().await;
    let clock: SharedClock = Arc::new(ManualClock::new(Timestamp::now()));
    let replica = Replica::start(&sim, clock, ReplicaOptions::default()).await;
    replica.ready().await;
    assert!(replica.cache.synced());
    let api: Api<AutoInstrumentation> = Api::namespaced(sim.client().unwrap(), "shop");
    api.create(&PostParams::default(), &webhook_support::chat_resource())
        .await
        .unwrap();
    eventually(
        "the resource in the cache",
        Duration::from_secs(10),
        || async { replica.cache.len() == 1 },
    )
    .await;
    let patch = json!({"spec": {"otlp": {"endpoint": "http://collector.observability:4318"}}});
    api.patch("chat", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually(
        "the update in the cache",
        Duration::from_secs(10),
        || async {
            replica.cache.candidates("shop", INSTALLATION)[0]
                .settings
                .endpoint
                == "http://collector.observability:4318"
        },
    )
    .await;
    api.delete("chat", &DeleteParams::default()).await.unwrap();
    eventually(
        "the delete in the cache",
        Duration::from_secs(10),
        || async { replica.cache.is_empty() },
    )
    .await;
    let metrics = replica.metrics.encode();
    assert!(
        metrics.contains("openlit_operator_cached_resources 0"),
        "{metrics}"
    );
    replica.stop().await;
}

#[tokio::test]
async fn a_configuration_deleted_while_the_watch_is_broken_is_recreated() {
    let sim = cluster().await;
    let clock = ManualClock::new(Timestamp::now());
    let leader = Replica::start(&sim, Arc::new(clock.clone()), ReplicaOptions::default()).await;
    leader.ready().await;
    let mwcs: Api<MutatingWebhookConfiguration> = Api::all(sim.client().unwrap());
    eventually(
        "the configuration to be created",
        Duration::from_secs(10),
        || async { mwcs.get_opt(MWC).await.unwrap().is_some() },
    )
    .await;

    // The watch breaks and cannot be restarted; meanwhile the configuration is deleted.
    sim.faults()
        .refuse("mutatingwebhookconfigurations", &["watch", "list"], 500);
    sim.faults().break_watches("mutatingwebhookconfigurations");
    mwcs.delete(MWC, &DeleteParams::default()).await.unwrap();

    let mut back = false;
    for _ in 0..30 {
        clock.advance(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
        if mwcs.get_opt(MWC).await.unwrap().is_some() {
            back = true;
            break;
        }
    }
    assert!(
        back,
        "the configuration was not recreated within 300 s of virtual time"
    );
    leader.stop().await;
}
