//! The admission webhook: `POST /mutate` (AdmissionReview `admission.k8s.io/v1`), `/healthz` and
//! `/readyz`, served over HTTPS (rustls, TLS 1.2+, HTTP/1.1 and h2).
//!
//! # Use
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use openlit_operator::webhook::{self, WebhookSettings, WebhookState, StaticPolicies};
//! # async fn demo(clock: openlit_operator::clock::SharedClock) -> Result<(), Box<dyn std::error::Error>> {
//! let certificate = openlit_operator::tls::ServingCertificate::new();
//! let state = WebhookState {
//!     source: Arc::new(StaticPolicies::default()), // the `cache::PolicyCache` in production
//!     certificate: certificate.clone(),
//!     clock,
//!     metrics: Arc::new(openlit_operator::metrics::Metrics::new()),
//!     settings: Arc::new(WebhookSettings::default()),
//! };
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:9443").await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! webhook::serve_tls(listener, state, shutdown).await?;
//! # Ok(()) }
//! ```
//!
//! # Answers
//!
//! - A valid AdmissionReview always gets `200` and `allowed: true`: the pod is never refused
//!   because of the operator. A Pod CREATE (dry-run included — the mutation has no side effects)
//!   gets the injection's JSONPatch, warnings and an audit annotation `decision`. UPDATE, DELETE,
//!   CONNECT and subresources are allowed unchanged; another kind is allowed unchanged with a
//!   warning (the webhook configuration only sends Pods, so it signals a misconfiguration). An
//!   internal failure (a panic) is caught and answered "allowed, unchanged" with a warning.
//! - Anything that is not an AdmissionReview gets `400` with a plain-text message starting
//!   `invalid AdmissionReview:`; a body over [`WebhookSettings::max_body_bytes`] gets `413`. The
//!   API server then applies the webhook's `failurePolicy`. See [`review`] for the full table. A
//!   body that does not arrive within [`WebhookSettings::body_read_timeout`] gets `408` and the
//!   connection is closed.
//! - Admissions larger than [`WebhookSettings::inline_review_bytes`] (64 KiB) are decided on
//!   blocking threads, at most [`WebhookSettings::admission_workers`] at once (smaller ones, whose
//!   bounded work costs less than a thread hand-off, where they were read); one that waited [`WebhookSettings::admission_queue_timeout`] for a worker is allowed
//!   unchanged with [`BUSY_WARNING`]. Pods beyond the limits of [`crate::inject`] are allowed
//!   unchanged with the reason; warnings are capped ([`crate::inject::cap_warnings`]).
//! - Connections: see [`WebhookSettings`] for the timeouts and the connection cap.
//! - `/healthz` is `200` while the process serves; `/readyz` is `200` only when a serving
//!   certificate valid now is loaded and the resource cache has synced, `503` with the reasons
//!   otherwise.

mod connection;
mod pool;
mod review;
mod routes;
mod server;

use std::sync::Arc;
use std::time::Duration;

pub use review::{
    BUSY_WARNING, INTERNAL_ERROR_WARNING, PolicySource, Reply, StaticPolicies, busy, review,
};
pub use routes::{health_router, router};
pub use server::serve_tls;

use crate::clock::SharedClock;
use crate::inject::InjectConfig;
use crate::metrics::Metrics;
use crate::tls::ServingCertificate;

/// Largest accepted request body by default: 3 MiB (the API server's own object limit).
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Default cap on open webhook connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default time after which a connection without a request in flight is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of the webhook server. Every timeout is real time.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Installation-wide injection settings.
    pub inject: InjectConfig,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// How long a shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// How long a client may take to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// How long an HTTP/1.1 client may take to send a request's header, counted from when the
    /// connection waits for it (so also the longest an HTTP/1.1 connection stays idle).
    pub header_read_timeout: Duration,
    /// How long a client may take to send a whole request body, counted from its header.
    pub body_read_timeout: Duration,
    /// A connection without a request in flight for this long is closed (HTTP/1.1 and h2).
    pub idle_timeout: Duration,
    /// Most connections open at once; beyond it the connection idle the longest is closed to
    /// make room, and when none is idle new connections wait in the listen queue.
    pub max_connections: usize,
    /// AdmissionReviews up to this many bytes are decided on the async worker that read them:
    /// their work is bounded by their size and costs less than a hand-off to another thread.
    /// Larger ones go to the admission workers.
    pub inline_review_bytes: usize,
    /// Most admissions decided at once (each on a blocking thread, off the async workers).
    pub admission_workers: usize,
    /// How long an admission waits for a free worker before it is allowed unchanged with
    /// [`BUSY_WARNING`].
    pub admission_queue_timeout: Duration,
    /// The path admission reviews are posted to (default `/mutate`).
    pub path: String,
}

/// Default [`WebhookSettings::inline_review_bytes`]: a pod this size is decided in well under a
/// millisecond.
pub const DEFAULT_INLINE_REVIEW_BYTES: usize = 64 * 1024;

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            inject: InjectConfig::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            drain_timeout: Duration::from_secs(25),
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            inline_review_bytes: DEFAULT_INLINE_REVIEW_BYTES,
            admission_workers: default_admission_workers(),
            admission_queue_timeout: Duration::from_millis(2500),
            path: "/mutate".into(),
        }
    }
}

/// One admission worker per CPU the process may use (its cgroup quota included).
pub fn default_admission_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Everything the webhook's handlers read.
#[derive(Clone)]
pub struct WebhookState {
    /// The resources to apply (the watch-fed cache).
    pub source: Arc<dyn PolicySource>,
    /// The serving certificate (also what the TLS server presents).
    pub certificate: ServingCertificate,
    /// The clock readiness judges certificate validity with.
    pub clock: SharedClock,
    /// Where admissions are counted.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub settings: Arc<WebhookSettings>,
}

impl WebhookState {
    /// `Ok` when ready to serve admissions, else the reasons.
    pub fn readiness(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !self.certificate.valid_at(self.clock.now()) {
            problems.push("no valid serving certificate is loaded");
        }
        if !self.source.synced() {
            problems.push("the AutoInstrumentation cache has not synced");
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}
