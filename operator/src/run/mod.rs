//! Running the operator: every component of one replica, started together and stopped in order.
//!
//! [`Operator::start`] is the library entry point (tests and the behaviour suite run several
//! replicas in one process with it); [`run`] is the `openlit-operator run` command around it.
//!
//! One replica runs:
//! - the leader elector (a Lease, see [`crate::leader`]), whose receiver gates every writer;
//! - the AutoInstrumentation controller (status and Events; writes only while leading);
//! - the resource cache the webhook decides with (every replica);
//! - the certificates: self-managed in a Secret (written by the leader, served by all) or read
//!   from files;
//! - the MutatingWebhookConfiguration (written by the leader);
//! - the HTTPS webhook server (every replica serves admissions, leader or not);
//! - the plain-HTTP operations server: `/healthz`, `/readyz`, `/metrics` (on its own listener
//!   when `METRICS_PORT` differs from `HEALTH_PORT`).
//!
//! Servers bind from caller-provided [`Listeners`], so tests can use port 0.
//!
//! Every component runs under a [`Supervisor`]: one that ends or panics before shutdown turns
//! `/readyz` false (naming it), and the `run` command then stops the replica and exits with an
//! error, so Kubernetes restarts it. The client's requests are bounded in time (see
//! [`crate::api`]).
//!
//! Shutdown ([`OperatorHandle::shutdown`], or SIGTERM/SIGINT for the command): the webhook stops
//! accepting connections and finishes the admissions in flight; the controller lets running
//! reconciles finish; the certificate, configuration and cache tasks stop; then the Lease is
//! released so another replica takes over at once; the operations server stops last, so liveness
//! holds until the end.

mod health;
mod wiring;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use kube::Client;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use health::{metrics_router, operations_router};
pub use wiring::{
    cache_settings, controller_settings, lease_settings, tls_settings, webhook_config_settings,
    webhook_settings,
};

use crate::cache::PolicyCache;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{CertMode, Config, ReinvocationPolicy};
use crate::controller::{self, ControllerHandle};
use crate::leader::{self, LeaderElector, LeaderHandle};
use crate::metrics::Metrics;
use crate::supervise::Supervisor;
use crate::tls::{ServingCertificate, run_secret_certificates, watch_certificate_files};
use crate::webhook::{WebhookState, serve_tls};
use crate::webhook_config::run_webhook_config;

