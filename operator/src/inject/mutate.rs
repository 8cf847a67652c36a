//! The mutation of one pod: opt-outs, resource choice, container choice, and the patch.

use json_patch::PatchOperation;
use serde_json::{Map, Value, json};

use super::choose::choose;
use super::containers::{ContainerDecision, choose_containers};
use super::env::{DesiredEnv, add, env_operations};
use super::identity::{self, NODE_NAME_VAR, POD_NAME_VAR};
use super::limits::{self, MAX_PATCH_BYTES, MAX_SKIP_ANNOTATION_BYTES};
use super::pod::PodView;
use super::policy::{Policy, ResourceRef};
use super::{
    INIT_CONTAINER_PREFIX, INSTRUMENTED_BY_ANNOTATION, INSTRUMENTED_GENERATION_ANNOTATION,
    MOUNT_PATH, OPT_OUT_KEY, SKIPPED_ANNOTATION, VOLUME_NAME,
};

/// Installation-wide settings of the injection.
#[derive(Clone, Debug, PartialEq)]
pub struct InjectConfig {
    /// The operator's namespace: its resources are cluster-wide defaults and its pods are never mutated.
    pub operator_namespace: String,
    /// Namespaces whose pods are never mutated, besides the operator's.
    pub excluded_namespaces: Vec<String>,
    /// `sizeLimit` of the shared emptyDir volume.
    pub volume_size_limit: String,
}

impl Default for InjectConfig {
    fn default() -> Self {
        InjectConfig {
            operator_namespace: "openlit".into(),
            excluded_namespaces: vec!["kube-system".into()],
            volume_size_limit: "500Mi".into(),
        }
    }
}

/// What happened to a pod.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Left alone without a patch; the string says why (no resource selects it, opted out, ...).
    Untouched(String),
    /// Selected by a resource but not instrumented at all; the string says why.
    Skipped {
        /// The resource that selected the pod.
        resource: ResourceRef,
        /// Why nothing was instrumented.
        reason: String,
    },
    /// Instrumented.
    Instrumented {
        /// The resource that instrumented the pod.
        resource: ResourceRef,
        /// Names of the instrumented containers.
        containers: Vec<String>,
    },
}

/// The outcome of [`mutate`].
#[derive(Clone, Debug, PartialEq)]
pub struct Mutation {
    /// What happened.
    pub decision: Decision,
    /// How the resource was chosen, when one was.
    pub why: Option<String>,
    /// Containers that were not instrumented, with the reason for each.
    pub skipped_containers: Vec<(String, String)>,
    /// Warnings for the AdmissionResponse.
    pub warnings: Vec<String>,
    /// The patch; empty when nothing changes.
    pub patch: Vec<PatchOperation>,
}

impl Mutation {
    fn untouched(reason: impl Into<String>) -> Mutation {
        Mutation {
            decision: Decision::Untouched(reason.into()),
            why: None,
            skipped_containers: Vec::new(),
            warnings: Vec::new(),
            patch: Vec::new(),
        }
    }
}

