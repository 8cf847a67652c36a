//! Retries of reconciles that failed (a refused or conflicting status write, an unreachable API
//! server), with exponential backoff on the injected clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::clock::SharedClock;
pub use crate::watch::{Backoff, WATCH_BACKOFF, watch_with_backoff};

/// Backoff of reconcile retries: 1 s doubling to 5 min.
pub const RECONCILE_BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(1),
    max: Duration::from_secs(300),
};

/// Schedules retries of failed work items with per-item exponential backoff.
pub struct Retries<R> {
    failures: Mutex<HashMap<R, u32>>,
    due: mpsc::UnboundedSender<(R, Duration)>,
    backoff: Backoff,
}

impl<R: Clone + Eq + Hash + Send + 'static> Retries<R> {
    /// Retries and the stream of items as they fall due on `clock`.
    pub fn new(backoff: Backoff, clock: SharedClock) -> (Self, impl Stream<Item = R> + Send) {
        let (due, receiver) = mpsc::unbounded_channel::<(R, Duration)>();
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })
        .map(move |(item, wait)| {
            let clock = clock.clone();
            async move {
                clock.sleep(wait).await;
                item
            }
        })
        .buffer_unordered(4096);
        let retries = Retries {
            failures: Mutex::default(),
            due,
            backoff,
        };
        (retries, stream)
    }

    /// Records a failure of `item` and schedules its retry; returns the delay.
    pub fn schedule(&self, item: R) -> Duration {
        let failures = {
            let mut map = self
                .failures
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let count = map.entry(item.clone()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        let wait = self.backoff.delay(failures);
        let _ = self.due.send((item, wait));
        wait
    }

    /// Forgets the failures of `item` after it succeeded.
    pub fn forget(&self, item: &R) {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let b = RECONCILE_BACKOFF;
        assert_eq!(b.delay(1), Duration::from_secs(1));
        assert_eq!(b.delay(2), Duration::from_secs(2));
        assert_eq!(b.delay(5), Duration::from_secs(16));
        assert_eq!(b.delay(20), Duration::from_secs(300));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(300));
    }
}
