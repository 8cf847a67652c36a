//! `Given` steps: the cluster, namespaces, resources and data that exist before the action.

use cucumber::gherkin::Step;
use cucumber::given;
use features::cluster::TestCluster;
use features::kube_ops;
use features::simulation::InstallOptions;
use openlit_operator::config::FailurePolicy;
use std::time::Duration;

use super::OperatorWorld;

#[given("a cluster running the operator")]
async fn cluster_with_operator(world: &mut OperatorWorld) {
    world.cluster = Some(TestCluster::start(1).await.expect("the cluster starts"));
}

#[given(expr = "a cluster running {int} operator replicas")]
async fn cluster_with_replicas(world: &mut OperatorWorld, replicas: usize) {
    world.cluster = Some(
        TestCluster::start(replicas)
            .await
            .expect("the cluster starts"),
    );
}

#[given(expr = "a cluster running the operator with failure policy {string}")]
async fn cluster_with_failure_policy(world: &mut OperatorWorld, policy: String) {
    install_with_failure_policy(world, 1, &policy).await;
}

/// Starts a cluster with `replicas` operator replicas registered with failure policy `policy`.
pub(super) async fn install_with_failure_policy(
    world: &mut OperatorWorld,
    replicas: usize,
    policy: &str,
) {
    let failure_policy = match policy {
        "Fail" => FailurePolicy::Fail,
        "Ignore" => FailurePolicy::Ignore,
        other => panic!("unknown failure policy {other}"),
    };
    let options = InstallOptions {
        replicas,
        failure_policy,
        ..InstallOptions::default()
    };
    world.cluster = Some(
        TestCluster::install(options)
            .await
            .expect("the cluster starts"),
    );
}

#[given(expr = "the namespace {string}")]
async fn namespace(world: &mut OperatorWorld, name: String) {
    world
        .cluster()
        .ensure_namespace(&name)
        .await
        .expect("namespace created");
}

/// Applies the step's AutoInstrumentation (creating its namespace if needed) and waits until the
/// operator uses it.
#[given(expr = "this AutoInstrumentation in namespace {string}:")]
pub(super) async fn resource_in(world: &mut OperatorWorld, namespace: String, step: &Step) {
    world
        .cluster()
        .apply_and_await(&namespace, super::docstring(step))
        .await
        .expect("the resource is applied and seen by the operator");
}

#[given("this AutoInstrumentation in the operator's namespace:")]
async fn resource_in_operator_namespace(world: &mut OperatorWorld, step: &Step) {
    let namespace = world.cluster().operator_namespace.clone();
    resource_in(world, namespace, step).await;
}

#[given(expr = "{int} seconds have passed")]
async fn time_passes(world: &mut OperatorWorld, seconds: u64) {
    world
        .simulation()
        .advance(Duration::from_secs(seconds))
        .await;
}

#[given(expr = "the Secret {string} in namespace {string} with {string} = {string}")]
async fn secret(
    world: &mut OperatorWorld,
    name: String,
    namespace: String,
    key: String,
    value: String,
) {
    let object = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {key: value}});
    let cluster = world.cluster();
    kube_ops::create_with_warnings(
        &cluster.client,
        &format!("/api/v1/namespaces/{namespace}/secrets"),
        &object,
    )
    .await
    .expect("secret created");
    cluster.created_object(
        &namespace,
        format!("/api/v1/namespaces/{namespace}/secrets/{name}"),
    );
}

#[given(expr = "the ConfigMap {string} in namespace {string} with {string} = {string}")]
async fn config_map(
    world: &mut OperatorWorld,
    name: String,
    namespace: String,
    key: String,
    value: String,
) {
    let object = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {key: value}});
    let cluster = world.cluster();
    kube_ops::create_with_warnings(
        &cluster.client,
        &format!("/api/v1/namespaces/{namespace}/configmaps"),
        &object,
    )
    .await
    .expect("config map created");
    cluster.created_object(
        &namespace,
        format!("/api/v1/namespaces/{namespace}/configmaps/{name}"),
    );
}