/// Decides and computes the mutation of `pod` (raw JSON of a Pod being created in `namespace`).
pub fn mutate<'a>(
    pod: &Value,
    namespace: &str,
    policies: impl IntoIterator<Item = &'a Policy>,
    config: &InjectConfig,
) -> Mutation {
    let view = PodView::new(pod);
    if namespace == config.operator_namespace
        || config.excluded_namespaces.iter().any(|n| n == namespace)
    {
        return Mutation::untouched(format!(
            "pods in namespace {namespace} are never instrumented"
        ));
    }
    let labels = view.labels();
    let annotations = view.annotations();
    if labels.get(OPT_OUT_KEY).is_some_and(|v| v == "false") {
        return Mutation::untouched(format!(
            "the pod opts out with the label {OPT_OUT_KEY}=false"
        ));
    }
    if annotations.get(OPT_OUT_KEY).is_some_and(|v| v == "false") {
        return Mutation::untouched(format!(
            "the pod opts out with the annotation {OPT_OUT_KEY}=false"
        ));
    }
    if let Some(by) = annotations.get(INSTRUMENTED_BY_ANNOTATION) {
        return Mutation::untouched(format!("the pod is already instrumented by {by}"));
    }
    if view.init_containers().iter().any(is_our_init_container) {
        return Mutation::untouched("the pod already has an auto-instrumentation init container");
    }
    let Some(choice) = choose(policies, namespace, &config.operator_namespace, labels) else {
        return Mutation::untouched("no AutoInstrumentation selects the pod");
    };
    let policy = choice.policy;
    let mut mutation = Mutation::untouched("");
    mutation.why = Some(choice.why.clone());
    if !choice.also_matched.is_empty() {
        let others: Vec<String> = choice
            .also_matched
            .iter()
            .map(ToString::to_string)
            .collect();
        mutation.warnings.push(format!(
            "AutoInstrumentation {} chosen over {} which also select this pod",
            policy.resource,
            others.join(", ")
        ));
    }

    // The errors themselves stay in the resource's status and Events: they may quote text of the
    // resource, and every selected pod would carry them.
    let pod_reason = if !policy.errors.is_empty() {
        let count = policy.errors.len();
        Some(format!(
            "AutoInstrumentation {} is invalid ({count} error{}, see its status and Events)",
            policy.resource,
            if count == 1 { "" } else { "s" }
        ))
    } else if !policy.settings.enabled {
        Some(format!(
            "AutoInstrumentation {} has python.instrumentation.enabled=false",
            policy.resource
        ))
    } else if view
        .volumes()
        .iter()
        .any(|v| v.get("name").and_then(Value::as_str) == Some(VOLUME_NAME))
    {
        Some(format!("the pod already has a volume named {VOLUME_NAME}"))
    } else if let Some(name) = taken_init_container_name(&view, policy) {
        Some(format!(
            "the pod already has a container named {name}, the init container the operator adds"
        ))
    } else if view.containers().is_empty() {
        Some("the pod has no containers".to_string())
    } else {
        limits::check_pod(&view).err()
    };
    if let Some(reason) = pod_reason {
        return skip_pod(mutation, &view, policy, reason);
    }

    let decisions = choose_containers(&view);
    let (chosen, skipped): (Vec<ContainerDecision>, Vec<ContainerDecision>) =
        decisions.into_iter().partition(|d| d.outcome.is_ok());
    mutation.skipped_containers = skipped
        .into_iter()
        .map(|d| (d.name, d.outcome.err().unwrap_or_default()))
        .collect();
    if chosen.is_empty() {
        let reason = format!(
            "no container was selected: {}",
            describe(&mutation.skipped_containers)
        );
        let reason = limits::truncate(&reason, MAX_SKIP_ANNOTATION_BYTES);
        return skip_pod(mutation, &view, policy, reason);
    }

    let mut annotations_to_add = vec![
        (INSTRUMENTED_BY_ANNOTATION, policy.resource.to_string()),
        (
            INSTRUMENTED_GENERATION_ANNOTATION,
            policy.generation.to_string(),
        ),
    ];
    if !mutation.skipped_containers.is_empty() {
        let reason = describe(&mutation.skipped_containers);
        mutation.warnings.push(format!(
            "AutoInstrumentation {}: containers not instrumented: {reason}",
            policy.resource
        ));
        annotations_to_add.push((SKIPPED_ANNOTATION, reason));
    }
    let mut patch = annotation_operations(&view, &annotations_to_add);
    patch.push(append(&view, "initContainers", init_container(policy)));
    patch.push(append(&view, "volumes", volume(config)));
    let identity = PodIdentity::of(&view, namespace, policy);
    for decision in &chosen {
        let container = &view.containers()[decision.index];
        let mount = json!({"name": VOLUME_NAME, "mountPath": MOUNT_PATH, "readOnly": true});
        let mounts = format!("/spec/containers/{}/volumeMounts", decision.index);
        patch.push(
            if container.get("volumeMounts").is_some_and(Value::is_array) {
                add(&format!("{mounts}/-"), mount)
            } else {
                add(&mounts, json!([mount]))
            },
        );
        let desired = identity.desired_env(&decision.name);
        patch.extend(env_operations(container, decision.index, &desired));
    }
    let mut size = limits::ByteCount::default();
    if serde_json::to_writer(&mut size, &patch).is_err() || size.0 > MAX_PATCH_BYTES {
        let reason = format!(
            "the patch would be {} bytes, more than the {MAX_PATCH_BYTES} the operator returns",
            size.0
        );
        return skip_pod(mutation, &view, policy, reason);
    }
    mutation.decision = Decision::Instrumented {
        resource: policy.resource.clone(),
        containers: chosen.into_iter().map(|d| d.name).collect(),
    };
    mutation.patch = patch;
    mutation
}

