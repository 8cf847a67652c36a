//! What the leader writes to the certificate Secret, step by step on a virtual timeline.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use openlit_operator::tls::plan::{IssuePolicy, Stored, plan};
use openlit_operator::tls::{CertInfo, TlsSettings, certificates, split_bundle};

const DAY: u64 = 24 * 3600;

fn policy() -> IssuePolicy {
    let mut settings = TlsSettings::for_installation("openlit", "openlit");
    settings.cert_lifetime = Duration::from_secs(90 * DAY);
    settings.ca_lifetime = Duration::from_secs(360 * DAY);
    settings.issue_policy()
}

fn info(pem: &str) -> CertInfo {
    CertInfo::from_der(&certificates(pem).unwrap()[0]).unwrap()
}

fn start() -> Timestamp {
    "2030-01-01T00:00:00Z".parse().unwrap()
}

fn at(days: f64) -> Timestamp {
    start() + SignedDuration::from_secs((days * DAY as f64) as i64)
}

/// What the API server serves once the webhook configuration has caught up with `current`.
fn caught_up(current: Option<&Stored>) -> Option<String> {
    current.map(Stored::ca_bundle)
}

fn written(current: Option<&Stored>, now: Timestamp) -> Stored {
    let decided = plan(current, now, &policy(), caught_up(current).as_deref()).unwrap();
    decided.write.expect("a write").0
}

fn unchanged(current: &Stored, now: Timestamp) -> Timestamp {
    let published = caught_up(Some(current));
    let decided = plan(Some(current), now, &policy(), published.as_deref()).unwrap();
    assert!(
        decided.write.is_none(),
        "no write expected at {now}: {:?}",
        decided.write.map(|w| w.1)
    );
    decided.next_check
}

#[test]
fn an_empty_namespace_gets_a_ca_and_a_serving_certificate_for_every_service_name() {
    let stored = written(None, start());
    let ca = info(&stored.ca.as_ref().unwrap().cert_pem);
    let leaf = info(&stored.leaf.as_ref().unwrap().cert_pem);
    assert!(ca.is_ca);
    assert!(!leaf.is_ca);
    assert_eq!(leaf.issuer, ca.subject);
    assert_eq!(
        leaf.dns_names,
        vec![
            "openlit-webhook-service",
            "openlit-webhook-service.openlit",
            "openlit-webhook-service.openlit.svc",
            "openlit-webhook-service.openlit.svc.cluster.local",
        ]
    );
    assert_eq!(
        leaf.not_before,
        start() - SignedDuration::from_mins(5),
        "back-dated"
    );
    assert_eq!(leaf.not_after, at(90.0));
    assert_eq!(ca.not_after, at(360.0));
    let key = rcgen::KeyPair::from_pem(&stored.leaf.as_ref().unwrap().key_pem).unwrap();
    assert_eq!(key.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
    // Serials are random: two issues never share one.
    let again = written(None, start());
    assert_ne!(info(&again.leaf.unwrap().cert_pem).serial, leaf.serial);
    assert_ne!(info(&again.ca.unwrap().cert_pem).serial, ca.serial);
    // Secret data round trip.
    let (data, annotations) = stored.to_secret();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        vec!["ca.crt", "ca.key", "tls.crt", "tls.key"]
    );
    assert_eq!(Stored::from_secret(&data, &annotations), stored);
}

#[test]
fn a_refresh_window_renews_that_long_before_expiry() {
    let mut settings = TlsSettings::for_installation("openlit", "openlit");
    settings.cert_lifetime = Duration::from_secs(90 * DAY);
    settings.ca_lifetime = Duration::from_secs(360 * DAY);
    settings.renew_before = Some(Duration::from_secs(10 * DAY));
    let policy = settings.issue_policy();
    let first = plan(None, start(), &policy, None)
        .unwrap()
        .write
        .expect("a first Secret")
        .0;
    let leaf = info(&first.leaf.as_ref().unwrap().cert_pem);
    assert_eq!(policy.leaf_renew_at(&leaf), at(80.0));
    let before = plan(
        Some(&first),
        at(80.0) - SignedDuration::from_secs(1),
        &policy,
        caught_up(Some(&first)).as_deref(),
    )
    .unwrap();
    assert!(before.write.is_none(), "not due yet");
    assert_eq!(before.next_check, at(80.0));
    let due = plan(
        Some(&first),
        at(80.0),
        &policy,
        caught_up(Some(&first)).as_deref(),
    )
    .unwrap();
    let (renewed, why) = due.write.expect("renewed at 80 days");
    assert_ne!(renewed.leaf, first.leaf);
    assert!(why.contains("renewing"), "{why}");
}

#[test]
fn the_serving_certificate_is_renewed_when_a_third_of_its_life_is_left() {
    let first = written(None, start());
    let renew_at = info(&first.leaf.as_ref().unwrap().cert_pem).renew_at();
    assert_eq!(unchanged(&first, at(1.0)), renew_at);
    // Lifetime 90 days + 5 minutes back-dating: two thirds is 60 days + 200 s after NotBefore.
    assert_eq!(
        renew_at,
        at(60.0) - SignedDuration::from_mins(5) + SignedDuration::from_secs(200)
    );
    unchanged(&first, renew_at - SignedDuration::from_secs(1));
    let second = written(Some(&first), renew_at);
    assert_eq!(second.ca, first.ca, "the CA stays");
    assert_ne!(second.leaf, first.leaf);
    let leaf = info(&second.leaf.as_ref().unwrap().cert_pem);
    assert!(leaf.valid_at(renew_at));
    unchanged(&second, renew_at);
}

