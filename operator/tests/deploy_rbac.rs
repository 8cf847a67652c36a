//! The RBAC in `operator/deploy` is exactly what the operator uses. The rendered kustomize base is
//! applied (as the administrator) to a simulator that enforces RBAC for service account tokens;
//! one replica then runs in-process, configured as the base's Deployment configures it and
//! authenticated as the base's ServiceAccount, so every request it makes is checked against the
//! base's Roles and bindings. The whole flow must pass without a single refusal with roles that
//! grant exactly the listed permissions (`deploy_support::cluster_grants_needed` and
//! `namespace_grants_needed`: adding a verb fails), and removing a rule must make the operator
//! fail in the way that rule predicts.

mod deploy_support;
mod run_support;

use std::sync::Arc;
use std::time::Duration;

use deploy_support::{
    assert_grants_exactly, cluster_grants_needed, config_of, documents, find, key, kustomize,
    namespace_grants_needed, operator_container,
};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::Discovery;
use kubesim::{Denial, Simulator};
use openlit_operator::clock::SharedClock;
use openlit_operator::config::Config;
use openlit_operator::controller::status::ready_condition;
use openlit_operator::run::{Listeners, Operator, OperatorHandle};
use run_support::{Cluster, SimTime, advance_until, eventually, resource, until, valid_spec};
use serde_json::{Value, json};

/// Where the test's workloads live (not the operator's namespace).
const APPS: &str = "apps";
/// The pod name the downward API would give the replica.
const POD_NAME: &str = "openlit-operator-7d9f8c6b5-rbac1";

/// The base applied to a simulator and one replica running as the base's ServiceAccount.
struct Installation {
    cluster: Cluster,
    config: Config,
    /// The user the API server sees the operator as.
    user: String,
    operator: OperatorHandle,
}

impl Installation {
    /// Refusals of the operator's requests so far.
    fn denials(&self) -> Vec<Denial> {
        self.cluster
            .sim
            .denials()
            .into_iter()
            .filter(|d| d.user == self.user)
            .collect()
    }

    fn admin(&self) -> kube::Client {
        self.cluster.client.clone()
    }

    async fn lease_holder(&self) -> Option<String> {
        Api::<Lease>::namespaced(self.admin(), &self.config.pod_namespace)
            .get_opt(&self.config.lease_name())
            .await
            .expect("the administrator reads the Lease")?
            .spec?
            .holder_identity
    }

    async fn certificate_secret(&self) -> Option<Secret> {
        Api::<Secret>::namespaced(self.admin(), &self.config.pod_namespace)
            .get_opt(&self.config.secret_name())
            .await
            .expect("the administrator reads Secrets")
    }

    async fn webhook_configuration(&self) -> Option<MutatingWebhookConfiguration> {
        Api::<MutatingWebhookConfiguration>::all(self.admin())
            .get_opt(&self.config.webhook_config_name())
            .await
            .expect("the administrator reads webhook configurations")
    }

    /// Creates the `apps` namespace and an AutoInstrumentation `chat` selecting `app=chat` in it.
    async fn create_resource(&self) {
        Api::<Namespace>::all(self.admin())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": APPS}})).expect("a namespace"),
            )
            .await
            .expect("namespace created");
        self.cluster
            .resources(APPS)
            .create(
                &PostParams::default(),
                &resource("chat", valid_spec("chat")),
            )
            .await
            .expect("AutoInstrumentation created");
    }

    async fn status_reported(&self) -> bool {
        self.cluster
            .resources(APPS)
            .get("chat")
            .await
            .is_ok_and(|r| r.status.is_some())
    }
}

/// The group, version and kind of an object.
fn gvk(object: &Value) -> GroupVersionKind {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, object["kind"].as_str().expect("kind"))
}

/// Applies every object as the administrator, with server-side apply.
async fn apply(client: &kube::Client, objects: &[Value]) {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    for object in objects {
        let (resource, _) = discovery
            .resolve_gvk(&gvk(object))
            .unwrap_or_else(|| panic!("{} is served", key(object)));
        let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        let name = object["metadata"]["name"].as_str().expect("a name");
        api.patch(
            name,
            &PatchParams::apply("kubectl").force(),
            &Patch::Apply(object),
        )
        .await
        .unwrap_or_else(|e| panic!("{} applied: {e}", key(object)));
    }
}

