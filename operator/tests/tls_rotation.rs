//! Certificate rotation on a virtual clock, with pods admitted through kubesim all along.
//!
//! kubesim verifies the webhook's certificate against real time, so each test starts its
//! virtual clock in the past and never moves it past the present.

mod webhook_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, PostParams};
use openlit_operator::clock::{ManualClock, SharedClock};
use openlit_operator::crd::AutoInstrumentation;
use openlit_operator::tls::split_bundle;
use openlit_operator::webhook_config::FailurePolicy;
use webhook_support::cluster::*;
use webhook_support::tls_client::presented;

const DAY: u64 = 24 * 3600;

fn clock_days_ago(days: i64) -> ManualClock {
    ManualClock::new(Timestamp::now() - SignedDuration::from_hours(24 * days))
}

/// Pods created one after another through the API, alternating between two replicas.
struct AdmissionStream {
    created: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl AdmissionStream {
    fn start(sim: &kubesim::Simulator, replicas: [std::net::SocketAddr; 2]) -> Self {
        let created = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let services = sim.cluster().services.clone();
        let pods: Api<Pod> = Api::namespaced(sim.client().unwrap(), "shop");
        let (count, halt) = (created.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut i = 0usize;
            while !halt.load(Ordering::Relaxed) {
                services.register(
                    INSTALLATION,
                    "openlit-webhook-service",
                    443,
                    replicas[i % 2],
                );
                match pods
                    .create(&PostParams::default(), &python_pod(&format!("p-{i}")))
                    .await
                {
                    Ok(pod) if is_instrumented(&pod) => {}
                    Ok(_) => failures.push(format!("p-{i} was not instrumented")),
                    Err(e) => failures.push(format!("p-{i}: {e}")),
                }
                i += 1;
                count.store(i, Ordering::Relaxed);
            }
            failures
        });
        AdmissionStream {
            created,
            stop,
            task,
        }
    }

    /// Waits until `n` more pods have been admitted.
    async fn more(&self, n: usize) {
        let target = self.created.load(Ordering::Relaxed) + n;
        eventually("admissions to go on", Duration::from_secs(30), || async {
            self.created.load(Ordering::Relaxed) >= target
        })
        .await;
    }

    async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self.task.await.unwrap();
        (self.created.load(Ordering::Relaxed), failures)
    }
}

async fn start_pair(
    sim: &kubesim::Simulator,
    clock: &ManualClock,
    options: ReplicaOptions,
) -> (Replica, Replica) {
    let shared: SharedClock = Arc::new(clock.clone());
    let leader = Replica::start(sim, shared.clone(), options.clone()).await;
    let follower = Replica::start(
        sim,
        shared,
        ReplicaOptions {
            leader: false,
            ..options
        },
    )
    .await;
    leader.route(sim);
    let resources: Api<AutoInstrumentation> = Api::namespaced(sim.client().unwrap(), "shop");
    resources
        .create(&PostParams::default(), &webhook_support::chat_resource())
        .await
        .unwrap();
    for replica in [&leader, &follower] {
        replica.ready().await;
        eventually(
            "the resource in the cache",
            Duration::from_secs(10),
            || async { replica.cache.len() == 1 },
        )
        .await;
    }
    (leader, follower)
}

async fn both_serve(
    leader: &Replica,
    follower: &Replica,
    what: &str,
    serial: impl Fn(&str) -> bool,
) {
    eventually(what, Duration::from_secs(20), || async {
        [leader, follower]
            .iter()
            .all(|r| r.serial().is_some_and(|s| serial(&s)))
    })
    .await;
    // What a client sees in a fresh handshake, trusting the published bundle.
    for replica in [leader, follower] {
        let bundle = replica.certificate.current().unwrap().ca_bundle.clone();
        let seen = presented(replica.addr, &bundle).await.unwrap();
        assert!(serial(&seen.serial), "{what}: presented {}", seen.serial);
    }
}

