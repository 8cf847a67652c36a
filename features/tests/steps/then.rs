//! `Then` steps: what the platform engineer observes through the API, and what a node shows of
//! a container (its final environment, files and output).

use std::collections::BTreeMap;

use cucumber::gherkin::Step;
use cucumber::then;
use features::kube_ops::{self, StepError, WAIT};
use serde_json::Value;

use super::OperatorWorld;

#[then(expr = "a pod of Deployment {string} in namespace {string} is running")]
async fn deployment_pod_running(world: &mut OperatorWorld, name: String, namespace: String) {
    let client = world.cluster().client.clone();
    let deployment: Value = world
        .cluster()
        .get_json(&format!(
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        ))
        .await
        .expect("deployment exists");
    let labels = deployment["spec"]["selector"]["matchLabels"].clone();
    let pod = kube_ops::deployment_pod(&client, &namespace, &labels)
        .await
        .expect("the Deployment created a pod");
    let object = kube_ops::running_pod(&client, &namespace, &pod)
        .await
        .expect("the pod runs");
    world.pod = Some((namespace, pod, object));
}

#[then(expr = "the pod {string} in namespace {string} is running")]
async fn pod_running(world: &mut OperatorWorld, name: String, namespace: String) {
    let client = world.cluster().client.clone();
    let object = kube_ops::running_pod(&client, &namespace, &name)
        .await
        .expect("the pod runs");
    world.pod = Some((namespace, name, object));
}

fn annotation<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod["metadata"]["annotations"][key].as_str()
}

#[then(expr = "the pod was instrumented by {string}")]
async fn instrumented_by(world: &mut OperatorWorld, resource: String) {
    let (_, name, pod) = world.pod();
    assert_eq!(
        annotation(pod, "openlit.io/instrumented-by"),
        Some(resource.as_str()),
        "pod {name}: {}",
        pod["metadata"]
    );
    let init = pod["spec"]["initContainers"]
        .as_array()
        .expect("init containers");
    assert!(init.iter().any(|c| {
        c["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("auto-instrumentation"))
    }));
}

#[then("the pod is not instrumented")]
async fn not_instrumented(world: &mut OperatorWorld) {
    let (_, name, pod) = world.pod();
    assert_eq!(
        annotation(pod, "openlit.io/instrumented-by"),
        None,
        "pod {name}"
    );
    let init = pod["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        init.iter().all(|c| !c["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with("auto-instrumentation")),
        "{init:?}"
    );
    let volumes = pod["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        volumes
            .iter()
            .all(|v| v["name"] != "instrumentation-packages"),
        "{volumes:?}"
    );
    for container in pod["spec"]["containers"].as_array().into_iter().flatten() {
        let env = container["env"].as_array().cloned().unwrap_or_default();
        assert!(
            env.iter()
                .all(|e| e["name"] != "OTEL_EXPORTER_OTLP_ENDPOINT"),
            "{env:?}"
        );
    }
}

#[then(expr = "the pod's last init container is {string} with image {string}")]
async fn last_init_container(world: &mut OperatorWorld, name: String, image: String) {
    let (_, _, pod) = world.pod();
    let last = pod["spec"]["initContainers"]
        .as_array()
        .and_then(|a| a.last())
        .expect("an init container");
    assert_eq!(last["name"], name.as_str());
    assert_eq!(last["image"], image.as_str());
}

#[then(expr = "the init container {string} completed successfully")]
async fn init_completed(world: &mut OperatorWorld, name: String) {
    let (namespace, pod, _) = world.pod().clone();
    let object = world
        .cluster()
        .get_json(&format!("/api/v1/namespaces/{namespace}/pods/{pod}"))
        .await
        .expect("pod");
    let statuses = object["status"]["initContainerStatuses"]
        .as_array()
        .expect("init container statuses");
    let status = statuses
        .iter()
        .find(|s| s["name"] == name.as_str())
        .expect("a status for the init container");
    assert_eq!(status["state"]["terminated"]["exitCode"], 0, "{status}");
}

#[then(expr = "the init container {string} ran with the arguments {string}")]
async fn init_arguments(world: &mut OperatorWorld, name: String, arguments: String) {
    let (_, _, pod) = world.pod();
    let init = pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name.as_str())
        .expect("the init container is in the pod");
    let args: Vec<&str> = init["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(args.join(" "), arguments);
}

