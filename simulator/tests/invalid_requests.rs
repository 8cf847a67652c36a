//! Invalid requests get the API server's status codes and Status bodies, and change nothing.
mod common;

use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use kube::client::Body;
use serde_json::{Value, json};

async fn send(client: &kube::Client, method: &str, path: &str, body: &str) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.as_bytes().to_vec()))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn assert_status(body: &Value, code: u16, reason: &str) {
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["apiVersion"], "v1");
    assert_eq!(body["status"], "Failure");
    assert_eq!(body["code"], code);
    assert_eq!(body["reason"], reason, "{body}");
    assert!(body["metadata"].is_object());
}

#[tokio::test]
async fn invalid_requests_get_real_status_bodies_and_change_nothing() {
    let sim = kubesim::Simulator::builder()
        .controllers(false)
        .start()
        .await
        .unwrap();
    let client = sim.client().unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let before = cms.list(&ListParams::default()).await.unwrap().items.len();
    let rv_before = sim.resource_version();
    let path = "/api/v1/namespaces/default/configmaps";

    let (code, body) = send(&client, "POST", path, "{not json").await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
    assert!(body["message"].as_str().unwrap().starts_with("the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error"));

    let (code, body) = send(
        &client,
        "POST",
        path,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}).to_string(),
    )
    .await;
    assert_eq!(code, 400);
    assert_status(&body, 400, "BadRequest");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Secret in version \"v1\" cannot be handled as a ConfigMap")
    );

    let (code, body) = send(
        &client,
        "POST",
        path,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}).to_string(),
    )
    .await;
    assert_eq!(code, 422);
    assert_status(&body, 422, "Invalid");
    assert_eq!(
        body["message"],
        "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required"
    );
    assert_eq!(
        body["details"]["causes"][0],
        json!({"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"})
    );

    let (code, body) = send(
        &client,
        "POST",
        path,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}})
            .to_string(),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");

    // Container names are unique across init and app containers, as the real validation has it.
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "twice"},
        "spec": {
            "initContainers": [{"name": "setup", "image": "busybox"}],
            "containers": [{"name": "app", "image": "python:3.12-slim"}, {"name": "setup", "image": "busybox"}],
        },
    });
    let (code, body) = send(
        &client,
        "POST",
        "/api/v1/namespaces/default/pods",
        &pod.to_string(),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        "Pod \"twice\" is invalid: spec.containers[1].name: Duplicate value: \"setup\""
    );
    assert_eq!(
        body["details"]["causes"][0],
        json!({"reason": "FieldValueDuplicate", "message": "Duplicate value: \"setup\"", "field": "spec.containers[1].name"})
    );

    // A generateName prefix must be a DNS subdomain once its trailing `-` is masked: the real
    // API server refuses `bad.` (it once refused every Event the operator wrote) and takes `good-`.
    let event = |prefix: &str| {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"generateName": prefix},
            "eventTime": "2026-12-07T16:00:00.000000Z", "reportingController": "x/y",
            "reportingInstance": "i", "action": "Reconcile", "reason": "R", "type": "Normal",
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
        })
        .to_string()
    };
    let events = "/apis/events.k8s.io/v1/namespaces/default/events";
    let (code, body) = send(&client, "POST", events, &event("bad.")).await;
    assert_eq!(code, 422, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Event \"bad."), "{message}");
    assert!(
        message.contains(
            "metadata.generateName: Invalid value: \"bad.\": a lowercase RFC 1123 subdomain"
        ),
        "{message}"
    );
    assert_eq!(
        body["details"]["causes"][0]["field"],
        "metadata.generateName"
    );
    // Accepted as a dry run, so the store stays unchanged.
    let dry_run = format!("{events}?dryRun=All");
    let (code, body) = send(&client, "POST", &dry_run, &event("good-")).await;
    assert_eq!(code, 201, "{body}");
    assert!(
        body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with("good-")
    );

    let (code, body) = send(&client, "GET", "/api/v1/namespaces/default/widgets", "").await;
    assert_eq!(code, 404);
    assert_status(&body, 404, "NotFound");
    assert_eq!(
        body["message"],
        "the server could not find the requested resource"
    );

    let (code, body) = send(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps/missing",
        "",
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(body["message"], "configmaps \"missing\" not found");
    assert_eq!(
        body["details"],
        json!({"name": "missing", "kind": "configmaps"})
    );

    let (code, body) = send(
        &client,
        "POST",
        "/api/v1/namespaces/nowhere/configmaps",
        &json!({"metadata": {"name": "x"}}).to_string(),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(body["message"], "namespaces \"nowhere\" not found");

    let (code, body) = send(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps/named",
        &json!({"metadata": {"name": "x"}}).to_string(),
    )
    .await;
    assert_eq!(code, 405);
    assert_status(&body, 405, "MethodNotAllowed");

    let (code, body) = send(
        &client,
        "POST",
        path,
        &json!({"metadata": {"name": "dup"}}).to_string(),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = send(
        &client,
        "POST",
        path,
        &json!({"metadata": {"name": "dup"}}).to_string(),
    )
    .await;
    assert_eq!(code, 409);
    assert_status(&body, 409, "AlreadyExists");
    assert_eq!(body["message"], "configmaps \"dup\" already exists");

    let after = cms.list(&ListParams::default()).await.unwrap().items.len();
    assert_eq!(
        after,
        before + 1,
        "only the one valid create changed the store"
    );
    assert_eq!(sim.resource_version(), rv_before + 1);
}