async fn mwc_bundle(sim: &kubesim::Simulator) -> Vec<String> {
    let mwcs: Api<MutatingWebhookConfiguration> = Api::all(sim.client().unwrap());
    let Some(mwc) = mwcs
        .get_opt("openlit-mutating-webhook-configuration")
        .await
        .unwrap()
    else {
        return Vec::new();
    };
    let bundle = mwc.webhooks.unwrap()[0]
        .client_config
        .ca_bundle
        .clone()
        .unwrap();
    split_bundle(&String::from_utf8(bundle.0).unwrap())
}

#[tokio::test]
async fn rotation_and_ca_rollover_under_a_stream_of_admissions_have_zero_failures() {
    let sim = cluster().await;
    let clock = clock_days_ago(25);
    let mut options = ReplicaOptions::default().failure_policy(FailurePolicy::Fail);
    options.tls.cert_lifetime = Duration::from_secs(30 * DAY);
    options.tls.ca_lifetime = Duration::from_secs(36 * DAY);
    let (leader, follower) = start_pair(&sim, &clock, options).await;
    let first = leader.serial().unwrap();
    both_serve(&leader, &follower, "the first certificate", |s| s == first).await;
    eventually("the caBundle", Duration::from_secs(10), || async {
        mwc_bundle(&sim).await.len() == 1
    })
    .await;
    let first_ca = mwc_bundle(&sim).await;

    let stream = AdmissionStream::start(&sim, [leader.addr, follower.addr]);
    stream.more(5).await;

    // Past two thirds of the serving certificate's 30 days: a new one, served by both replicas.
    clock.advance(Duration::from_secs(21 * DAY));
    both_serve(&leader, &follower, "the renewed certificate", |s| {
        s != first
    })
    .await;
    let second = leader.serial().unwrap();
    assert_eq!(
        mwc_bundle(&sim).await,
        first_ca,
        "a serving renewal keeps the CA"
    );
    stream.more(10).await;

    // Past two thirds of the CA's 36 days: the new CA is trusted first, next to the old one...
    clock.advance(Duration::from_secs(3 * DAY + 3600));
    eventually(
        "the old and new CA in the caBundle",
        Duration::from_secs(20),
        || async { mwc_bundle(&sim).await.len() == 2 },
    )
    .await;
    let bundle = mwc_bundle(&sim).await;
    assert_eq!(bundle[0], first_ca[0], "the current CA still signs");
    assert_eq!(
        leader.serial().unwrap(),
        second,
        "the serving certificate is unchanged"
    );
    stream.more(10).await;

    // ...and signs once the trust has propagated; the old CA stays until it expires.
    clock.advance(Duration::from_secs(120));
    both_serve(&leader, &follower, "a certificate from the new CA", |s| {
        s != second
    })
    .await;
    let current = leader.certificate.current().unwrap();
    let after = mwc_bundle(&sim).await;
    assert_eq!(after.len(), 2);
    assert_eq!(after[0], bundle[1], "the new CA signs");
    assert_eq!(after[1], first_ca[0], "the old CA is still trusted");
    assert!(split_bundle(&current.ca_bundle).contains(&first_ca[0]));
    stream.more(10).await;

    let (created, failures) = stream.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {created} admissions failed: {failures:?}",
        failures.len()
    );
    assert!(created >= 35);
    leader.stop().await;
    follower.stop().await;
}

#[tokio::test]
async fn an_expired_certificate_in_the_secret_is_replaced_before_ready() {
    let sim = cluster().await;
    let now = Timestamp::now();
    // A Secret written 40 days ago with a 30-day serving certificate.
    let old = webhook_support::certificate_at(
        now - SignedDuration::from_hours(24 * 40),
        Duration::from_secs(30 * DAY),
        &openlit_operator::tls::service_dns_names("openlit-webhook-service", "openlit"),
    );
    let expired = old.0.info.serial.clone();
    let secrets: Api<Secret> = Api::namespaced(sim.client().unwrap(), "openlit");
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "openlit-webhook-server-certs"},
        "type": "kubernetes.io/tls",
        "stringData": {
            "ca.crt": old.1,
            "tls.crt": old.2,
            "tls.key": old.3,
        }
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    let clock: SharedClock = Arc::new(ManualClock::new(now));
    let follower = Replica::start(
        &sim,
        clock.clone(),
        ReplicaOptions {
            leader: false,
            ..Default::default()
        },
    )
    .await;
    let mut served = follower.certificate.subscribe();
    let history = tokio::spawn(async move {
        let mut serials = Vec::new();
        while served.changed().await.is_ok() {
            let serial = served.borrow().as_ref().map(|c| c.info.serial.clone());
            serials.extend(serial);
        }
        serials
    });
    // The follower cannot write: it stays unready on the expired certificate.
    assert!(follower.state.readiness().is_err());
    let leader = Replica::start(&sim, clock, ReplicaOptions::default()).await;
    leader.ready().await;
    follower.ready().await;
    assert_ne!(leader.serial().unwrap(), expired);
    assert_eq!(leader.serial(), follower.serial());
    let stored = secrets.get("openlit-webhook-server-certs").await.unwrap();
    let tls_crt = String::from_utf8(stored.data.unwrap()["tls.crt"].0.clone()).unwrap();
    assert_ne!(tls_crt, old.2);
    follower.stop().await;
    let serials = history.await.unwrap();
    assert!(
        !serials.contains(&expired),
        "the expired certificate was never served: {serials:?}"
    );
    leader.stop().await;
}

