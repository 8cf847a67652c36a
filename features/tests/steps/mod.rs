//! Step definitions, in the words a platform engineer uses, talking to the cluster only through
//! the Kubernetes API (`exec` and `log` for what a node shows of a container), except the
//! `@simulated` steps that move the simulator's clock or stop operator replicas.

mod bad_input;
mod certificates;
mod given;
mod installations;
mod mesh;
mod operations;
pub mod suite;
mod then;
mod when;

use base64::Engine as _;
use features::cluster::TestCluster;
use features::simulation::Simulation;
use serde_json::Value;

/// The step's docstring: the manifest a step carries.
pub fn docstring(step: &cucumber::gherkin::Step) -> &str {
    step.docstring
        .as_deref()
        .expect("the step carries the manifest as a docstring")
}

/// A Secret's data value, decoded (empty when absent or not base64).
pub fn decode(value: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(value.as_str().unwrap_or_default())
        .unwrap_or_default()
}

/// State of one scenario.
#[derive(cucumber::World, Default)]
pub struct OperatorWorld {
    /// The cluster under test, started by the first `Given a cluster ...` step.
    pub cluster: Option<TestCluster>,
    /// The pod the scenario talks about (namespace, name, object as last read).
    pub pod: Option<(String, String, Value)>,
    /// Warnings returned by the last create.
    pub warnings: Vec<String>,
    /// Why the last create was refused, if it was.
    pub refused: Option<String>,
    /// Admissions the operator had handled before the last create, if they could be read.
    pub admissions_before: Option<u64>,
    /// The replica seen leading last.
    pub leader: Option<usize>,
    /// The leader a step stopped.
    pub stopped_leader: Option<usize>,
    /// A serving certificate remembered for comparison.
    pub remembered_certificate: Option<Vec<u8>>,
    /// A CA (DER) remembered before a rollover.
    pub remembered_ca: Option<Vec<u8>>,
    /// The CA (DER) a rollover introduced.
    pub new_ca: Option<Vec<u8>>,
    /// What the webhook answered a client's last post.
    pub reply: Option<features::probe::HttpReply>,
}

impl std::fmt::Debug for OperatorWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorWorld")
            .field("pod", &self.pod.as_ref().map(|p| (&p.0, &p.1)))
            .finish()
    }
}

impl OperatorWorld {
    /// The running cluster; steps after `Given a cluster ...` may rely on it.
    pub fn cluster(&self) -> &TestCluster {
        self.cluster
            .as_ref()
            .expect("the scenario starts with `Given a cluster running the operator`")
    }

    /// The simulation behind the cluster, for `@simulated` steps.
    pub fn simulation(&self) -> &Simulation {
        self.cluster()
            .simulation()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The simulation behind the cluster, to change it (stop replicas, add installations).
    pub fn simulation_mut(&mut self) -> &mut Simulation {
        self.cluster
            .as_mut()
            .expect("the scenario starts with `Given a cluster running the operator`")
            .simulation_mut()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The installation's certificate Secret, which the scenario expects to exist.
    pub async fn certificate_secret(&self) -> Value {
        self.cluster()
            .certificate_secret()
            .await
            .expect("the certificate Secret exists")
    }

    /// The pod the scenario is about.
    pub fn pod(&self) -> &(String, String, Value) {
        self.pod.as_ref().expect("an earlier step names the pod")
    }
}
