//! Steps about working next to a service-mesh sidecar injector registered as a second webhook.

use cucumber::{given, then};
use openlit_operator::inject::{MOUNT_PATH, VOLUME_NAME};
use serde_json::Value;

use super::OperatorWorld;

#[given(expr = "a service-mesh sidecar injector whose webhook configuration is named {string}")]
async fn mesh_injector(world: &mut OperatorWorld, configuration: String) {
    world
        .simulation_mut()
        .add_mesh_injector(&configuration)
        .await
        .expect("the mesh injector is registered");
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect()
}

fn listed(text: &str) -> Vec<&str> {
    text.split(',').map(str::trim).collect()
}

#[then(expr = "the pod's init containers are {string}")]
async fn init_containers_are(world: &mut OperatorWorld, expected: String) {
    let pod = &world.pod().2;
    assert_eq!(names(&pod["spec"]["initContainers"]), listed(&expected));
}

#[then(expr = "the pod's containers are {string}")]
async fn containers_are(world: &mut OperatorWorld, expected: String) {
    let pod = &world.pod().2;
    assert_eq!(names(&pod["spec"]["containers"]), listed(&expected));
}

/// A variable the operator sets on the containers it instruments.
fn injected(name: &str) -> bool {
    name == "PYTHONPATH" || name.starts_with("OTEL_") || name.starts_with("OPENLIT_")
}

#[then(expr = "container {string} is not instrumented")]
async fn container_not_instrumented(world: &mut OperatorWorld, container: String) {
    let (namespace, pod, object) = world.pod();
    let spec = object["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container.as_str())
        .expect("the container is in the pod");
    let mounts = spec["volumeMounts"].as_array().cloned().unwrap_or_default();
    assert!(
        mounts
            .iter()
            .all(|m| m["name"] != VOLUME_NAME && m["mountPath"] != MOUNT_PATH),
        "{container} mounts the instrumentation: {mounts:?}"
    );
    let cluster = world.cluster();
    let env = cluster
        .container_env(namespace, pod, &container)
        .await
        .expect("the container runs");
    let set: Vec<&String> = env.keys().filter(|n| injected(n)).collect();
    assert!(set.is_empty(), "{container} has {set:?}");
    let sees = cluster
        .file_exists(
            namespace,
            pod,
            &container,
            &format!("{MOUNT_PATH}/sitecustomize.py"),
        )
        .await
        .expect("the container runs");
    assert!(!sees, "{container} sees the instrumentation packages");
}

#[then(expr = "the mesh injector was called {int} time(s)")]
async fn mesh_calls(world: &mut OperatorWorld, count: usize) {
    let mesh = world
        .simulation()
        .mesh()
        .expect("a mesh injector was added");
    assert_eq!(mesh.calls(), count, "calls of the mesh injector");
}

#[then(expr = "the operator's webhook was called {int} time(s)")]
async fn operator_calls(world: &mut OperatorWorld, count: u64) {
    let handled = world
        .cluster()
        .admissions_handled()
        .await
        .expect("the operator's metrics");
    assert_eq!(handled, count, "admissions the operator handled");
}
