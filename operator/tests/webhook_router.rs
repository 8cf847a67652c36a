//! `POST /mutate`, `/healthz` and `/readyz` through the router (no socket), for every kind of
//! request the API server — or a broken client — can send.

mod webhook_support;

use std::sync::Arc;

use openlit_operator::inject::{INSTRUMENTED_BY_ANNOTATION, Policy};
use openlit_operator::tls::ServingCertificate;
use openlit_operator::webhook::{INTERNAL_ERROR_WARNING, PolicySource, StaticPolicies, router};
use serde_json::{Value, json};
use webhook_support::*;

fn body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

async fn admit(router: &axum::Router, review: &Value) -> (Value, Option<json_patch::Patch>) {
    let (status, content_type, bytes) = send(router, "POST", "/mutate", body(review)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(content_type, "application/json");
    let (response, patch) = decode(&bytes);
    assert_eq!(response["uid"], review["request"]["uid"]);
    assert_eq!(response["allowed"], true, "the webhook never refuses a pod");
    (response, patch)
}

/// A valid review still gets a normal answer (the server keeps serving after bad input).
async fn still_serving(router: &axum::Router) {
    let (_, patch) = admit(router, &review(chat_pod(), "shop", "CREATE", false)).await;
    assert!(patch.is_some());
}

#[tokio::test]
async fn a_matching_pod_comes_back_instrumented() {
    let harness = harness(chat_source());
    let router = router(harness.state.clone());
    let pod = chat_pod();
    let (response, patch) = admit(&router, &review(pod.clone(), "shop", "CREATE", false)).await;
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch.unwrap()).unwrap();

    assert_eq!(
        patched["metadata"]["annotations"][INSTRUMENTED_BY_ANNOTATION],
        "shop/chat"
    );
    let init = &patched["spec"]["initContainers"][0];
    assert_eq!(init["name"], "auto-instrumentation-openlit");
    assert_eq!(
        init["image"],
        "ghcr.io/openlit/openlit-ai-instrumentation:latest"
    );
    assert_eq!(
        patched["spec"]["volumes"][0],
        json!({"name": "instrumentation-packages", "emptyDir": {"sizeLimit": "500Mi"}})
    );
    let app = &patched["spec"]["containers"][0];
    let env: Vec<(&str, &Value)> = app["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e.get("value").unwrap_or(&e["valueFrom"]),
            )
        })
        .collect();
    let value = |name: &str| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).clone())
    };
    assert_eq!(
        value("OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some(json!("http://openlit.openlit.svc.cluster.local:4318"))
    );
    assert_eq!(value("OTEL_EXPORTER_OTLP_TIMEOUT"), Some(json!("10000")));
    assert_eq!(
        value("PYTHONPATH"),
        Some(json!("/instrumentation-packages"))
    );
    assert_eq!(value("OTEL_SERVICE_NAME"), Some(json!("chat")));
    assert!(
        value("OTEL_RESOURCE_ATTRIBUTES")
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("team=search,"),
        "the user's attributes come first"
    );
    assert_eq!(
        app["volumeMounts"][0],
        json!({"name": "instrumentation-packages", "mountPath": "/instrumentation-packages", "readOnly": true})
    );
    // The istio sidecar is left alone.
    assert_eq!(
        patched["spec"]["containers"][1],
        pod["spec"]["containers"][1]
    );
    assert_eq!(
        response["auditAnnotations"]["decision"],
        "instrumented by shop/chat"
    );
    let metrics = harness.metrics.encode();
    assert!(
        metrics.contains("openlit_operator_admissions_total{outcome=\"instrumented\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_pod_no_resource_selects_is_allowed_without_a_patch() {
    let router = router(harness(chat_source()).state);
    let mut pod = chat_pod();
    pod["metadata"]["labels"]["app"] = json!("search");
    let (response, patch) = admit(&router, &review(pod, "shop", "CREATE", false)).await;
    assert!(patch.is_none());
    assert!(response.get("patchType").is_none());
    assert!(response.get("warnings").is_none());
}

#[tokio::test]
async fn pods_in_opted_out_namespaces_and_opted_out_pods_are_left_alone() {
    // Resources in the operator's namespace apply everywhere — except where injection is off.
    let mut global = chat_resource();
    global.metadata.namespace = Some(OPERATOR_NS.into());
    let source: Arc<dyn PolicySource> = Arc::new(StaticPolicies(vec![Arc::new(Policy::compile(
        &global,
        "ghcr.io/openlit",
    ))]));
    let router = router(harness(source).state);
    for namespace in ["kube-system", OPERATOR_NS] {
        let (_, patch) = admit(&router, &review(chat_pod(), namespace, "CREATE", false)).await;
        assert!(patch.is_none(), "{namespace}");
    }
    let mut pod = chat_pod();
    pod["metadata"]["annotations"] = json!({"openlit.io/inject": "false"});
    let (_, patch) = admit(&router, &review(pod, "shop", "CREATE", false)).await;
    assert!(patch.is_none());
    // The same pod elsewhere is instrumented by the cluster-wide resource.
    let (_, patch) = admit(&router, &review(chat_pod(), "shop", "CREATE", false)).await;
    assert!(patch.is_some());
}

#[tokio::test]
async fn another_kind_is_allowed_unchanged_with_a_warning() {
    let router = router(harness(chat_source()).state);
    let mut review = review(
        json!({"metadata": {"name": "c"}, "data": {}}),
        "shop",
        "CREATE",
        false,
    );
    review["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "ConfigMap"});
    review["request"]["resource"] = json!({"group": "", "version": "v1", "resource": "configmaps"});
    let (response, patch) = admit(&router, &review).await;
    assert!(patch.is_none());
    assert_eq!(
        response["warnings"],
        json!(["openlit-operator only mutates Pods; this ConfigMap request was left unchanged"])
    );
    let mut review = review.clone();
    review["request"]["kind"] = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
    let (response, _) = admit(&router, &review).await;
    assert!(
        response["warnings"][0]
            .as_str()
            .unwrap()
            .contains("apps/Deployment")
    );
}

#[tokio::test]
async fn update_delete_and_subresources_are_allowed_unchanged() {
    let router = router(harness(chat_source()).state);
    for operation in ["UPDATE", "DELETE", "CONNECT"] {
        let (response, patch) = admit(&router, &review(chat_pod(), "shop", operation, false)).await;
        assert!(patch.is_none(), "{operation}");
        assert!(response.get("warnings").is_none(), "{operation}");
    }
    let mut binding = review(chat_pod(), "shop", "CREATE", false);
    binding["request"]["subResource"] = json!("binding");
    let (_, patch) = admit(&router, &binding).await;
    assert!(patch.is_none());
}

#[tokio::test]
async fn a_dry_run_gets_the_same_patch_as_the_real_request() {
    let router = router(harness(chat_source()).state);
    let (_, real) = admit(&router, &review(chat_pod(), "shop", "CREATE", false)).await;
    let (_, dry) = admit(&router, &review(chat_pod(), "shop", "CREATE", true)).await;
    assert!(real.is_some());
    assert_eq!(real, dry);
}

#[tokio::test]
async fn a_pod_named_by_its_object_only_uses_the_objects_namespace() {
    let router = router(harness(chat_source()).state);
    let mut review = review(chat_pod(), "shop", "CREATE", false);
    review["request"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let (_, patch) = admit(&router, &review).await;
    assert!(patch.is_some(), "metadata.namespace of the pod is shop");
}

/// Each malformed input, its status and the start of its message.
fn malformed_cases() -> Vec<(&'static str, Vec<u8>, u16, &'static str)> {
    let valid = body(&review(chat_pod(), "shop", "CREATE", false));
    let mut no_request = review(chat_pod(), "shop", "CREATE", false);
    no_request.as_object_mut().unwrap().remove("request");
    let mut null_object = review(chat_pod(), "shop", "CREATE", false);
    null_object["request"]["object"] = Value::Null;
    let mut no_uid = review(chat_pod(), "shop", "CREATE", false);
    no_uid["request"].as_object_mut().unwrap().remove("uid");
    let mut wrong_kind = review(chat_pod(), "shop", "CREATE", false);
    wrong_kind["kind"] = json!("Pod");
    let mut invalid_utf8 = valid.clone();
    let at = invalid_utf8.windows(3).position(|w| w == b"app").unwrap();
    invalid_utf8[at] = 0xff;
    let mut huge = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","pad":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    huge.extend(br#""}}"#);
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let mut nested_in_object = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","object":"#.to_vec();
    nested_in_object.extend("{\"a\":".repeat(5_000).bytes());
    nested_in_object.extend(b"1");
    nested_in_object.extend("}".repeat(5_002).bytes());
    vec![
        (
            "truncated JSON",
            valid[..valid.len() / 2].to_vec(),
            400,
            "invalid AdmissionReview: the body is not valid JSON: EOF while parsing",
        ),
        (
            "empty body",
            Vec::new(),
            400,
            "invalid AdmissionReview: the body is not valid JSON",
        ),
        (
            "non-object body",
            b"[1,2,3]".to_vec(),
            400,
            "invalid AdmissionReview: the body must be a JSON object, got an array",
        ),
        (
            "string body",
            b"\"review\"".to_vec(),
            400,
            "invalid AdmissionReview: the body must be a JSON object, got a string",
        ),
        (
            "request missing",
            body(&no_request),
            400,
            "invalid AdmissionReview: the AdmissionReview has no request",
        ),
        (
            "object null",
            body(&null_object),
            400,
            "invalid AdmissionReview: request.object must be the Pod being created, got null",
        ),
        (
            "uid missing",
            body(&no_uid),
            400,
            "invalid AdmissionReview: request.uid is missing or empty",
        ),
        (
            "not an AdmissionReview",
            body(&wrong_kind),
            400,
            "invalid AdmissionReview: expected apiVersion admission.k8s.io/v1 and kind AdmissionReview",
        ),
        (
            "10 MiB body",
            huge,
            413,
            "invalid AdmissionReview: the body is larger than the 3145728 byte limit",
        ),
        (
            "deeply nested arrays",
            nested,
            400,
            "invalid AdmissionReview: the body is not valid JSON: recursion limit exceeded",
        ),
        (
            "deeply nested object",
            nested_in_object,
            400,
            "invalid AdmissionReview: the body is not valid JSON: recursion limit exceeded",
        ),
        (
            "invalid UTF-8",
            invalid_utf8,
            400,
            "invalid AdmissionReview: the body is not valid UTF-8 (invalid byte at offset",
        ),
    ]
}

#[tokio::test]
async fn malformed_input_gets_a_clear_error_and_the_server_keeps_serving() {
    let harness = harness(chat_source());
    let router = router(harness.state.clone());
    for (case, input, status, message) in malformed_cases() {
        let (got, content_type, bytes) = send(&router, "POST", "/mutate", input).await;
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(got, status, "{case}: {text}");
        assert_eq!(content_type, "text/plain; charset=utf-8", "{case}");
        assert!(text.starts_with(message), "{case}: {text}");
        still_serving(&router).await;
    }
    let metrics = harness.metrics.encode();
    assert!(
        metrics.contains("openlit_operator_admissions_total{outcome=\"error\"} 12"),
        "{metrics}"
    );
}

#[test]
fn malformed_input_regressions_hold_without_the_http_layer() {
    // The fuzz target's entry point: the same answers, body bytes in, reply out.
    let source = StaticPolicies(vec![chat_policy()]);
    for (case, input, status, message) in malformed_cases() {
        if status == 413 {
            continue; // the size limit belongs to the HTTP layer
        }
        let reply = openlit_operator::webhook::review(&input, &source, &inject_config());
        assert_eq!(reply.status, status, "{case}");
        assert!(
            String::from_utf8_lossy(&reply.body).starts_with(message),
            "{case}"
        );
    }
    for input in fuzz_regressions() {
        let reply = openlit_operator::webhook::review(&input, &source, &inject_config());
        assert!(reply.status == 200 || reply.status == 400);
    }
}

/// Inputs the fuzzer found interesting, kept so they stay handled.
fn fuzz_regressions() -> Vec<Vec<u8>> {
    let mut inputs: Vec<Vec<u8>> = vec![
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","namespace":"shop","object":{"metadata":[],"spec":1}}}"#.to_vec(),
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","namespace":"shop","object":{"metadata":{"labels":{"app":"chat"}},"spec":{"containers":[{"name":"a","image":"python","env":[{"name":"PYTHONPATH","valueFrom":{}}]},null,5]}}}}"#.to_vec(),
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","namespace":"shop","object":{"metadata":{"labels":{"app":"chat"},"annotations":null},"spec":{"containers":[{"name":"a","image":"python","volumeMounts":{},"env":"x"}],"initContainers":{},"volumes":"v"}}}}"#.to_vec(),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            inputs.push(std::fs::read(entry.path()).unwrap());
        }
    }
    inputs
}

struct Panicking;

impl PolicySource for Panicking {
    fn candidates(&self, _: &str, _: &str) -> Vec<Arc<Policy>> {
        panic!("the cache is broken");
    }
}

#[tokio::test]
async fn a_panic_while_deciding_is_answered_allowed_with_a_warning() {
    let router = router(harness(Arc::new(Panicking)).state);
    let (response, patch) = admit(&router, &review(chat_pod(), "shop", "CREATE", false)).await;
    assert!(patch.is_none());
    assert_eq!(response["warnings"], json!([INTERNAL_ERROR_WARNING]));
    // And again: the server is unharmed.
    let (response, _) = admit(&router, &review(chat_pod(), "shop", "CREATE", false)).await;
    assert_eq!(response["warnings"], json!([INTERNAL_ERROR_WARNING]));
}

struct Unsynced;

impl PolicySource for Unsynced {
    fn candidates(&self, _: &str, _: &str) -> Vec<Arc<Policy>> {
        Vec::new()
    }
    fn synced(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn readiness_needs_a_valid_certificate_and_a_synced_cache() {
    let ready = harness(chat_source());
    let router_ready = router(ready.state.clone());
    assert_eq!(send(&router_ready, "GET", "/healthz", "").await.0, 200);
    let (status, _, body) = send(&router_ready, "GET", "/readyz", "").await;
    assert_eq!((status, body.as_slice()), (200, b"ready\n".as_slice()));

    // The certificate expires (the clock moves past it): not ready.
    ready
        .clock
        .advance(std::time::Duration::from_secs(2 * 3600));
    let (status, _, body) = send(&router_ready, "GET", "/readyz", "").await;
    assert_eq!(status, 503);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "not ready: no valid serving certificate is loaded\n"
    );

    let mut unsynced = harness(Arc::new(Unsynced));
    unsynced.state.certificate = ServingCertificate::new();
    let (status, _, body) = send(&router(unsynced.state), "GET", "/readyz", "").await;
    assert_eq!(status, 503);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "not ready: no valid serving certificate is loaded; the AutoInstrumentation cache has not synced\n"
    );
}

#[tokio::test]
async fn a_configured_path_is_served_instead_of_mutate() {
    let harness = harness(chat_source());
    let mut state = harness.state.clone();
    state.settings = std::sync::Arc::new(openlit_operator::webhook::WebhookSettings {
        path: "/inject/pods".into(),
        ..(*state.settings).clone()
    });
    let router = router(state);
    let review = review(chat_pod(), "shop", "CREATE", false);
    let (status, _, bytes) = send(&router, "POST", "/inject/pods", body(&review)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert!(decode(&bytes).1.is_some(), "the pod is instrumented");
    let (status, _, _) = send(&router, "POST", "/mutate", body(&review)).await;
    assert_eq!(status, 404, "the default path is not served any more");
    let (status, _, _) = send(&router, "GET", "/healthz", Vec::new()).await;
    assert_eq!(status, 200, "the probes stay where they are");
}

#[tokio::test]
async fn warnings_are_capped_in_length() {
    // Forty resources select the pod: the warning naming them is shortened, not unbounded.
    let policies: Vec<Arc<Policy>> = (0..40)
        .map(|i| {
            let mut resource = chat_resource();
            resource.metadata.name = Some(format!("chat-{i:02}-{}", "n".repeat(50)));
            Arc::new(Policy::compile(&resource, "ghcr.io/openlit"))
        })
        .collect();
    let router = router(harness(Arc::new(StaticPolicies(policies))).state);
    let (response, patch) = admit(&router, &review(chat_pod(), "shop", "CREATE", false)).await;
    assert!(patch.is_some());
    let warnings = response["warnings"].as_array().unwrap();
    assert!(!warnings.is_empty());
    for warning in warnings {
        let warning = warning.as_str().unwrap();
        assert!(warning.len() <= 256, "{} bytes: {warning}", warning.len());
    }
    assert!(
        warnings[0].as_str().unwrap().contains("chosen over"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn a_saturated_webhook_allows_the_pod_unchanged_with_a_warning() {
    let (gate, entered, release) = webhook_support::gate::Gate::new();
    let mut state = harness(gate).state;
    state.settings = Arc::new(openlit_operator::webhook::WebhookSettings {
        admission_workers: 1,
        // Every review goes to the workers, however small.
        inline_review_bytes: 0,
        admission_queue_timeout: std::time::Duration::from_millis(100),
        ..(*state.settings).clone()
    });
    let router = router(state);
    let first = {
        let router = router.clone();
        tokio::spawn(
            async move { admit(&router, &review(chat_pod(), "shop", "CREATE", false)).await },
        )
    };
    entered.await.unwrap();
    // The only worker is busy: the next pod is answered at once, allowed and unchanged.
    let (response, patch) = admit(&router, &review(chat_pod(), "shop", "CREATE", false)).await;
    release.send(()).unwrap();
    assert!(patch.is_none());
    assert_eq!(
        response["warnings"],
        json!([openlit_operator::webhook::BUSY_WARNING])
    );
    let (_, patch) = first.await.unwrap();
    assert!(patch.is_some(), "the held admission completes");
    // Once the worker is free again, pods are instrumented.
    still_serving(&router).await;
}