#[then(expr = "the file {string} is visible in container {string}")]
async fn file_visible(world: &mut OperatorWorld, path: String, container: String) {
    let (namespace, pod, _) = world.pod();
    let exists = world
        .cluster()
        .file_exists(namespace, pod, &container, &path)
        .await
        .expect("the container runs");
    assert!(exists, "{path} missing in container {container}");
}

/// Replaces `<pod name>`, `<node name>` and `<replicaset name>` with the pod's real values.
fn expand(value: &str, pod: &Value) -> String {
    let owner = pod["metadata"]["ownerReferences"][0]["name"]
        .as_str()
        .unwrap_or_default();
    value
        .replace(
            "<pod name>",
            pod["metadata"]["name"].as_str().unwrap_or_default(),
        )
        .replace(
            "<node name>",
            pod["spec"]["nodeName"].as_str().unwrap_or_default(),
        )
        .replace("<replicaset name>", owner)
}

async fn final_env(world: &OperatorWorld, container: &str) -> BTreeMap<String, String> {
    let (namespace, pod, _) = world.pod();
    world
        .cluster()
        .container_env(namespace, pod, container)
        .await
        .expect("the container runs")
}

fn table(step: &Step) -> Vec<(String, String)> {
    let rows = &step.table.as_ref().expect("the step carries a table").rows;
    rows.iter()
        .skip(1)
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

#[then(expr = "container {string} has the environment:")]
async fn has_environment(world: &mut OperatorWorld, container: String, step: &Step) {
    let env = final_env(world, &container).await;
    let pod = &world.pod().2;
    for (name, value) in table(step) {
        assert_eq!(
            env.get(&name).map(String::as_str),
            Some(expand(&value, pod).as_str()),
            "{name} in {env:#?}"
        );
    }
}

#[then(expr = "container {string} has the resource attributes:")]
async fn has_attributes(world: &mut OperatorWorld, container: String, step: &Step) {
    let env = final_env(world, &container).await;
    let raw = env
        .get("OTEL_RESOURCE_ATTRIBUTES")
        .cloned()
        .unwrap_or_default();
    let attributes: BTreeMap<&str, &str> =
        raw.split(',').filter_map(|p| p.split_once('=')).collect();
    let pod = &world.pod().2;
    for (key, value) in table(step) {
        assert_eq!(
            attributes.get(key.as_str()).copied(),
            Some(expand(&value, pod).as_str()),
            "{key} in {raw}"
        );
    }
}

#[then(expr = "container {string} printed {string}")]
async fn printed(world: &mut OperatorWorld, container: String, text: String) {
    let (namespace, pod, _) = world.pod();
    let cluster = world.cluster();
    let output = kube_ops::eventually(WAIT, "the container's output", || async {
        let output = cluster.container_output(namespace, pod, &container).await?;
        Ok((!output.is_empty()).then_some(output))
    })
    .await
    .expect("the container printed something");
    assert!(output.contains(&text), "{container} printed {output:?}");
}

#[then(expr = "no variable is defined twice in container {string} of the pod")]
async fn no_duplicates(world: &mut OperatorWorld, container: String) {
    let (_, _, pod) = world.pod();
    let spec = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container.as_str())
        .expect("container");
    let mut names: Vec<&str> = spec["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str())
        .collect();
    let total = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), total, "{}", spec["env"]);
}

#[then(expr = "the pod carries the annotation {string} containing {string}")]
async fn annotation_containing(world: &mut OperatorWorld, key: String, text: String) {
    let (_, _, pod) = world.pod();
    let value = annotation(pod, &key).unwrap_or_default();
    assert!(value.contains(&text), "{key}: {value:?}");
}

#[then(expr = "the pod creation returned the warning {string}")]
async fn exact_warning(world: &mut OperatorWorld, warning: String) {
    assert!(
        world.warnings.contains(&warning),
        "warnings: {:?}",
        world.warnings
    );
}

#[then(expr = "the pod creation returned a warning containing {string}")]
async fn warning_containing(world: &mut OperatorWorld, text: String) {
    assert!(
        world.warnings.iter().any(|w| w.contains(&text)),
        "warnings: {:?}",
        world.warnings
    );
}

