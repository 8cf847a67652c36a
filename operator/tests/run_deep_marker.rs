//! A hostile `customPackages` value (an environment marker nested thousands of parentheses deep)
//! applied to the simulator while two replicas run: both stay ready, the resource is reported
//! invalid in its status, and pods selected by other resources keep being instrumented. Once with
//! the generated CRD (the deepest marker that fits its length limit), once with a CRD without
//! limits, as a cluster still running an older CRD would store the 200,000-deep marker.
mod run_support;

use std::net::SocketAddr;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use openlit_operator::config::Config;
use openlit_operator::crd::limits::MAX_CUSTOM_PACKAGES_LEN;
use openlit_operator::run::{Listeners, Operator, OperatorHandle};
use run_support::{
    Cluster, OPERATOR_NAMESPACE, cluster, cluster_with, eventually, resource, until, valid_spec,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(cluster: &Cluster, identity: &str) -> OperatorHandle {
    Operator::start(
        Config {
            pod_namespace: OPERATOR_NAMESPACE.into(),
            pod_name: Some(identity.into()),
            ..Config::default()
        },
        cluster.client.clone(),
        cluster.clock.clone(),
        Listeners::loopback().await.unwrap(),
    )
    .await
    .unwrap()
}

/// The status code of a plain HTTP/1.1 GET.
async fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: operator\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

async fn ready(replica: &OperatorHandle) -> bool {
    status(replica.health_addr(), "/readyz").await == Some(200)
}

/// A marker nested `depth` parentheses deep.
fn deep_marker(depth: usize) -> String {
    format!(
        "x; {}python_version > \"3\"{}",
        "(".repeat(depth),
        ")".repeat(depth)
    )
}

/// The CRD with every size limit removed, as an older release shipped it.
fn crd_without_limits() -> CustomResourceDefinition {
    fn strip(node: &mut Value) {
        match node {
            Value::Object(object) => {
                for key in ["maxLength", "maxItems", "maxProperties"] {
                    object.remove(key);
                }
                object.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut crd = serde_json::to_value(openlit_operator::crd::crd()).unwrap();
    strip(&mut crd);
    serde_json::from_value(crd).unwrap()
}

/// Applies a resource selecting `app=batch` with `packages` as `customPackages`, next to a valid
/// resource selecting `app=chat`, with two replicas running; then checks that both replicas stay
/// ready, the hostile resource's status names `expected`, and a chat pod is instrumented.
async fn survive(cluster: Cluster, packages: String, expected: &str) {
    let a = start(&cluster, "replica-a").await;
    until("replica-a leads", || async { a.is_leader() }).await;
    let b = start(&cluster, "replica-b").await;
    until("both replicas are ready", || async {
        ready(&a).await && ready(&b).await
    })
    .await;
    cluster.sim.register_service_endpoint(
        OPERATOR_NAMESPACE,
        "openlit-webhook-service",
        443,
        b.webhook_addr(),
    );

    let mut hostile = valid_spec("batch");
    hostile["python"] = json!({"instrumentation": {"customPackages": packages}});
    let resources = cluster.resources("apps");
    resources
        .create(&PostParams::default(), &resource("deep", hostile))
        .await
        .expect("the API server stores the resource");
    resources
        .create(
            &PostParams::default(),
            &resource("chat", valid_spec("chat")),
        )
        .await
        .unwrap();

    let errors = eventually("the hostile resource has a status", || {
        let resources = resources.clone();
        async move {
            let status = resources.get("deep").await.ok()?.status?;
            Some(status.validation_errors)
        }
    })
    .await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].ends_with(expected), "{}", errors[0]);
    for replica in [&a, &b] {
        until("the replica has compiled both resources", || async {
            replica
                .metrics()
                .encode()
                .contains("openlit_operator_cached_resources 2")
        })
        .await;
    }
    until("chat has a status", || async {
        resources
            .get("chat")
            .await
            .is_ok_and(|r| r.status.is_some())
    })
    .await;

    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "apps");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "chat-1", "labels": {"app": "chat"}},
        "spec": {"containers": [{"name": "app", "image": "python:3.12-slim"}]}
    }))
    .unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    let instrumented_by = created
        .metadata
        .annotations
        .unwrap_or_default()
        .get("openlit.io/instrumented-by")
        .cloned();
    assert_eq!(instrumented_by.as_deref(), Some("apps/chat"));
    assert!(
        ready(&a).await && ready(&b).await,
        "both replicas stay ready"
    );
    assert_eq!(status(a.health_addr(), "/healthz").await, Some(200));
    assert_eq!(status(b.health_addr(), "/healthz").await, Some(200));
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn the_deepest_marker_the_crd_admits_leaves_the_replicas_ready_and_instrumenting() {
    let depth = (MAX_CUSTOM_PACKAGES_LEN - 24) / 2;
    let packages = deep_marker(depth);
    assert!(packages.len() <= MAX_CUSTOM_PACKAGES_LEN);
    survive(
        cluster().await,
        packages,
        "is not an environment marker such as python_version >= \"3.9\": parentheses nest more than 32 deep",
    )
    .await;
}

#[tokio::test]
async fn a_200000_deep_marker_under_a_crd_without_limits_is_refused_by_the_operator() {
    let packages = deep_marker(200_000);
    // The generated CRD refuses it at the API server.
    let refused = cluster()
        .await
        .resources("apps")
        .create(
            &PostParams::default(),
            &resource("deep", {
                let mut spec = valid_spec("batch");
                spec["python"] = json!({"instrumentation": {"customPackages": packages.clone()}});
                spec
            }),
        )
        .await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(e)) if e.code == 422),
        "{refused:?}"
    );
    survive(
        cluster_with(crd_without_limits()).await,
        packages,
        "spec.python.instrumentation.customPackages is 400023 characters long; at most 16384 are allowed",
    )
    .await;
}
