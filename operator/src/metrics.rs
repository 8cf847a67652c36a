//! The operator's Prometheus metrics: admissions by outcome and their latency, reconciles and
//! their errors, the serving certificate's expiry, leadership, and the resource cache's size.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How an admission ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdmissionOutcome {
    /// The pod was patched.
    Instrumented,
    /// A resource selected the pod but it was not instrumented (warning returned).
    Skipped,
    /// No resource selected the pod, or it opted out.
    Untouched,
    /// The request could not be handled (bad review, internal error); the pod was allowed unchanged
    /// or the request refused with 400.
    Error,
}

impl AdmissionOutcome {
    fn label(self) -> &'static str {
        match self {
            AdmissionOutcome::Instrumented => "instrumented",
            AdmissionOutcome::Skipped => "skipped",
            AdmissionOutcome::Untouched => "untouched",
            AdmissionOutcome::Error => "error",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Why the server closed a webhook connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionClose {
    /// The TLS handshake did not finish in time.
    HandshakeTimeout,
    /// An HTTP/1.1 request header did not arrive in time.
    HeaderTimeout,
    /// No request was in flight for the idle timeout.
    Idle,
    /// The connection limit was reached and this connection had been idle the longest.
    Evicted,
}

impl ConnectionClose {
    fn label(self) -> &'static str {
        match self {
            ConnectionClose::HandshakeTimeout => "handshake_timeout",
            ConnectionClose::HeaderTimeout => "header_timeout",
            ConnectionClose::Idle => "idle",
            ConnectionClose::Evicted => "evicted",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// All metrics of one operator process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    admissions: Family<OutcomeLabels, Counter>,
    admission_seconds: Histogram,
    reconciles: Family<ResultLabels, Counter>,
    certificate_expiry: Gauge,
    leader: Gauge,
    cached_resources: Gauge,
    webhook_connections: Gauge,
    connections_closed: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `openlit_operator` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("openlit_operator");
        let admissions = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "admissions",
            "Pod admissions handled, by outcome",
            admissions.clone(),
        );
        let admission_seconds = Histogram::new([
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
        ]);
        registry.register(
            "admission_duration_seconds",
            "Time to answer an admission",
            admission_seconds.clone(),
        );
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconciles",
            "AutoInstrumentation reconciles, by result",
            reconciles.clone(),
        );
        let certificate_expiry = Gauge::default();
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "When the serving certificate expires (Unix time)",
            certificate_expiry.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        let cached_resources = Gauge::default();
        registry.register(
            "cached_resources",
            "AutoInstrumentation resources in the cache",
            cached_resources.clone(),
        );
        let webhook_connections = Gauge::default();
        registry.register(
            "webhook_connections",
            "Open connections to the admission webhook",
            webhook_connections.clone(),
        );
        let connections_closed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "webhook_connections_closed",
            "Webhook connections the server closed, by reason",
            connections_closed.clone(),
        );
        Metrics {
            registry,
            webhook_connections,
            connections_closed,
            admissions,
            admission_seconds,
            reconciles,
            certificate_expiry,
            leader,
            cached_resources,
        }
    }

    /// Counts one admission and its latency.
    pub fn record_admission(&self, outcome: AdmissionOutcome, took: Duration) {
        self.admissions
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
        self.admission_seconds.observe(took.as_secs_f64());
    }

    /// Counts one reconcile.
    pub fn record_reconcile(&self, succeeded: bool) {
        let result = if succeeded { "success" } else { "error" };
        self.reconciles
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Records the serving certificate's expiry (Unix seconds).
    pub fn set_certificate_expiry(&self, unix_seconds: i64) {
        self.certificate_expiry.set(unix_seconds);
    }

    /// Records whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Records the number of cached resources.
    pub fn set_cached_resources(&self, count: usize) {
        self.cached_resources
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts a webhook connection opening (`+1`) or ending (`-1`).
    pub fn add_webhook_connections(&self, delta: i64) {
        self.webhook_connections.inc_by(delta);
    }

    /// Counts a connection the server closed.
    pub fn record_connection_closed(&self, reason: ConnectionClose) {
        self.connections_closed
            .get_or_create(&ReasonLabels {
                reason: reason.label(),
            })
            .inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_appear_in_the_exposition() {
        let metrics = Metrics::new();
        metrics.record_admission(AdmissionOutcome::Instrumented, Duration::from_micros(300));
        metrics.record_admission(AdmissionOutcome::Instrumented, Duration::from_micros(300));
        metrics.record_reconcile(false);
        metrics.set_leader(true);
        metrics.set_certificate_expiry(1_900_000_000);
        let text = metrics.encode();
        assert!(
            text.contains("openlit_operator_admissions_total{outcome=\"instrumented\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("openlit_operator_admission_duration_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains("openlit_operator_reconciles_total{result=\"error\"} 1"),
            "{text}"
        );
        assert!(text.contains("openlit_operator_leader 1"), "{text}");
        assert!(
            text.contains("openlit_operator_certificate_expiry_timestamp_seconds 1900000000"),
            "{text}"
        );
    }
}
