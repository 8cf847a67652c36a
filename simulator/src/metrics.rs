//! Request counting per (verb, resource, subresource), so tests can assert how often a client wrote.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// `(verb, resource, subresource)`.
pub type CounterKey = (String, String, String);

/// Counts of served requests.
#[derive(Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<CounterKey, u64>>>,
}

impl RequestCounter {
    /// Record one request.
    pub fn record(&self, verb: &str, resource: &str, subresource: &str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((
                verb.to_string(),
                resource.to_string(),
                subresource.to_string(),
            ))
            .or_default() += 1;
    }

    /// How many requests with this verb went to this resource and subresource (`""` for none).
    pub fn count(&self, verb: &str, resource: &str, subresource: &str) -> u64 {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(
                verb.to_string(),
                resource.to_string(),
                subresource.to_string(),
            ))
            .copied()
            .unwrap_or(0)
    }

    /// Every count recorded so far.
    pub fn snapshot(&self) -> BTreeMap<CounterKey, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forget all counts.
    pub fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
