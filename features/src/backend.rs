//! Which cluster the behaviour steps run against: a simulated one started per scenario (the
//! default), or a real cluster where the operator is already installed
//! (`FEATURES_BACKEND=cluster`, reached through `KUBECONFIG`).

use std::path::PathBuf;
use std::sync::OnceLock;

/// The tag of scenarios that need the simulator (its virtual clock, fault injection or direct
/// access to the operator replicas); they are not run against a real cluster.
pub const SIMULATED_TAG: &str = "simulated";

/// Where the steps run.
#[derive(Clone, Debug)]
pub enum Backend {
    /// A fresh simulated cluster per scenario, the operator running in-process.
    Simulated,
    /// An existing cluster with the operator installed.
    Cluster(ClusterTarget),
}

/// An existing cluster and the installation in it.
#[derive(Clone, Debug)]
pub struct ClusterTarget {
    /// The kubeconfig to use; `None` infers it like kubectl (`KUBECONFIG`, `~/.kube/config`, in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// The installation's name, the prefix of its Service, Secret, Lease and webhook configuration.
    pub installation: String,
    /// The namespace the operator runs in.
    pub operator_namespace: String,
}

/// The environment asked for a backend this suite does not know.
#[derive(Debug, thiserror::Error)]
#[error("FEATURES_BACKEND={0} is not a backend; use `simulated` (the default) or `cluster`")]
pub struct UnknownBackend(String);

impl Backend {
    /// Reads `FEATURES_BACKEND` (`simulated` or `cluster`) and, for a cluster, `KUBECONFIG`,
    /// `INSTALLATION_NAME` (default `openlit`) and `OPERATOR_NAMESPACE` (default `openlit`).
    pub fn from_env() -> Result<Backend, UnknownBackend> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match var("FEATURES_BACKEND").as_deref() {
            None | Some("simulated") => Ok(Backend::Simulated),
            Some("cluster") => Ok(Backend::Cluster(ClusterTarget {
                kubeconfig: var("KUBECONFIG").map(PathBuf::from),
                installation: var("INSTALLATION_NAME").unwrap_or_else(|| "openlit".into()),
                operator_namespace: var("OPERATOR_NAMESPACE").unwrap_or_else(|| "openlit".into()),
            })),
            Some(other) => Err(UnknownBackend(other.to_string())),
        }
    }

    /// Whether scenarios may run at the same time (each simulated scenario has its own cluster;
    /// on a shared real cluster they run one after another).
    pub fn parallel(&self) -> bool {
        matches!(self, Backend::Simulated)
    }
}

static SELECTED: OnceLock<Backend> = OnceLock::new();

/// Chooses the backend for this process; the first choice stays.
pub fn select(backend: Backend) {
    let _ = SELECTED.set(backend);
}

/// The backend chosen with [`select`], or the simulated one.
pub fn selected() -> &'static Backend {
    SELECTED.get_or_init(|| Backend::Simulated)
}
