//! The simulated backend: a simulator with the CRD and the simulated images, and any number of
//! operator replicas started with the operator's own `Operator::start` (cache, certificate
//! manager, webhook server, leader elector and controller), all on the simulator's virtual clock.

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

use crate::apps;
use crate::clock::SimulatedTime;
use crate::kube_ops::{self, StepError, StepResult};
use crate::mesh::{self, MeshInjector};
use crate::provider_images;

/// The installation's name and namespace in every simulated scenario.
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
    /// The namespaces the installation serves (`WATCH_NAMESPACE`); empty serves every namespace.
    pub watch_namespaces: Vec<String>,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions {
            replicas: 1,
            failure_policy: FailurePolicy::Ignore,
            watch_namespaces: Vec::new(),
        }
    }
}

/// One operator replica running in-process, started by the operator's own [`Operator::start`].
pub struct Replica {
    /// The replica's identity (its Lease `holderIdentity`).
    pub identity: String,
    /// Where its webhook listens.
    pub addr: SocketAddr,
    /// Where its health endpoints listen.
    pub health_addr: SocketAddr,
    /// Where its `/metrics` listens.
    pub metrics_addr: SocketAddr,
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

    /// Admissions this replica has handled.
    pub fn admissions_handled(&self) -> u64 {
        crate::metrics_text::admissions(&self.metrics.encode())
    }

    /// Stops the replica gracefully: admissions in flight finish and the lease is released.
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
    }
}

/// An installation of the operator besides the default one: its own name (the prefix of its
/// Service, Secret, Lease and webhook configuration), namespace, options and replicas.
pub struct Installation {
    /// The installation's name.
    pub name: String,
    /// The namespace it runs in.
    pub namespace: String,
    /// How it was installed.
    pub options: InstallOptions,
    /// Its running and stopped replicas, in start order.
    pub replicas: Vec<Replica>,
}

impl Installation {
    /// Whether its cache holds the resources of `namespace`: its own namespace always, the
    /// others when it serves every namespace or that one.
    pub fn serves(&self, namespace: &str) -> bool {
        namespace == self.namespace
            || self.options.watch_namespaces.is_empty()
            || self.options.watch_namespaces.iter().any(|n| n == namespace)
    }

    /// The replicas still running.
    pub fn running(&self) -> impl Iterator<Item = &Replica> {
        self.replicas.iter().filter(|r| r.is_running())
    }

    /// Whether every running replica is ready and one of them leads.
    pub fn ready_and_led(&self) -> bool {
        self.running().all(Replica::is_ready) && self.running().any(Replica::is_leading)
    }
}

/// A simulator with the operator installed in-process.
pub struct Simulation {
    /// The simulated API server, controllers and kubelet.
    pub sim: kubesim::Simulator,
    /// Running and stopped replicas of the default installation, in start order.
    pub replicas: Vec<Replica>,
    /// Further installations, in the order they were installed.
    pub installations: Vec<Installation>,
    clock: SharedClock,
    options: InstallOptions,
    mesh: Option<MeshInjector>,
}

impl Simulation {
    /// Starts a simulator with the CRD, the operator's namespace and the simulated images, and
    /// `options.replicas` operator replicas; returns a user's client with it.
    pub async fn install(options: InstallOptions) -> StepResult<(Simulation, Client)> {
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
        let mut simulation = Simulation {
            sim,
            replicas: Vec::new(),
            installations: Vec::new(),
            clock,
            options: options.clone(),
            mesh: None,
        };
        for _ in 0..options.replicas {
            simulation.add_replica().await?;
        }
        Ok((simulation, client))
    }

    /// Starts one more replica.
    pub async fn add_replica(&mut self) -> StepResult<()> {
        let replica = self
            .start_replica(
                INSTALLATION,
                INSTALLATION,
                &self.options,
                self.replicas.len(),
            )
            .await?;
        // Every replica sits behind the webhook Service; the newest one answers.
        self.route_webhook_service(replica.addr);
        self.replicas.push(replica);
        Ok(())
    }