/// Applies `objects` (a rendering of the base) to a new simulator and starts one replica the way
/// their Deployment runs it: its environment, its ServiceAccount, its namespace.
async fn install(objects: &[Value]) -> Installation {
    let sim = Simulator::start().await.expect("simulator starts");
    let admin = sim.client().expect("admin client");
    apply(&admin, objects).await;

    let deployment = find(objects, "Deployment", Some("openlit-operator"));
    let namespace = deployment["metadata"]["namespace"]
        .as_str()
        .expect("the Deployment's namespace");
    let account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .expect("the Deployment names its ServiceAccount");
    let config = config_of(operator_container(deployment), namespace, POD_NAME);
    let client = sim
        .service_account_client(namespace, account)
        .expect("a client with the ServiceAccount's token");
    let clock: SharedClock = Arc::new(SimTime(sim.clock().clone()));
    let operator = Operator::start(
        config.clone(),
        client,
        clock.clone(),
        Listeners::loopback().await.expect("loopback listeners"),
    )
    .await
    .expect("the operator starts");
    sim.register_service_endpoint(
        &config.pod_namespace,
        &config.service_name(),
        config.webhook_service_port,
        operator.webhook_addr(),
    );
    Installation {
        cluster: Cluster {
            sim,
            client: admin,
            clock,
        },
        config,
        user: format!("system:serviceaccount:{namespace}:{account}"),
        operator,
    }
}

/// The base as rendered, minus the rules of `kind` that `drop` selects (at least one).
fn without_rule(kind: &str, drop: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut objects = documents(&kustomize());
    let role = objects
        .iter_mut()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("the base has a {kind}"));
    let rules = role["rules"].as_array_mut().expect("rules");
    let before = rules.len();
    rules.retain(|rule| !drop(rule));
    assert!(rules.len() < before, "a rule was removed from the {kind}");
    objects
}

