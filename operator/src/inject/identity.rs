//! The telemetry identity of a pod: `OTEL_SERVICE_NAME`, service namespace and version, and the
//! `k8s.*` resource attributes with the semantic key of each owner kind.

use super::pod::{Owner, PodView};

/// Pod annotation overriding the service name.
pub const SERVICE_NAME_ANNOTATION: &str = "resource.opentelemetry.io/service.name";
/// Pod annotation overriding the service namespace.
pub const SERVICE_NAMESPACE_ANNOTATION: &str = "resource.opentelemetry.io/service.namespace";
/// Pod annotation overriding the service version.
pub const SERVICE_VERSION_ANNOTATION: &str = "resource.opentelemetry.io/service.version";
/// Environment variable carrying the pod name from the downward API.
pub const POD_NAME_VAR: &str = "OPENLIT_K8S_POD_NAME";
/// Environment variable carrying the node name from the downward API.
pub const NODE_NAME_VAR: &str = "OPENLIT_K8S_NODE_NAME";

/// The pod's workload, resolved from its owner references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// `k8s.*.name` attributes in a fixed order, e.g. `k8s.deployment.name`, `k8s.replicaset.name`.
    pub attributes: Vec<(&'static str, String)>,
    /// The workload's name used for `OTEL_SERVICE_NAME` (Deployment > ReplicaSet > StatefulSet >
    /// DaemonSet > CronJob > Job).
    pub service_name: Option<String>,
}

/// Resolves the workload owning a pod. A ReplicaSet whose pod carries `pod-template-hash` belongs
/// to the Deployment named by stripping `-<hash>`; a Job named `<name>-<digits>` to CronJob `<name>`.
pub fn workload(pod: &PodView) -> Workload {
    let owners = pod.owners();
    let owner = owners
        .iter()
        .find(|o| o.controller)
        .or_else(|| owners.first());
    let Some(Owner { kind, name, .. }) = owner else {
        return Workload {
            attributes: Vec::new(),
            service_name: None,
        };
    };
    let name = name.clone();
    let mut attributes = Vec::new();
    let service_name = match kind.as_str() {
        "ReplicaSet" => {
            let deployment = pod
                .labels()
                .get("pod-template-hash")
                .and_then(|hash| name.strip_suffix(&format!("-{hash}")))
                .map(str::to_string);
            if let Some(deployment) = &deployment {
                attributes.push(("k8s.deployment.name", deployment.clone()));
            }
            attributes.push(("k8s.replicaset.name", name.clone()));
            deployment.or(Some(name))
        }
        "Deployment" => {
            attributes.push(("k8s.deployment.name", name.clone()));
            Some(name)
        }
        "StatefulSet" => {
            attributes.push(("k8s.statefulset.name", name.clone()));
            Some(name)
        }
        "DaemonSet" => {
            attributes.push(("k8s.daemonset.name", name.clone()));
            Some(name)
        }
        "Job" => {
            let cronjob = name
                .rsplit_once('-')
                .filter(|(_, suffix)| {
                    suffix.len() >= 8 && suffix.chars().all(|c| c.is_ascii_digit())
                })
                .map(|(prefix, _)| prefix.to_string());
            if let Some(cronjob) = &cronjob {
                attributes.push(("k8s.cronjob.name", cronjob.clone()));
            }
            attributes.push(("k8s.job.name", name.clone()));
            cronjob.or(Some(name))
        }
        "CronJob" => {
            attributes.push(("k8s.cronjob.name", name.clone()));
            Some(name)
        }
        _ => None,
    };
    Workload {
        attributes,
        service_name,
    }
}

/// `OTEL_SERVICE_NAME`: annotation > `app.kubernetes.io/instance` > `app.kubernetes.io/name` >
/// owning workload > pod name > `generateName` without its trailing dash; `None` leaves the
/// container name as the last resort.
pub fn service_name(pod: &PodView, workload: &Workload) -> Option<String> {
    let annotations = pod.annotations();
    let labels = pod.labels();
    annotations
        .get(SERVICE_NAME_ANNOTATION)
        .or_else(|| labels.get("app.kubernetes.io/instance"))
        .or_else(|| labels.get("app.kubernetes.io/name"))
        .filter(|v| !v.is_empty())
        .cloned()
        .or_else(|| workload.service_name.clone())
        .or_else(|| pod.name().map(str::to_string))
        .or_else(|| {
            pod.generate_name()
                .map(|g| g.trim_end_matches('-').to_string())
                .filter(|g| !g.is_empty())
        })
}

/// Service namespace: annotation > the pod's namespace.
pub fn service_namespace(pod: &PodView, namespace: &str) -> String {
    pod.annotations()
        .get(SERVICE_NAMESPACE_ANNOTATION)
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| namespace.to_string())
}

/// Service version: annotation > `app.kubernetes.io/version` label; `None` when neither is set.
pub fn service_version(pod: &PodView) -> Option<String> {
    let annotations = pod.annotations();
    let labels = pod.labels();
    annotations
        .get(SERVICE_VERSION_ANNOTATION)
        .or_else(|| labels.get("app.kubernetes.io/version"))
        .filter(|v| !v.is_empty())
        .cloned()
}
