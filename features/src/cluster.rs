//! The cluster a scenario talks to: a fresh simulation with the operator in-process, or a real
//! cluster where the operator is already installed. Steps go through the Kubernetes API either
//! way; what only the simulator can do (move its clock, stop replicas, count requests) is reached
//! through [`TestCluster::simulation`], and scenarios that use it carry the `@simulated` tag.

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Client;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::DynamicObject;
use serde_json::Value;

use crate::backend::{Backend, ClusterTarget, SIMULATED_TAG};
use crate::kube_ops::{self, StepError, StepResult, WAIT, eventually};
use crate::metrics_text;
use crate::node;
use crate::simulation::{INSTALLATION, InstallOptions, Simulation};

/// The cluster under test and the operator installation in it.
pub struct TestCluster {
    /// A client as a user would have.
    pub client: Client,
    /// The installation's name: the prefix of its Service, Secret, Lease and webhook configuration.
    pub installation: String,
    /// The operator's namespace.
    pub operator_namespace: String,
    simulation: Option<Simulation>,
    created: Mutex<Created>,
}

/// What a scenario created on a shared cluster, removed again when it ends.
#[derive(Default)]
struct Created {
    namespaces: Vec<String>,
    objects: Vec<String>,
}

impl TestCluster {
    /// Starts a cluster with `replicas` operator replicas on the selected backend (on a real
    /// cluster, connects to the installation as it is) and returns once the operator is ready.
    pub async fn start(replicas: usize) -> StepResult<TestCluster> {
        Self::install(InstallOptions {
            replicas,
            ..InstallOptions::default()
        })
        .await
    }

    /// Like [`TestCluster::start`] with every option; a real cluster keeps its own installation.
    pub async fn install(options: InstallOptions) -> StepResult<TestCluster> {
        match crate::backend::selected() {
            Backend::Simulated => Self::simulate(options).await,
            Backend::Cluster(target) => Self::connect(target).await,
        }
    }

    /// Starts a simulated cluster with the operator in-process.
    pub async fn simulate(options: InstallOptions) -> StepResult<TestCluster> {
        let (simulation, client) = Simulation::install(options).await?;
        let cluster = TestCluster {
            client,
            installation: INSTALLATION.into(),
            operator_namespace: INSTALLATION.into(),
            simulation: Some(simulation),
            created: Mutex::default(),
        };
        cluster.await_ready().await?;
        Ok(cluster)
    }