/// Records a pod-level skip: a warning, and the annotation unless it already says the same.
fn skip_pod(mut mutation: Mutation, view: &PodView, policy: &Policy, reason: String) -> Mutation {
    let reason = limits::truncate(&reason, MAX_SKIP_ANNOTATION_BYTES);
    mutation
        .warnings
        .push(format!("pod not instrumented: {reason}"));
    if view.annotations().get(SKIPPED_ANNOTATION) != Some(&reason) {
        mutation.patch = annotation_operations(view, &[(SKIPPED_ANNOTATION, reason.clone())]);
    }
    mutation.decision = Decision::Skipped {
        resource: policy.resource.clone(),
        reason,
    };
    mutation
}

/// The skipped containers and their reasons, within the annotation's size limit.
fn describe(skipped: &[(String, String)]) -> String {
    limits::join_capped(
        skipped
            .iter()
            .map(|(name, reason)| format!("{}: {reason}", limits::truncate(name, 64))),
        MAX_SKIP_ANNOTATION_BYTES,
    )
}

/// The name of the init container the operator would add, when an application container of the
/// pod already has it (the API server refuses duplicate container names).
fn taken_init_container_name(view: &PodView, policy: &Policy) -> Option<String> {
    let name = init_container_name(policy);
    view.containers()
        .iter()
        .any(|c| c.get("name").and_then(Value::as_str) == Some(name.as_str()))
        .then_some(name)
}

fn init_container_name(policy: &Policy) -> String {
    format!("{INIT_CONTAINER_PREFIX}-{}", policy.settings.provider)
}

fn is_our_init_container(container: &Value) -> bool {
    container
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| n.starts_with(INIT_CONTAINER_PREFIX))
        || container
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|m| m.get("name").and_then(Value::as_str) == Some(VOLUME_NAME))
}

/// Adds annotations, creating `metadata.annotations` when the pod has none (a JSONPatch `add`
/// below a missing parent is rejected by the API server).
fn annotation_operations(view: &PodView, entries: &[(&str, String)]) -> Vec<PatchOperation> {
    if !view.has_annotations() {
        let map: Map<String, Value> = entries
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        let path = if view.raw().get("metadata").is_some_and(Value::is_object) {
            "/metadata/annotations"
        } else {
            return vec![add("/metadata", json!({"annotations": map}))];
        };
        return vec![add(path, Value::Object(map))];
    }
    entries
        .iter()
        .map(|(key, value)| {
            let escaped = key.replace('~', "~0").replace('/', "~1");
            add(
                &format!("/metadata/annotations/{escaped}"),
                Value::String(value.clone()),
            )
        })
        .collect()
}

/// Appends to `spec.<field>`, creating the array when absent.
fn append(view: &PodView, field: &str, value: Value) -> PatchOperation {
    if view.has_spec_array(field) {
        add(&format!("/spec/{field}/-"), value)
    } else {
        add(&format!("/spec/{field}"), json!([value]))
    }
}

