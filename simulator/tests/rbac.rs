//! Authentication by service account tokens and RBAC authorization, seen through kube::Client and
//! the real kubectl.
mod common;

use common::kubectl::kubectl_and_serve;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::Client;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::Status;
use kube::runtime::watcher;
use kubesim::Simulator;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

const TEAM: &str = "team";
const OTHER: &str = "other";
const APP: &str = "system:serviceaccount:team:app";

fn object<K: DeserializeOwned>(value: Value) -> K {
    serde_json::from_value(value).expect("a valid object")
}

/// A simulator with namespaces `team` and `other`, the ServiceAccount `team/app`, and an admin
/// client.
async fn cluster() -> (Simulator, Client) {
    let sim = Simulator::builder()
        .controllers(false)
        .start()
        .await
        .expect("simulator starts");
    let admin = sim.client().expect("admin client");
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    for name in [TEAM, OTHER] {
        namespaces
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": name}})),
            )
            .await
            .expect("namespace created");
    }
    Api::<ServiceAccount>::namespaced(admin.clone(), TEAM)
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "app"}})),
        )
        .await
        .expect("service account created");
    (sim, admin)
}

async fn role(admin: &Client, namespace: &str, name: &str, rules: Value) {
    Api::<Role>::namespaced(admin.clone(), namespace)
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": name}, "rules": rules})),
        )
        .await
        .expect("role created");
}

async fn cluster_role(admin: &Client, name: &str, rules: Value) {
    Api::<ClusterRole>::all(admin.clone())
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": name}, "rules": rules})),
        )
        .await
        .expect("cluster role created");
}

fn app_subject() -> Value {
    json!([{"kind": "ServiceAccount", "name": "app", "namespace": TEAM}])
}

async fn role_binding(admin: &Client, namespace: &str, name: &str, kind: &str, role: &str) {
    Api::<RoleBinding>::namespaced(admin.clone(), namespace)
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": app_subject(),
            })),
        )
        .await
        .expect("role binding created");
}

async fn cluster_role_binding(admin: &Client, name: &str, role: &str) {
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": app_subject(),
            })),
        )
        .await
        .expect("cluster role binding created");
}

fn api_status<T: Debug>(result: Result<T, kube::Error>) -> Box<Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Asserts a 403 Forbidden and returns its message.
fn forbidden<T: Debug>(result: Result<T, kube::Error>) -> String {
    let status = api_status(result);
    assert_eq!(
        (status.code, status.reason.as_str()),
        (403, "Forbidden"),
        "{status:?}"
    );
    status.message
}

fn allowed<T: Debug>(what: &str, result: Result<T, kube::Error>) -> T {
    result.unwrap_or_else(|e| panic!("{what} is allowed: {e}"))
}

fn cm(name: &str) -> ConfigMap {
    object(json!({"metadata": {"name": name}, "data": {"k": "v"}}))
}

#[tokio::test]
async fn each_verb_is_allowed_only_by_a_rule_naming_it() {
    let (sim, admin) = cluster().await;
    let admin_cms: Api<ConfigMap> = Api::namespaced(admin.clone(), TEAM);
    for name in ["a", "b", "c"] {
        admin_cms
            .create(&PostParams::default(), &cm(name))
            .await
            .unwrap();
    }
    role(
        &admin,
        TEAM,
        "reader",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create"]}]),
    )
    .await;
    role_binding(&admin, TEAM, "reader", "Role", "reader").await;
    let app = sim.service_account_client(TEAM, "app").unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(app.clone(), TEAM);

    allowed("get", cms.get("a").await);
    assert_eq!(
        allowed("list", cms.list(&ListParams::default()).await)
            .items
            .len(),
        3
    );
    allowed("create", cms.create(&PostParams::default(), &cm("d")).await);
    assert_eq!(
        forbidden(cms.watch(&WatchParams::default(), "0").await.map(|_| ())),
        format!(
            "configmaps is forbidden: User \"{APP}\" cannot watch resource \"configmaps\" in API group \"\" in the namespace \"team\""
        )
    );
    let mut changed = cms.get("a").await.unwrap();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    assert_eq!(
        forbidden(cms.replace("a", &PostParams::default(), &changed).await),
        format!(
            "configmaps \"a\" is forbidden: User \"{APP}\" cannot update resource \"configmaps\" in API group \"\" in the namespace \"team\""
        )
    );
    forbidden(
        cms.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "p"}})),
        )
        .await,
    );
    forbidden(cms.delete("a", &DeleteParams::default()).await);
    forbidden(
        cms.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await,
    );
    // Other namespaces, other resources and other groups are not granted.
    forbidden(
        Api::<ConfigMap>::namespaced(app.clone(), OTHER)
            .get("x")
            .await,
    );
    forbidden(
        Api::<ConfigMap>::all(app.clone())
            .list(&ListParams::default())
            .await,
    );
    forbidden(Api::<Secret>::namespaced(app.clone(), TEAM).get("a").await);

    let verbs: Vec<String> = sim
        .denials()
        .iter()
        .map(|d| d.attributes.verb.clone())
        .collect();
    assert_eq!(
        verbs,
        [
            "watch",
            "update",
            "patch",
            "delete",
            "deletecollection",
            "get",
            "list",
            "get"
        ]
    );
    let first = &sim.denials()[0];
    assert_eq!(
        (
            first.user.as_str(),
            first.attributes.resource.as_str(),
            first.attributes.namespace.as_str(),
            first.attributes.name.as_str()
        ),
        (APP, "configmaps", TEAM, "")
    );
    assert_eq!(admin_cms.get("a").await.unwrap().data.unwrap()["k"], "v");
}

