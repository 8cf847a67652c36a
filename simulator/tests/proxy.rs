//! The `proxy` subresource of pods and services: requests through the API server reach an HTTP
//! server the test registered for the pod's (or service's) port, from kube-rs and `kubectl get
//! --raw`, with the real server's errors and RBAC attributes.
mod common;

use common::kubectl::Kubectl;
use common::wait_for;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use kubesim::{Exit, Image, Simulator};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

const METRICS: &str = "# TYPE requests_total counter\nrequests_total 42\n";
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A tiny HTTP server on a free loopback port: `GET /metrics`, and `/echo` answering with what it
/// received (method, path, query, body, and which credentials and forwarding headers came along).
async fn metrics_server() -> SocketAddr {
    async fn echo(
        method: http::Method,
        uri: http::Uri,
        headers: http::HeaderMap,
        body: String,
    ) -> axum::Json<Value> {
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        axum::Json(json!({
            "method": method.as_str(),
            "path": uri.path(),
            "query": uri.query(),
            "body": body,
            "authorization": header("authorization"),
            "forwardedUri": header("x-forwarded-uri"),
        }))
    }
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|| async {
                ([(http::header::CONTENT_TYPE, METRICS_TYPE)], METRICS)
            }),
        )
        .route("/echo", axum::routing::any(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// An address nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

fn running(p: &Pod) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.phase.as_deref() == Some("Running")
            && s.container_statuses
                .iter()
                .flatten()
                .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
    })
}

fn phase_is(phase: &'static str) -> impl Fn(&Pod) -> bool {
    move |p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase)
}

async fn create<K>(api: &Api<K>, v: Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
        .await
        .unwrap()
}

/// Namespace `ns` with pod `p` running, its container declaring `metrics` (9090) first and
/// `http` (8080); returns the pods API and the pod's IP.
async fn metrics_pod(sim: &Simulator) -> (Api<Pod>, String) {
    let client = sim.client().unwrap();
    create(
        &Api::<Namespace>::all(client.clone()),
        json!({"metadata": {"name": "ns"}}),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client, "ns");
    create(
        &pods,
        json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{
                "name": "app", "image": "example.com/app:1",
                "ports": [
                    {"name": "metrics", "containerPort": 9090},
                    {"name": "http", "containerPort": 8080}
                ]
            }]}
        }),
    )
    .await;
    let pod = wait_for(&pods, "p", running).await;
    let ip = pod
        .status
        .and_then(|s| s.pod_ip)
        .expect("a running pod has an IP");
    (pods, ip)
}

/// A client that reports a 503 at once: kube-rs retries 429, 503 and 504 answers by default (15
/// times, with exponential backoff), as it would against a real API server.
fn no_retry(mut cfg: kube::Config) -> kube::Client {
    cfg.default_retry = false;
    kube::Client::try_from(cfg).unwrap()
}

/// Status code and body text of a request through the API, or the `Status` of a failure.
async fn raw(client: &kube::Client, req: http::Request<Vec<u8>>) -> Result<String, (u16, String)> {
    let answer = tokio::time::timeout(Duration::from_secs(30), client.request_text(req));
    match answer.await.expect("an answer in time") {
        Ok(text) => Ok(text),
        Err(kube::Error::Api(s)) => Err((s.code, s.message)),
        Err(other) => panic!("not an API error: {other}"),
    }
}

fn get_request(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path).body(vec![]).unwrap()
}

#[tokio::test]
async fn kube_client_reaches_the_registered_pod_port_through_the_api_server() {
    let sim = Simulator::start().await.unwrap();
    metrics_pod(&sim).await;
    sim.register_pod_endpoint("ns", "p", "metrics", metrics_server().await);
    let client = no_retry(sim.kube_config().unwrap());

    // By number, and with no port: the first declared container port.
    for path in [
        "/api/v1/namespaces/ns/pods/p:9090/proxy/metrics",
        "/api/v1/namespaces/ns/pods/http:p:9090/proxy/metrics",
        "/api/v1/namespaces/ns/pods/p/proxy/metrics",
    ] {
        assert_eq!(
            raw(&client, get_request(path)).await.as_deref(),
            Ok(METRICS),
            "{path}"
        );
    }
    assert_eq!(sim.request_count("get", "pods", "proxy"), 3);

    // The status, content type and body come back as the server sent them.
    let req = http::Request::get("/api/v1/namespaces/ns/pods/p:9090/proxy/metrics")
        .body(kube::client::Body::empty())
        .unwrap();
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[http::header::CONTENT_TYPE], METRICS_TYPE);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, METRICS);
    let req = http::Request::get("/api/v1/namespaces/ns/pods/p:9090/proxy/nothing-here")
        .body(kube::client::Body::empty())
        .unwrap();
    assert_eq!(client.send(req).await.unwrap().status(), 404);

    // Other methods, the query and the body are forwarded.
    let post = http::Request::post("/api/v1/namespaces/ns/pods/p:9090/proxy/echo?a=1&b=two")
        .body(b"payload".to_vec())
        .unwrap();
    let echoed: Value = serde_json::from_str(&raw(&client, post).await.unwrap()).unwrap();
    assert_eq!(
        echoed,
        json!({
            "method": "POST", "path": "/echo", "query": "a=1&b=two", "body": "payload",
            "authorization": null,
            "forwardedUri": "/api/v1/namespaces/ns/pods/p:9090/proxy/echo"
        })
    );
    assert_eq!(sim.request_count("create", "pods", "proxy"), 1);

    // As upstream, the port in the path is not looked up among the pod's container port names.
    let named = raw(
        &client,
        get_request("/api/v1/namespaces/ns/pods/p:metrics/proxy/metrics"),
    )
    .await;
    assert_eq!(
        named,
        Err((
            503,
            "error trying to reach service: dial tcp: lookup tcp/metrics: unknown port".into()
        ))
    );

    // `.../proxy` without a slash is redirected to `.../proxy/`, as upstream.
    let req = http::Request::get("/api/v1/namespaces/ns/pods/p:9090/proxy?x=1")
        .body(kube::client::Body::empty())
        .unwrap();
    let resp = client.send(req).await.unwrap();
    assert_eq!(resp.status(), 301);
    assert_eq!(
        resp.headers()[http::header::LOCATION],
        "/api/v1/namespaces/ns/pods/p:9090/proxy/?x=1"
    );
}

