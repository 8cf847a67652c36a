//! The certificate Secret: watched by every replica, written by the leader.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::watch;

use super::plan::{Stored, plan, usable};
use super::resolver::{LoadedCertificate, ServingCertificate};
use super::{TlsError, TlsSettings};
use crate::api::bounded;
use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::watch::{WATCH_BACKOFF, watch_with_backoff};

/// Attempts at one decision before waiting for the retry interval.
const ATTEMPTS: usize = 5;

/// Runs until `shutdown` completes: keeps `serving` loaded from the Secret on every replica and,
/// while `leader` holds `true`, creates, renews and rolls over the Secret's certificates.
/// Returns an error only for a broken setup (never for a failed API call, which is retried).
pub async fn run_secret_certificates(
    client: Client,
    settings: TlsSettings,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    serving: ServingCertificate,
    mut leader: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), TlsError> {
    let api: Api<Secret> = Api::namespaced(client, &settings.namespace);
    let config =
        watcher::Config::default().fields(&format!("metadata.name={}", settings.secret_name));
    let stream = watch_with_backoff(
        watcher(api.clone(), config),
        clock.clone(),
        WATCH_BACKOFF,
        "the certificate Secret".into(),
    );
    tokio::pin!(stream, shutdown);
    let policy = settings.issue_policy();
    let mut latest: Option<Secret> = None;
    let mut init: Option<Option<Secret>> = None;
    let mut synced = false;
    let mut leader_open = true;
    let mut published = serving.subscribe_published();
    let mut published_open = true;
    let mut next_check: Option<Timestamp> = None;
    // The last usable material seen: a corrupt or deleted Secret is restored from it.
    let mut last_good: Option<Stored> = None;
    loop {
        let sleep = next_check.map(|t| clock.sleep_until(t));
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            event = stream.next() => match event {
                None => return Ok(()),
                Some(Err(e)) => tracing::warn!(error = %e, "watching the certificate Secret"),
                Some(Ok(watcher::Event::Init)) => init = Some(None),
                Some(Ok(watcher::Event::InitApply(s))) => init = Some(Some(s)),
                Some(Ok(watcher::Event::InitDone)) => {
                    latest = init.take().flatten();
                    synced = true;
                }
                Some(Ok(watcher::Event::Apply(s))) => latest = Some(s),
                Some(Ok(watcher::Event::Delete(_))) => latest = None,
            },
            changed = leader.changed(), if leader_open => leader_open = changed.is_ok(),
            changed = published.changed(), if published_open => published_open = changed.is_ok(),
            () = async { if let Some(s) = sleep { s.await } else { std::future::pending().await } } => {}
        }
        if !synced {
            continue;
        }
        install(&serving, &metrics, latest.as_ref(), clock.now());
        remember_usable(&mut last_good, latest.as_ref(), clock.now());
        next_check = None;
        if !*leader.borrow() {
            continue;
        }
        for attempt in 1..=ATTEMPTS {
            let now = clock.now();
            let stored = latest.as_ref().map(stored_of);
            let restore = last_good
                .clone()
                .filter(|good| usable(good, now))
                .filter(|_| !stored.as_ref().is_some_and(|s| usable(s, now)));
            let base = restore.clone().or(stored);
            let bundle = serving.published();
            let decided = match plan(base.as_ref(), now, &policy, bundle.as_deref()) {
                Ok(decided) => decided,
                Err(e) => {
                    tracing::error!(error = %e, "cannot plan the webhook certificates");
                    next_check = Some(after(now, settings.retry_interval));
                    break;
                }
            };
            next_check = Some(decided.next_check.max(after(now, Duration::from_secs(1))));
            let write_what = match (decided.write, restore) {
                (Some(write), _) => write,
                (None, Some(good)) => (
                    good,
                    "the Secret is missing or unusable: restoring the certificates being served"
                        .to_string(),
                ),
                (None, None) => break,
            };
            let (material, reason) = write_what;
            let written = bounded(
                &*clock,
                settings.request_timeout,
                write(&api, &settings, latest.as_ref(), &material),
            )
            .await;
            match written {
                Ok(written) => {
                    tracing::info!(secret = %settings.secret_name, %reason, "wrote the webhook certificates");
                    latest = Some(written);
                    install(&serving, &metrics, latest.as_ref(), now);
                    remember_usable(&mut last_good, latest.as_ref(), now);
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    tracing::info!(
                        attempt,
                        "the certificate Secret changed meanwhile; reading it again"
                    );
                    let read = api.get_opt(&settings.secret_name);
                    match bounded(&*clock, settings.request_timeout, read).await {
                        Ok(fresh) => latest = fresh,
                        Err(e) => tracing::warn!(error = %e, "reading the certificate Secret"),
                    }
                    install(&serving, &metrics, latest.as_ref(), now);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "writing the certificate Secret");
                    next_check = Some(after(now, settings.retry_interval));
                    break;
                }
            }
        }
    }
}