#[tokio::test]
async fn subresources_are_granted_separately() {
    let (sim, admin) = cluster().await;
    Api::<Pod>::namespaced(admin.clone(), TEAM)
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})),
        )
        .await
        .unwrap();
    role(
        &admin,
        TEAM,
        "status",
        json!([{"apiGroups": [""], "resources": ["pods/status"], "verbs": ["get", "patch"]}]),
    )
    .await;
    role_binding(&admin, TEAM, "status", "Role", "status").await;
    let pods: Api<Pod> = Api::namespaced(sim.service_account_client(TEAM, "app").unwrap(), TEAM);
    let patch = Patch::Merge(json!({"status": {"message": "hello"}}));
    allowed(
        "patch status",
        pods.patch_status("p", &PatchParams::default(), &patch)
            .await,
    );
    allowed("get status", pods.get_status("p").await);
    assert_eq!(
        forbidden(pods.get("p").await),
        format!(
            "pods \"p\" is forbidden: User \"{APP}\" cannot get resource \"pods\" in API group \"\" in the namespace \"team\""
        )
    );
    assert_eq!(
        forbidden(
            pods.replace_status(
                "p",
                &PostParams::default(),
                &object(json!({"metadata": {"name": "p"}}))
            )
            .await
        ),
        format!(
            "pods \"p\" is forbidden: User \"{APP}\" cannot update resource \"pods/status\" in API group \"\" in the namespace \"team\""
        )
    );
}

#[tokio::test]
async fn resource_names_limit_gets_and_name_selected_watches() {
    let (sim, admin) = cluster().await;
    let admin_secrets: Api<Secret> = Api::namespaced(admin.clone(), TEAM);
    for name in ["mine", "theirs"] {
        admin_secrets
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": name}, "stringData": {"k": "v"}})),
            )
            .await
            .unwrap();
    }
    role(
        &admin,
        TEAM,
        "mine",
        json!([
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["mine"], "verbs": ["get", "list", "watch", "update"]},
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["new"], "verbs": ["create", "patch"]},
        ]),
    )
    .await;
    role_binding(&admin, TEAM, "mine", "Role", "mine").await;
    let secrets: Api<Secret> =
        Api::namespaced(sim.service_account_client(TEAM, "app").unwrap(), TEAM);

    allowed("get by name", secrets.get("mine").await);
    assert_eq!(
        forbidden(secrets.get("theirs").await),
        format!(
            "secrets \"theirs\" is forbidden: User \"{APP}\" cannot get resource \"secrets\" in API group \"\" in the namespace \"team\""
        )
    );
    // A list or watch names its object only through a metadata.name field selector.
    forbidden(secrets.list(&ListParams::default()).await);
    let one = allowed(
        "list by name",
        secrets
            .list(&ListParams::default().fields("metadata.name=mine"))
            .await,
    );
    assert_eq!(one.items.len(), 1);
    assert_eq!(
        forbidden(
            secrets
                .watch(&WatchParams::default().fields("metadata.name=theirs"), "0")
                .await
                .map(|_| ())
        ),
        format!(
            "secrets \"theirs\" is forbidden: User \"{APP}\" cannot watch resource \"secrets\" in API group \"\" in the namespace \"team\""
        )
    );
    let mut stream = secrets
        .watch(
            &WatchParams::default()
                .fields("metadata.name=mine")
                .timeout(5),
            "0",
        )
        .await
        .expect("a name-selected watch is allowed")
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event in time");
    assert!(
        matches!(first, Some(Ok(WatchEvent::Added(ref s))) if s.metadata.name.as_deref() == Some("mine")),
        "{first:?}"
    );
    // kube-rs' watcher with a field selector, as operators watch one named object.
    let mut watched = watcher(
        secrets.clone(),
        watcher::Config::default().fields("metadata.name=mine"),
    )
    .boxed();
    let mut names = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(10), watched.next())
        .await
        .expect("watcher events in time")
    {
        match event.expect("the watcher is not refused") {
            watcher::Event::InitApply(s) => names.extend(s.metadata.name),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(names, ["mine"]);

    // create cannot be limited by name; an apply that creates needs create with the name.
    forbidden(
        secrets
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": "new"}})),
            )
            .await,
    );
    let apply = PatchParams::apply("test");
    allowed(
        "apply creating a granted name",
        secrets
            .patch(
                "new",
                &apply,
                &Patch::Apply(
                    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "new"}}),
                ),
            )
            .await,
    );
    let denied = sim.denials();
    assert_eq!(denied.len(), 4, "{denied:?}");
    assert_eq!(
        (
            denied[3].attributes.verb.as_str(),
            denied[3].attributes.name.as_str()
        ),
        ("create", "")
    );
}

