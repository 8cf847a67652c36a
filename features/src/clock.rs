//! The simulator's virtual clock seen through the operator's [`Clock`] trait, so the API server,
//! the kubelet and every operator replica share one time that scenarios move explicitly.

use k8s_openapi::jiff::Timestamp;
use kubesim::SimClock;
use openlit_operator::clock::{Clock, Sleep};

/// Adapts a [`SimClock`] to the operator's clock.
#[derive(Clone)]
pub struct SimulatedTime(pub SimClock);

fn to_timestamp(time: chrono::DateTime<chrono::Utc>) -> Timestamp {
    let nanos =
        i128::from(time.timestamp()) * 1_000_000_000 + i128::from(time.timestamp_subsec_nanos());
    Timestamp::from_nanosecond(nanos).unwrap_or(Timestamp::MAX)
}

impl Clock for SimulatedTime {
    fn now(&self) -> Timestamp {
        to_timestamp(self.0.now())
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let mut ticks = self.0.subscribe();
        Box::pin(async move {
            let _ = ticks.wait_for(|now| to_timestamp(*now) >= deadline).await;
        })
    }
}
