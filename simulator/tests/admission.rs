//! The mutating admission chain against a real HTTPS webhook.
mod common;

use common::webhook::{self, Behaviour};
use http_body_util::BodyExt;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;
use std::time::Duration;

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "x"}}, "spec": {"containers": [{"name": "app", "image": "python:3.12"}]}})).unwrap()
}

async fn setup(
    b: Behaviour,
    failure: &str,
    timeout: u32,
    good_ca: bool,
) -> (kubesim::Simulator, webhook::Webhook, Api<Pod>) {
    let sim = kubesim::Simulator::builder()
        .controllers(false)
        .start()
        .await
        .unwrap();
    let hook = webhook::start("hook.default.svc", b).await;
    sim.register_service_endpoint("default", "hook", 443, hook.addr);
    let ca = if good_ca {
        hook.ca_bundle()
    } else {
        webhook::start("hook.default.svc", Behaviour::default())
            .await
            .ca_bundle()
    };
    let client = sim.client().unwrap();
    let mwcs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let cfg: MutatingWebhookConfiguration =
        serde_json::from_value(webhook::configuration("inject", &ca, failure, timeout)).unwrap();
    mwcs.create(&PostParams::default(), &cfg).await.unwrap();
    (sim, hook, Api::default_namespaced(client))
}