#[test]
fn the_ca_rolls_over_in_two_steps_and_the_old_ca_leaves_when_it_expires() {
    let first = written(None, start());
    let old_ca = first.ca.clone().unwrap();
    let ca_renew = info(&old_ca.cert_pem).renew_at();
    // Keep the serving certificate fresh up to the CA's renewal.
    let mut stored = first;
    let mut now = start();
    while now < ca_renew {
        let published = caught_up(Some(&stored));
        let next = plan(Some(&stored), now, &policy(), published.as_deref()).unwrap();
        if let Some((s, _)) = next.write {
            stored = s;
        }
        now = next.next_check.min(ca_renew);
    }
    // Step one: the new CA is trusted, the current one still signs.
    let step_one = written(Some(&stored), ca_renew);
    assert_eq!(step_one.ca, stored.ca);
    assert_eq!(step_one.leaf, stored.leaf);
    let incoming = step_one.next_ca.clone().unwrap();
    let bundle = split_bundle(&step_one.ca_bundle());
    assert_eq!(bundle.len(), 2);
    assert_eq!(bundle[0].trim(), old_ca.cert_pem.trim());
    assert_eq!(bundle[1].trim(), incoming.cert_pem.trim());
    let (data, annotations) = step_one.to_secret();
    assert!(data.contains_key("next-ca.key"));
    assert_eq!(Stored::from_secret(&data, &annotations), step_one);
    let finish = unchanged(&step_one, ca_renew + SignedDuration::from_secs(30));
    assert_eq!(finish, ca_renew + SignedDuration::from_secs(60));

    // Step two: after the trust propagation time the new CA signs; the old one stays trusted.
    let step_two = written(Some(&step_one), finish);
    assert_eq!(step_two.ca, Some(incoming.clone()));
    assert!(step_two.next_ca.is_none());
    let leaf = info(&step_two.leaf.as_ref().unwrap().cert_pem);
    assert_eq!(leaf.issuer, info(&incoming.cert_pem).subject);
    assert_eq!(step_two.other_cas.len(), 1);
    assert_eq!(step_two.other_cas[0].trim(), old_ca.cert_pem.trim());
    let (data, annotations) = step_two.to_secret();
    assert!(!annotations.contains_key("openlit.io/ca-rollover-started"));
    assert!(!data.contains_key("next-ca.crt"));

    // The old CA leaves the bundle when it expires.
    let old_expiry = info(&old_ca.cert_pem).not_after;
    let next = unchanged(&step_two, finish);
    assert!(next <= old_expiry);
    let pruned = written(Some(&step_two), old_expiry);
    assert!(pruned.other_cas.is_empty());
    assert_eq!(split_bundle(&pruned.ca_bundle()).len(), 1);
}

#[test]
fn the_new_ca_signs_only_once_the_published_bundle_trusts_it() {
    let first = written(None, start());
    let ca_renew = info(&first.ca.as_ref().unwrap().cert_pem).renew_at();
    let mut stored = first.clone();
    let mut now = start();
    while now < ca_renew {
        let published = caught_up(Some(&stored));
        let next = plan(Some(&stored), now, &policy(), published.as_deref()).unwrap();
        if let Some((s, _)) = next.write {
            stored = s;
        }
        now = next.next_check.min(ca_renew);
    }
    let step_one = written(Some(&stored), ca_renew);
    let incoming = step_one.next_ca.clone().unwrap();
    // The API server still serves the bundle from before step one: a day later, nothing moves,
    // and the clock is not what will wake the leader.
    let old_bundle = stored.ca_bundle();
    let day_later = ca_renew + SignedDuration::from_secs(DAY as i64);
    for published in [Some(old_bundle.as_str()), None] {
        let waiting = plan(Some(&step_one), day_later, &policy(), published).unwrap();
        assert!(
            waiting.write.is_none(),
            "step two before the API server trusts the new CA: {:?}",
            waiting.write.map(|w| w.1)
        );
        assert!(waiting.next_check > day_later);
    }
    // Once it serves a bundle holding the new CA, the new CA signs.
    let both = step_one.ca_bundle();
    let step_two = plan(Some(&step_one), day_later, &policy(), Some(&both))
        .unwrap()
        .write
        .expect("step two")
        .0;
    assert_eq!(step_two.ca, Some(incoming));
}

#[test]
fn unusable_material_is_replaced() {
    let good = written(None, start());
    // A serving certificate for another Service.
    let mut other = TlsSettings::for_installation("other", "elsewhere").issue_policy();
    other.cert_lifetime = Duration::from_secs(90 * DAY);
    let foreign = plan(None, start(), &other, None).unwrap().write.unwrap().0;
    let mut wrong_names = good.clone();
    wrong_names.leaf = foreign.leaf.clone();
    let fixed = written(Some(&wrong_names), start());
    assert_eq!(fixed.ca, good.ca);
    assert_ne!(fixed.leaf, foreign.leaf);

    // A key that does not belong to the certificate.
    let mut mismatched = good.clone();
    mismatched.leaf.as_mut().unwrap().key_pem = foreign.leaf.unwrap().key_pem;
    let fixed = written(Some(&mismatched), start());
    assert_eq!(fixed.ca, good.ca);

    // Garbage everywhere: a fresh CA.
    let data = BTreeMap::from([
        ("ca.crt".to_string(), b"garbage".to_vec()),
        (
            "tls.crt".to_string(),
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
        ),
        ("tls.key".to_string(), b"x".to_vec()),
    ]);
    let garbage = Stored::from_secret(&data, &BTreeMap::new());
    let fresh = written(Some(&garbage), start());
    assert!(fresh.ca.is_some() && fresh.leaf.is_some());

    // An expired CA: everything is issued again.
    let expired = written(Some(&good), at(400.0));
    assert_ne!(expired.ca, good.ca);
    assert!(info(&expired.leaf.unwrap().cert_pem).valid_at(at(400.0)));
}
