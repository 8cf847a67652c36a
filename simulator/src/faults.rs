//! Fault injection: refuse, delay or hold requests, force conflicts, break watch streams.

use crate::error::ApiError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// What a fault does to a matching request.
#[derive(Debug, Clone)]
pub enum FaultAction {
    /// Answer with this HTTP code and message instead of serving the request.
    Refuse {
        /// HTTP status code.
        code: u16,
        /// Status message.
        message: String,
    },
    /// Wait (real time) before serving the request.
    Delay(Duration),
    /// Answer writes with 409 Conflict.
    Conflict,
    /// Hold the request open without answering, as an API server on a dead connection would,
    /// until [`Faults::release`]; the request is then served (if its client still waits).
    Hang,
}

#[derive(Debug, Clone)]
struct Rule {
    resource: String,
    verbs: Vec<String>,
    action: FaultAction,
    remaining: Option<u32>,
}

/// The fault rules in force. Resources are named `pods` or `pods/status`; verbs as in RBAC.
#[derive(Clone)]
pub struct Faults {
    rules: Arc<Mutex<Vec<Rule>>>,
    breaker: broadcast::Sender<String>,
    releases: watch::Sender<u64>,
    held: Arc<AtomicUsize>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rules: Arc::default(),
            breaker: broadcast::channel(64).0,
            releases: watch::channel(0).0,
            held: Arc::default(),
        }
    }
}

/// Counts a request as held while it lives.
struct HeldRequest(Arc<AtomicUsize>);

impl Drop for HeldRequest {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete"];

impl Faults {
    fn add(&self, resource: &str, verbs: &[&str], action: FaultAction, remaining: Option<u32>) {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Rule {
                resource: resource.to_string(),
                verbs: verbs.iter().map(|v| v.to_string()).collect(),
                action,
                remaining,
            });
    }

    /// Refuse every request with one of `verbs` (empty: all) to `resource` with an HTTP code.
    pub fn refuse(&self, resource: &str, verbs: &[&str], code: u16) {
        self.add(
            resource,
            verbs,
            FaultAction::Refuse {
                code,
                message: format!("simulated failure for {resource}"),
            },
            None,
        );
    }

    /// Delay every request with one of `verbs` (empty: all) to `resource`.
    pub fn delay(&self, resource: &str, verbs: &[&str], by: Duration) {
        self.add(resource, verbs, FaultAction::Delay(by), None);
    }

    /// Make the next `n` writes (create, update, patch) to `resource` fail with 409 Conflict.
    pub fn conflict_next(&self, resource: &str, n: u32) {
        self.add(
            resource,
            &["create", "update", "patch"],
            FaultAction::Conflict,
            Some(n),
        );
    }

    /// Hold every request with one of `verbs` (empty: all) to `resource` open without an answer
    /// until [`Faults::release`] (or until its client gives up).
    pub fn hang(&self, resource: &str, verbs: &[&str]) {
        self.add(resource, verbs, FaultAction::Hang, None);
    }

    /// Hold the next `n` requests with one of `verbs` (empty: all) to `resource` open without an
    /// answer until [`Faults::release`]; later requests are served.
    pub fn hang_next(&self, resource: &str, verbs: &[&str], n: u32) {
        self.add(resource, verbs, FaultAction::Hang, Some(n));
    }

    /// Removes every hang rule and lets the held requests through.
    pub fn release(&self) {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|r| !matches!(r.action, FaultAction::Hang));
        self.releases.send_modify(|generation| *generation += 1);
    }

    /// How many requests are being held open now (their clients have not given up).
    pub fn held_requests(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Waits until the next [`Faults::release`], counted in [`Faults::held_requests`] meanwhile.
    pub async fn hold(&self) {
        let mut releases = self.releases.subscribe();
        releases.mark_unchanged();
        self.held.fetch_add(1, Ordering::SeqCst);
        let _held = HeldRequest(self.held.clone());
        let _ = releases.changed().await;
    }

    /// Remove every fault rule (held requests stay held until [`Faults::release`]).
    pub fn clear(&self) {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// End every open watch stream on `resource` (`*` for all).
    pub fn break_watches(&self, resource: &str) {
        let _ = self.breaker.send(resource.to_string());
    }

    /// Subscribe to watch-breaking signals.
    pub fn watch_breaks(&self) -> broadcast::Receiver<String> {
        self.breaker.subscribe()
    }

    /// The faults that apply to a request: a delay and/or an error.
    pub fn check(
        &self,
        verb: &str,
        resource: &str,
        subresource: &str,
    ) -> (Option<Duration>, Option<FaultAction>) {
        let full = if subresource.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}/{subresource}")
        };
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let mut delay = None;
        let mut fail = None;
        for r in rules.iter_mut() {
            let res_ok = r.resource == full
                || r.resource == "*"
                || (subresource.is_empty() && r.resource == resource);
            let verb_ok = r.verbs.is_empty() || r.verbs.iter().any(|v| v == verb);
            if !res_ok || !verb_ok || r.remaining == Some(0) {
                continue;
            }
            if matches!(r.action, FaultAction::Conflict) && !WRITE_VERBS.contains(&verb) {
                continue;
            }
            if let Some(n) = r.remaining.as_mut() {
                *n -= 1;
            }
            match &r.action {
                FaultAction::Delay(d) => delay = Some(*d),
                other if fail.is_none() => fail = Some(other.clone()),
                _ => {}
            }
        }
        rules.retain(|r| r.remaining != Some(0));
        (delay, fail)
    }
}

/// Turn a fault action into the error the client sees.
pub fn fault_error(
    action: &FaultAction,
    group: &str,
    resource: &str,
    name: &str,
) -> Option<ApiError> {
    match action {
        FaultAction::Refuse { code, message } => {
            Some(ApiError::new(*code, reason_for(*code), message.clone()))
        }
        FaultAction::Conflict => Some(ApiError::conflict(group, resource, name)),
        FaultAction::Delay(_) | FaultAction::Hang => None,
    }
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn held_requests_wait_for_release_and_a_counted_hang_runs_out() {
        let faults = Faults::default();
        faults.hang_next("leases", &["get"], 1);
        assert!(matches!(
            faults.check("get", "leases", ""),
            (None, Some(FaultAction::Hang))
        ));
        assert!(faults.check("get", "leases", "").1.is_none(), "used up");

        faults.hang("secrets", &[]);
        assert!(matches!(
            faults.check("update", "secrets", ""),
            (None, Some(FaultAction::Hang))
        ));
        let held = tokio::spawn({
            let faults = faults.clone();
            async move { faults.hold().await }
        });
        while faults.held_requests() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(!held.is_finished());
        faults.release();
        held.await.unwrap();
        assert_eq!(faults.held_requests(), 0);
        assert!(
            faults.check("update", "secrets", "").1.is_none(),
            "released"
        );
    }
}
