//! The log of requests RBAC refused, so tests can assert a client was never refused.

use super::Attributes;
use std::sync::{Arc, Mutex};

/// One refused request: who asked, what they asked for, and the message they got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The user name, e.g. `system:serviceaccount:openlit:openlit-operator`.
    pub user: String,
    /// What the refused request asked for.
    pub attributes: Attributes,
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
