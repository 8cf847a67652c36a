//! The library entry point: start a simulated cluster on a loopback port and drive it from tests.

use crate::clock::SimClock;
use crate::cluster::{Cluster, WriteOptions};
use crate::error::SimError;
use crate::faults::Faults;
use crate::http::proxy::PodPort;
use crate::kubelet::{ContainerView, Image};
use crate::metrics::RequestCounter;
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use tokio::task::JoinHandle;

/// Options for starting a simulator.
#[derive(Debug, Clone)]
pub struct SimulatorBuilder {
    port: u16,
    controllers: bool,
    history: usize,
    clock: Option<SimClock>,
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        SimulatorBuilder {
            port: 0,
            controllers: true,
            history: 10_000,
            clock: None,
        }
    }
}

impl SimulatorBuilder {
    /// Listen on this loopback port (0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Run the controllers, scheduler and kubelet (default true).
    pub fn controllers(mut self, on: bool) -> Self {
        self.controllers = on;
        self
    }

    /// How many events the watch history keeps before older resourceVersions get 410 Gone.
    pub fn watch_history(mut self, events: usize) -> Self {
        self.history = events;
        self
    }

    /// Use this clock.
    pub fn clock(mut self, clock: SimClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Start serving.
    pub async fn start(self) -> Result<Simulator, SimError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await?;
        let addr = listener.local_addr()?;
        let cluster = Cluster::new(self.clock.unwrap_or_default(), self.history);
        let app = crate::http::router(crate::http::AppState {
            cluster: cluster.clone(),
            addr,
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let controllers = self
            .controllers
            .then(|| crate::controllers::spawn(cluster.clone()));
        let sim = Simulator {
            cluster,
            addr,
            tasks: vec![server].into_iter().chain(controllers).collect(),
        };
        sim.bootstrap().await?;
        Ok(sim)
    }
}

/// A running simulated cluster. Dropping it stops the server and controllers.
pub struct Simulator {
    cluster: Cluster,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Simulator {
    /// Start a simulator with controllers on a free loopback port.
    pub async fn start() -> Result<Self, SimError> {
        SimulatorBuilder::default().start().await
    }

    /// Options for starting a simulator.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }

    async fn bootstrap(&self) -> Result<(), SimError> {
        let c = &self.cluster;
        let opts = WriteOptions::controller("kube-apiserver");
        let ns_def = c.resource("", "v1", "namespaces")?;
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            crate::write::create(
                c,
                &ns_def,
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                &opts,
            )
            .await?;
        }
        let node_def = c.resource("", "v1", "nodes")?;
        let now = c.clock.timestamp();
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": crate::controllers::NODE_NAME, "labels": {"kubernetes.io/hostname": crate::controllers::NODE_NAME, "kubernetes.io/os": "linux"}}});
        let written = crate::write::create(c, &node_def, "", node, &opts).await?;
        let mut n = written.object;
        n["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}], "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}], "nodeInfo": {"kubeletVersion": "v1.33.0-kubesim", "operatingSystem": "linux", "architecture": "amd64"}});
        crate::write::update(
            c,
            &node_def,
            "",
            crate::controllers::NODE_NAME,
            "status",
            n,
            &opts,
        )
        .await?;
        let svc_def = c.resource("", "v1", "services")?;
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}}, "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}});
        crate::write::create(c, &svc_def, "default", svc, &opts).await?;
        Ok(())
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `kube::Config` pointing at the simulator, default namespace `default`.
    pub fn kube_config(&self) -> Result<kube::Config, SimError> {
        let uri: http::Uri = self
            .url()
            .parse()
            .map_err(|e: http::uri::InvalidUri| SimError::Other(e.to_string()))?;
        let mut cfg = kube::Config::new(uri);
        cfg.default_namespace = "default".into();
        Ok(cfg)
    }

    /// A `kube::Client` connected to the simulator.
    pub fn client(&self) -> Result<kube::Client, SimError> {
        Ok(kube::Client::try_from(self.kube_config()?)?)
    }

    /// Issue a bearer token for the ServiceAccount `namespace/name`. Requests carrying it are made
    /// as `system:serviceaccount:<namespace>:<name>` and authorized by RBAC; they are refused with
    /// 401 while the ServiceAccount does not exist.
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        self.cluster.auth.tokens.issue(namespace, name)
    }

    /// A `kube::Config` authenticated as the ServiceAccount `namespace/name` (a new token),
    /// default namespace `namespace`.
    pub fn service_account_config(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<kube::Config, SimError> {
        let mut cfg = self.kube_config()?;
        cfg.default_namespace = namespace.to_string();
        cfg.auth_info =
            serde_json::from_value(json!({"token": self.service_account_token(namespace, name)}))?;
        Ok(cfg)
    }

    /// A `kube::Client` authenticated as the ServiceAccount `namespace/name`.
    pub fn service_account_client(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<kube::Client, SimError> {
        Ok(kube::Client::try_from(
            self.service_account_config(namespace, name)?,
        )?)
    }

    /// Every request RBAC refused so far, in order.
    pub fn denials(&self) -> Vec<crate::auth::Denial> {
        self.cluster.auth.denials.all()
    }

    /// Forget the refusals recorded so far.
    pub fn clear_denials(&self) {
        self.cluster.auth.denials.clear();
    }

    /// A kubeconfig document for this simulator.
    pub fn kubeconfig_yaml(&self) -> String {
        crate::kubeconfig::render(&self.url())
    }

    /// Write a kubeconfig file for this simulator.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> Result<(), SimError> {
        std::fs::write(path, self.kubeconfig_yaml())?;
        Ok(())
    }

    /// The virtual clock.
    pub fn clock(&self) -> &SimClock {
        &self.cluster.clock
    }

    /// Fault injection.
    pub fn faults(&self) -> &Faults {
        &self.cluster.faults
    }

    /// Request counters.
    pub fn requests(&self) -> &RequestCounter {
        &self.cluster.requests
    }

    /// How many `verb` requests went to `resource` (plural) and `subresource` (`""` for none).
    pub fn request_count(&self, verb: &str, resource: &str, subresource: &str) -> u64 {
        self.cluster.requests.count(verb, resource, subresource)
    }

    /// Route webhook calls and `services/{name}[:port]/proxy` requests for service
    /// `namespace/name`, service port `port` (`spec.ports[].port`), to a local address.
    pub fn register_service_endpoint(
        &self,
        namespace: &str,
        name: &str,
        port: u16,
        addr: SocketAddr,
    ) {
        self.cluster.services.register(namespace, name, port, addr);
    }

    /// Serve `port` of pod `namespace/pod` at `addr` (plain HTTP): the API server's proxy
    /// subresource (`/api/v1/namespaces/{ns}/pods/{pod}[:{port}]/proxy/{path}`) forwards there while
    /// the pod has an IP and the container declaring the port (any container, for an undeclared
    /// port) is running. `port` is a number (`9090`) or the `name` of a port declared in the pod's
    /// `containers[].ports` (`"metrics"`), matched against the number a request resolves to. As
    /// upstream, the port in the request path is a number (or empty: the first declared port), not
    /// a container port name. The registration outlives the pod (it is by name).
    pub fn register_pod_endpoint(
        &self,
        namespace: &str,
        pod: &str,
        port: impl Into<PodPort>,
        addr: SocketAddr,
    ) {
        self.cluster
            .pod_endpoints
            .register(namespace, pod, port.into(), addr);
    }

    /// Forget where `port` of pod `namespace/pod` is served.
    pub fn unregister_pod_endpoint(&self, namespace: &str, pod: &str, port: impl Into<PodPort>) {
        self.cluster
            .pod_endpoints
            .unregister(namespace, pod, port.into());
    }

    /// Add an image to the kubelet's catalogue.
    pub fn register_image(&self, image: Image) {
        self.cluster.kubelet.register_image(image);
    }

    /// What a started container looks like (env, files, logs), if it started.
    pub fn container(&self, namespace: &str, pod: &str, container: &str) -> Option<ContainerView> {
        self.cluster.kubelet.container(namespace, pod, container)
    }

    /// Drop all watch history: watches from any earlier resourceVersion get 410 Gone.
    pub fn compact_history(&self) {
        self.cluster.store.compact();
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.cluster.store.current_rv()
    }

    /// The underlying cluster state.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }
}
