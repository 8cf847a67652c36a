//! Steps about several installations of the operator in one cluster: each with its own names,
//! optionally limited to some namespaces, never instrumenting a pod twice.

use cucumber::gherkin::Step;
use cucumber::{given, then};
use features::kube_ops::{self, StepError, WAIT};
use features::metrics_text;
use features::probe;
use features::simulation::{InstallOptions, Replica, Simulation};
use openlit_operator::inject::{INIT_CONTAINER_PREFIX, MOUNT_PATH, VOLUME_NAME};
use serde_json::Value;

use super::{OperatorWorld, decode};

async fn install_second(world: &mut OperatorWorld, name: &str, namespace: &str, only: &[&str]) {
    let options = InstallOptions {
        watch_namespaces: only.iter().map(ToString::to_string).collect(),
        ..InstallOptions::default()
    };
    world
        .simulation_mut()
        .install_second(name, namespace, options)
        .await
        .expect("the second installation serves");
}

#[given(expr = "a second installation {string} in namespace {string}")]
async fn second_installation(world: &mut OperatorWorld, name: String, namespace: String) {
    install_second(world, &name, &namespace, &[]).await;
}

#[given(
    expr = "a second installation {string} in namespace {string} serving only the namespace {string}"
)]
async fn second_installation_limited(
    world: &mut OperatorWorld,
    name: String,
    namespace: String,
    only: String,
) {
    install_second(world, &name, &namespace, &[&only]).await;
}

fn simulation(world: &OperatorWorld) -> &Simulation {
    world.simulation()
}

fn replicas<'a>(world: &'a OperatorWorld, installation: &str) -> &'a [Replica] {
    simulation(world)
        .replicas_of(installation)
        .unwrap_or_else(|| panic!("no installation {installation}"))
}

/// The CA bundle (`ca.crt`) of an installation's certificate Secret.
async fn secret_ca(
    world: &OperatorWorld,
    namespace: &str,
    secret: &str,
) -> Result<Vec<u8>, StepError> {
    let secret = world
        .cluster()
        .get_json(&format!("/api/v1/namespaces/{namespace}/secrets/{secret}"))
        .await?;
    for key in ["tls.crt", "tls.key"] {
        if decode(&secret["data"][key]).is_empty() {
            return Err(StepError::Other(format!("{key} missing from the Secret")));
        }
    }
    Ok(decode(&secret["data"]["ca.crt"]))
}

/// Why one installation's objects are not as the row says, if they are not.
async fn objects_problem(
    world: &OperatorWorld,
    row: &std::collections::HashMap<&str, &str>,
) -> Result<Option<String>, StepError> {
    let (installation, namespace) = (row["installation"], row["namespace"]);
    let cluster = world.cluster();
    let ca = secret_ca(world, namespace, row["Secret"]).await?;
    let lease = cluster
        .get_json(&format!(
            "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{}",
            row["Lease"]
        ))
        .await?;
    let holder = lease["spec"]["holderIdentity"].as_str().unwrap_or_default();
    let own = replicas(world, installation);
    if !own.iter().any(|r| r.is_running() && r.identity == holder) {
        return Ok(Some(format!(
            "the Lease is held by {holder:?}, not a replica of {installation}"
        )));
    }
    let configuration = cluster
        .get_json(&format!(
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{}",
            row["webhook configuration"]
        ))
        .await?;
    let webhook = &configuration["webhooks"][0];
    let service = &webhook["clientConfig"]["service"];
    if service["name"] != row["Service"] || service["namespace"] != namespace {
        return Ok(Some(format!("the webhook calls the Service {service}")));
    }
    let bundle =
        String::from_utf8_lossy(&decode(&webhook["clientConfig"]["caBundle"])).into_owned();
    let ca_text = String::from_utf8_lossy(&ca).into_owned();
    if ca_text.trim().is_empty() || !bundle.contains(ca_text.trim()) {
        return Ok(Some("the caBundle does not hold the Secret's CA".into()));
    }
    let excluded = webhook["namespaceSelector"]["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| {
            e["operator"] == "NotIn"
                && e["values"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|n| n == namespace))
        });
    if !excluded {
        return Ok(Some(format!(
            "the webhook does not exclude its own namespace {namespace}"
        )));
    }
    let server = format!("{}.{namespace}.svc", row["Service"]);
    let simulation = simulation(world);
    for replica in own.iter().filter(|r| r.is_running()) {
        probe::served_certificate(replica.addr, &server, &ca, simulation.sim.clock()).await?;
    }
    Ok(None)
}