#[then(expr = "the webhook was not called for pod {string}")]
async fn webhook_not_called(world: &mut OperatorWorld, name: String) {
    assert_eq!(world.pod().1, name);
    let now = world
        .cluster()
        .admissions_handled()
        .await
        .expect("the operator's admission count");
    let before = world
        .admissions_before
        .expect("the admission count was read before the pod was created");
    assert_eq!(now, before, "the operator handled an admission for {name}");
}

async fn resource(world: &OperatorWorld, namespace: &str, name: &str) -> Result<Value, StepError> {
    world
        .cluster()
        .get_json(&format!(
            "/apis/openlit.io/v1alpha1/namespaces/{namespace}/autoinstrumentations/{name}"
        ))
        .await
}

fn ready_condition(resource: &Value) -> Option<&Value> {
    resource["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

#[then(
    expr = "the AutoInstrumentation {string} in namespace {string} becomes not Ready with reason {string}"
)]
async fn not_ready(world: &mut OperatorWorld, name: String, namespace: String, reason: String) {
    let found = kube_ops::eventually(WAIT, "Ready=False", || async {
        let r = resource(world, &namespace, &name).await?;
        Ok(ready_condition(&r)
            .filter(|c| c["status"] == "False" && c["reason"] == reason.as_str())
            .is_some()
            .then_some(r))
    })
    .await
    .expect("the status reports the failure");
    world.pod = Some((namespace, name, found));
}

#[then(expr = "its status lists a validation error containing {string}")]
async fn validation_error(world: &mut OperatorWorld, text: String) {
    let resource = &world.pod().2;
    let errors = resource["status"]["validationErrors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.contains(&text))),
        "{errors:?}"
    );
}

#[then(
    expr = "an Event with reason {string} is recorded for the AutoInstrumentation {string} in namespace {string}"
)]
async fn event_recorded(
    world: &mut OperatorWorld,
    reason: String,
    name: String,
    namespace: String,
) {
    kube_ops::eventually(WAIT, "the Event", || async {
        let core = world
            .cluster()
            .get_json(&format!("/api/v1/namespaces/{namespace}/events"))
            .await?;
        let modern = world
            .cluster()
            .get_json(&format!(
                "/apis/events.k8s.io/v1/namespaces/{namespace}/events"
            ))
            .await?;
        let mentions = |e: &Value| {
            let object = if e["regarding"].is_object() {
                &e["regarding"]
            } else {
                &e["involvedObject"]
            };
            e["reason"] == reason.as_str()
                && object["name"] == name.as_str()
                && object["kind"] == "AutoInstrumentation"
        };
        let found = [core, modern]
            .iter()
            .flat_map(|l| l["items"].as_array().cloned().unwrap_or_default())
            .any(|e| mentions(&e));
        Ok(found.then_some(()))
    })
    .await
    .expect("an Event is recorded");
}

#[then(
    expr = "the AutoInstrumentation {string} in namespace {string} becomes Ready with observedGeneration {int}"
)]
async fn ready_at_generation(
    world: &mut OperatorWorld,
    name: String,
    namespace: String,
    generation: i64,
) {
    kube_ops::eventually(WAIT, "Ready=True", || async {
        let r = resource(world, &namespace, &name).await?;
        let ready = ready_condition(&r).is_some_and(|c| c["status"] == "True");
        Ok((ready && r["status"]["observedGeneration"] == generation).then_some(()))
    })
    .await
    .expect("the status reports Ready");
}

#[then(
    expr = "the AutoInstrumentation {string} in namespace {string} had exactly {int} status writes"
)]
async fn status_writes(world: &mut OperatorWorld, _name: String, _namespace: String, writes: u64) {
    let sim = &world.simulation().sim;
    let count = ["patch", "update"]
        .iter()
        .map(|verb| sim.request_count(verb, "autoinstrumentations", "status"))
        .sum::<u64>();
    assert_eq!(count, writes);
}

#[then(expr = "the API server refuses it with a message containing {string}")]
async fn api_refused(world: &mut OperatorWorld, text: String) {
    let refused = world.refused.as_deref().expect("the request was refused");
    assert!(refused.contains(&text), "{refused}");
}