#[tokio::test]
async fn patch_is_applied_and_review_carries_defaults() {
    let patch = json!([{"op": "add", "path": "/metadata/annotations", "value": {"injected": "yes"}},
        {"op": "add", "path": "/spec/containers/0/env", "value": [{"name": "INJECTED", "value": "1"}]}]);
    let (_sim, hook, pods) = setup(
        Behaviour {
            patch: Some(patch),
            ..Default::default()
        },
        "Fail",
        10,
        true,
    )
    .await;
    let created = pods
        .create(&PostParams::default(), &pod("p"))
        .await
        .unwrap();
    assert_eq!(created.metadata.annotations.unwrap()["injected"], "yes");
    let stored = pods.get("p").await.unwrap();
    assert_eq!(
        stored.spec.unwrap().containers[0].env.clone().unwrap()[0].name,
        "INJECTED"
    );
    let reviews = hook.reviews.lock().unwrap().clone();
    assert_eq!(reviews.len(), 1);
    let req = &reviews[0]["request"];
    assert_eq!(req["operation"], "CREATE");
    assert_eq!(
        req["kind"],
        json!({"group": "", "version": "v1", "kind": "Pod"})
    );
    assert_eq!(
        req["resource"],
        json!({"group": "", "version": "v1", "resource": "pods"})
    );
    assert_eq!(req["namespace"], "default");
    assert_eq!(req["name"], "p");
    assert!(
        req["object"]["metadata"]["uid"].is_null(),
        "no uid before admission"
    );
    let vols = req["object"]["spec"]["volumes"].as_array().unwrap();
    assert!(
        vols[0]["name"]
            .as_str()
            .unwrap()
            .starts_with("kube-api-access-")
    );
    assert_eq!(
        req["object"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(
        req["object"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert_eq!(req["userInfo"]["username"], "kubernetes-admin");
    assert_eq!(req["dryRun"], false);
    assert_eq!(req["options"]["kind"], "CreateOptions");
}

#[tokio::test]
async fn wrong_ca_bundle_fails_closed_with_fail_policy() {
    let (_sim, hook, pods) = setup(Behaviour::default(), "Fail", 10, false).await;
    let err = pods
        .create(&PostParams::default(), &pod("p"))
        .await
        .unwrap_err();
    let kube::Error::Api(s) = err else { panic!() };
    assert_eq!(s.code, 500);
    assert_eq!(s.reason, "InternalError");
    assert_eq!(
        s.message,
        "Internal error occurred: failed calling webhook \"inject.example.com\": failed to call webhook: Post \"https://hook.default.svc:443/mutate?timeout=10s\": tls: failed to verify certificate: x509: certificate signed by unknown authority"
    );
    assert_eq!(hook.calls(), 0);
    assert!(pods.get_opt("p").await.unwrap().is_none());
}

#[tokio::test]
async fn wrong_ca_bundle_is_skipped_with_ignore_policy() {
    let patch =
        json!([{"op": "add", "path": "/metadata/annotations", "value": {"injected": "yes"}}]);
    let (_sim, _hook, pods) = setup(
        Behaviour {
            patch: Some(patch),
            ..Default::default()
        },
        "Ignore",
        10,
        false,
    )
    .await;
    let created = pods
        .create(&PostParams::default(), &pod("p"))
        .await
        .unwrap();
    assert!(created.metadata.annotations.is_none());
}

#[tokio::test]
async fn slow_webhook_times_out_like_the_api_server() {
    let b = Behaviour {
        delay: Duration::from_secs(3),
        ..Default::default()
    };
    let (_sim, _hook, pods) = setup(b, "Fail", 1, true).await;
    let err = pods
        .create(&PostParams::default(), &pod("p"))
        .await
        .unwrap_err();
    let kube::Error::Api(s) = err else { panic!() };
    assert_eq!(s.code, 500);
    assert_eq!(
        s.message,
        "Internal error occurred: failed calling webhook \"inject.example.com\": failed to call webhook: Post \"https://hook.default.svc:443/mutate?timeout=1s\": context deadline exceeded"
    );
}

#[tokio::test]
async fn slow_webhook_with_ignore_policy_lets_the_pod_through() {
    let b = Behaviour {
        delay: Duration::from_secs(3),
        ..Default::default()
    };
    let (_sim, _hook, pods) = setup(b, "Ignore", 1, true).await;
    pods.create(&PostParams::default(), &pod("p"))
        .await
        .unwrap();
}

#[tokio::test]
async fn denial_and_warnings_reach_the_client() {
    let b = Behaviour {
        warnings: vec!["skipped: no matching resource".into()],
        ..Default::default()
    };
    let (sim, hook, _pods) = setup(b, "Fail", 10, true).await;
    let body = serde_json::to_vec(&pod("w")).unwrap();
    let req = http::Request::post("/api/v1/namespaces/default/pods")
        .header("content-type", "application/json")
        .body(kube::client::Body::from(body))
        .unwrap();
    let resp = sim.client().unwrap().send(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let warnings: Vec<String> = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        warnings,
        vec!["299 - \"skipped: no matching resource\"".to_string()]
    );
    let _ = resp.into_body().collect().await;
    hook.behaviour.lock().unwrap().deny = Some("not allowed here".into());
    let pods: Api<Pod> = Api::default_namespaced(sim.client().unwrap());
    let err = pods
        .create(&PostParams::default(), &pod("d"))
        .await
        .unwrap_err();
    let kube::Error::Api(s) = err else { panic!() };
    assert_eq!(s.code, 403);
    assert_eq!(
        s.message,
        "admission webhook \"inject.example.com\" denied the request: not allowed here"
    );
}

#[tokio::test]
async fn namespace_selector_excludes_kube_system() {
    let (sim, hook, _pods) = setup(Behaviour::default(), "Fail", 10, true).await;
    let sys: Api<Pod> = Api::namespaced(sim.client().unwrap(), "kube-system");
    sys.create(&PostParams::default(), &pod("p")).await.unwrap();
    assert_eq!(hook.calls(), 0);
}

#[tokio::test]
async fn reinvocation_if_needed_calls_an_earlier_webhook_again() {
    let sim = kubesim::Simulator::builder()
        .controllers(false)
        .start()
        .await
        .unwrap();
    let first = webhook::start("hook.default.svc", Behaviour::default()).await;
    let patch = json!([{"op": "add", "path": "/metadata/labels/second", "value": "was-here"}]);
    let second = webhook::start(
        "second.default.svc",
        Behaviour {
            patch: Some(patch),
            ..Default::default()
        },
    )
    .await;
    sim.register_service_endpoint("default", "hook", 443, first.addr);
    sim.register_service_endpoint("default", "second", 443, second.addr);
    let client = sim.client().unwrap();
    let mwcs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let mut a = webhook::configuration("a-first", &first.ca_bundle(), "Fail", 10);
    a["webhooks"][0]["reinvocationPolicy"] = json!("IfNeeded");
    let mut b = webhook::configuration("b-second", &second.ca_bundle(), "Fail", 10);
    b["webhooks"][0]["clientConfig"]["service"]["name"] = json!("second");
    for cfg in [a, b] {
        mwcs.create(
            &PostParams::default(),
            &serde_json::from_value(cfg).unwrap(),
        )
        .await
        .unwrap();
    }
    let pods: Api<Pod> = Api::default_namespaced(client);
    let created = pods
        .create(&PostParams::default(), &pod("p"))
        .await
        .unwrap();
    assert_eq!(created.metadata.labels.unwrap()["second"], "was-here");
    assert_eq!(
        first.calls(),
        2,
        "the IfNeeded webhook saw the later change"
    );
    assert_eq!(second.calls(), 1);
    let last = first.reviews.lock().unwrap()[1].clone();
    assert_eq!(
        last["request"]["object"]["metadata"]["labels"]["second"],
        "was-here"
    );
}

#[tokio::test]
async fn pods_created_by_a_deployment_go_through_the_webhook() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let patch =
        json!([{"op": "add", "path": "/metadata/annotations", "value": {"injected": "yes"}}]);
    let hook = webhook::start(
        "hook.default.svc",
        Behaviour {
            patch: Some(patch),
            ..Default::default()
        },
    )
    .await;
    sim.register_service_endpoint("default", "hook", 443, hook.addr);
    let client = sim.client().unwrap();
    let mwcs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    mwcs.create(
        &PostParams::default(),
        &serde_json::from_value(webhook::configuration(
            "inject",
            &hook.ca_bundle(),
            "Fail",
            10,
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    let deps: Api<k8s_openapi::api::apps::v1::Deployment> = Api::default_namespaced(client.clone());
    let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "python:3.12"}]}}}});
    deps.create(&PostParams::default(), &serde_json::from_value(d).unwrap())
        .await
        .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    common::eventually("the deployment's pod exists", || async {
        !pods
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    })
    .await;
    let p = pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(p.metadata.annotations.unwrap()["injected"], "yes");
    let review = hook.reviews.lock().unwrap()[0].clone();
    assert!(
        review["request"].get("name").is_none(),
        "generateName pods have no name yet"
    );
    assert_eq!(
        review["request"]["object"]["metadata"]["generateName"]
            .as_str()
            .unwrap(),
        p.metadata.generate_name.unwrap()
    );
    assert_eq!(
        review["request"]["userInfo"]["username"],
        "system:serviceaccount:kube-system:replicaset-controller"
    );
}
