//! Watches that survive errors: after each failure the watch waits on the injected clock, with
//! exponential backoff, before it is polled again, so tests on a virtual clock decide when a
//! broken watch comes back.

use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::watcher;

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