/// The operator could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A port could not be bound.
    #[error("cannot listen on {what} port {port}: {source}")]
    Bind {
        /// Which server.
        what: &'static str,
        /// The port.
        port: u16,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A listener's address could not be read.
    #[error("listener address: {0}")]
    Address(#[source] io::Error),
    /// No Kubernetes configuration (in-cluster or kubeconfig) was found.
    #[error("cannot configure the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// The Kubernetes configuration (in-cluster or kubeconfig) could not be read.
    #[error("cannot configure the Kubernetes client: {0}")]
    ClientConfig(#[source] kube::config::InferConfigError),
    /// A component of the replica ended while it should have been running.
    #[error("the replica stopped because a component ended: {0}")]
    ComponentFailed(String),
    /// Logging could not be set up.
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    /// Waiting for a signal failed.
    #[error("cannot listen for signals: {0}")]
    Signal(#[source] io::Error),
}

/// Where the servers listen.
pub struct Listeners {
    /// The HTTPS admission webhook.
    pub webhook: TcpListener,
    /// `/healthz` and `/readyz` (and `/metrics` when `metrics` is `None`).
    pub health: TcpListener,
    /// `/metrics`, when served on its own port.
    pub metrics: Option<TcpListener>,
}

async fn bind(what: &'static str, port: u16) -> Result<TcpListener, RunError> {
    TcpListener::bind(("0.0.0.0", port))
        .await
        .map_err(|source| RunError::Bind { what, port, source })
}

impl Listeners {
    /// Binds every interface on the configured ports (`METRICS_PORT` equal to `HEALTH_PORT`
    /// shares the health listener).
    pub async fn bind(config: &Config) -> Result<Listeners, RunError> {
        let webhook = bind("webhook", config.webhook_port).await?;
        let health = bind("health", config.health_port).await?;
        let metrics = if config.metrics_port == config.health_port {
            None
        } else {
            Some(bind("metrics", config.metrics_port).await?)
        };
        Ok(Listeners {
            webhook,
            health,
            metrics,
        })
    }

    /// Free loopback ports for all three servers (for tests).
    pub async fn loopback() -> io::Result<Listeners> {
        Ok(Listeners {
            webhook: TcpListener::bind("127.0.0.1:0").await?,
            health: TcpListener::bind("127.0.0.1:0").await?,
            metrics: Some(TcpListener::bind("127.0.0.1:0").await?),
        })
    }
}

/// Starts operator replicas.
pub struct Operator;

/// A running replica.
pub struct OperatorHandle {
    identity: String,
    webhook_addr: SocketAddr,
    health_addr: SocketAddr,
    metrics_addr: SocketAddr,
    metrics: Arc<Metrics>,
    state: WebhookState,
    leading: watch::Receiver<bool>,
    supervisor: Supervisor,
    leader: LeaderHandle,
    controller: ControllerHandle,
    stop_serving: watch::Sender<bool>,
    stop_background: watch::Sender<bool>,
    stop_operations: watch::Sender<bool>,
    webhook: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    operations: Vec<JoinHandle<()>>,
}

fn stopped(stop: &watch::Sender<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut stop = stop.subscribe();
    async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    }
}

impl Operator {
    /// Starts one replica with `config` (validated by the caller), talking to the API through
    /// `client`, reading time from `clock`, serving on `listeners`.
    pub async fn start(
        config: Config,
        client: Client,
        clock: SharedClock,
        listeners: Listeners,
    ) -> Result<OperatorHandle, RunError> {
        let identity = config.identity();
        if config.webhook_reinvocation_policy == ReinvocationPolicy::Never {
            tracing::warn!(
                "WEBHOOK_REINVOCATION_POLICY=Never is ignored: the webhook is reinvocation-safe and is registered with IfNeeded"
            );
        }
        let metrics = Arc::new(Metrics::new());
        let supervisor = Supervisor::new();
        let (stop_serving, _) = watch::channel(false);
        let (stop_background, _) = watch::channel(false);
        let (stop_operations, _) = watch::channel(false);

        let elector = LeaderElector::new(
            client.clone(),
            clock.clone(),
            lease_settings(&config, &identity),
        )
        .with_metrics(metrics.clone());
        let leader = leader::spawn_supervised(elector, &supervisor);
        let leading = leader.subscribe();

        let controller = controller::spawn_supervised(
            client.clone(),
            clock.clone(),
            metrics.clone(),
            leading.clone(),
            controller_settings(&config, &identity),
            &supervisor,
        );

        let mut background = Vec::new();
        let cache = PolicyCache::new(cache_settings(&config), metrics.clone());
        background.push(supervisor.spawn("the resource cache", {
            let cache = cache.clone();
            let client = client.clone();
            let clock = clock.clone();
            let stop = stopped(&stop_background);
            async move { cache.run(client, clock, stop).await }
        }));

        let certificate = ServingCertificate::new();
        background.push(match config.cert_mode {
            CertMode::SelfManaged => supervisor.spawn("the certificate manager", {
                let run = run_secret_certificates(
                    client.clone(),
                    tls_settings(&config),
                    clock.clone(),
                    metrics.clone(),
                    certificate.clone(),
                    leading.clone(),
                    stopped(&stop_background),
                );
                async move {
                    if let Err(error) = run.await {
                        tracing::error!(%error, "certificate management stopped");
                    }
                }
            }),
            CertMode::Files => supervisor.spawn(
                "the certificate manager",
                watch_certificate_files(
                    wiring::certificate_files(&config),
                    clock.clone(),
                    metrics.clone(),
                    certificate.clone(),
                    stopped(&stop_background),
                ),
            ),
        });
        background.push(supervisor.spawn(
            "the webhook configuration",
            run_webhook_config(
                client.clone(),
                webhook_config_settings(&config),
                clock.clone(),
                certificate.clone(),
                leading.clone(),
                stopped(&stop_background),
            ),
        ));

        let state = WebhookState {
            source: Arc::new(cache),
            certificate,
            clock: clock.clone(),
            metrics: metrics.clone(),
            settings: Arc::new(webhook_settings(&config)),
        };
        let webhook_addr = listeners.webhook.local_addr().map_err(RunError::Address)?;
        let webhook = supervisor.spawn("the webhook server", {
            let state = state.clone();
            let stop = stopped(&stop_serving);
            async move {
                if let Err(error) = serve_tls(listeners.webhook, state, stop).await {
                    tracing::error!(%error, "the webhook server stopped");
                }
            }
        });

        let health_addr = listeners.health.local_addr().map_err(RunError::Address)?;
        let mut operations = Vec::new();
        let metrics_addr = match listeners.metrics {
            Some(listener) => {
                let addr = listener.local_addr().map_err(RunError::Address)?;
                operations.push(spawn_server(
                    &supervisor,
                    "the metrics server",
                    listener,
                    metrics_router(metrics.clone()),
                    stopped(&stop_operations),
                ));
                operations.push(spawn_server(
                    &supervisor,
                    "the health server",
                    listeners.health,
                    operations_router(state.clone(), supervisor.clone(), None),
                    stopped(&stop_operations),
                ));
                addr
            }
            None => {
                operations.push(spawn_server(
                    &supervisor,
                    "the health server",
                    listeners.health,
                    operations_router(state.clone(), supervisor.clone(), Some(metrics.clone())),
                    stopped(&stop_operations),
                ));
                health_addr
            }
        };
        tracing::info!(
            %identity,
            webhook = %webhook_addr,
            health = %health_addr,
            metrics = %metrics_addr,
            namespace = %config.pod_namespace,
            "operator started"
        );
        Ok(OperatorHandle {
            identity,
            webhook_addr,
            health_addr,
            metrics_addr,
            metrics,
            state,
            leading,
            supervisor,
            leader,
            controller,
            stop_serving,
            stop_background,
            stop_operations,
            webhook,
            background,
            operations,
        })
    }
}

fn spawn_server(
    supervisor: &Supervisor,
    what: &'static str,
    listener: TcpListener,
    router: axum::Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    supervisor.spawn(what, async move {
        if let Err(error) = health::serve(listener, router, stop).await {
            tracing::error!(%error, server = what, "server stopped");
        }
    })
}

impl OperatorHandle {
    /// This replica's identity in the Lease and in Events.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Where the HTTPS webhook listens.
    pub fn webhook_addr(&self) -> SocketAddr {
        self.webhook_addr
    }

    /// Where `/healthz` and `/readyz` are served.
    pub fn health_addr(&self) -> SocketAddr {
        self.health_addr
    }

    /// Where `/metrics` is served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// This replica's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Whether this replica holds the Lease now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// `true` while this replica holds the Lease.
    pub fn leadership(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Whether `/readyz` answers 200 (certificate loaded, cache synced, no component ended),
    /// else the reasons.
    pub fn readiness(&self) -> Result<(), String> {
        health::readiness(&self.state, &self.supervisor)
    }

    /// Completes, with what ended, once a component of the replica has ended or panicked.
    pub fn failed(&self) -> impl Future<Output = Vec<String>> + Send + 'static {
        self.supervisor.failed()
    }

    /// Ends one component at once, as its crash would (fault injection): `the leader elector`,
    /// `the controller`, `the resource cache`, `the certificate manager`, `the webhook
    /// configuration`, `the webhook server`, `the health server` or `the metrics server`.
    /// Returns whether it runs.
    pub fn crash_component(&self, name: &str) -> bool {
        self.supervisor.abort(name)
    }

    /// Whether the controller has read every watched resource once.
    pub fn controller_synced(&self) -> bool {
        self.controller.is_synced()
    }

    /// Stops gracefully: finish in-flight admissions and reconciles, stop the writers, release
    /// the Lease, then stop the operations server.
    pub async fn shutdown(self) {
        let OperatorHandle {
            identity,
            stop_serving,
            stop_background,
            stop_operations,
            webhook,
            background,
            operations,
            leader,
            controller,
            supervisor,
            ..
        } = self;
        tracing::info!(%identity, "shutting down");
        supervisor.stop();
        stop_serving.send_replace(true);
        let _ = webhook.await;
        controller.shutdown().await;
        stop_background.send_replace(true);
        for task in background {
            let _ = task.await;
        }
        leader.shutdown().await;
        stop_operations.send_replace(true);
        for task in operations {
            let _ = task.await;
        }
        tracing::info!(%identity, "stopped");
    }

    /// The resources this replica's webhook decides with (its cache), for waiting until a change
    /// has reached it.
    pub fn policy_source(&self) -> Arc<dyn crate::webhook::PolicySource> {
        self.state.source.clone()
    }

    /// Stops at once without releasing anything, as a crash would.
    pub fn abort(self) {
        self.supervisor.stop();
        self.leader.abort();
        self.webhook.abort();
        for task in self.background.iter().chain(&self.operations) {
            task.abort();
        }
    }
}

/// Waits for SIGTERM or SIGINT.
pub async fn termination_signal() -> Result<(), RunError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(RunError::Signal)?;
        tokio::select! {
            _ = term.recv() => {}
            result = tokio::signal::ctrl_c() => result.map_err(RunError::Signal)?,
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(RunError::Signal)
    }
}

/// `openlit-operator run`: logging, the client (in-cluster configuration or kubeconfig), the
/// listeners, the replica, and a graceful stop on SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<(), RunError> {
    crate::telemetry::init(config.log_format, config.log_level)?;
    let inferred = kube::Config::infer()
        .await
        .map_err(RunError::ClientConfig)?;
    let client_config = crate::api::client_config(inferred, config.api_request_timeout());
    let client = Client::try_from(client_config).map_err(RunError::Client)?;
    let listeners = Listeners::bind(&config).await?;
    let operator = Operator::start(config, client, Arc::new(SystemClock), listeners).await?;
    let failed = operator.failed();
    let outcome = tokio::select! {
        signal = termination_signal() => signal,
        failures = failed => Err(RunError::ComponentFailed(failures.join("; "))),
    };
    operator.shutdown().await;
    outcome
}
