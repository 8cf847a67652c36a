//! The log of requests RBAC refused, so tests can assert a client was never refused.

use std::sync::{Arc, Mutex};

/// One refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The user name, e.g. `system:serviceaccount:openlit:openlit-operator`.
    pub user: String,
    /// The verb, e.g. `get` or `watch`.
    pub verb: String,
    /// The API group (`""` for core).
    pub group: String,
    /// The resource, e.g. `secrets`.
    pub resource: String,
    /// The subresource, e.g. `status` (`""` for none).
    pub subresource: String,
    /// The namespace (`""` for cluster-scoped requests).
    pub namespace: String,
    /// The object name (`""` when the request names none).
    pub name: String,
    /// The message of the 403 response.
    pub message: String,
}

/// Every refusal, in order.
#[derive(Clone, Default)]
pub struct DenialLog {
    entries: Arc<Mutex<Vec<Denial>>>,
}

impl DenialLog {
    /// Record a refusal.
    pub fn record(&self, denial: Denial) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(denial);
    }

    /// Every refusal so far.
    pub fn all(&self) -> Vec<Denial> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forget the refusals recorded so far.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