#[tokio::test]
async fn proxy_errors_are_the_real_servers() {
    let sim = Simulator::start().await.unwrap();
    sim.register_image(Image::new("example.com/job:1").program(|_| Exit::Code(0)));
    let (pods, ip) = metrics_pod(&sim).await;
    let client = no_retry(sim.kube_config().unwrap());

    let missing = raw(
        &client,
        get_request("/api/v1/namespaces/ns/pods/nope:9090/proxy/metrics"),
    )
    .await;
    assert_eq!(missing, Err((404, "pods \"nope\" not found".into())));

    // Nothing registered for the port: nothing listens there.
    let refused: Result<String, (u16, String)> = Err((
        503,
        format!("error trying to reach service: dial tcp {ip}:9090: connect: connection refused"),
    ));
    let path = "/api/v1/namespaces/ns/pods/p:9090/proxy/metrics";
    assert_eq!(raw(&client, get_request(path)).await, refused);
    // Registered, but the test's server is gone.
    sim.register_pod_endpoint("ns", "p", 9090, closed_port().await);
    assert_eq!(raw(&client, get_request(path)).await, refused);
    sim.unregister_pod_endpoint("ns", "p", 9090);

    // A pod the scheduler never binds has no IP yet.
    create(
        &pods,
        json!({"metadata": {"name": "pending"}, "spec": {
            "schedulerName": "elsewhere",
            "containers": [{"name": "app", "image": "example.com/app:1", "ports": [{"containerPort": 9090}]}]
        }}),
    )
    .await;
    let pending = raw(
        &client,
        get_request("/api/v1/namespaces/ns/pods/pending/proxy/metrics"),
    )
    .await;
    assert_eq!(pending, Err((400, "address not allowed".into())));

    // A pod whose container has exited serves nothing, registered or not.
    create(
        &pods,
        json!({"metadata": {"name": "done"}, "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "job", "image": "example.com/job:1", "ports": [{"containerPort": 9090}]}]
        }}),
    )
    .await;
    let done = wait_for(&pods, "done", phase_is("Succeeded")).await;
    let done_ip = done.status.and_then(|s| s.pod_ip).unwrap();
    sim.register_pod_endpoint("ns", "done", 9090, metrics_server().await);
    assert_eq!(
        raw(
            &client,
            get_request("/api/v1/namespaces/ns/pods/done/proxy/metrics")
        )
        .await,
        Err((
            503,
            format!(
                "error trying to reach service: dial tcp {done_ip}:9090: connect: connection refused"
            )
        ))
    );

    let https = raw(
        &client,
        get_request("/api/v1/namespaces/ns/pods/https:p:9090/proxy/metrics"),
    )
    .await;
    assert_eq!(
        https,
        Err((
            400,
            "kubesim proxies plain HTTP only: the https scheme in \"https:p:9090\" is not supported"
                .into()
        ))
    );
    let invalid = raw(
        &client,
        get_request("/api/v1/namespaces/ns/pods/ftp:p:21/proxy/"),
    )
    .await;
    assert_eq!(
        invalid,
        Err((400, "invalid pod request \"ftp:p:21\"".into()))
    );
    let other = raw(
        &client,
        get_request("/api/v1/namespaces/ns/configmaps/c/proxy/x"),
    )
    .await;
    assert_eq!(other.map_err(|(code, _)| code), Err(404));
}