fn init_container(policy: &Policy) -> Value {
    let settings = &policy.settings;
    let mut args = vec![
        "--target".to_string(),
        MOUNT_PATH.to_string(),
        "--on-failure".to_string(),
        settings.on_failure.clone(),
    ];
    for package in &settings.packages {
        args.push("--package".into());
        args.push(package.clone());
    }
    json!({
        "name": init_container_name(policy),
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python3", "/usr/local/bin/setup-instrumentation.py"],
        "args": args,
        "env": [
            {"name": "INSTRUMENTATION_PROVIDER", "value": settings.provider},
            {"name": "TARGET_PATH", "value": MOUNT_PATH},
        ],
        "volumeMounts": [{"name": VOLUME_NAME, "mountPath": MOUNT_PATH}],
        "resources": settings.resources,
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
            "privileged": false,
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true,
            "runAsUser": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    })
}

fn volume(config: &InjectConfig) -> Value {
    json!({"name": VOLUME_NAME, "emptyDir": {"sizeLimit": config.volume_size_limit}})
}

/// The pod-level part of the derived environment, computed once per pod.
struct PodIdentity<'p> {
    namespace: &'p str,
    settings: &'p super::policy::Settings,
    /// The service name unless only the container name is left to name it.
    service_name: Option<String>,
    service_namespace: String,
    version: Option<String>,
    environment: String,
    workload: identity::Workload,
}

impl<'p> PodIdentity<'p> {
    fn of(view: &PodView, namespace: &'p str, policy: &'p Policy) -> Self {
        let workload = identity::workload(view);
        PodIdentity {
            namespace,
            settings: &policy.settings,
            service_name: identity::service_name(view, &workload),
            service_namespace: identity::service_namespace(view, namespace),
            version: identity::service_version(view),
            environment: policy
                .settings
                .environment
                .clone()
                .unwrap_or_else(|| "kubernetes".into()),
            workload,
        }
    }

    fn desired_env(&self, container: &str) -> DesiredEnv<'p> {
        let settings = self.settings;
        let namespace = self.namespace;
        let mut derived = vec![(
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_string(),
            settings.endpoint.clone(),
        )];
        if let Some(headers) = &settings.headers {
            derived.push(("OTEL_EXPORTER_OTLP_HEADERS".into(), headers.clone()));
        }
        derived.push((
            "OTEL_EXPORTER_OTLP_TIMEOUT".into(),
            settings.timeout_ms.to_string(),
        ));
        let service_name = self
            .service_name
            .clone()
            .unwrap_or_else(|| container.to_string());
        derived.push(("OTEL_SERVICE_NAME".into(), service_name));
        derived.push((
            "OTEL_SERVICE_NAMESPACE".into(),
            self.service_namespace.clone(),
        ));
        derived.push((
            "OTEL_DEPLOYMENT_ENVIRONMENT".into(),
            self.environment.clone(),
        ));
        if let Some(version) = &self.version {
            derived.push(("OTEL_SERVICE_VERSION".into(), version.clone()));
        }
        derived.push((
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT".into(),
            "true".into(),
        ));

        let mut attributes: Vec<(String, String)> = vec![
            ("k8s.namespace.name".into(), namespace.to_string()),
            ("k8s.pod.name".into(), format!("$({POD_NAME_VAR})")),
            ("k8s.node.name".into(), format!("$({NODE_NAME_VAR})")),
            ("k8s.container.name".into(), container.to_string()),
        ];
        attributes.extend(
            self.workload
                .attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone())),
        );
        attributes.push(("service.namespace".into(), self.service_namespace.clone()));
        if let Some(version) = &self.version {
            attributes.push(("service.version".into(), version.clone()));
        }
        attributes.push((
            "service.instance.id".into(),
            format!("{namespace}.$({POD_NAME_VAR}).{container}"),
        ));
        attributes.push(("deployment.environment".into(), self.environment.clone()));
        // Headers from a Secret travel as a reference, so the patch never holds their value.
        let derived_from = settings
            .headers_from
            .iter()
            .map(|(name, key)| {
                (
                    "OTEL_EXPORTER_OTLP_HEADERS".to_string(),
                    json!({"secretKeyRef": {"name": name, "key": key}}),
                )
            })
            .collect();
        DesiredEnv {
            resource_env: &settings.env,
            derived,
            derived_from,
            attributes,
        }
    }
}