#[then("each installation has its own objects:")]
async fn own_objects(world: &mut OperatorWorld, step: &Step) {
    let rows = &step.table.as_ref().expect("the step carries a table").rows;
    let header: Vec<&str> = rows[0].iter().map(String::as_str).collect();
    for cells in rows.iter().skip(1) {
        let row: std::collections::HashMap<&str, &str> = header
            .iter()
            .copied()
            .zip(cells.iter().map(String::as_str))
            .collect();
        let world = &*world;
        let row = &row;
        kube_ops::eventually(
            WAIT,
            &format!("the objects of installation {}", row["installation"]),
            || async move {
                match objects_problem(world, row).await? {
                    None => Ok(Some(())),
                    Some(problem) => Err(StepError::Other(problem)),
                }
            },
        )
        .await
        .expect("the installation's objects carry its names");
    }
}

#[then(expr = "the installations {string} and {string} trust different CAs")]
async fn different_cas(world: &mut OperatorWorld, first: String, second: String) {
    let first_ca = secret_ca(world, &first, &format!("{first}-webhook-server-certs"))
        .await
        .expect("the first installation's Secret");
    let second_ca = secret_ca(world, &second, &format!("{second}-webhook-server-certs"))
        .await
        .expect("the second installation's Secret");
    assert!(!first_ca.is_empty());
    assert_ne!(first_ca, second_ca, "both installations trust the same CA");
}

fn names_starting<'a>(list: &'a Value, prefix: &str) -> Vec<&'a str> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[then("the pod was instrumented exactly once")]
async fn instrumented_once(world: &mut OperatorWorld) {
    let (_, name, pod) = world.pod();
    let spec = &pod["spec"];
    let init = names_starting(&spec["initContainers"], INIT_CONTAINER_PREFIX);
    assert_eq!(init.len(), 1, "pod {name}: init containers {init:?}");
    let volumes = names_starting(&spec["volumes"], VOLUME_NAME);
    assert_eq!(volumes, [VOLUME_NAME], "pod {name}: volumes");
    for container in spec["containers"].as_array().into_iter().flatten() {
        let mounts = container["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["mountPath"] == MOUNT_PATH)
            .count();
        assert!(
            mounts <= 1,
            "pod {name}: {} mounts the packages {mounts} times",
            container["name"]
        );
        let mut env: Vec<&str> = container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str())
            .collect();
        let total = env.len();
        env.sort_unstable();
        env.dedup();
        assert_eq!(
            env.len(),
            total,
            "pod {name}: {} repeats a variable",
            container["name"]
        );
    }
    let annotation = pod["metadata"]["annotations"]["openlit.io/instrumented-by"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        annotation.matches('/').count(),
        1,
        "pod {name}: instrumented-by {annotation:?}"
    );
}

#[then(expr = "the pod carries no annotation {string}")]
async fn no_annotation(world: &mut OperatorWorld, key: String) {
    let (_, name, pod) = world.pod();
    let value = &pod["metadata"]["annotations"][&key];
    assert!(value.is_null(), "pod {name}: {key}: {value}");
}

#[then(
    expr = "the webhook of installation {string} answered {int} admission(s) with outcome {string}"
)]
async fn installation_outcomes(
    world: &mut OperatorWorld,
    installation: String,
    count: u64,
    outcome: String,
) {
    let total: u64 = replicas(world, &installation)
        .iter()
        .map(|r| metrics_text::admissions_with(&r.metrics.encode(), Some(&outcome)))
        .sum();
    assert_eq!(
        total, count,
        "{installation}: admissions with outcome {outcome}"
    );
}

#[then(expr = "the webhook of installation {string} was called {int} time(s)")]
async fn installation_calls(world: &mut OperatorWorld, installation: String, count: u64) {
    let total: u64 = replicas(world, &installation)
        .iter()
        .map(Replica::admissions_handled)
        .sum();
    assert_eq!(total, count, "{installation}: admissions");
}

#[then(expr = "the webhook configuration {string} only sends pods from the namespaces {string}")]
async fn limited_to(world: &mut OperatorWorld, configuration: String, namespaces: String) {
    let expected: Vec<&str> = namespaces.split(',').map(str::trim).collect();
    let object = world
        .cluster()
        .get_json(&format!(
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{configuration}"
        ))
        .await
        .expect("the webhook configuration exists");
    let limits: Vec<Vec<&str>> = object["webhooks"][0]["namespaceSelector"]["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["key"] == "kubernetes.io/metadata.name" && e["operator"] == "In")
        .map(|e| {
            e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect()
        })
        .collect();
    assert_eq!(
        limits,
        [expected],
        "{}",
        object["webhooks"][0]["namespaceSelector"]
    );
}
