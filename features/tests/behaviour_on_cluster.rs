//! The behaviour suite's cluster backend, checked here: an operator installed in a simulated
//! cluster stands in for a real one, and the suite runs against it exactly as the end-to-end
//! jobs run it against kind (`FEATURES_BACKEND=cluster`): through a kubeconfig only, one scenario
//! at a time, each cleaning up after itself, `@simulated` scenarios left out.

mod steps;

use features::backend::{Backend, ClusterTarget};
use features::cluster::TestCluster;
use features::kube_ops;
use features::simulation::InstallOptions;
use kubesim::{Exit, Image};
use serde_json::json;

/// The image the stand-in operator pods run.
const OPERATOR_IMAGE: &str = "ghcr.io/openlit/openlit-operator:in-process";

/// Makes the in-process replicas visible as the installation's pods, which is how the suite finds
/// the operator on a real cluster: by its labels, with `/metrics` reached through the API
/// server's pod proxy on the port named `metrics`.
async fn stand_in_operator_pods(installed: &TestCluster) {
    let simulation = installed.simulation().expect("a simulation");
    simulation
        .sim
        .register_image(Image::new(OPERATOR_IMAGE).program(|_| Exit::Running));
    for replica in &simulation.replicas {
        let pod = json!({
            "metadata": {
                "name": replica.identity,
                "labels": {
                    "app.kubernetes.io/name": "openlit-operator",
                    "app.kubernetes.io/instance": installed.installation,
                },
            },
            "spec": {"containers": [{
                "name": "operator",
                "image": OPERATOR_IMAGE,
                "ports": [{"name": "metrics", "containerPort": 8080}],
            }]},
        });
        kube_ops::create_pod(&installed.client, &installed.operator_namespace, &pod)
            .await
            .expect("the stand-in pod is created");
        kube_ops::running_pod(
            &installed.client,
            &installed.operator_namespace,
            &replica.identity,
        )
        .await
        .expect("the stand-in pod runs");
        simulation.sim.register_pod_endpoint(
            &installed.operator_namespace,
            &replica.identity,
            "metrics",
            replica.metrics_addr,
        );
    }
}

#[tokio::main]
async fn main() {
    let installed = TestCluster::simulate(InstallOptions {
        replicas: 2,
        ..InstallOptions::default()
    })
    .await
    .expect("the installed cluster starts");
    stand_in_operator_pods(&installed).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    installed
        .simulation()
        .expect("a simulation")
        .sim
        .write_kubeconfig(&kubeconfig)
        .expect("the kubeconfig is written");
    let target = ClusterTarget {
        kubeconfig: Some(kubeconfig),
        installation: installed.installation.clone(),
        operator_namespace: installed.operator_namespace.clone(),
    };
    steps::suite::run_and_exit(Backend::Cluster(target), None).await;
}
