//! Fixtures shared by the webhook tests: reviews, resources, pods, certificates, a router.
#![allow(dead_code)]

pub mod gate;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use k8s_openapi::jiff::Timestamp;
use openlit_operator::clock::{ManualClock, SharedClock};
use openlit_operator::crd::AutoInstrumentation;
use openlit_operator::inject::{InjectConfig, Policy};
use openlit_operator::metrics::Metrics;
use openlit_operator::tls::{self, LoadedCertificate, ServingCertificate, Validity};
use openlit_operator::webhook::{PolicySource, StaticPolicies, WebhookSettings, WebhookState};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const OPERATOR_NS: &str = "openlit";

/// The example resource: instruments pods labelled app=chat in namespace shop.
pub fn chat_resource() -> AutoInstrumentation {
    serde_saphyr::from_str(include_str!("../../examples/autoinstrumentation.yaml")).unwrap()
}

pub fn chat_policy() -> Arc<Policy> {
    Arc::new(Policy::compile(&chat_resource(), "ghcr.io/openlit"))
}

/// The example pod (a Python chat service with an istio sidecar), as the API server sends it.
pub fn chat_pod() -> Value {
    serde_saphyr::from_str(include_str!("../../examples/pod.yaml")).unwrap()
}

pub fn review(pod: Value, namespace: &str, operation: &str, dry_run: bool) -> Value {
    let (object, old) = match operation {
        "DELETE" => (Value::Null, pod),
        "UPDATE" => (pod.clone(), pod),
        _ => (pod, Value::Null),
    };
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": object,
            "oldObject": old,
            "dryRun": dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        }
    })
}

pub fn inject_config() -> InjectConfig {
    InjectConfig {
        operator_namespace: OPERATOR_NS.into(),
        ..InjectConfig::default()
    }
}

/// A CA-signed certificate for `dns_names`, valid from `now` for `lifetime`: the loaded
/// certificate, the CA PEM, the leaf PEM and the leaf key PEM.
pub fn certificate_at(
    now: Timestamp,
    lifetime: Duration,
    dns_names: &[String],
) -> (LoadedCertificate, String, String, String) {
    let validity = Validity {
        now,
        backdate: Duration::from_secs(300),
        lifetime,
        not_after_cap: None,
    };
    let ca = tls::new_ca("test CA", validity).unwrap();
    let leaf = tls::new_leaf(&ca, dns_names, validity).unwrap();
    let loaded = LoadedCertificate::from_pem(&leaf.cert_pem, &leaf.key_pem, &ca.cert_pem).unwrap();
    (loaded, ca.cert_pem, leaf.cert_pem, leaf.key_pem)
}

pub struct Harness {
    pub state: WebhookState,
    pub clock: ManualClock,
    pub metrics: Arc<Metrics>,
}

/// A webhook state with `source`, a certificate valid now, on a manual clock.
pub fn harness(source: Arc<dyn PolicySource>) -> Harness {
    let clock = ManualClock::new(Timestamp::now());
    let certificate = ServingCertificate::new();
    let (loaded, ..) = certificate_at(
        clock_now(&clock),
        Duration::from_secs(3600),
        &["localhost".to_string()],
    );
    certificate.install(loaded);
    let metrics = Arc::new(Metrics::new());
    let shared: SharedClock = Arc::new(clock.clone());
    Harness {
        state: WebhookState {
            source,
            certificate,
            clock: shared,
            metrics: metrics.clone(),
            settings: Arc::new(WebhookSettings {
                inject: inject_config(),
                ..WebhookSettings::default()
            }),
        },
        clock,
        metrics,
    }
}

fn clock_now(clock: &ManualClock) -> Timestamp {
    use openlit_operator::clock::Clock;
    clock.now()
}

pub fn chat_source() -> Arc<dyn PolicySource> {
    Arc::new(StaticPolicies(vec![chat_policy()]))
}

/// Sends one request through the router; returns status, content type and body.
pub async fn send(
    router: &Router,
    method: &str,
    path: &str,
    body: impl Into<Body>,
) -> (u16, String, Vec<u8>) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, content_type, bytes)
}

/// Decodes an AdmissionReview reply: the response object and the decoded patch (if any).
pub fn decode(body: &[u8]) -> (Value, Option<json_patch::Patch>) {
    use base64::Engine;
    let review: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(review["kind"], "AdmissionReview");
    let response = review["response"].clone();
    let patch = response["patch"].as_str().map(|p| {
        assert_eq!(response["patchType"], "JSONPatch");
        let raw = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
        serde_json::from_slice(&raw).unwrap()
    });
    (response, patch)
}

pub mod cluster;
pub mod https;
pub mod tls_client;