#[tokio::test]
async fn a_role_binding_to_a_cluster_role_grants_only_in_its_namespace() {
    let (sim, admin) = cluster().await;
    cluster_role(
        &admin,
        "configmap-reader",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
    )
    .await;
    role_binding(&admin, TEAM, "read", "ClusterRole", "configmap-reader").await;
    let app = sim.service_account_client(TEAM, "app").unwrap();
    allowed(
        "list in the binding's namespace",
        Api::<ConfigMap>::namespaced(app.clone(), TEAM)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        forbidden(
            Api::<ConfigMap>::namespaced(app.clone(), OTHER)
                .list(&ListParams::default())
                .await
        ),
        format!(
            "configmaps is forbidden: User \"{APP}\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"other\""
        )
    );
    assert_eq!(
        forbidden(
            Api::<ConfigMap>::all(app.clone())
                .list(&ListParams::default())
                .await
        ),
        format!(
            "configmaps is forbidden: User \"{APP}\" cannot list resource \"configmaps\" in API group \"\" at the cluster scope"
        )
    );

    // A ClusterRoleBinding grants everywhere.
    cluster_role_binding(&admin, "read-all", "configmap-reader").await;
    allowed(
        "list everywhere",
        Api::<ConfigMap>::all(app.clone())
            .list(&ListParams::default())
            .await,
    );
    allowed(
        "list in another namespace",
        Api::<ConfigMap>::namespaced(app.clone(), OTHER)
            .list(&ListParams::default())
            .await,
    );
    // A binding to a missing role says so.
    role_binding(&admin, OTHER, "gone", "Role", "gone").await;
    assert!(
        forbidden(Api::<Secret>::namespaced(app, OTHER).get("s").await)
            .ends_with(": RBAC: role.rbac.authorization.k8s.io \"gone\" not found")
    );
}

#[tokio::test]
async fn unknown_tokens_get_401_and_the_administrator_is_unaffected() {
    let (sim, admin) = cluster().await;
    let mut config = sim.kube_config().unwrap();
    config.auth_info = object(json!({"token": "kubesim.not-issued"}));
    let stranger = Client::try_from(config).unwrap();
    let status = api_status(
        Api::<ConfigMap>::namespaced(stranger.clone(), TEAM)
            .get("x")
            .await,
    );
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
    assert!(stranger.apiserver_version().await.is_err(), "discovery too");

    // A ServiceAccount's token stops working when the account is deleted.
    let token_client = sim.service_account_client(TEAM, "app").unwrap();
    allowed("discovery", token_client.apiserver_version().await);
    Api::<ServiceAccount>::namespaced(admin.clone(), TEAM)
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_status(
            Api::<ConfigMap>::namespaced(token_client, TEAM)
                .get("x")
                .await
        )
        .code,
        401
    );

    // Without credentials: everything, as before, and nothing is recorded.
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), OTHER);
    cms.create(&PostParams::default(), &cm("x")).await.unwrap();
    cms.get("x").await.unwrap();
    Api::<Secret>::all(admin.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    cms.delete("x", &DeleteParams::default()).await.unwrap();
    assert!(sim.denials().is_empty(), "{:?}", sim.denials());
}