#[tokio::test]
async fn service_proxy_uses_the_service_endpoint_registry() {
    let sim = Simulator::start().await.unwrap();
    let client = no_retry(sim.kube_config().unwrap());
    let services: Api<Service> = Api::default_namespaced(client.clone());
    create(
        &services,
        json!({"metadata": {"name": "web"}, "spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "admin", "port": 81}
        ]}}),
    )
    .await;
    sim.register_service_endpoint("default", "web", 80, metrics_server().await);

    for id in ["web:http", "web:80"] {
        let path = format!("/api/v1/namespaces/default/services/{id}/proxy/metrics");
        assert_eq!(
            raw(&client, get_request(&path)).await.as_deref(),
            Ok(METRICS),
            "{id}"
        );
    }
    let cases = [
        ("web:82", "no service port 82 found for service \"web\""),
        (
            "web:other",
            "no endpoints available for service \"web:other\"",
        ),
        ("web:admin", "no endpoints available for service \"web\""),
        ("web", "no endpoints available for service \"web\""),
    ];
    for (id, message) in cases {
        let path = format!("/api/v1/namespaces/default/services/{id}/proxy/metrics");
        assert_eq!(
            raw(&client, get_request(&path)).await,
            Err((503, message.into())),
            "{id}"
        );
    }
    let missing = raw(
        &client,
        get_request("/api/v1/namespaces/default/services/nope/proxy/"),
    )
    .await;
    assert_eq!(missing, Err((404, "services \"nope\" not found".into())));
    assert_eq!(sim.request_count("get", "services", "proxy"), 7);
}

#[tokio::test]
async fn proxy_is_authorized_by_method_on_pods_proxy() {
    let sim = Simulator::start().await.unwrap();
    metrics_pod(&sim).await;
    sim.register_pod_endpoint("ns", "p", "metrics", metrics_server().await);
    let admin = sim.client().unwrap();
    create(
        &Api::<ServiceAccount>::namespaced(admin.clone(), "ns"),
        json!({"metadata": {"name": "scraper"}}),
    )
    .await;
    let roles: Api<Role> = Api::namespaced(admin.clone(), "ns");
    create(
        &roles,
        json!({"metadata": {"name": "scrape"}, "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
        ]}),
    )
    .await;
    create(
        &Api::<RoleBinding>::namespaced(admin, "ns"),
        json!({
            "metadata": {"name": "scrape"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "scrape"},
            "subjects": [{"kind": "ServiceAccount", "name": "scraper"}]
        }),
    )
    .await;
    let scraper = sim.service_account_client("ns", "scraper").unwrap();
    let path = "/api/v1/namespaces/ns/pods/p:9090/proxy/metrics";
    let forbidden = |verb: &str| -> Result<String, (u16, String)> {
        Err((
            403,
            format!(
                "pods \"p:9090\" is forbidden: User \"system:serviceaccount:ns:scraper\" cannot {verb} resource \"pods/proxy\" in API group \"\" in the namespace \"ns\""
            ),
        ))
    };
    assert_eq!(raw(&scraper, get_request(path)).await, forbidden("get"));
    let denied = sim.denials();
    assert_eq!(denied.len(), 1, "{denied:?}");

    roles
        .replace(
            "scrape",
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "scrape"}, "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]}
            ]}))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        raw(&scraper, get_request(path)).await.as_deref(),
        Ok(METRICS)
    );
    let post = || {
        http::Request::post("/api/v1/namespaces/ns/pods/p:9090/proxy/echo")
            .body(b"x".to_vec())
            .unwrap()
    };
    assert_eq!(raw(&scraper, post()).await, forbidden("create"));

    // With `create` a POST goes through; the service account's token stays with the API server.
    roles
        .replace(
            "scrape",
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "scrape"}, "rules": [
                {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get", "create"]}
            ]}))
            .unwrap(),
        )
        .await
        .unwrap();
    let echoed: Value = serde_json::from_str(&raw(&scraper, post()).await.unwrap()).unwrap();
    assert_eq!(
        (&echoed["method"], &echoed["authorization"]),
        (&json!("POST"), &Value::Null)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_raw_reaches_the_registered_pod_port() {
    let k = Kubectl::new();
    // `kubesim serve` has no way to register endpoints: the simulator runs in process.
    let sim = Simulator::start().await.unwrap();
    let (_, ip) = metrics_pod(&sim).await;
    sim.register_pod_endpoint("ns", "p", "metrics", metrics_server().await);
    sim.write_kubeconfig(k.kubeconfig()).unwrap();

    for path in [
        "/api/v1/namespaces/ns/pods/p:9090/proxy/metrics",
        "/api/v1/namespaces/ns/pods/p/proxy/metrics",
    ] {
        let (code, out, err) = k.run(&["get", "--raw", path]).await;
        assert_eq!(code, Some(0), "{path}: {err}");
        assert_eq!(out, METRICS, "{path}");
    }
    let (code, _, err) = k
        .run(&[
            "get",
            "--raw",
            "/api/v1/namespaces/ns/pods/nope:9090/proxy/metrics",
        ])
        .await;
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        "Error from server (NotFound): pods \"nope\" not found\n"
    );
    let (code, _, err) = k
        .run(&[
            "get",
            "--raw",
            "/api/v1/namespaces/ns/pods/p:8080/proxy/metrics",
        ])
        .await;
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!(
            "Error from server (ServiceUnavailable): error trying to reach service: dial tcp {ip}:8080: connect: connection refused\n"
        )
    );
}
