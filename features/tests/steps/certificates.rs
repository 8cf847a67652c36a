//! Steps about the CA rollover: which CAs the webhook configuration trusts and which CA signs
//! the certificate each replica serves, while the virtual clock moves.

use std::time::Duration;

use base64::Engine as _;
use cucumber::{given, then, when};
use features::cluster::TestCluster;
use features::kube_ops::{self, StepResult, WAIT};
use features::probe;

use super::{OperatorWorld, decode};

#[given(expr = "a cluster running {int} operator replicas with failure policy {string}")]
async fn replicas_with_failure_policy(world: &mut OperatorWorld, replicas: usize, policy: String) {
    super::given::install_with_failure_policy(world, replicas, &policy).await;
}

/// The certificates (DER) of a PEM bundle, in order.
fn certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    rustls_pemfile::certs(&mut &pem[..])
        .filter_map(Result::ok)
        .map(|c| c.as_ref().to_vec())
        .collect()
}

/// One certificate as PEM.
fn pem(der: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out.into_bytes()
}

/// The CAs the webhook configuration's caBundle trusts, in order.
async fn trusted(cluster: &TestCluster) -> StepResult<Vec<Vec<u8>>> {
    let configuration = cluster.webhook_configuration().await?;
    Ok(certificates(&decode(
        &configuration["webhooks"][0]["clientConfig"]["caBundle"],
    )))
}

fn remembered(world: &OperatorWorld) -> Vec<u8> {
    world.remembered_ca.clone().expect("a remembered CA")
}

fn new_ca(world: &OperatorWorld) -> Vec<u8> {
    world
        .new_ca
        .clone()
        .expect("an earlier step saw the new CA")
}

#[when("I remember the CA")]
async fn remember_ca(world: &mut OperatorWorld) {
    let secret = world.certificate_secret().await;
    let cas = certificates(&decode(&secret["data"]["ca.crt"]));
    assert_eq!(cas.len(), 1, "one CA before any rollover");
    world.remembered_ca = cas.into_iter().next();
}

#[when(expr = "{int} minutes pass")]
async fn minutes_pass(world: &mut OperatorWorld, minutes: u64) {
    world
        .simulation()
        .advance(Duration::from_secs(minutes * 60))
        .await;
}

#[then("the webhook configuration trusts the remembered CA and a new CA")]
async fn trusts_old_and_a_new(world: &mut OperatorWorld) {
    let old = remembered(world);
    let cluster = world.cluster();
    let new = kube_ops::eventually(
        WAIT,
        "the caBundle to hold the old and a new CA",
        || async {
            let cas = trusted(cluster).await?;
            if cas.len() != 2 || !cas.contains(&old) {
                return Ok(None);
            }
            Ok(cas.into_iter().find(|ca| *ca != old))
        },
    )
    .await
    .expect("the new CA is trusted next to the old one");
    world.new_ca = Some(new);
}

#[then("the webhook configuration trusts the remembered CA and the new CA")]
async fn trusts_old_and_new(world: &mut OperatorWorld) {
    let (old, new) = (remembered(world), new_ca(world));
    let cluster = world.cluster();
    kube_ops::eventually(WAIT, "the caBundle to hold both CAs", || async {
        let cas = trusted(cluster).await?;
        Ok((cas.len() == 2 && cas.contains(&old) && cas.contains(&new)).then_some(()))
    })
    .await
    .expect("both CAs are trusted");
}

#[then("the webhook configuration trusts only the new CA")]
async fn trusts_only_new(world: &mut OperatorWorld) {
    let new = new_ca(world);
    let cluster = world.cluster();
    kube_ops::eventually(WAIT, "the caBundle to hold only the new CA", || async {
        Ok((trusted(cluster).await? == [new.clone()]).then_some(()))
    })
    .await
    .expect("only the new CA is trusted");
}

#[then(expr = "every replica serves a certificate signed by the {word} CA")]
async fn served_by(world: &mut OperatorWorld, which: String) {
    let ca = match which.as_str() {
        "remembered" => remembered(world),
        "new" => new_ca(world),
        other => panic!("which CA is the {other} CA?"),
    };
    let ca = pem(&ca);
    let cluster = world.cluster();
    let server = cluster.webhook_server_name();
    let simulation = cluster
        .simulation()
        .expect("replicas the scenario controls");
    kube_ops::eventually(
        WAIT,
        &format!("every replica to serve a certificate signed by the {which} CA"),
        || async {
            for replica in simulation.running() {
                probe::served_certificate(replica.addr, &server, &ca, simulation.sim.clock())
                    .await?;
            }
            Ok(Some(()))
        },
    )
    .await
    .expect("the replicas serve a certificate from that CA");
}

#[then("the pod creation was admitted")]
async fn admitted(world: &mut OperatorWorld) {
    assert_eq!(world.refused, None, "the pod creation was refused");
}