fn names(rule: &Value, field: &str) -> Vec<String> {
    rule[field]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "chat"}},
        "spec": {"containers": [{"name": "app", "image": "python:3.12-slim"}]}
    }))
    .expect("a pod")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_runs_the_whole_flow_with_only_the_permissions_of_the_base() {
    let objects = documents(&kustomize());
    let install = install(&objects).await;
    let operator = &install.operator;
    // The roles the operator runs with below grant the listed permissions and nothing more.
    let cluster_role = find(&objects, "ClusterRole", None);
    let cluster_role_name = cluster_role["metadata"]["name"].as_str().expect("a name");
    assert_grants_exactly(
        cluster_role,
        &cluster_grants_needed(&install.config, cluster_role_name),
    );
    assert_grants_exactly(
        find(&objects, "Role", None),
        &namespace_grants_needed(&install.config),
    );

    until("the replica is ready", || async {
        operator.readiness().is_ok()
    })
    .await;
    assert!(operator.is_leader(), "the only replica leads");
    assert_eq!(
        install.lease_holder().await.as_deref(),
        Some(operator.identity())
    );
    let secret = install
        .certificate_secret()
        .await
        .expect("the certificate Secret is created");
    assert!(
        secret
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key("tls.crt") && d.contains_key("ca.crt")),
        "{:?}",
        secret.data.as_ref().map(|d| d.keys().collect::<Vec<_>>())
    );
    // Owned by the ClusterRole the Deployment names, when it names one: the operator read that
    // role with its own permissions.
    let owner = install.config.webhook_config_owner.clone();
    eventually(
        "the webhook configuration carries the CA and its owner",
        || async {
            install.webhook_configuration().await.filter(|c| {
                let owned = owner.as_ref().is_none_or(|owner| {
                    c.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|r| r.kind == "ClusterRole" && &r.name == owner)
                });
                owned
                    && c.webhooks
                        .iter()
                        .flatten()
                        .all(|w| w.client_config.ca_bundle.is_some())
            })
        },
    )
    .await;

    install.create_resource().await;
    let ready = eventually("the AutoInstrumentation is Ready", || async {
        let r = install.cluster.resources(APPS).get("chat").await.ok()?;
        ready_condition(r.status.as_ref()).cloned()
    })
    .await;
    assert_eq!(ready.status, "True", "{ready:?}");

    until("the webhook's cache holds the resource", || async {
        !operator
            .policy_source()
            .candidates(APPS, &install.config.pod_namespace)
            .is_empty()
    })
    .await;
    let created = Api::<Pod>::namespaced(install.admin(), APPS)
        .create(&PostParams::default(), &pod("chat-1"))
        .await
        .expect("pod created");
    let annotations = created.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations
            .get("openlit.io/instrumented-by")
            .map(String::as_str),
        Some("apps/chat"),
        "the pod is instrumented through admission over HTTPS: {annotations:?}"
    );

    // Some of the leader's requests are periodic (renewals, the re-read of the webhook
    // configuration): run until the re-read was answered or something was refused (a refused
    // request is not counted as served).
    let gets_before = install
        .cluster
        .sim
        .request_count("get", "mutatingwebhookconfigurations", "");
    advance_until(
        &install.cluster,
        Duration::from_secs(5),
        Duration::from_secs(300),
        "the leader re-reads the webhook configuration",
        || async {
            install
                .cluster
                .sim
                .request_count("get", "mutatingwebhookconfigurations", "")
                > gets_before
                || !install.denials().is_empty()
        },
    )
    .await;

    let Installation {
        operator,
        cluster,
        user,
        ..
    } = install;
    operator.shutdown().await;
    let denials: Vec<Denial> = cluster
        .sim
        .denials()
        .into_iter()
        .filter(|d| d.user == user)
        .collect();
    assert!(
        denials.is_empty(),
        "the operator was refused (the base lacks these permissions): {denials:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_lease_rule_the_operator_is_refused_and_never_leads() {
    let objects = without_rule("Role", |rule| {
        names(rule, "resources").contains(&"leases".to_string())
            && !names(rule, "resourceNames").is_empty()
    });
    let install = install(&objects).await;

    let refused = |install: &Installation| {
        install
            .denials()
            .into_iter()
            .filter(|d| d.attributes.resource == "leases")
            .count()
    };
    let first = eventually("the operator is refused the Lease", || async {
        install
            .denials()
            .into_iter()
            .find(|d| d.attributes.resource == "leases")
    })
    .await;
    assert_eq!(
        (
            first.attributes.verb.as_str(),
            first.attributes.namespace.as_str(),
            first.attributes.name.as_str()
        ),
        (
            "get",
            install.config.pod_namespace.as_str(),
            install.config.lease_name().as_str()
        )
    );
    assert!(
        first
            .message
            .contains("cannot get resource \"leases\" in API group \"coordination.k8s.io\""),
        "{}",
        first.message
    );
    // It keeps trying, on its retry period, and keeps being refused.
    advance_until(
        &install.cluster,
        Duration::from_secs(2),
        Duration::from_secs(60),
        "the operator tries the Lease again",
        || async { refused(&install) >= 2 },
    )
    .await;
    assert!(!install.operator.is_leader());
    assert_eq!(install.lease_holder().await, None);
    assert!(install.certificate_secret().await.is_none());
    assert!(install.webhook_configuration().await.is_none());
    assert!(install.operator.readiness().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_status_rule_resources_never_get_a_status() {
    let objects = without_rule("ClusterRole", |rule| {
        names(rule, "resources").contains(&"autoinstrumentations/status".to_string())
    });
    let install = install(&objects).await;
    until("the replica leads", || async {
        install.operator.is_leader()
    })
    .await;
    install.create_resource().await;

    let refused = |install: &Installation| {
        install
            .denials()
            .into_iter()
            .filter(|d| {
                d.attributes.resource == "autoinstrumentations"
                    && d.attributes.subresource == "status"
            })
            .count()
    };
    let first = eventually("the operator is refused the status write", || async {
        install
            .denials()
            .into_iter()
            .find(|d| d.attributes.subresource == "status")
    })
    .await;
    assert_eq!(
        (
            first.attributes.resource.as_str(),
            first.attributes.namespace.as_str(),
            first.attributes.name.as_str()
        ),
        ("autoinstrumentations", APPS, "chat")
    );
    assert_eq!(
        first.message,
        format!(
            "autoinstrumentations.openlit.io \"chat\" is forbidden: User \"{}\" cannot {} resource \"autoinstrumentations/status\" in API group \"openlit.io\" in the namespace \"apps\"",
            install.user, first.attributes.verb
        )
    );
    // The controller retries with backoff on the virtual clock, and is refused again.
    advance_until(
        &install.cluster,
        Duration::from_secs(5),
        Duration::from_secs(600),
        "the operator retries the status write",
        || async { refused(&install) >= 2 },
    )
    .await;
    assert!(!install.status_reported().await, "no status was written");
}
