//! An operator replica's webhook side (cache, certificates, webhook configuration, HTTPS server)
//! running in-process against a kubesim cluster.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use openlit_operator::cache::{CacheSettings, PolicyCache};
use openlit_operator::clock::SharedClock;
use openlit_operator::metrics::Metrics;
use openlit_operator::tls::{ServingCertificate, TlsSettings};
use openlit_operator::webhook::{WebhookSettings, WebhookState, serve_tls};
use openlit_operator::webhook_config::{FailurePolicy, WebhookConfigSettings, run_webhook_config};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const INSTALLATION: &str = "openlit";

/// Waits (real time, bounded) until `condition` holds.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A simulator with the CRD and the namespaces `openlit`, `shop` and `other`.
pub async fn cluster() -> kubesim::Simulator {
    let sim = kubesim::Simulator::builder()
        .controllers(false)
        .start()
        .await
        .unwrap();
    let client = sim.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &openlit_operator::crd::crd())
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(client);
    for name in [INSTALLATION, "shop", "other"] {
        let ns = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    sim
}

/// Settings of a replica.
#[derive(Clone)]
pub struct ReplicaOptions {
    pub cache: CacheSettings,
    pub tls: TlsSettings,
    pub webhook_config: WebhookConfigSettings,
    pub leader: bool,
}

impl Default for ReplicaOptions {
    fn default() -> Self {
        ReplicaOptions {
            cache: CacheSettings::new(INSTALLATION),
            tls: TlsSettings::for_installation(INSTALLATION, INSTALLATION),
            webhook_config: WebhookConfigSettings::for_installation(INSTALLATION, INSTALLATION),
            leader: true,
        }
    }
}

impl ReplicaOptions {
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.webhook_config.failure_policy = policy;
        self
    }
}

/// One running replica.
pub struct Replica {
    pub certificate: ServingCertificate,
    pub cache: PolicyCache,
    pub state: WebhookState,
    pub addr: SocketAddr,
    pub leader: watch::Sender<bool>,
    pub metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn signal(rx: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

impl Replica {
    pub async fn start(
        sim: &kubesim::Simulator,
        clock: SharedClock,
        options: ReplicaOptions,
    ) -> Replica {
        let client = sim.client().unwrap();
        let metrics = Arc::new(Metrics::new());
        let certificate = ServingCertificate::new();
        let cache = PolicyCache::new(options.cache.clone(), metrics.clone());
        let (leader, leader_rx) = watch::channel(options.leader);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = WebhookState {
            source: Arc::new(cache.clone()),
            certificate: certificate.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            settings: Arc::new(WebhookSettings {
                inject: openlit_operator::inject::InjectConfig {
                    operator_namespace: INSTALLATION.into(),
                    ..Default::default()
                },
                drain_timeout: Duration::from_secs(5),
                ..WebhookSettings::default()
            }),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut tasks = Vec::new();
        {
            let cache = cache.clone();
            let client = client.clone();
            let clock = clock.clone();
            let stop = signal(&shutdown_rx);
            tasks.push(tokio::spawn(
                async move { cache.run(client, clock, stop).await },
            ));
        }
        {
            let stop = signal(&shutdown_rx);
            let fut = openlit_operator::tls::run_secret_certificates(
                client.clone(),
                options.tls.clone(),
                clock.clone(),
                metrics.clone(),
                certificate.clone(),
                leader_rx.clone(),
                stop,
            );
            tasks.push(tokio::spawn(async move {
                fut.await.unwrap();
            }));
        }
        {
            let stop = signal(&shutdown_rx);
            let fut = run_webhook_config(
                client.clone(),
                options.webhook_config.clone(),
                clock.clone(),
                certificate.clone(),
                leader_rx.clone(),
                stop,
            );
            tasks.push(tokio::spawn(fut));
        }
        {
            let stop = signal(&shutdown_rx);
            let state = state.clone();
            tasks.push(tokio::spawn(async move {
                serve_tls(listener, state, stop).await.unwrap();
            }));
        }
        Replica {
            certificate,
            cache,
            state,
            addr,
            leader,
            metrics,
            shutdown,
            tasks,
        }
    }

    /// Routes the webhook Service to this replica.
    pub fn route(&self, sim: &kubesim::Simulator) {
        sim.register_service_endpoint(
            INSTALLATION,
            &format!("{INSTALLATION}-webhook-service"),
            443,
            self.addr,
        );
    }

    pub async fn ready(&self) {
        eventually(
            "the replica to be ready",
            Duration::from_secs(20),
            || async { self.state.readiness().is_ok() },
        )
        .await;
    }

    /// Stops every task, waiting for in-flight requests.
    pub async fn stop(self) {
        self.shutdown.send_replace(true);
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .unwrap()
                .unwrap();
        }
    }

    /// Serial of the certificate being served.
    pub fn serial(&self) -> Option<String> {
        self.certificate.current().map(|c| c.info.serial.clone())
    }
}

pub fn python_pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "chat"}},
        "spec": {"containers": [{"name": "app", "image": "python:3.12-slim", "command": ["python", "-m", "chat"]}]}
    }))
    .unwrap()
}

pub fn is_instrumented(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.name == "auto-instrumentation-openlit"))
}