#[tokio::test]
async fn rbac_kinds_and_pod_disruption_budgets_are_served() {
    let (sim, _admin) = cluster().await;
    let client = sim.client().unwrap();
    let discovery = kube::Discovery::new(client).run().await.unwrap();
    for (group, kind, namespaced) in [
        ("rbac.authorization.k8s.io", "Role", true),
        ("rbac.authorization.k8s.io", "RoleBinding", true),
        ("rbac.authorization.k8s.io", "ClusterRole", false),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", false),
        ("policy", "PodDisruptionBudget", true),
        ("", "ServiceAccount", true),
    ] {
        let gvk = kube::core::GroupVersionKind::gvk(group, "v1", kind);
        let (resource, caps) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("{kind} is served"));
        assert_eq!(
            caps.scope == kube::discovery::Scope::Namespaced,
            namespaced,
            "{kind}"
        );
        assert_eq!(resource.kind, kind);
    }
}

const SERVICE_ACCOUNT: &str = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: reader}\n";

const ROLE: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secret-reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secret-reader}
subjects:
- {kind: ServiceAccount, name: reader, namespace: default}
"#;

/// kubectl sends credentials only over TLS, and kubesim serves plain HTTP: a TLS-terminating
/// relay to `target` on a loopback port, with the PEM of the certificate it presents.
async fn tls_relay(target: SocketAddr) -> (SocketAddr, String, tokio::task::JoinHandle<()>) {
    let certs = common::webhook::certs("127.0.0.1");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(certs.cert_der)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(certs.key_der.into()),
        )
        .expect("a serving certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay binds");
    let addr = listener.local_addr().expect("relay address");
    let task = tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let (Ok(mut tls), Ok(mut outbound)) = (
                    acceptor.accept(inbound).await,
                    TcpStream::connect(target).await,
                ) else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
            });
        }
    });
    (addr, certs.ca_pem, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_with_a_service_account_token_is_refused_until_bound() {
    let (k, _server, addr) = kubectl_and_serve().await;
    let (relay, ca_pem, _relay) = tls_relay(addr).await;
    let ca = k.dir.path().join("ca.crt");
    std::fs::write(&ca, ca_pem).expect("CA written");
    assert!(
        k.apply(SERVICE_ACCOUNT)
            .await
            .contains("serviceaccount/reader created")
    );
    let token = k.ok(&["create", "token", "reader"]).await;
    let token = token.trim();
    assert!(!token.is_empty());
    let credential = format!("--token={token}");
    k.ok(&["config", "set-credentials", "reader", &credential])
        .await;
    k.ok(&[
        "config",
        "set-cluster",
        "kubesim-tls",
        &format!("--server=https://{relay}"),
        &format!("--certificate-authority={}", ca.display()),
    ])
    .await;
    k.ok(&[
        "config",
        "set-context",
        "reader",
        "--cluster=kubesim-tls",
        "--user=reader",
        "--namespace=default",
    ])
    .await;

    let err = k.fails(&["--context", "reader", "get", "secrets"]).await;
    assert!(
        err.contains(
            "Error from server (Forbidden): secrets is forbidden: User \"system:serviceaccount:default:reader\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""
        ),
        "{err}"
    );

    let applied = k.apply(ROLE).await;
    assert!(
        applied.contains("role.rbac.authorization.k8s.io/secret-reader created")
            && applied.contains("rolebinding.rbac.authorization.k8s.io/reader created"),
        "{applied}"
    );
    k.ok(&["--context", "reader", "get", "secrets"]).await;
    let err = k
        .fails(&["--context", "reader", "delete", "secret", "s"])
        .await;
    assert!(
        err.contains("Error from server (Forbidden): secrets \"s\" is forbidden: User \"system:serviceaccount:default:reader\" cannot delete resource \"secrets\" in API group \"\" in the namespace \"default\""),
        "{err}"
    );
    let err = k
        .fails(&[
            "--context",
            "reader",
            "--token=kubesim.not-issued",
            "get",
            "pods",
        ])
        .await;
    assert!(err.contains("Unauthorized"), "{err}");
}
