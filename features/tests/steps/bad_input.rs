//! Steps about what a broken client sends straight to the webhook.

use base64::Engine as _;
use cucumber::{then, when};
use features::probe;

use super::OperatorWorld;

#[when(expr = "a client posts {string} to the webhook")]
async fn post_to_webhook(world: &mut OperatorWorld, body: String) {
    let cluster = world.cluster();
    let secret = cluster
        .certificate_secret()
        .await
        .expect("the certificate Secret exists");
    let ca = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["ca.crt"].as_str().unwrap_or_default())
        .expect("ca.crt is base64");
    let simulation = cluster.simulation().expect("the replica's address");
    let replica = simulation.running().next().expect("a running replica");
    let reply = probe::https_post(
        replica.addr,
        &cluster.webhook_server_name(),
        &ca,
        simulation.sim.clock(),
        "/mutate",
        body.as_bytes(),
    )
    .await
    .expect("the webhook answers");
    world.reply = Some(reply);
}

#[then(expr = "the webhook answered {int} with a message starting {string}")]
async fn answered(world: &mut OperatorWorld, status: u16, message: String) {
    let reply = world
        .reply
        .as_ref()
        .expect("an earlier step posted to the webhook");
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(reply.body.starts_with(&message), "{:?}", reply.body);
}
