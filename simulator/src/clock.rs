//! A virtual clock that tests move explicitly.

use chrono::{DateTime, SubsecRound, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// A shared virtual clock: every timestamp the simulator writes comes from here.
#[derive(Clone, Debug)]
pub struct SimClock {
    now: Arc<Mutex<DateTime<Utc>>>,
    tx: Arc<watch::Sender<DateTime<Utc>>>,
}

impl Default for SimClock {
    fn default() -> Self {
        Self::starting_at(Utc::now().trunc_subsecs(0))
    }
}

impl SimClock {
    /// A clock starting at the given instant.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        let (tx, _) = watch::channel(start);
        SimClock {
            now: Arc::new(Mutex::new(start)),
            tx: Arc::new(tx),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Move the clock forward; wakes everything waiting on the clock.
    pub fn advance(&self, by: Duration) {
        let next = {
            let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
            *now += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
            *now
        };
        self.tx.send_replace(next);
    }

    /// Subscribe to clock movements.
    pub fn subscribe(&self) -> watch::Receiver<DateTime<Utc>> {
        self.tx.subscribe()
    }

    /// The current time formatted as Kubernetes writes timestamps (`2006-01-02T15:04:05Z`).
    pub fn timestamp(&self) -> String {
        format_time(self.now())
    }

    /// The current time with microseconds, as used by `MicroTime` fields.
    pub fn micro_timestamp(&self) -> String {
        self.now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// Moves `clock` forward with real time, one step every `tick`, for as long as the future runs:
/// what `kubesim serve` does, so ages grow and a certificate issued after the start is valid.
/// In-process tests keep the clock virtual and move it themselves.
pub async fn follow_real_time(clock: SimClock, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    loop {
        interval.tick().await;
        let now = tokio::time::Instant::now();
        clock.advance(now - last);
        last = now;
    }
}

/// Format a time the way Kubernetes `metav1.Time` does.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parse a Kubernetes timestamp.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
