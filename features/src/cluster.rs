//! A simulated cluster with the operator running in-process: the CRD installed, the simulated
//! images registered, and any number of operator replicas, each with its own cache, certificate
//! manager, webhook server, leader elector and controller, all on the simulator's virtual clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, PostParams};
use openlit_operator::cache::{CacheSettings, PolicyCache};
use openlit_operator::clock::SharedClock;
use openlit_operator::controller::{self, ControllerHandle, ControllerSettings};
use openlit_operator::leader::{self, LeaderElector, LeaderHandle, LeaseSettings};
use openlit_operator::metrics::Metrics;
use openlit_operator::tls::{ServingCertificate, TlsSettings};
use openlit_operator::webhook::{PolicySource, WebhookSettings, WebhookState, serve_tls};
use openlit_operator::webhook_config::{FailurePolicy, WebhookConfigSettings, run_webhook_config};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::apps;
use crate::clock::SimulatedTime;
use crate::kube_ops::{self, StepError, StepResult, WAIT, eventually};
use crate::provider_images;

/// The installation's name and namespace in every scenario.
pub const INSTALLATION: &str = "openlit";
/// How long a replica's lease lasts on the virtual clock.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);

/// How the operator is installed.
#[derive(Clone, Debug)]
pub struct InstallOptions {
    /// Replicas to start.
    pub replicas: usize,
    /// The webhook's failurePolicy.
    pub failure_policy: FailurePolicy,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions {
            replicas: 1,
            failure_policy: FailurePolicy::Ignore,
        }
    }
}

/// One operator replica running in-process.
pub struct Replica {
    /// The replica's identity (its Lease `holderIdentity`).
    pub identity: String,
    /// Where its webhook listens.
    pub addr: SocketAddr,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// Its resource cache.
    pub cache: PolicyCache,
    /// Its serving certificate.
    pub certificate: ServingCertificate,
    leader: Option<LeaderHandle>,
    controller: Option<ControllerHandle>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Replica {
    /// Whether this replica holds the lease.
    pub fn is_leading(&self) -> bool {
        self.leader.as_ref().is_some_and(LeaderHandle::is_leading)
    }

    /// Whether this replica is still running.
    pub fn is_running(&self) -> bool {
        !*self.stop.borrow()
    }

    /// Stops the replica gracefully: the lease is released and every task ends.
    pub async fn stop(&mut self) {
        self.stop.send_replace(true);
        if let Some(controller) = self.controller.take() {
            controller.shutdown().await;
        }
        if let Some(leader) = self.leader.take() {
            leader.shutdown().await;
        }
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(WAIT, task).await;
        }
    }
}

/// The simulator plus the operator.
pub struct TestCluster {
    /// The simulated API server, controllers and kubelet.
    pub sim: kubesim::Simulator,
    /// A client as a user would have.
    pub client: Client,
    /// The operator's namespace.
    pub operator_namespace: String,
    /// Running and stopped replicas, in start order.
    pub replicas: Vec<Replica>,
    clock: SharedClock,
    options: InstallOptions,
}

impl TestCluster {
    /// Starts a simulator, installs the CRD and starts `replicas` operator replicas, returning
    /// once every replica is ready to serve admissions.
    pub async fn start(replicas: usize) -> StepResult<TestCluster> {
        Self::install(InstallOptions {
            replicas,
            ..InstallOptions::default()
        })
        .await
    }