    /// Connects to a cluster where the operator is installed and waits until it serves.
    pub async fn connect(target: &ClusterTarget) -> StepResult<TestCluster> {
        let config = match &target.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .map_err(|e| StepError::Other(format!("{}: {e}", path.display())))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| StepError::Other(format!("{}: {e}", path.display())))?
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| StepError::Other(e.to_string()))?,
        };
        let client = Client::try_from(config)?;
        let cluster = TestCluster {
            client,
            installation: target.installation.clone(),
            operator_namespace: target.operator_namespace.clone(),
            simulation: None,
            created: Mutex::default(),
        };
        cluster.await_ready().await?;
        Ok(cluster)
    }

    /// The simulation behind this cluster; on a real cluster, an error naming the tag the
    /// scenario lacks.
    pub fn simulation(&self) -> StepResult<&Simulation> {
        self.simulation.as_ref().ok_or_else(needs_simulation)
    }

    /// The simulation behind this cluster, to change it.
    pub fn simulation_mut(&mut self) -> StepResult<&mut Simulation> {
        self.simulation.as_mut().ok_or_else(needs_simulation)
    }

    /// Waits until the operator serves: the webhook configuration trusts a certificate and a
    /// replica holds the lease (and, simulated, every running replica is ready).
    pub async fn await_ready(&self) -> StepResult<()> {
        eventually(WAIT, "the operator to be ready", || async {
            let replicas_ready = self
                .simulation
                .as_ref()
                .is_none_or(Simulation::ready_and_led);
            let configured = self.webhook_configuration().await.is_ok_and(|c| {
                c["webhooks"][0]["clientConfig"]["caBundle"]
                    .as_str()
                    .is_some_and(|b| !b.is_empty())
            });
            let held = self.lease().await.is_ok_and(|l| {
                l["spec"]["holderIdentity"]
                    .as_str()
                    .is_some_and(|h| !h.is_empty())
            });
            Ok((replicas_ready && configured && held).then_some(()))
        })
        .await
    }

    /// Creates `name` unless it exists; on a real cluster it is deleted when the scenario ends.
    pub async fn ensure_namespace(&self, name: &str) -> StepResult<()> {
        if kube_ops::ensure_namespace(&self.client, name).await? {
            self.remember(|c| c.namespaces.push(name.to_string()));
        }
        Ok(())
    }

    /// Notes an object (by its API path) to delete when the scenario ends, unless its namespace
    /// goes anyway.
    pub fn created_object(&self, namespace: &str, path: String) {
        self.remember(|c| {
            if !c.namespaces.iter().any(|n| n == namespace) {
                c.objects.push(path);
            }
        });
    }

    fn remember(&self, change: impl FnOnce(&mut Created)) {
        if let Ok(mut created) = self.created.lock() {
            change(&mut created);
        }
    }

    /// Applies an AutoInstrumentation in `namespace` (created if needed), noting it for clean-up.
    pub async fn apply(&self, namespace: &str, yaml: &str) -> StepResult<DynamicObject> {
        self.ensure_namespace(namespace).await?;
        let applied = kube_ops::apply_autoinstrumentation(&self.client, namespace, yaml).await?;
        let name = applied.metadata.name.clone().unwrap_or_default();
        self.created_object(
            namespace,
            format!("/apis/openlit.io/v1alpha1/namespaces/{namespace}/autoinstrumentations/{name}"),
        );
        Ok(applied)
    }

    /// Applies an AutoInstrumentation (see [`TestCluster::apply`]) and waits until the operator
    /// uses this generation of it: simulated, until every running replica's cache holds it; on a
    /// real cluster, until its status reports the generation.
    pub async fn apply_and_await(&self, namespace: &str, yaml: &str) -> StepResult<()> {
        let applied = self.apply(namespace, yaml).await?;
        let name = applied.metadata.name.clone().unwrap_or_default();
        let generation = applied.metadata.generation.unwrap_or(0);
        eventually(
            WAIT,
            &format!("the operator to see {namespace}/{name}"),
            || async {
                if let Some(simulation) = &self.simulation {
                    return Ok(simulation.all_know(namespace, &name, generation).then_some(()));
                }
                let resource = self
                    .get_json(&format!(
                        "/apis/openlit.io/v1alpha1/namespaces/{namespace}/autoinstrumentations/{name}"
                    ))
                    .await?;
                let observed = resource["status"]["observedGeneration"].as_i64();
                Ok((observed >= Some(generation)).then_some(()))
            },
        )
        .await
    }

    /// The installation's certificate Secret.
    pub async fn certificate_secret(&self) -> StepResult<Value> {
        self.get_json(&format!(
            "/api/v1/namespaces/{}/secrets/{}-webhook-server-certs",
            self.operator_namespace, self.installation
        ))
        .await
    }

    /// The installation's MutatingWebhookConfiguration.
    pub async fn webhook_configuration(&self) -> StepResult<Value> {
        self.get_json(&format!(
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{}-mutating-webhook-configuration",
            self.installation
        ))
        .await
    }

    /// The installation's leader Lease.
    pub async fn lease(&self) -> StepResult<Value> {
        self.get_json(&format!(
            "/apis/coordination.k8s.io/v1/namespaces/{}/leases/{}-operator-leader",
            self.operator_namespace, self.installation
        ))
        .await
    }

    /// The DNS name the webhook's certificate is issued for.
    pub fn webhook_server_name(&self) -> String {
        format!(
            "{}-webhook-service.{}.svc",
            self.installation, self.operator_namespace
        )
    }

    /// GETs a path as JSON.
    pub async fn get_json(&self, path: &str) -> StepResult<Value> {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| StepError::Other(e.to_string()))?;
        Ok(self.client.request::<Value>(request).await?)
    }

    /// Admissions the operator has handled so far, summed over its replicas (on a real cluster,
    /// read from each operator pod's metrics through the API server's pod proxy).
    pub async fn admissions_handled(&self) -> StepResult<u64> {
        self.admissions_with(None).await
    }

    /// Admissions with `outcome` (or every outcome) summed over the replicas.
    pub async fn admissions_with(&self, outcome: Option<&str>) -> StepResult<u64> {
        if let Some(simulation) = &self.simulation {
            return Ok(simulation
                .replicas
                .iter()
                .map(|r| metrics_text::admissions_with(&r.metrics.encode(), outcome))
                .sum());
        }
        let mut total = 0;
        for text in self.operator_metrics().await? {
            total += metrics_text::admissions_with(&text, outcome);
        }
        Ok(total)
    }

    /// The metrics text of every running operator pod, through the pod proxy.
    async fn operator_metrics(&self) -> StepResult<Vec<String>> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.operator_namespace);
        let selector = format!(
            "app.kubernetes.io/name=openlit-operator,app.kubernetes.io/instance={}",
            self.installation
        );
        let list = pods.list(&ListParams::default().labels(&selector)).await?;
        let running: Vec<(String, i32)> = list
            .items
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| Some((p.metadata.name.clone()?, metrics_port(&p)?)))
            .collect();
        if running.is_empty() {
            return Err(StepError::Other(format!(
                "no running operator pod labelled {selector} with a port named `metrics` in {}",
                self.operator_namespace
            )));
        }
        let mut texts = Vec::new();
        // The API server's proxy takes a port number: a name would be looked up as a service name.
        for (pod, port) in running {
            let request = http::Request::get(format!(
                "/api/v1/namespaces/{}/pods/{pod}:{port}/proxy/metrics",
                self.operator_namespace
            ))
            .body(Vec::new())
            .map_err(|e| StepError::Other(e.to_string()))?;
            texts.push(self.client.request_text(request).await?);
        }
        Ok(texts)
    }

    /// The environment of a running container as its process sees it.
    pub async fn container_env(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> StepResult<BTreeMap<String, String>> {
        node::environment(&self.client, namespace, pod, container).await
    }

    /// Whether `path` exists in a running container.
    pub async fn file_exists(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        path: &str,
    ) -> StepResult<bool> {
        node::exists(&self.client, namespace, pod, container, path).await
    }

    /// What a container has printed so far.
    pub async fn container_output(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> StepResult<String> {
        node::logs(&self.client, namespace, pod, container).await
    }

    /// Removes what the scenario created on a shared cluster (objects it added to namespaces
    /// that existed before, then the namespaces it created) and waits until they are gone. A
    /// simulated cluster is simply dropped.
    pub async fn clean_up(&self) -> StepResult<()> {
        if self.simulation.is_some() {
            return Ok(());
        }
        let created = match self.created.lock() {
            Ok(mut created) => std::mem::take(&mut *created),
            Err(_) => return Ok(()),
        };
        for path in &created.objects {
            kube_ops::delete_path(&self.client, path).await?;
        }
        for name in &created.namespaces {
            kube_ops::delete_path(&self.client, &format!("/api/v1/namespaces/{name}")).await?;
        }
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        for name in &created.namespaces {
            eventually(
                kube_ops::NAMESPACE_DELETION,
                &format!("namespace {name} to be deleted"),
                || async { Ok(namespaces.get_opt(name).await?.is_none().then_some(())) },
            )
            .await?;
        }
        Ok(())
    }
}

/// The number of the container port named `metrics` of an operator pod.
fn metrics_port(pod: &Pod) -> Option<i32> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some("metrics"))
        .map(|p| p.container_port)
}

fn needs_simulation() -> StepError {
    StepError::Other(format!(
        "this step needs the simulator; tag the scenario @{SIMULATED_TAG} so it is not run against a real cluster"
    ))
}
