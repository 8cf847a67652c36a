//! Leader election over a `coordination.k8s.io/v1` Lease.
//!
//! One replica holds the Lease and does the writing (status, the certificate Secret, the webhook
//! configuration); every replica keeps serving admissions. Leadership is published on a
//! `watch::Receiver<bool>` that is `true` exactly while this replica may write.
//!
//! How it decides, all on the injected [`Clock`](crate::clock::Clock):
//! - Acquisition and renewal are `replace` calls carrying the Lease's `resourceVersion`, so two
//!   replicas racing for a free or expired Lease cannot both win: the loser gets 409 Conflict.
//! - Another holder's Lease expires `leaseDurationSeconds` after its `renewTime`, but never later
//!   than that long after this replica first saw that version of the Lease (so a holder whose
//!   clock runs ahead cannot keep the Lease forever). A follower wakes exactly at that expiry, so
//!   it takes over within one lease duration of the holder's last renewal.
//! - The holder renews every `retry_period` and gives up leadership (the receiver flips to
//!   `false` at once) when it has not renewed for `renew_deadline`, which is shorter than the
//!   lease duration: a replica cut off from the API stops writing before anyone else can take over.
//!   That deadline is a timer started when the successful attempt was sent (a monotonic tokio
//!   timer on the machine's clock), never a comparison with the wall-clock times written in the
//!   Lease, so a clock step cannot extend leadership. It also steps down at once when a renewal
//!   hits a conflict (someone else changed the Lease).
//! - Every Lease request is bounded by `request_timeout` (at most the renew deadline) on the
//!   clock: a request the API server never answers fails and is retried, for a follower as for
//!   the holder.
//! - Leadership ends with the elector: if its task ends, is aborted or panics, the receiver
//!   flips to `false`.
//! - On shutdown the holder flips to `false` first, then releases the Lease (empty holder), so
//!   a follower takes over at its next attempt instead of waiting for expiry.
//!
//! Tests drive an elector step by step with [`LeaderElector::try_acquire_or_renew`] and
//! [`LeaderElector::check_deadline`] on a manual clock, or run it with [`spawn`] and move the
//! clock: every wait in [`LeaderElector::run`] is a clock sleep.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::Shared;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::api::{DEFAULT_REQUEST_TIMEOUT, bounded};
use crate::clock::{SharedClock, Sleep};
use crate::metrics::Metrics;
use crate::supervise::Supervisor;

/// Where the Lease lives, who we are, and the timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (`holderIdentity`).
    pub identity: String,
    /// How long a Lease stays valid after its last renewal.
    pub lease_duration: Duration,
    /// How long the holder keeps leading without a successful renewal; shorter than the duration.
    pub renew_deadline: Duration,
    /// Pause between attempts to acquire or renew.
    pub retry_period: Duration,
    /// Bound of one Lease request (the renew deadline bounds it too).
    pub request_timeout: Duration,
}

