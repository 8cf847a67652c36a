//! A resource compiled for admission: its selectors evaluated once, its settings resolved with
//! defaults, and its validation errors attached, so an admission does no parsing.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::selector::Selector;
use crate::crd::{self, AutoInstrumentation};

/// Default registry path of the provider images: `<prefix>/<provider>-ai-instrumentation:<version>`.
pub const DEFAULT_IMAGE_PREFIX: &str = "ghcr.io/openlit";

/// Namespace and name of a resource.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceRef {
    /// The resource's namespace.
    pub namespace: String,
    /// The resource's name.
    pub name: String,
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Everything the mutation needs from a resource, with defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `python.instrumentation.enabled`.
    pub enabled: bool,
    /// Provider name (`openlit`, `openinference`, `openllmetry`, `custom`).
    pub provider: String,
    /// Init container image reference.
    pub image: String,
    /// Init container pull policy.
    pub image_pull_policy: String,
    /// Validated custom package requirements, one argv item each.
    pub packages: Vec<String>,
    /// `python.instrumentation.env` entries as raw JSON.
    pub env: Vec<Value>,
    /// Init container resources as raw JSON.
    pub resources: Value,
    /// `continue` or `block`.
    pub on_failure: String,
    /// OTLP endpoint.
    pub endpoint: String,
    /// OTLP headers in `k=v,k2=v2` form, when set.
    pub headers: Option<String>,
    /// The Secret `(name, key)` holding the OTLP headers, when `otlp.headersFrom` is set.
    pub headers_from: Option<(String, String)>,
    /// OTLP timeout in milliseconds.
    pub timeout_ms: i64,
    /// `resource.environment`, when set.
    pub environment: Option<String>,
}

/// A resource ready for admission decisions.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Where the resource lives.
    pub resource: ResourceRef,
    /// `metadata.generation` (0 when the API server did not set one).
    pub generation: i64,
    /// `metadata.creationTimestamp`, used to pick the oldest of several matches.
    pub created: Option<Timestamp>,
    /// Validation errors; a resource with errors never instruments.
    pub errors: Vec<String>,
    /// Resolved settings.
    pub settings: Settings,
    selector: Option<Selector>,
    ignore: Option<Selector>,
}

impl Policy {
    /// Compiles a resource, using `image_prefix` for the providers' default images.
    pub fn compile(resource: &AutoInstrumentation, image_prefix: &str) -> Policy {
        let spec = &resource.spec;
        let meta = &resource.metadata;
        let instrumentation = spec.instrumentation();
        let mut errors = crd::validate(resource).errors;
        let packages = match instrumentation.custom_packages.as_deref() {
            Some(list) => crd::parse_custom_packages(list).unwrap_or_else(|message| {
                if errors.is_empty() {
                    errors.push(message);
                }
                Vec::new()
            }),
            None => Vec::new(),
        };
        let provider = instrumentation.provider().to_string();
        let image = match instrumentation
            .custom_init_image
            .as_deref()
            .filter(|i| !i.is_empty())
        {
            Some(image) => image.to_string(),
            None => format!(
                "{image_prefix}/{provider}-ai-instrumentation:{}",
                image_tag(
                    instrumentation.version(),
                    instrumentation.python_version.as_deref()
                )
            ),
        };
        let resources = instrumentation
            .resources
            .as_ref()
            .and_then(|r| serde_json::to_value(r).ok())
            .filter(|r| r.as_object().is_some_and(|o| !o.is_empty()))
            .unwrap_or_else(default_init_resources);
        let settings = Settings {
            enabled: instrumentation.is_enabled(),
            image,
            image_pull_policy: instrumentation.image_pull_policy().to_string(),
            packages,
            env: instrumentation
                .env
                .iter()
                .flatten()
                .filter_map(|e| serde_json::to_value(e).ok())
                .collect(),
            resources,
            on_failure: instrumentation
                .on_failure
                .clone()
                .unwrap_or_else(|| "continue".into()),
            endpoint: spec.otlp.endpoint.clone(),
            headers: spec.otlp.headers.clone().filter(|h| !h.is_empty()),
            headers_from: spec.otlp.headers_from.as_ref().map(|source| {
                let secret = &source.secret_key_ref;
                (secret.name.clone(), secret.key.clone())
            }),
            timeout_ms: i64::from(spec.otlp_timeout_seconds()) * 1000,
            environment: spec
                .resource
                .as_ref()
                .and_then(|r| r.environment.clone())
                .filter(|e| !e.is_empty()),
            provider,
        };
        // An empty ignore selector matches every pod, as a Kubernetes selector would (validation
        // warns about it); a malformed one makes the resource invalid and is treated the same way.
        let ignore = spec
            .ignore
            .as_ref()
            .map(|i| Selector::compile(i).unwrap_or_else(Selector::everything));
        Policy {
            resource: ResourceRef {
                namespace: meta.namespace.clone().unwrap_or_default(),
                name: meta.name.clone().unwrap_or_default(),
            },
            generation: meta.generation.unwrap_or(0),
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
            errors,
            settings,
            selector: Selector::compile(&spec.selector),
            ignore,
        }
    }

    /// Whether this resource selects a pod with these labels: `selector` matches and `ignore`
    /// (when present) does not.
    pub fn selects(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.selector.as_ref().is_some_and(|s| s.matches(labels))
            && !self.ignore.as_ref().is_some_and(|i| i.matches(labels))
    }
}

/// The provider image tag: `<version>` when no CPython version is asked for (the images' default,
/// 3.11), `<version>-py<python>` (e.g. `1.2.0-py3.12`) when one is.
pub fn image_tag(version: &str, python_version: Option<&str>) -> String {
    match python_version.filter(|p| !p.is_empty()) {
        Some(python) => format!("{version}-py{python}"),
        None => version.to_string(),
    }
}

/// Init container resources used when the resource sets none.
pub fn default_init_resources() -> Value {
    json!({
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "200m", "memory": "256Mi"},
    })
}
