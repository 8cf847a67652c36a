//! Retries on the injected clock: exponential backoff for a failing watch and for reconciles
//! that failed (a refused or conflicting status write, an unreachable API server).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::watcher;
use tokio::sync::mpsc;

use crate::clock::SharedClock;

/// Exponential backoff: `first`, doubling, at most `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub first: Duration,
    /// The largest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before attempt `failures + 1`, after `failures` failures in a row (at least one).
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failures.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// Backoff of reconcile retries: 1 s doubling to 5 min.
pub const RECONCILE_BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(1),
    max: Duration::from_secs(300),
};

/// Backoff of watch restarts: 1 s doubling to 30 s.
pub const WATCH_BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(1),
    max: Duration::from_secs(30),
};

/// Passes a watch stream's events through and, after each error, waits on the clock (with
/// backoff) before polling the watcher again; errors are logged, not passed on.
pub fn watch_with_backoff<S, T>(
    inner: S,
    clock: SharedClock,
    backoff: Backoff,
    what: String,
) -> impl Stream<Item = Result<T, watcher::Error>> + Send
where
    S: Stream<Item = Result<T, watcher::Error>> + Send + 'static,
    T: Send + 'static,
{
    futures::stream::unfold((inner.boxed(), 0u32), move |(mut inner, mut failures)| {
        let clock = clock.clone();
        let what = what.clone();
        async move {
            loop {
                match inner.next().await? {
                    Ok(item) => return Some((Ok(item), (inner, 0))),
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        let wait = backoff.delay(failures);
                        tracing::warn!(%error, watch = %what, retry_in = ?wait, "watch failed");
                        clock.sleep(wait).await;
                    }
                }
            }
        }
    })
}

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
