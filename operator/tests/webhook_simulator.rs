//! The webhook behind kubesim's admission chain, over real TLS: pods created through the API.

mod webhook_support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use openlit_operator::clock::{ManualClock, SharedClock};
use openlit_operator::crd::AutoInstrumentation;
use openlit_operator::webhook_config::FailurePolicy;
use webhook_support::cluster::*;

async fn instrumented_setup(policy: FailurePolicy) -> (kubesim::Simulator, Replica, Api<Pod>) {
    let sim = cluster().await;
    let clock: SharedClock = Arc::new(ManualClock::new(Timestamp::now()));
    let replica = Replica::start(
        &sim,
        clock,
        ReplicaOptions::default().failure_policy(policy),
    )
    .await;
    replica.route(&sim);
    let client = sim.client().unwrap();
    let resources: Api<AutoInstrumentation> = Api::namespaced(client.clone(), "shop");
    resources
        .create(&PostParams::default(), &webhook_support::chat_resource())
        .await
        .unwrap();
    replica.ready().await;
    eventually(
        "the resource in the cache",
        Duration::from_secs(10),
        || async { replica.cache.len() == 1 },
    )
    .await;
    let mwcs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    eventually(
        "the webhook configuration",
        Duration::from_secs(10),
        || async {
            mwcs.get_opt("openlit-mutating-webhook-configuration")
                .await
                .unwrap()
                .is_some()
        },
    )
    .await;
    (sim, replica, Api::namespaced(client, "shop"))
}

#[tokio::test]
async fn a_pod_created_through_the_api_comes_back_instrumented() {
    let (sim, replica, pods) = instrumented_setup(FailurePolicy::Ignore).await;
    let created = pods
        .create(&PostParams::default(), &python_pod("chat-1"))
        .await
        .unwrap();
    assert!(is_instrumented(&created), "{created:?}");
    let annotations = created.metadata.annotations.clone().unwrap();
    assert_eq!(annotations["openlit.io/instrumented-by"], "shop/chat");
    let stored = pods.get("chat-1").await.unwrap();
    assert!(is_instrumented(&stored));
    // Reinvocation or a second create of an instrumented pod changes nothing more.
    let init = stored.spec.unwrap().init_containers.unwrap();
    assert_eq!(init.len(), 1);

    let mwc: Api<MutatingWebhookConfiguration> = Api::all(sim.client().unwrap());
    let hook = &mwc
        .get("openlit-mutating-webhook-configuration")
        .await
        .unwrap()
        .webhooks
        .unwrap()[0];
    assert_eq!(hook.name, "pod-instrumentation.openlit.io");
    assert_eq!(hook.failure_policy.as_deref(), Some("Ignore"));
    assert_eq!(hook.timeout_seconds, Some(5));
    assert_eq!(hook.side_effects, "None");
    assert_eq!(hook.reinvocation_policy.as_deref(), Some("IfNeeded"));
    assert_eq!(hook.admission_review_versions, vec!["v1".to_string()]);
    let service = hook.client_config.service.as_ref().unwrap();
    assert_eq!(
        (
            service.name.as_str(),
            service.namespace.as_str(),
            service.path.as_deref(),
            service.port
        ),
        (
            "openlit-webhook-service",
            "openlit",
            Some("/mutate"),
            Some(443)
        )
    );
    let bundle = String::from_utf8(hook.client_config.ca_bundle.clone().unwrap().0).unwrap();
    assert_eq!(bundle, replica.certificate.current().unwrap().ca_bundle);

    // A pod that opts out by label never reaches the webhook.
    let mut opted_out = python_pod("chat-2");
    opted_out
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("openlit.io/inject".into(), "false".into());
    let created = pods
        .create(&PostParams::default(), &opted_out)
        .await
        .unwrap();
    assert!(!is_instrumented(&created));
    replica.stop().await;
}

#[tokio::test]
async fn with_the_operator_stopped_ignore_creates_the_pod_uninstrumented() {
    let (_sim, replica, pods) = instrumented_setup(FailurePolicy::Ignore).await;
    replica.stop().await;
    let created = pods
        .create(&PostParams::default(), &python_pod("chat-1"))
        .await
        .unwrap();
    assert!(!is_instrumented(&created));
}

#[tokio::test]
async fn with_the_operator_stopped_fail_refuses_the_pod() {
    let (_sim, replica, pods) = instrumented_setup(FailurePolicy::Fail).await;
    let created = pods
        .create(&PostParams::default(), &python_pod("chat-1"))
        .await
        .unwrap();
    assert!(is_instrumented(&created));
    replica.stop().await;
    let refused = pods
        .create(&PostParams::default(), &python_pod("chat-2"))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(status.code, 500);
    assert!(
        status
            .message
            .contains("failed calling webhook \"pod-instrumentation.openlit.io\""),
        "{}",
        status.message
    );
    assert!(pods.get_opt("chat-2").await.unwrap().is_none());
}