    /// Starts replica `index` of installation `name` in `namespace` with the operator's own
    /// [`Operator::start`].
    async fn start_replica(
        &self,
        name: &str,
        namespace: &str,
        options: &InstallOptions,
        index: usize,
    ) -> StepResult<Replica> {
        let identity = format!("{name}-operator-{index}");
        let config = Config {
            installation_name: name.into(),
            pod_namespace: namespace.into(),
            pod_name: Some(identity),
            watch_namespace: options.watch_namespaces.clone(),
            webhook_failure_policy: options.failure_policy,
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
        Ok(Replica {
            identity: handle.identity().to_string(),
            addr: handle.webhook_addr(),
            health_addr: handle.health_addr(),
            metrics_addr: handle.metrics_addr(),
            metrics: handle.metrics(),
            handle: Some(handle),
        })
    }

    /// Installs the operator a second time, as installation `name` in `namespace` (created if
    /// needed) with `options.replicas` replicas behind the Service `<name>-webhook-service`, and
    /// waits until it serves: its replicas are ready, one leads, and its webhook configuration
    /// trusts a CA.
    pub async fn install_second(
        &mut self,
        name: &str,
        namespace: &str,
        options: InstallOptions,
    ) -> StepResult<&Installation> {
        let client = self
            .sim
            .client()
            .map_err(|e| StepError::Other(e.to_string()))?;
        kube_ops::ensure_namespace(&client, namespace).await?;
        let mut installation = Installation {
            name: name.into(),
            namespace: namespace.into(),
            options: options.clone(),
            replicas: Vec::new(),
        };
        for index in 0..options.replicas {
            let replica = self.start_replica(name, namespace, &options, index).await?;
            self.sim.register_service_endpoint(
                namespace,
                &format!("{name}-webhook-service"),
                443,
                replica.addr,
            );
            installation.replicas.push(replica);
        }
        let configuration = format!(
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{name}-mutating-webhook-configuration"
        );
        kube_ops::eventually(
            kube_ops::WAIT,
            &format!("installation {name} to serve"),
            || async {
                let request = http::Request::get(configuration.as_str())
                    .body(Vec::new())
                    .map_err(|e| StepError::Other(e.to_string()))?;
                let trusted = client
                    .request::<serde_json::Value>(request)
                    .await
                    .is_ok_and(|c| {
                        c["webhooks"][0]["clientConfig"]["caBundle"]
                            .as_str()
                            .is_some_and(|b| !b.is_empty())
                    });
                Ok((trusted && installation.ready_and_led()).then_some(()))
            },
        )
        .await?;
        self.installations.push(installation);
        self.installations
            .last()
            .ok_or_else(|| StepError::Other(format!("installation {name} vanished")))
    }

    /// The replicas of installation `name` (the default installation's or a further one's).
    pub fn replicas_of(&self, name: &str) -> Option<&[Replica]> {
        if name == INSTALLATION {
            return Some(&self.replicas);
        }
        self.installations
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.replicas.as_slice())
    }

    /// Starts a service-mesh sidecar injector and registers its webhook under the configuration
    /// name `configuration` (which decides where in the admission chain it is called).
    pub async fn add_mesh_injector(&mut self, configuration: &str) -> StepResult<&MeshInjector> {
        let mesh = MeshInjector::start()
            .await
            .map_err(|e| StepError::Other(e.to_string()))?;
        self.sim.register_image(mesh::proxy_image());
        self.sim.register_service_endpoint(
            mesh::SERVICE_NAMESPACE,
            mesh::SERVICE_NAME,
            mesh::SERVICE_PORT,
            mesh.addr(),
        );
        let client = self
            .sim
            .client()
            .map_err(|e| StepError::Other(e.to_string()))?;
        kube_ops::ensure_namespace(&client, mesh::SERVICE_NAMESPACE).await?;
        kube_ops::create_with_warnings(
            &client,
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
            &mesh.configuration(configuration),
        )
        .await?;
        Ok(self.mesh.insert(mesh))
    }

    /// The service-mesh sidecar injector, once added.
    pub fn mesh(&self) -> Option<&MeshInjector> {
        self.mesh.as_ref()
    }

    fn route_webhook_service(&self, addr: SocketAddr) {
        self.sim.register_service_endpoint(
            INSTALLATION,
            &format!("{INSTALLATION}-webhook-service"),
            443,
            addr,
        );
    }

    /// The replicas still running.
    pub fn running(&self) -> impl Iterator<Item = &Replica> {
        self.replicas.iter().filter(|r| r.is_running())
    }

    /// Whether every running replica is ready and one of them leads.
    pub fn ready_and_led(&self) -> bool {
        self.running().all(Replica::is_ready) && self.running().any(Replica::is_leading)
    }

    /// Whether every running replica's webhook knows `generation` of `namespace/name`, in every
    /// installation that serves that namespace.
    pub fn all_know(&self, namespace: &str, name: &str, generation: i64) -> bool {
        self.running().all(|r| r.knows(namespace, name, generation))
            && self
                .installations
                .iter()
                .filter(|i| i.serves(namespace))
                .all(|i| i.running().all(|r| r.knows(namespace, name, generation)))
    }

    /// Stops replica `index` gracefully and routes the webhook Service to a running replica.
    pub async fn stop_replica(&mut self, index: usize) {
        if let Some(replica) = self.replicas.get_mut(index) {
            replica.stop().await;
        }
        if let Some(addr) = self
            .replicas
            .iter()
            .rev()
            .find(|r| r.is_running())
            .map(|r| r.addr)
        {
            self.route_webhook_service(addr);
        }
    }

    /// Stops every replica of every installation.
    pub async fn stop_all(&mut self) {
        let others = self.installations.iter_mut().flat_map(|i| &mut i.replicas);
        for replica in self.replicas.iter_mut().chain(others) {
            replica.stop().await;
        }
    }

    /// Moves the virtual clock forward and lets the operator react.
    pub async fn advance(&self, by: Duration) {
        self.sim.clock().advance(by);
        tokio::task::yield_now().await;
    }

    /// Admissions handled by every replica so far.
    pub fn admissions_handled(&self) -> u64 {
        self.replicas.iter().map(Replica::admissions_handled).sum()
    }
}
