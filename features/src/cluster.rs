//! A simulated cluster with the operator running in-process: the CRD installed, the simulated
//! images registered, and any number of operator replicas started with the operator's own
//! `Operator::start` (cache, certificate
//! manager, webhook server, leader elector and controller, all on the simulator's virtual clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, PostParams};
use openlit_operator::clock::SharedClock;
use openlit_operator::config::{Config, FailurePolicy};
use openlit_operator::metrics::Metrics;
use openlit_operator::run::{Listeners, Operator, OperatorHandle};
use serde_json::Value;

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

/// One operator replica running in-process, started by the operator's own [`Operator::start`].
pub struct Replica {
    /// The replica's identity (its Lease `holderIdentity`).
    pub identity: String,
    /// Where its webhook listens.
    pub addr: SocketAddr,
    /// Where its health and metrics endpoints listen.
    pub health_addr: SocketAddr,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    handle: Option<OperatorHandle>,
}

impl Replica {
    /// Whether this replica holds the lease.
    pub fn is_leading(&self) -> bool {
        self.handle.as_ref().is_some_and(OperatorHandle::is_leader)
    }

    /// Whether this replica is still running.
    pub fn is_running(&self) -> bool {
        self.handle.is_some()
    }

    /// Whether the replica reports itself ready.
    pub fn is_ready(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| h.readiness().is_ok())
    }

    /// Whether this replica's webhook knows `generation` of the resource `namespace/name`.
    pub fn knows(&self, namespace: &str, name: &str, generation: i64) -> bool {
        self.handle.as_ref().is_some_and(|h| {
            h.policy_source()
                .candidates(namespace, namespace)
                .iter()
                .any(|p| p.resource.name == name && p.generation == generation)
        })
    }

    /// Stops the replica gracefully: admissions in flight finish and the lease is released.
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
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
        let config = Config {
            installation_name: INSTALLATION.into(),
            pod_namespace: INSTALLATION.into(),
            pod_name: Some(identity.clone()),
            webhook_failure_policy: self.options.failure_policy,
            lease_duration_seconds: LEASE_DURATION.as_secs(),
            ..Config::default()
        };
        config
            .validate()
            .map_err(|e| StepError::Other(e.to_string()))?;
        let client = self
            .sim
            .client()
            .map_err(|e| StepError::Other(e.to_string()))?;
        let listeners = Listeners::loopback()
            .await
            .map_err(|e| StepError::Other(e.to_string()))?;
        let handle = Operator::start(config, client, self.clock.clone(), listeners)
            .await
            .map_err(|e| StepError::Other(e.to_string()))?;
        let addr = handle.webhook_addr();
        // Every replica sits behind the webhook Service; the newest one answers.
        self.sim.register_service_endpoint(
            INSTALLATION,
            &format!("{INSTALLATION}-webhook-service"),
            443,
            addr,
        );
        self.replicas.push(Replica {
            identity: handle.identity().to_string(),
            addr,
            health_addr: handle.health_addr(),
            metrics: handle.metrics(),
            handle: Some(handle),
        });
        Ok(())
    }

    /// Waits until every running replica has a certificate and a synced cache, one leads, and the
    /// webhook configuration trusts the certificate.
    pub async fn await_ready(&self) -> StepResult<()> {
        eventually(WAIT, "the operator to be ready", || async {
            let running: Vec<&Replica> = self.replicas.iter().filter(|r| r.is_running()).collect();
            let replicas_ready = running.iter().all(|r| r.is_ready());
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
                let seen = self
                    .replicas
                    .iter()
                    .filter(|r| r.is_running())
                    .all(|r| r.knows(namespace, &name, generation));
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
            "/apis/coordination.k8s.io/v1/namespaces/{INSTALLATION}/leases/{INSTALLATION}-operator-leader"
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
