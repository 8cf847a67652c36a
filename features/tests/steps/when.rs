//! `When` steps: what the platform engineer or a workload does.

use cucumber::gherkin::Step;
use cucumber::when;
use features::kube_ops;

use super::OperatorWorld;

#[when(
    expr = "I create a Deployment {string} in namespace {string} with image {string} and labels {string}"
)]
async fn create_deployment(
    world: &mut OperatorWorld,
    name: String,
    namespace: String,
    image: String,
    labels: String,
) {
    let labels = kube_ops::labels(&labels);
    let cluster = world.cluster();
    cluster
        .ensure_namespace(&namespace)
        .await
        .expect("namespace created");
    kube_ops::create_deployment(&cluster.client, &namespace, &name, &image, &labels)
        .await
        .expect("deployment created");
    cluster.created_object(
        &namespace,
        format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}"),
    );
}

#[when(
    expr = "I create a pod {string} in namespace {string} with image {string} and labels {string}"
)]
async fn create_simple_pod(
    world: &mut OperatorWorld,
    name: String,
    namespace: String,
    image: String,
    labels: String,
) {
    let pod = kube_ops::simple_pod(&name, &image, &kube_ops::labels(&labels));
    create(world, &namespace, pod).await;
}

#[when(expr = "I create this pod in namespace {string}:")]
async fn create_pod_from_yaml(world: &mut OperatorWorld, namespace: String, step: &Step) {
    let pod = kube_ops::manifest(super::docstring(step)).expect("the pod manifest is YAML");
    create(world, &namespace, pod).await;
}

#[when(expr = "I apply this AutoInstrumentation in namespace {string}:")]
async fn apply_resource(world: &mut OperatorWorld, namespace: String, step: &Step) {
    super::given::resource_in(world, namespace, step).await;
}

async fn create(world: &mut OperatorWorld, namespace: &str, pod: serde_json::Value) {
    let cluster = world.cluster();
    cluster
        .ensure_namespace(namespace)
        .await
        .expect("namespace created");
    let before = cluster.admissions_handled().await;
    let result = kube_ops::create_pod(&cluster.client, namespace, &pod).await;
    if let Ok(created) = &result {
        let name = created.object["metadata"]["name"]
            .as_str()
            .unwrap_or_default();
        cluster.created_object(
            namespace,
            format!("/api/v1/namespaces/{namespace}/pods/{name}"),
        );
    }
    world.admissions_before = before.ok();
    match result {
        Ok(created) => {
            let name = created.object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            world.warnings = created.warnings;
            world.refused = None;
            world.pod = Some((namespace.to_string(), name, created.object));
        }
        Err(e) => {
            world.warnings.clear();
            world.refused = Some(e.to_string());
        }
    }
}

#[when(expr = "I try to apply this AutoInstrumentation in namespace {string}:")]
async fn try_apply_resource(world: &mut OperatorWorld, namespace: String, step: &Step) {
    let result = world
        .cluster()
        .apply(&namespace, super::docstring(step))
        .await;
    world.refused = result.err().map(|e| e.to_string());
}