    /// Like [`TestCluster::start`] with every option.
    pub async fn install(options: InstallOptions) -> StepResult<TestCluster> {
        let sim = kubesim::Simulator::start()
            .await
            .map_err(|e| StepError::Other(e.to_string()))?;
        for image in apps::PYTHON_IMAGES {
            sim.register_image(apps::python_app(image));
        }
        let images =
            provider_images::provider_images(openlit_operator::inject::DEFAULT_IMAGE_PREFIX)
                .map_err(|e| StepError::Other(e.to_string()))?;
        for image in images {
            sim.register_image(image);
        }
        let client = sim.client().map_err(|e| StepError::Other(e.to_string()))?;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &openlit_operator::crd::crd())
            .await?;
        kube_ops::ensure_namespace(&client, INSTALLATION).await?;
        let clock: SharedClock = Arc::new(SimulatedTime(sim.clock().clone()));
        let mut cluster = TestCluster {
            sim,
            client,
            operator_namespace: INSTALLATION.to_string(),
            replicas: Vec::new(),
            clock,
            options: options.clone(),
        };
        for _ in 0..options.replicas {
            cluster.add_replica().await?;
        }
        cluster.await_ready().await?;
        Ok(cluster)
    }

    /// Starts one more replica.
    pub async fn add_replica(&mut self) -> StepResult<()> {
        let identity = format!("openlit-operator-{}", self.replicas.len());
        let client = self
            .sim
            .client()
            .map_err(|e| StepError::Other(e.to_string()))?;
        let clock = self.clock.clone();
        let metrics = Arc::new(Metrics::new());
        let certificate = ServingCertificate::new();
        let cache = PolicyCache::new(CacheSettings::new(INSTALLATION), metrics.clone());
        let elector = LeaderElector::new(
            client.clone(),
            clock.clone(),
            LeaseSettings::new(
                INSTALLATION,
                format!("{INSTALLATION}-leader"),
                identity.clone(),
                LEASE_DURATION,
            ),
        )
        .with_metrics(metrics.clone());
        let leader = leader::spawn(elector);
        let leading = leader.subscribe();
        let controller = controller::spawn(
            client.clone(),
            clock.clone(),
            metrics.clone(),
            leading.clone(),
            ControllerSettings {
                namespaces: Vec::new(),
                instance: identity.clone(),
            },
        );
        let (stop, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let mut webhook_config =
            WebhookConfigSettings::for_installation(INSTALLATION, INSTALLATION);
        webhook_config.failure_policy = self.options.failure_policy;
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
                ..WebhookSettings::default()
            }),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| StepError::Other(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StepError::Other(e.to_string()))?;
        let mut tasks = Vec::new();
        {
            let cache = cache.clone();
            let client = client.clone();
            let stop = stopped();
            tasks.push(tokio::spawn(async move { cache.run(client, stop).await }));
        }
        {
            let run = openlit_operator::tls::run_secret_certificates(
                client.clone(),
                TlsSettings::for_installation(INSTALLATION, INSTALLATION),
                clock.clone(),
                metrics.clone(),
                certificate.clone(),
                leading.clone(),
                stopped(),
            );
            tasks.push(tokio::spawn(async move {
                let _ = run.await;
            }));
        }
        tasks.push(tokio::spawn(run_webhook_config(
            client.clone(),
            webhook_config,
            clock.clone(),
            certificate.clone(),
            leading,
            stopped(),
        )));
        {
            let stop = stopped();
            tasks.push(tokio::spawn(async move {
                let _ = serve_tls(listener, state, stop).await;
            }));
        }
        // Every replica sits behind the webhook Service; the newest one answers.
        self.sim.register_service_endpoint(
            INSTALLATION,
            &format!("{INSTALLATION}-webhook-service"),
            443,
            addr,
        );
        self.replicas.push(Replica {
            identity,
            addr,
            metrics,
            cache,
            certificate,
            leader: Some(leader),
            controller: Some(controller),
            stop,
            tasks,
        });
        Ok(())
    }

    /// Waits until every running replica has a certificate and a synced cache, one leads, and the
    /// webhook configuration trusts the certificate.
    pub async fn await_ready(&self) -> StepResult<()> {
        eventually(WAIT, "the operator to be ready", || async {
            let now = self.clock.now();
            let running: Vec<&Replica> = self.replicas.iter().filter(|r| r.is_running()).collect();
            let replicas_ready = running
                .iter()
                .all(|r| r.certificate.valid_at(now) && r.cache.synced());
            let leader = running.iter().any(|r| r.is_leading());
            let configured = self
                .webhook_configuration()
                .await
                .map(|c| {
                    c["webhooks"][0]["clientConfig"]["caBundle"]
                        .as_str()
                        .is_some_and(|b| !b.is_empty())
                })
                .unwrap_or(false);
            Ok((replicas_ready && leader && configured).then_some(()))
        })
        .await
    }

    /// Applies an AutoInstrumentation and waits until every running replica's cache holds this
    /// generation of it, so the next admission uses it.
    pub async fn apply_and_await(&self, namespace: &str, yaml: &str) -> StepResult<()> {
        let applied = kube_ops::apply_autoinstrumentation(&self.client, namespace, yaml).await?;
        let name = applied.metadata.name.clone().unwrap_or_default();
        let generation = applied.metadata.generation.unwrap_or(0);
        eventually(
            WAIT,
            &format!("the operator to see {namespace}/{name}"),
            || async {
                let seen = self.replicas.iter().filter(|r| r.is_running()).all(|r| {
                    r.cache
                        .candidates(namespace, namespace)
                        .iter()
                        .any(|p| p.resource.name == name && p.generation == generation)
                });
                Ok(seen.then_some(()))
            },
        )
        .await
    }

    /// Stops replica `index` gracefully and routes the webhook Service to a running replica.
    pub async fn stop_replica(&mut self, index: usize) {
        if let Some(replica) = self.replicas.get_mut(index) {
            replica.stop().await;
        }
        if let Some(running) = self.replicas.iter().rev().find(|r| r.is_running()) {
            self.sim.register_service_endpoint(
                INSTALLATION,
                &format!("{INSTALLATION}-webhook-service"),
                443,
                running.addr,
            );
        }
    }

    /// Stops every replica.
    pub async fn stop_all(&mut self) {
        for replica in &mut self.replicas {
            replica.stop().await;
        }
    }

    /// The installation's certificate Secret.
    pub async fn certificate_secret(&self) -> StepResult<Value> {
        self.get_json(&format!(
            "/api/v1/namespaces/{INSTALLATION}/secrets/{INSTALLATION}-webhook-server-certs"
        ))
        .await
    }

    /// The installation's MutatingWebhookConfiguration.
    pub async fn webhook_configuration(&self) -> StepResult<Value> {
        self.get_json(&format!(
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{INSTALLATION}-mutating-webhook-configuration"
        ))
        .await
    }

    /// The installation's leader Lease.
    pub async fn lease(&self) -> StepResult<Value> {
        self.get_json(&format!(
            "/apis/coordination.k8s.io/v1/namespaces/{INSTALLATION}/leases/{INSTALLATION}-leader"
        ))
        .await
    }

    /// Moves the virtual clock forward and lets the operator react.
    pub async fn advance(&self, by: Duration) {
        self.sim.clock().advance(by);
        tokio::task::yield_now().await;
    }

    /// GETs a path as JSON.
    pub async fn get_json(&self, path: &str) -> StepResult<Value> {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| StepError::Other(e.to_string()))?;
        Ok(self.client.request::<Value>(request).await?)
    }

    /// Admissions handled by every replica so far.
    pub async fn admissions_handled(&self) -> u64 {
        self.replicas
            .iter()
            .map(|r| {
                r.metrics
                    .encode()
                    .lines()
                    .filter(|l| l.starts_with("openlit_operator_admissions_total{"))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .sum()
    }
}
