//! Steps about running the operator itself: replicas, leadership, certificates, failure policy,
//! health and metrics.

use std::time::Duration;

use cucumber::{then, when};
use features::kube_ops::{self, WAIT};
use features::probe;
use features::simulation::{LEASE_DURATION, Simulation};

use super::{OperatorWorld, decode};

#[when("every operator replica stops")]
async fn every_replica_stops(world: &mut OperatorWorld) {
    world.simulation_mut().stop_all().await;
}

#[then(expr = "the pod creation was refused with a message containing {string}")]
async fn refused(world: &mut OperatorWorld, text: String) {
    let refused = world
        .refused
        .as_deref()
        .expect("the pod creation was refused");
    assert!(refused.contains(&text), "{refused}");
}

/// Index of the replica holding the lease, once exactly one running replica leads and the Lease
/// object names it.
async fn single_leader(world: &OperatorWorld) -> usize {
    let cluster = world.cluster();
    let simulation = cluster
        .simulation()
        .expect("replicas the scenario controls");
    kube_ops::eventually(WAIT, "exactly one leader", || async {
        let leaders: Vec<usize> = simulation
            .replicas
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_running() && r.is_leading())
            .map(|(i, _)| i)
            .collect();
        if leaders.len() != 1 {
            return Ok(None);
        }
        let lease = cluster.lease().await?;
        let holder = lease["spec"]["holderIdentity"].as_str().unwrap_or_default();
        Ok((holder == simulation.replicas[leaders[0]].identity).then_some(leaders[0]))
    })
    .await
    .expect("one replica leads")
}

#[then("exactly one replica holds the lease")]
async fn one_leader(world: &mut OperatorWorld) {
    let leader = single_leader(world).await;
    world.leader = Some(leader);
}

#[when("the leading replica stops")]
async fn leader_stops(world: &mut OperatorWorld) {
    let leader = single_leader(world).await;
    world.stopped_leader = Some(leader);
    world.simulation_mut().stop_replica(leader).await;
}

#[when("the lease duration passes")]
async fn lease_duration_passes(world: &mut OperatorWorld) {
    world.simulation().advance(LEASE_DURATION).await;
}

#[then("the lease names the remaining replica")]
async fn lease_names_remaining(world: &mut OperatorWorld) {
    let leader = single_leader(world).await;
    assert_ne!(
        Some(leader),
        world.stopped_leader,
        "the stopped replica still leads"
    );
}

#[then(expr = "the certificate Secret holds {string}, {string} and {string}")]
async fn secret_holds(world: &mut OperatorWorld, a: String, b: String, c: String) {
    let secret = world.certificate_secret().await;
    for key in [a, b, c] {
        assert!(
            !decode(&secret["data"][&key]).is_empty(),
            "{key} missing from the Secret"
        );
    }
}

#[then("the webhook configuration trusts the CA in the certificate Secret")]
async fn bundle_trusts_ca(world: &mut OperatorWorld) {
    let secret = world.certificate_secret().await;
    let ca = String::from_utf8(decode(&secret["data"]["ca.crt"])).unwrap_or_default();
    let configuration = world
        .cluster()
        .webhook_configuration()
        .await
        .expect("the webhook configuration exists");
    let bundle = String::from_utf8(decode(
        &configuration["webhooks"][0]["clientConfig"]["caBundle"],
    ))
    .unwrap_or_default();
    assert!(
        !ca.trim().is_empty() && bundle.contains(ca.trim()),
        "caBundle {bundle} lacks {ca}"
    );
}

#[when("I remember the serving certificate")]
async fn remember_certificate(world: &mut OperatorWorld) {
    let secret = world.certificate_secret().await;
    world.remembered_certificate = Some(decode(&secret["data"]["tls.crt"]));
}

#[when(expr = "{int} days pass")]
async fn days_pass(world: &mut OperatorWorld, days: u64) {
    world
        .simulation()
        .advance(Duration::from_secs(days * 24 * 3600))
        .await;
}

#[then("the certificate Secret holds a new serving certificate")]
async fn new_certificate(world: &mut OperatorWorld) {
    let old = world
        .remembered_certificate
        .clone()
        .expect("a remembered certificate");
    let cluster = world.cluster();
    kube_ops::eventually(WAIT, "a renewed serving certificate", || async {
        let secret = cluster.certificate_secret().await?;
        let current = decode(&secret["data"]["tls.crt"]);
        Ok((!current.is_empty() && current != old).then_some(()))
    })
    .await
    .expect("the certificate was renewed");
    // Every running replica serves the renewed certificate, without a restart.
    let (ca, server, simulation) = replica_trust(world).await;
    kube_ops::eventually(
        WAIT,
        "every replica to serve the renewed certificate",
        || async {
            let secret = cluster.certificate_secret().await?;
            let current = decode(&secret["data"]["tls.crt"]);
            let Some(Ok(leaf)) = rustls_pemfile::certs(&mut &current[..]).next() else {
                return Ok(None);
            };
            for replica in simulation.running() {
                if probe::served_certificate(replica.addr, &server, &ca, simulation.sim.clock())
                    .await?
                    != leaf.as_ref()
                {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        },
    )
    .await
    .expect("the replicas reloaded the certificate");
}

/// What a client of the replicas needs: the installation's CA, the name its certificate is issued
/// for, and the simulation holding the replicas.
async fn replica_trust(world: &OperatorWorld) -> (Vec<u8>, String, &Simulation) {
    let secret = world.certificate_secret().await;
    let ca = decode(&secret["data"]["ca.crt"]);
    (
        ca,
        world.cluster().webhook_server_name(),
        world.simulation(),
    )
}

#[then(expr = "every replica answers {string} and {string} with 200")]
async fn probes_answer(world: &mut OperatorWorld, first: String, second: String) {
    let (ca, server, simulation) = replica_trust(world).await;
    for replica in simulation.running() {
        for path in [&first, &second] {
            let status =
                probe::https_status(replica.addr, &server, &ca, simulation.sim.clock(), path)
                    .await
                    .expect("the probe connects");
            assert_eq!(status, 200, "{} {path}", replica.identity);
        }
    }
}

#[then(expr = "the metrics show {int} admission(s) with outcome {string}")]
async fn metrics_show(world: &mut OperatorWorld, count: u64, outcome: String) {
    let total = world
        .cluster()
        .admissions_with(Some(&outcome))
        .await
        .expect("the operator's metrics");
    assert_eq!(total, count);
}
