//! Uninstalling leaves no webhook behind: the webhook configuration is owned by the
//! installation's ClusterRole, so deleting that role (as `kubectl delete -k` or `helm uninstall`
//! does) lets the garbage collector remove it, and a replica still running does not bring it back
//! for a role that is gone.
mod run_support;

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, PostParams};
use openlit_operator::config::Config;
use openlit_operator::run::{Listeners, Operator};
use run_support::{OPERATOR_NAMESPACE, SimTime, eventually, until};
use serde_json::json;

const ROLE: &str = "openlit-operator";
const CONFIGURATION: &str = "openlit-mutating-webhook-configuration";

#[tokio::test]
async fn deleting_the_installation_s_cluster_role_removes_the_webhook_configuration() {
    let sim = kubesim::Simulator::start()
        .await
        .expect("the simulator starts");
    let client = sim.client().expect("a client");
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &openlit_operator::crd::crd())
        .await
        .expect("the CRD is installed");
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": OPERATOR_NAMESPACE}}))
                .expect("a namespace"),
        )
        .await
        .expect("the operator's namespace is created");
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let role = roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ROLE}, "rules": []}))
                .expect("a ClusterRole"),
        )
        .await
        .expect("the installation's ClusterRole is created");
    let role_uid = role.metadata.uid.expect("a uid");

    let config = Config {
        pod_namespace: OPERATOR_NAMESPACE.into(),
        pod_name: Some("openlit-operator-0".into()),
        webhook_config_owner: Some(ROLE.into()),
        ..Config::default()
    };
    let clock = std::sync::Arc::new(SimTime(sim.clock().clone()));
    let operator = Operator::start(
        config,
        client.clone(),
        clock,
        Listeners::loopback().await.expect("listeners"),
    )
    .await
    .expect("the operator starts");

    let configurations: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let owners = eventually("the configuration is written with its owner", || async {
        let configuration = configurations.get_opt(CONFIGURATION).await.ok()??;
        configuration
            .metadata
            .owner_references
            .filter(|o| !o.is_empty())
    })
    .await;
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(owners[0].kind, "ClusterRole");
    assert_eq!(owners[0].name, ROLE);
    assert_eq!(owners[0].uid, role_uid);
    assert_ne!(
        owners[0].block_owner_deletion,
        Some(true),
        "deleting the role is never blocked"
    );

    roles
        .delete(ROLE, &DeleteParams::default())
        .await
        .expect("the role is deleted");
    until("the configuration is garbage-collected", || async {
        configurations
            .get_opt(CONFIGURATION)
            .await
            .is_ok_and(|c| c.is_none())
    })
    .await;
    // The leader notices the configuration is gone and looks its owner up again (retrying on
    // its interval); without the owning role it writes nothing.
    let lookups = sim.request_count("get", "clusterroles", "");
    until("the leader looks for the owning role again", || async {
        sim.clock().advance(Duration::from_secs(11));
        sim.request_count("get", "clusterroles", "") > lookups + 1
    })
    .await;
    assert!(operator.is_leader(), "the replica still runs and leads");
    assert!(
        configurations
            .get_opt(CONFIGURATION)
            .await
            .expect("a read")
            .is_none(),
        "no webhook configuration is left behind"
    );
    operator.shutdown().await;
}
