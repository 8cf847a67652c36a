//! Every Kubernetes API call is bounded in time.
//!
//! Two layers:
//! - the client itself ([`client_config`]) has a connect timeout, a write timeout and a read
//!   timeout. The read timeout is longer than a watch's server-side `timeoutSeconds` (kube's
//!   watcher asks for 290 s), so a quiet but healthy watch is never cut, while a connection that
//!   stops answering for good is dropped even in the middle of a watch;
//! - each single request (get, create, replace, patch: the Lease, the certificate Secret, the
//!   webhook configuration, status and Events) is bounded by [`bounded`] on the operator's
//!   injected [`Clock`], with the request timeout (`API_REQUEST_TIMEOUT_SECONDS`). On the
//!   machine's clock this is a monotonic tokio timer; in tests it is the virtual clock, so a
//!   request the API server never answers is abandoned exactly when the test moves time.
//!
//! A request that times out fails like any other failed request: it is retried by its caller.

use std::future::Future;
use std::time::Duration;

use crate::clock::Clock;

/// Default bound of one API request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Server-side timeout kube's watcher asks for (`timeoutSeconds`).
pub const WATCH_SERVER_TIMEOUT: Duration = Duration::from_secs(290);

/// Read timeout of the client: longer than a watch's server-side timeout plus a margin.
pub const CLIENT_READ_TIMEOUT: Duration = Duration::from_secs(330);

/// Connect timeout of the client, at most.
pub const CLIENT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A request got no answer within its bound.
#[derive(Debug, thiserror::Error)]
#[error("the API server did not answer within {0:?}")]
pub struct RequestTimedOut(pub Duration);

/// Runs one API call, giving up once `limit` has passed on `clock`; a timeout is a
/// [`kube::Error::Service`] holding [`RequestTimedOut`].
pub async fn bounded<T>(
    clock: &dyn Clock,
    limit: Duration,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    tokio::select! {
        biased;
        result = call => result,
        () = clock.sleep(limit) => Err(kube::Error::Service(Box::new(RequestTimedOut(limit)))),
    }
}

/// Whether `error` is a request abandoned by [`bounded`].
pub fn is_timeout(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Service(inner) if inner.is::<RequestTimedOut>())
}

/// The client configuration with the timeouts described above: connect within
/// `min(request_timeout, 10 s)`, send a request within `request_timeout`, and read each part of
/// an answer within [`CLIENT_READ_TIMEOUT`] (counted from the request, not from when a pooled
/// connection went idle).
pub fn client_config(mut config: kube::Config, request_timeout: Duration) -> kube::Config {
    config.connect_timeout = Some(request_timeout.min(CLIENT_CONNECT_TIMEOUT));
    config.write_timeout = Some(request_timeout);
    config.read_timeout = Some(CLIENT_READ_TIMEOUT);
    config.reset_reader_on_write = true;
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use k8s_openapi::jiff::Timestamp;

    #[tokio::test]
    async fn a_call_without_an_answer_fails_once_the_clock_passes_its_bound() {
        let clock = ManualClock::new(Timestamp::UNIX_EPOCH);
        let call = std::future::pending::<Result<(), kube::Error>>();
        let mut waiting = tokio::spawn({
            let clock = clock.clone();
            async move { bounded(&clock, Duration::from_secs(30), call).await }
        });
        // Let the call start (its bound counts from there).
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(29));
        tokio::task::yield_now().await;
        assert!(futures::poll!(&mut waiting).is_pending());
        clock.advance(Duration::from_secs(1));
        let error = waiting.await.unwrap().unwrap_err();
        assert!(is_timeout(&error), "{error}");
    }

    #[test]
    fn the_read_timeout_outlasts_a_quiet_watch() {
        assert!(CLIENT_READ_TIMEOUT > WATCH_SERVER_TIMEOUT + Duration::from_secs(5));
    }
}
