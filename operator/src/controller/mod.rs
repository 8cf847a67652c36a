//! The AutoInstrumentation controller: validation → status, and Events.
//!
//! Decisions:
//! - Reconciles run on spec changes only: the watch is filtered by `metadata.generation`, so the
//!   operator's own status writes (which do not change the generation) never trigger a reconcile.
//!   A reconcile whose computed status equals the stored one writes nothing, so every spec change
//!   causes exactly one status write, and a new leader re-checking every resource writes nothing
//!   for resources that are already up to date.
//! - Every replica runs the watch (its cache stays warm for a fast take-over), but only the
//!   leader reconciles: on the others a reconcile returns at once. When a replica becomes the
//!   leader it re-checks every resource. Leadership is checked again right before each write, and
//!   the write carries the object's `resourceVersion`, so a stale view fails with 409 instead of
//!   overwriting newer data.
//! - Failures (a refused or conflicting write, an unreachable API server) are retried per
//!   resource with exponential backoff (1 s doubling to 5 min); a failing watch restarts with
//!   backoff (1 s doubling to 30 s). Both wait on the injected clock.
//! - Events (`events.k8s.io/v1`) accompany status writes: a Warning `ValidationFailed` naming the
//!   errors, a Normal `ValidationPassed` when a resource becomes valid again, and a Warning
//!   `SelectorOverlap` when the resource can select some of the same pods as another resource in
//!   its namespace (decided exactly from the label selectors, see [`overlap`]).
//! - With `WATCH_NAMESPACE` set, one watch per namespace; otherwise one cluster-wide watch.

pub mod events;
pub mod overlap;
mod reconcile;
pub mod retry;
pub mod status;

use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use reconcile::{EVENT_INVALID, EVENT_OVERLAP, EVENT_VALID, ReconcileError};

use crate::clock::SharedClock;
use crate::crd::AutoInstrumentation;
use crate::metrics::Metrics;
use crate::supervise::Supervisor;
use events::Recorder;
use reconcile::{Context, error_policy, reconcile};
use retry::{RECONCILE_BACKOFF, Retries, WATCH_BACKOFF, watch_with_backoff};

/// `reportingController` of the operator's Events.
pub const REPORTING_CONTROLLER: &str = "openlit.io/openlit-operator";

/// What the controller watches and how it reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerSettings {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// This replica's name in Events (`reportingInstance`).
    pub instance: String,
    /// Bound of one status or Event write, on the clock.
    pub request_timeout: std::time::Duration,
}

/// A running controller.
pub struct ControllerHandle {
    stores: Vec<Store<AutoInstrumentation>>,
    synced: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ControllerHandle {
    /// Whether the initial list of every watched scope has been read.
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Becomes `true` once the initial lists have been read.
    pub fn synced(&self) -> watch::Receiver<bool> {
        self.synced.clone()
    }

    /// How many resources the controller's cache holds.
    pub fn resources(&self) -> usize {
        self.stores.iter().map(|s| s.state().len()).sum()
    }

    /// Stops starting reconciles, lets running ones finish, and ends the controller.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        let _ = (&mut self.task).await;
    }
}

impl Drop for ControllerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A stream that yields each time `leading` turns `true`.
fn leadership_gained(leading: watch::Receiver<bool>) -> impl Stream<Item = ()> + Send {
    futures::stream::unfold(leading, |mut leading| async move {
        loop {
            leading.changed().await.ok()?;
            if *leading.borrow_and_update() {
                return Some(((), leading));
            }
        }
    })
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Starts the controller. Only while `leading` is `true` does it write anything.
pub fn spawn(
    client: Client,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    leading: watch::Receiver<bool>,
    settings: ControllerSettings,
) -> ControllerHandle {
    start(client, clock, metrics, leading, settings, |run| {
        tokio::spawn(run)
    })
}

/// [`spawn`], on a task watched by `supervisor` (its end before shutdown is a failure).
pub fn spawn_supervised(
    client: Client,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    leading: watch::Receiver<bool>,
    settings: ControllerSettings,
    supervisor: &Supervisor,
) -> ControllerHandle {
    start(client, clock, metrics, leading, settings, |run| {
        supervisor.spawn("the controller", run)
    })
}

fn start<F>(
    client: Client,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    leading: watch::Receiver<bool>,
    settings: ControllerSettings,
    spawn: F,
) -> ControllerHandle
where
    F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> JoinHandle<()>,
{
    let (stop, stop_rx) = watch::channel(false);
    let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        settings.namespaces.iter().cloned().map(Some).collect()
    };
    let recorder = Recorder::new(
        client.clone(),
        clock.clone(),
        REPORTING_CONTROLLER.to_string(),
        settings.instance.clone(),
    )
    .with_request_timeout(settings.request_timeout);
    let mut controllers = Vec::new();
    let mut stores = Vec::new();
    let mut kept = Vec::new();
    for scope in scopes {
        let api: Api<AutoInstrumentation> = match &scope {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        };
        let what = format!(
            "autoinstrumentations in {}",
            scope.as_deref().unwrap_or("all namespaces")
        );
        let (reader, writer) = reflector::store();
        stores.push(reader.clone());
        kept.push(reader.clone());
        let objects = watch_with_backoff(
            watcher(api, watcher::Config::default()),
            clock.clone(),
            WATCH_BACKOFF,
            what,
        )
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
        let (retries, due) =
            Retries::<ObjectRef<AutoInstrumentation>>::new(RECONCILE_BACKOFF, clock.clone());
        let context = Arc::new(Context {
            client: client.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            leading: leading.clone(),
            recorder: recorder.clone(),
            retries,
            store: reader.clone(),
            request_timeout: settings.request_timeout,
        });
        let controller = Controller::for_stream(objects, reader)
            .reconcile_on(due)
            .reconcile_all_on(leadership_gained(leading.clone()))
            .graceful_shutdown_on(stopped(stop_rx.clone()))
            .run(reconcile, error_policy, context)
            .for_each(|result| async move {
                if let Err(error) = result {
                    tracing::debug!(%error, "controller event");
                }
            });
        controllers.push(controller);
    }
    let (synced_tx, synced) = watch::channel(false);
    let task = spawn(Box::pin(async move {
        let sync = async move {
            for store in stores {
                if store.wait_until_ready().await.is_err() {
                    return;
                }
            }
            synced_tx.send_replace(true);
            // Keep the sender so receivers do not see a closed channel.
            std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = futures::future::join_all(controllers) => {}
            () = sync => {}
        }
    }));
    ControllerHandle {
        stores: kept,
        synced,
        stop,
        task,
    }
}