impl LeaseSettings {
    /// Settings with a renew deadline of two thirds and a retry period of a fifth of `lease_duration`.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
        lease_duration: Duration,
    ) -> Self {
        LeaseSettings {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration,
            renew_deadline: lease_duration * 2 / 3,
            retry_period: lease_duration / 5,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// A Lease request failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The API call failed.
    #[error("lease {namespace}/{name}: {source}")]
    Api {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

/// Runs the election for one replica.
pub struct LeaderElector {
    api: Api<Lease>,
    clock: SharedClock,
    settings: LeaseSettings,
    metrics: Option<Arc<Metrics>>,
    leading: watch::Sender<bool>,
    /// The Lease version last seen and when it was first seen.
    observed: Option<(String, Timestamp)>,
    /// When another holder's Lease expires, as of the last attempt.
    expiry: Option<Timestamp>,
    /// When this replica last acquired or renewed the Lease.
    renewed_at: Option<Timestamp>,
    /// Fires `renew_deadline` after the last successful attempt was sent.
    deadline_timer: Option<Shared<Sleep>>,
}

fn add(at: Timestamp, by: Duration) -> Timestamp {
    at.saturating_add(SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

impl LeaderElector {
    /// An elector that is not leading yet.
    pub fn new(client: Client, clock: SharedClock, settings: LeaseSettings) -> Self {
        let (leading, _) = watch::channel(false);
        LeaderElector {
            api: Api::namespaced(client, &settings.namespace),
            clock,
            settings,
            metrics: None,
            leading,
            observed: None,
            expiry: None,
            renewed_at: None,
            deadline_timer: None,
        }
    }

    /// Also report leadership in these metrics.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        metrics.set_leader(self.is_leading());
        self.metrics = Some(metrics);
        self
    }

    /// `true` while this replica leads.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// Whether this replica leads now.
    pub fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// The settings in use.
    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// While leading: when leadership ends unless renewed first.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.renewed_at
            .filter(|_| self.is_leading())
            .map(|at| add(at, self.settings.renew_deadline))
    }

    fn set_leading(&mut self, leading: bool, why: &str) {
        let changed = self.leading.send_if_modified(|current| {
            let changed = *current != leading;
            *current = leading;
            changed
        });
        if !leading {
            self.renewed_at = None;
            self.deadline_timer = None;
        }
        if changed {
            if let Some(metrics) = &self.metrics {
                metrics.set_leader(leading);
            }
            let lease = format!("{}/{}", self.settings.namespace, self.settings.name);
            if leading {
                tracing::info!(%lease, identity = %self.settings.identity, "became the leader");
            } else {
                tracing::warn!(%lease, identity = %self.settings.identity, reason = why, "stopped leading");
            }
        }
    }

    fn error(&self, source: kube::Error) -> LeaderError {
        LeaderError::Api {
            namespace: self.settings.namespace.clone(),
            name: self.settings.name.clone(),
            source,
        }
    }

    /// Steps down if the renew deadline has passed; returns whether this replica still leads.
    pub fn check_deadline(&mut self) -> bool {
        let passed = self
            .deadline_timer
            .clone()
            .is_some_and(|timer| timer.now_or_never().is_some());
        if passed {
            self.set_leading(false, "the lease was not renewed before the renew deadline");
        }
        self.is_leading()
    }

    /// Completes when the renew deadline passes (never while not leading).
    fn deadline_passed(&self) -> impl Future<Output = ()> + Send + 'static {
        let timer = self.deadline_timer.clone().filter(|_| self.is_leading());
        async move {
            match timer {
                Some(timer) => timer.await,
                None => std::future::pending().await,
            }
        }
    }

    /// The bound of one Lease request.
    fn request_limit(&self) -> Duration {
        self.settings
            .request_timeout
            .min(self.settings.renew_deadline)
            .max(Duration::from_millis(1))
    }

    fn desired_spec(&self, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
        let previous_holder = previous
            .and_then(|s| s.holder_identity.as_deref())
            .filter(|h| !h.is_empty());
        let mine = previous_holder == Some(self.settings.identity.as_str());
        let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.settings.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX),
            ),
            acquire_time: match previous {
                Some(spec) if mine => spec.acquire_time.clone(),
                _ => Some(MicroTime(now)),
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if mine || previous_holder.is_none() && previous.is_none() {
                transitions
            } else {
                transitions.saturating_add(1)
            }),
            ..LeaseSpec::default()
        }
    }

    fn became_holder(&mut self, lease: &Lease, now: Timestamp, deadline: Shared<Sleep>) {
        if let Some(version) = &lease.metadata.resource_version {
            self.observed = Some((version.clone(), now));
        }
        self.expiry = None;
        self.renewed_at = Some(now);
        self.deadline_timer = Some(deadline);
        self.set_leading(true, "acquired");
    }

    /// One attempt: create the Lease, take it over if free or expired, or renew it if held.
    /// Returns whether this replica leads afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaderError> {
        let now = self.clock.now();
        // Started before anything is sent: leadership won by this attempt ends on this timer.
        let deadline = self.clock.sleep(self.settings.renew_deadline).shared();
        let limit = self.request_limit();
        let current = bounded(&*self.clock, limit, self.api.get_opt(&self.settings.name))
            .await
            .map_err(|e| self.error(e))?;
        let Some(current) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.desired_spec(None, now)),
            };
            let created = bounded(
                &*self.clock,
                limit,
                self.api.create(&PostParams::default(), &lease),
            )
            .await;
            return match created {
                Ok(created) => {
                    self.became_holder(&created, now, deadline);
                    Ok(true)
                }
                Err(e) if is_conflict(&e) => {
                    self.set_leading(false, "another replica created the lease first");
                    Ok(false)
                }
                Err(e) => Err(self.error(e)),
            };
        };
        let version = current
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        let first_seen = match &self.observed {
            Some((seen, at)) if *seen == version => *at,
            _ => {
                self.observed = Some((version, now));
                now
            }
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        if let Some(holder) = holder.filter(|h| *h != self.settings.identity) {
            let duration = Duration::from_secs(
                u64::try_from(spec.lease_duration_seconds.unwrap_or(1).max(1)).unwrap_or(1),
            );
            let by_record = spec
                .renew_time
                .as_ref()
                .map(|t| add(t.0, duration))
                .unwrap_or(Timestamp::MAX);
            let expiry = by_record.min(add(first_seen, duration));
            if now < expiry {
                self.expiry = Some(expiry);
                let why = format!("the lease is held by {holder}");
                self.set_leading(false, &why);
                return Ok(false);
            }
        }
        let mut desired = current.clone();
        desired.spec = Some(self.desired_spec(Some(&spec), now));
        let written = bounded(
            &*self.clock,
            limit,
            self.api
                .replace(&self.settings.name, &PostParams::default(), &desired),
        )
        .await;
        match written {
            Ok(written) => {
                self.became_holder(&written, now, deadline);
                Ok(true)
            }
            Err(e) if is_conflict(&e) => {
                self.set_leading(false, "the lease was changed by another replica");
                Ok(false)
            }
            Err(e) => Err(self.error(e)),
        }
    }

    /// Stops leading and hands the Lease back so a follower can take it at once.
    pub async fn release(&mut self) -> Result<(), LeaderError> {
        if !self.is_leading() {
            return Ok(());
        }
        self.set_leading(false, "shutting down");
        let now = self.clock.now();
        let limit = self.request_limit();
        let Some(mut current) = bounded(&*self.clock, limit, self.api.get_opt(&self.settings.name))
            .await
            .map_err(|e| self.error(e))?
        else {
            return Ok(());
        };
        let mut spec = current.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(now));
        current.spec = Some(spec);
        let written = bounded(
            &*self.clock,
            limit,
            self.api
                .replace(&self.settings.name, &PostParams::default(), &current),
        )
        .await;
        match written {
            Ok(_) => {
                tracing::info!(lease = %self.settings.name, "released the lease");
                Ok(())
            }
            // Someone else changed it meanwhile: it is not ours to release any more.
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// When the next attempt is due.
    fn next_attempt(&self) -> Timestamp {
        let regular = add(self.clock.now(), self.settings.retry_period);
        match (self.is_leading(), self.expiry) {
            (false, Some(expiry)) => regular.min(expiry),
            _ => regular,
        }
    }

    /// Runs until `shutdown` completes, then releases the Lease if held.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let deadline = self.deadline_passed();
            let clock = self.clock.clone();
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = deadline => {
                    self.check_deadline();
                }
                result = self.try_acquire_or_renew() => {
                    if let Err(error) = result {
                        tracing::warn!(%error, "leader election attempt failed");
                    }
                }
            }
            self.check_deadline();
            let wake = self.next_attempt();
            let deadline = self.deadline_passed();
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = deadline => {}
                () = clock.sleep_until(wake) => {}
            }
            self.check_deadline();
        }
        if let Err(error) = self.release().await {
            tracing::warn!(%error, "could not release the lease");
        }
    }
}

