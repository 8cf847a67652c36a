//! Lease-based leader election against the simulator, on its virtual clock.
mod run_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use openlit_operator::leader::{LeaderElector, LeaseSettings, spawn};
use openlit_operator::metrics::Metrics;
use run_support::{Cluster, Link, OPERATOR_NAMESPACE, cluster, to_timestamp, until};

const LEASE: &str = "openlit-operator-leader";
const DURATION: Duration = Duration::from_secs(15);

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings::new(OPERATOR_NAMESPACE, LEASE, identity, DURATION)
}

fn elector(cluster: &Cluster, client: kube::Client, identity: &str) -> LeaderElector {
    LeaderElector::new(client, cluster.clock.clone(), settings(identity))
}

async fn lease(cluster: &Cluster) -> Lease {
    Api::<Lease>::namespaced(cluster.client.clone(), OPERATOR_NAMESPACE)
        .get(LEASE)
        .await
        .unwrap()
}

async fn holder(cluster: &Cluster) -> Option<String> {
    lease(cluster)
        .await
        .spec
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// Records every moment both replicas claimed to lead.
fn watch_for_double_leadership(
    a: tokio::sync::watch::Receiver<bool>,
    b: tokio::sync::watch::Receiver<bool>,
) -> Arc<Mutex<bool>> {
    let overlap = Arc::new(Mutex::new(false));
    let seen = overlap.clone();
    tokio::spawn(async move {
        let (mut a, mut b) = (a, b);
        loop {
            if *a.borrow_and_update() && *b.borrow_and_update() {
                *seen.lock().unwrap() = true;
            }
            tokio::select! {
                r = a.changed() => if r.is_err() { break },
                r = b.changed() => if r.is_err() { break },
            }
        }
    });
    overlap
}

#[tokio::test]
async fn of_two_replicas_exactly_one_holds_the_lease() {
    let cluster = cluster().await;
    let mut a = elector(&cluster, cluster.client.clone(), "replica-a");
    let mut b = elector(&cluster, cluster.client.clone(), "replica-b");
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert!(a.is_leading() && !b.is_leading());
    assert_eq!(holder(&cluster).await.as_deref(), Some("replica-a"));

    // Renewals keep the lease with the holder; the follower keeps waiting.
    cluster.advance(Duration::from_secs(3));
    assert!(a.try_acquire_or_renew().await.unwrap());
    cluster.advance(Duration::from_secs(14));
    assert!(!b.try_acquire_or_renew().await.unwrap());
    let spec = lease(&cluster).await.spec.unwrap();
    assert_eq!(spec.lease_duration_seconds, Some(15));
    assert_eq!(spec.lease_transitions, Some(0));
}

#[tokio::test]
async fn a_follower_takes_an_expired_lease_and_the_old_holder_steps_down_at_its_deadline() {
    let cluster = cluster().await;
    let metrics = Arc::new(Metrics::new());
    let mut a =
        elector(&cluster, cluster.client.clone(), "replica-a").with_metrics(metrics.clone());
    let mut b = elector(&cluster, cluster.client.clone(), "replica-b");
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(metrics.encode().contains("openlit_operator_leader 1"));
    assert!(!b.try_acquire_or_renew().await.unwrap());

    // The holder gives up after its renew deadline (10 s), before the lease expires (15 s).
    cluster.advance(Duration::from_secs(10));
    assert!(!a.check_deadline());
    assert!(metrics.encode().contains("openlit_operator_leader 0"));
    cluster.advance(Duration::from_secs(4));
    assert!(!b.try_acquire_or_renew().await.unwrap(), "not expired yet");
    cluster.advance(Duration::from_secs(1));
    assert!(b.try_acquire_or_renew().await.unwrap());
    let spec = lease(&cluster).await.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
    assert_eq!(spec.lease_transitions, Some(1));
    // The old holder sees someone else holds it.
    assert!(!a.try_acquire_or_renew().await.unwrap());
}

#[tokio::test]
async fn a_holder_whose_renewal_conflicts_steps_down_at_once() {
    let cluster = cluster().await;
    let mut a = elector(&cluster, cluster.client.clone(), "replica-a");
    assert!(a.try_acquire_or_renew().await.unwrap());

    // Someone else writes the Lease (another installation misconfigured with the same name).
    let api = Api::<Lease>::namespaced(cluster.client.clone(), OPERATOR_NAMESPACE);
    let mut taken = api.get(LEASE).await.unwrap();
    let spec = taken.spec.as_mut().unwrap();
    spec.holder_identity = Some("intruder".into());
    spec.renew_time = Some(MicroTime(to_timestamp(cluster.sim.clock().now())));
    api.replace(LEASE, &PostParams::default(), &taken)
        .await
        .unwrap();

    assert!(!a.try_acquire_or_renew().await.unwrap());
    assert!(!a.is_leading());
}

#[tokio::test]
async fn a_409_on_renewal_stops_leadership_at_once() {
    let cluster = cluster().await;
    let mut a = elector(&cluster, cluster.client.clone(), "replica-a");
    assert!(a.try_acquire_or_renew().await.unwrap());
    cluster.sim.faults().conflict_next("leases", 1);
    assert!(!a.try_acquire_or_renew().await.unwrap());
    assert!(!a.is_leading());
    // The lease is still ours on record, so the next attempt renews it.
    assert!(a.try_acquire_or_renew().await.unwrap());
}

#[tokio::test]
async fn a_stopped_leader_is_replaced_within_the_lease_duration() {
    let cluster = cluster().await;
    let a = spawn(elector(&cluster, cluster.client.clone(), "replica-a"));
    until("replica-a leads", || async { a.is_leading() }).await;
    let b = spawn(elector(&cluster, cluster.client.clone(), "replica-b"));
    until("replica-b has looked at the lease", || async {
        cluster.sim.request_count("get", "leases", "") >= 2
    })
    .await;
    assert!(!b.is_leading());

    // The leader crashes: nothing releases the Lease.
    a.abort();
    let renewed = lease(&cluster).await.spec.unwrap().renew_time.unwrap().0;
    let crashed_at = to_timestamp(cluster.sim.clock().now());
    let took = run_support::advance_until(
        &cluster,
        Duration::from_secs(1),
        DURATION,
        "replica-b leads",
        || async { b.is_leading() },
    )
    .await;
    let now = to_timestamp(cluster.sim.clock().now());
    assert!(now.duration_since(renewed) <= DURATION.try_into().unwrap());
    assert!(
        now.duration_since(crashed_at) <= DURATION.try_into().unwrap(),
        "took {took:?}"
    );
    assert_eq!(holder(&cluster).await.as_deref(), Some("replica-b"));
    b.shutdown().await;
}

#[tokio::test]
async fn a_leader_shutting_down_releases_the_lease_for_an_immediate_takeover() {
    let cluster = cluster().await;
    let a = spawn(elector(&cluster, cluster.client.clone(), "replica-a"));
    until("replica-a leads", || async { a.is_leading() }).await;
    let b = spawn(elector(&cluster, cluster.client.clone(), "replica-b"));
    let overlap = watch_for_double_leadership(a.subscribe(), b.subscribe());
    until("replica-b has looked at the lease", || async {
        cluster.sim.request_count("get", "leases", "") >= 2
    })
    .await;

    a.shutdown().await;
    assert_eq!(holder(&cluster).await, None, "released");
    // The follower takes it at its next attempt (a fifth of the lease duration).
    let took = run_support::advance_until(
        &cluster,
        Duration::from_secs(1),
        DURATION / 5,
        "replica-b leads",
        || async { b.is_leading() },
    )
    .await;
    assert!(took <= DURATION / 5);
    assert!(!*overlap.lock().unwrap());
    b.shutdown().await;
}

#[tokio::test]
async fn a_leader_cut_off_from_the_api_stops_before_the_other_takes_over() {
    let cluster = cluster().await;
    let link = Link::to(cluster.sim.addr()).await;
    let a = spawn(elector(&cluster, link.client(), "replica-a"));
    until("replica-a leads", || async { a.is_leading() }).await;
    let b = spawn(elector(&cluster, cluster.client.clone(), "replica-b"));
    let overlap = watch_for_double_leadership(a.subscribe(), b.subscribe());
    until("replica-b has looked at the lease", || async {
        cluster.sim.request_count("get", "leases", "") >= 2
    })
    .await;

    link.cut();
    let cut_at = to_timestamp(cluster.sim.clock().now());
    // The cut-off leader stops leading at its renew deadline, before the lease expires.
    run_support::advance_until(
        &cluster,
        Duration::from_secs(1),
        Duration::from_secs(10),
        "replica-a stops leading",
        || async { !a.is_leading() },
    )
    .await;
    assert!(!b.is_leading());
    run_support::advance_until(
        &cluster,
        Duration::from_secs(1),
        DURATION,
        "replica-b leads",
        || async { b.is_leading() },
    )
    .await;
    let now = to_timestamp(cluster.sim.clock().now());
    assert!(now.duration_since(cut_at) <= DURATION.try_into().unwrap());
    assert!(!*overlap.lock().unwrap(), "both replicas led at once");

    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn a_follower_whose_lease_request_gets_no_answer_gives_up_and_takes_over() {
    let cluster = cluster().await;
    let a = spawn(elector(&cluster, cluster.client.clone(), "replica-a"));
    until("replica-a leads", || async { a.is_leading() }).await;

    // The follower's first read of the Lease is held open by the API server, never answered.
    cluster.sim.faults().hang_next("leases", &["get"], 1);
    let b = spawn(elector(&cluster, cluster.client.clone(), "replica-b"));
    until("replica-b's request is held", || async {
        cluster.sim.faults().held_requests() == 1
    })
    .await;
    a.shutdown().await;

    // The request is never answered, yet the follower abandons it and takes the released Lease.
    run_support::advance_until(
        &cluster,
        Duration::from_secs(1),
        DURATION,
        "replica-b leads",
        || async { b.is_leading() },
    )
    .await;
    assert_eq!(holder(&cluster).await.as_deref(), Some("replica-b"));
    // It was never answered (nothing was released): the follower closed it.
    until("the held request is closed", || async {
        cluster.sim.faults().held_requests() == 0
    })
    .await;
    cluster.sim.faults().release();
    b.shutdown().await;
}

#[tokio::test]
async fn a_leader_whose_renewal_gets_no_answer_stops_leading_at_its_deadline_and_recovers() {
    let cluster = cluster().await;
    let a = spawn(elector(&cluster, cluster.client.clone(), "replica-a"));
    until("replica-a leads", || async { a.is_leading() }).await;

    cluster.sim.faults().hang("leases", &["update"]);
    let stopped_after = run_support::advance_until(
        &cluster,
        Duration::from_secs(1),
        DURATION,
        "replica-a stops leading",
        || async { !a.is_leading() },
    )
    .await;
    // A renewal is due every 3 s and leadership ends 10 s after the last one was sent.
    assert!(
        stopped_after <= Duration::from_secs(10),
        "led {stopped_after:?} without a renewal"
    );

    cluster.sim.faults().release();
    run_support::advance_until(
        &cluster,
        Duration::from_secs(1),
        DURATION,
        "replica-a leads again",
        || async { a.is_leading() },
    )
    .await;
    a.shutdown().await;
}

#[tokio::test]
async fn leadership_ends_when_the_elector_task_ends() {
    let cluster = cluster().await;
    let metrics = Arc::new(Metrics::new());
    let a =
        spawn(elector(&cluster, cluster.client.clone(), "replica-a").with_metrics(metrics.clone()));
    until("replica-a leads", || async { a.is_leading() }).await;
    let leading = a.subscribe();
    a.abort();
    until("the receiver says replica-a no longer leads", || async {
        !*leading.borrow()
    })
    .await;
    assert!(metrics.encode().contains("openlit_operator_leader 0"));
}
