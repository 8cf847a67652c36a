//! One reconcile of an AutoInstrumentation: validate, write the status if it changed (leader
//! only, through the status subresource, guarded by the object's resourceVersion), then publish
//! Events for what the user should know.

use std::sync::Arc;

use kube::api::PostParams;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;

use super::events::{EventType, Recorder};
use super::overlap::overlaps;
use super::retry::Retries;
use super::status::{REASON_INVALID, REASON_VALID, desired_status, ready_condition};
use crate::clock::SharedClock;
use crate::crd::{self, AutoInstrumentation};
use crate::metrics::Metrics;

/// Event reason for an invalid resource.
pub const EVENT_INVALID: &str = REASON_INVALID;
/// Event reason for a resource that became valid again.
pub const EVENT_VALID: &str = REASON_VALID;
/// Event reason for resources in one namespace that select some of the same pods.
pub const EVENT_OVERLAP: &str = "SelectorOverlap";

/// A reconcile failed; it is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The status could not be written (conflict, refusal, unreachable API server).
    #[error("writing the status of {resource}: {source}")]
    WriteStatus {
        /// `<namespace>/<name>`.
        resource: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

/// What a reconcile needs.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Time source.
    pub clock: SharedClock,
    /// Where reconciles are counted.
    pub metrics: Arc<Metrics>,
    /// `true` while this replica may write.
    pub leading: watch::Receiver<bool>,
    /// Event publisher.
    pub recorder: Recorder,
    /// Failed reconciles waiting for their retry.
    pub retries: Retries<ObjectRef<AutoInstrumentation>>,
    /// Every resource of the watched scope, to find overlapping selectors.
    pub store: Store<AutoInstrumentation>,
    /// Bound of one status write.
    pub request_timeout: std::time::Duration,
}

impl Context {
    fn leading(&self) -> bool {
        *self.leading.borrow()
    }
}

fn key(resource: &AutoInstrumentation) -> String {
    format!(
        "{}/{}",
        resource.namespace().unwrap_or_default(),
        resource.name_any()
    )
}

/// Reconciles one resource.
pub async fn reconcile(
    resource: Arc<AutoInstrumentation>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    if !ctx.leading() {
        return Ok(Action::await_change());
    }
    let reference = ObjectRef::from_obj(&*resource);
    let validation = crd::validate(&resource);
    let desired = desired_status(&resource, &validation, ctx.clock.now());
    if resource.status.as_ref() == Some(&desired) {
        ctx.retries.forget(&reference);
        ctx.metrics.record_reconcile(true);
        return Ok(Action::await_change());
    }
    let mut updated = (*resource).clone();
    updated.status = Some(desired.clone());
    // Leadership can end while validating; check again right before writing.
    if !ctx.leading() {
        return Ok(Action::await_change());
    }
    let namespace = resource.namespace().unwrap_or_default();
    let api: Api<AutoInstrumentation> = Api::namespaced(ctx.client.clone(), &namespace);
    let (name, params) = (resource.name_any(), PostParams::default());
    let write = api.replace_status(&name, &params, &updated);
    crate::api::bounded(&*ctx.clock, ctx.request_timeout, write)
        .await
        .map_err(|source| ReconcileError::WriteStatus {
            resource: key(&resource),
            source,
        })?;
    ctx.retries.forget(&reference);
    ctx.metrics.record_reconcile(true);
    tracing::info!(
        resource = %key(&resource),
        generation = ?resource.metadata.generation,
        valid = validation.is_valid(),
        "status updated"
    );
    publish_events(&resource, &validation, &ctx).await;
    Ok(Action::await_change())
}

async fn publish_events(
    resource: &AutoInstrumentation,
    validation: &crd::Validation,
    ctx: &Context,
) {
    let was_ready = ready_condition(resource.status.as_ref()).map(|c| c.status == "True");
    if !validation.is_valid() {
        let note = format!(
            "Invalid AutoInstrumentation, no pod will be instrumented by it: {}",
            validation.errors.join("; ")
        );
        ctx.recorder
            .publish(resource, EventType::Warning, EVENT_INVALID, &note)
            .await;
    } else if was_ready == Some(false) {
        ctx.recorder
            .publish(
                resource,
                EventType::Normal,
                EVENT_VALID,
                "The AutoInstrumentation is valid again and instruments the pods it selects",
            )
            .await;
    }
    let namespace = resource.namespace();
    let mut others: Vec<String> = ctx
        .store
        .state()
        .iter()
        .filter(|other| other.namespace() == namespace && other.name_any() != resource.name_any())
        .filter(|other| overlaps(&resource.spec, &other.spec))
        .map(|other| key(other))
        .collect();
    if !others.is_empty() {
        others.sort();
        let note = format!(
            "Selects some of the same pods as {}; a pod selected by several resources in one namespace is instrumented by the oldest of them (by creation time, then name)",
            others.join(", ")
        );
        ctx.recorder
            .publish(resource, EventType::Warning, EVENT_OVERLAP, &note)
            .await;
    }
}

/// What to do after a failed reconcile: count it and retry after a backoff on the clock.
pub fn error_policy(
    resource: Arc<AutoInstrumentation>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    ctx.metrics.record_reconcile(false);
    let wait = ctx.retries.schedule(ObjectRef::from_obj(&*resource));
    tracing::warn!(%error, resource = %key(&resource), retry_in = ?wait, "reconcile failed");
    Action::await_change()
}