/// Keeps `secret`'s material as the last usable one when it is usable at `now`.
fn remember_usable(last_good: &mut Option<Stored>, secret: Option<&Secret>, now: Timestamp) {
    if let Some(stored) = secret.map(stored_of).filter(|s| usable(s, now)) {
        *last_good = Some(stored);
    }
}

fn after(now: Timestamp, by: Duration) -> Timestamp {
    now.checked_add(SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

fn stored_of(secret: &Secret) -> Stored {
    let data: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    let annotations = secret.metadata.annotations.clone().unwrap_or_default();
    Stored::from_secret(&data, &annotations)
}

/// Installs the Secret's serving certificate when it is usable now and differs from the one
/// being served.
fn install(
    serving: &ServingCertificate,
    metrics: &Metrics,
    secret: Option<&Secret>,
    now: Timestamp,
) {
    let Some(secret) = secret else {
        return;
    };
    let stored = stored_of(secret);
    if !usable(&stored, now) {
        tracing::warn!(
            "the certificate Secret holds no usable CA and serving certificate; serving the current one"
        );
        return;
    }
    let Some(leaf) = stored.leaf.as_ref() else {
        return;
    };
    let bundle = stored.ca_bundle();
    if let Some(current) = serving.current()
        && certificates_equal(&current, &leaf.cert_pem, &bundle)
    {
        return;
    }
    match LoadedCertificate::from_pem(&leaf.cert_pem, &leaf.key_pem, &bundle) {
        Ok(loaded) if loaded.info.valid_at(now) => {
            tracing::info!(serial = %loaded.info.serial, not_after = %loaded.info.not_after, "serving a new webhook certificate");
            metrics.set_certificate_expiry(loaded.info.not_after.as_second());
            serving.install(loaded);
        }
        Ok(loaded) => tracing::warn!(
            not_before = %loaded.info.not_before,
            not_after = %loaded.info.not_after,
            "the Secret's serving certificate is not valid now; not serving it"
        ),
        Err(e) => tracing::warn!(error = %e, "the Secret's serving certificate is unusable"),
    }
}

fn certificates_equal(current: &LoadedCertificate, cert_pem: &str, bundle: &str) -> bool {
    current.ca_bundle == bundle
        && super::pem::certificates(cert_pem)
            .ok()
            .and_then(|c| c.first().cloned())
            .is_some_and(|der| current.certified.cert.first() == Some(&der))
}

/// Creates the Secret, or replaces it at the resourceVersion it was read at.
async fn write(
    api: &Api<Secret>,
    settings: &TlsSettings,
    existing: Option<&Secret>,
    material: &Stored,
) -> Result<Secret, kube::Error> {
    let (data, annotations) = material.to_secret();
    let data: BTreeMap<String, ByteString> =
        data.into_iter().map(|(k, v)| (k, ByteString(v))).collect();
    match existing {
        Some(existing) => {
            let mut secret = existing.clone();
            let current = secret
                .metadata
                .annotations
                .get_or_insert_with(BTreeMap::new);
            current.remove(super::plan::ROLLOVER_ANNOTATION);
            current.extend(annotations);
            secret.data = Some(data);
            secret.string_data = None;
            api.replace(&settings.secret_name, &PostParams::default(), &secret)
                .await
        }
        None => {
            let labels = BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "openlit-operator".to_string(),
                ),
                (
                    "app.kubernetes.io/component".to_string(),
                    "webhook-certificates".to_string(),
                ),
            ]);
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(settings.secret_name.clone()),
                    namespace: Some(settings.namespace.clone()),
                    labels: Some(labels),
                    annotations: (!annotations.is_empty()).then_some(annotations),
                    ..ObjectMeta::default()
                },
                type_: Some("kubernetes.io/tls".into()),
                data: Some(data),
                ..Secret::default()
            };
            api.create(&PostParams::default(), &secret).await
        }
    }
}