#[tokio::test]
async fn two_replicas_racing_on_an_empty_namespace_end_with_one_secret_both_serve() {
    for _ in 0..3 {
        let sim = cluster().await;
        let clock: SharedClock = Arc::new(ManualClock::new(Timestamp::now()));
        // Both believe they lead (a lease handover), so both try to create the Secret.
        let (a, b) = tokio::join!(
            Replica::start(&sim, clock.clone(), ReplicaOptions::default()),
            Replica::start(&sim, clock.clone(), ReplicaOptions::default()),
        );
        a.ready().await;
        b.ready().await;
        eventually(
            "both replicas to serve the same certificate",
            Duration::from_secs(10),
            || async { a.serial() == b.serial() },
        )
        .await;
        let secrets: Api<Secret> = Api::namespaced(sim.client().unwrap(), "openlit");
        let all = secrets.list(&ListParams::default()).await.unwrap();
        assert_eq!(all.items.len(), 1);
        let stored = &all.items[0];
        let tls_crt =
            String::from_utf8(stored.data.as_ref().unwrap()["tls.crt"].0.clone()).unwrap();
        let served = a.certificate.current().unwrap();
        let stored_serial = openlit_operator::tls::CertInfo::from_der(
            &openlit_operator::tls::certificates(&tls_crt).unwrap()[0],
        )
        .unwrap()
        .serial;
        assert_eq!(served.info.serial, stored_serial);
        for replica in [&a, &b] {
            let seen = presented(replica.addr, &served.ca_bundle).await.unwrap();
            assert_eq!(seen.serial, stored_serial);
        }
        a.stop().await;
        b.stop().await;
    }
}

/// The Secret's `tls.crt`, if it holds a certificate.
async fn secret_leaf(sim: &kubesim::Simulator) -> Option<String> {
    let secrets: Api<Secret> = Api::namespaced(sim.client().unwrap(), "openlit");
    let secret = secrets
        .get_opt("openlit-webhook-server-certs")
        .await
        .unwrap()?;
    let pem = String::from_utf8(secret.data?.get("tls.crt")?.0.clone()).ok()?;
    openlit_operator::tls::certificates(&pem).ok()?;
    Some(pem)
}