impl Drop for LeaderElector {
    /// Leadership never outlives the elector (ended, aborted or panicked).
    fn drop(&mut self) {
        let was_leading = self.leading.send_replace(false);
        if was_leading {
            if let Some(metrics) = &self.metrics {
                metrics.set_leader(false);
            }
            tracing::warn!(lease = %self.settings.name, "the leader elector stopped; no longer leading");
        }
    }
}

/// A running elector.
pub struct LeaderHandle {
    leading: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Starts `elector` on a task.
pub fn spawn(elector: LeaderElector) -> LeaderHandle {
    start(elector, tokio::spawn)
}

/// Starts `elector` on a task watched by `supervisor` (its end before shutdown is a failure).
pub fn spawn_supervised(elector: LeaderElector, supervisor: &Supervisor) -> LeaderHandle {
    start(elector, |run| supervisor.spawn("the leader elector", run))
}

fn start<F>(elector: LeaderElector, spawn: F) -> LeaderHandle
where
    F: FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> JoinHandle<()>,
{
    let leading = elector.subscribe();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = spawn(Box::pin(elector.run(async move {
        let _ = stopped.await;
    })));
    LeaderHandle {
        leading,
        stop: Some(stop),
        task,
    }
}

impl LeaderHandle {
    /// `true` while this replica leads.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Whether this replica leads now.
    pub fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// Stops leading and releases the Lease.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Stops the elector without releasing the Lease (as a crash would).
    pub fn abort(self) {
        self.task.abort();
    }
}

impl Drop for LeaderHandle {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}