#[tokio::test]
async fn the_new_ca_signs_only_once_the_api_server_serves_a_bundle_that_trusts_it() {
    let sim = cluster().await;
    let clock = clock_days_ago(6);
    let mut options = ReplicaOptions::default().failure_policy(FailurePolicy::Fail);
    options.tls.cert_lifetime = Duration::from_secs(7 * DAY);
    options.tls.ca_lifetime = Duration::from_secs(7 * DAY);
    let (leader, follower) = start_pair(&sim, &clock, options).await;
    eventually("the caBundle", Duration::from_secs(10), || async {
        mwc_bundle(&sim).await.len() == 1
    })
    .await;
    let first_ca = mwc_bundle(&sim).await;
    let issuer = |r: &Replica| r.certificate.current().map(|c| c.info.issuer.clone());
    let signer = issuer(&leader).unwrap();
    let stream = AdmissionStream::start(&sim, [leader.addr, follower.addr]);
    stream.more(5).await;

    // The API server holds every write of the webhook configuration, unanswered.
    sim.faults()
        .hang("mutatingwebhookconfigurations", &["patch"]);
    // Past two thirds of the CA's life: step one trusts the new CA in the Secret...
    clock.advance(Duration::from_secs(4 * DAY + 17 * 3600));
    eventually(
        "both CAs in the served bundle",
        Duration::from_secs(20),
        || async {
            [&leader, &follower].iter().all(|r| {
                r.certificate
                    .current()
                    .is_some_and(|c| split_bundle(&c.ca_bundle).len() == 2)
            })
        },
    )
    .await;
    eventually(
        "the configuration write to be held",
        Duration::from_secs(10),
        || async { sim.faults().held_requests() >= 1 },
    )
    .await;
    // ...but the API server still serves the old bundle: an hour on, the current CA still signs.
    for _ in 0..60 {
        clock.advance(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stream.more(10).await;
    assert_eq!(mwc_bundle(&sim).await, first_ca);
    for replica in [&leader, &follower] {
        assert_eq!(
            issuer(replica).as_ref(),
            Some(&signer),
            "the new CA signed before the API server trusted it"
        );
    }

    // Once the configuration can be written, the new CA is published, then signs.
    sim.faults().release();
    sim.faults().clear();
    let mut published = false;
    for _ in 0..30 {
        clock.advance(Duration::from_secs(10));
        if mwc_bundle(&sim).await.len() == 2 {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(published, "the new bundle was never published");
    eventually(
        "both replicas serving a certificate from the new CA",
        Duration::from_secs(20),
        || async {
            [&leader, &follower]
                .iter()
                .all(|r| issuer(r).is_some_and(|i| i != signer))
        },
    )
    .await;
    stream.more(10).await;
    let (created, failures) = stream.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {created} admissions failed: {failures:?}",
        failures.len()
    );
    leader.stop().await;
    follower.stop().await;
}

#[tokio::test]
async fn a_corrupt_or_deleted_secret_under_a_stream_of_admissions_refuses_no_pod() {
    let sim = cluster().await;
    let clock = clock_days_ago(2);
    let options = ReplicaOptions::default().failure_policy(FailurePolicy::Fail);
    let (leader, follower) = start_pair(&sim, &clock, options).await;
    eventually("the caBundle", Duration::from_secs(10), || async {
        mwc_bundle(&sim).await.len() == 1
    })
    .await;
    let trusted = mwc_bundle(&sim).await;
    let good_leaf = secret_leaf(&sim).await.unwrap();
    let stream = AdmissionStream::start(&sim, [leader.addr, follower.addr]);
    stream.more(5).await;

    // Garbage in the certificates.
    let secrets: Api<Secret> = Api::namespaced(sim.client().unwrap(), "openlit");
    let mut secret = secrets.get("openlit-webhook-server-certs").await.unwrap();
    let data = secret.data.as_mut().unwrap();
    for key in ["tls.crt", "ca.crt"] {
        data.insert(
            key.into(),
            k8s_openapi::ByteString(b"-----BEGIN CERTIFICATE-----\ngarbage\n".to_vec()),
        );
    }
    secrets
        .replace(
            "openlit-webhook-server-certs",
            &PostParams::default(),
            &secret,
        )
        .await
        .unwrap();
    stream.more(10).await;
    eventually(
        "the Secret to be repaired",
        Duration::from_secs(20),
        || async { secret_leaf(&sim).await.is_some() },
    )
    .await;
    stream.more(10).await;

    // Deleted outright.
    secrets
        .delete("openlit-webhook-server-certs", &Default::default())
        .await
        .unwrap();
    stream.more(10).await;
    eventually("the Secret to be back", Duration::from_secs(20), || async {
        secret_leaf(&sim).await.is_some()
    })
    .await;
    stream.more(10).await;

    let (created, failures) = stream.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {created} admissions failed: {failures:?}",
        failures.len()
    );
    assert_eq!(
        mwc_bundle(&sim).await,
        trusted,
        "the trusted CA never changed"
    );
    assert_eq!(secret_leaf(&sim).await.unwrap(), good_leaf);
    leader.stop().await;
    follower.stop().await;
}
