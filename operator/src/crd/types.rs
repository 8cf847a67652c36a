//! Rust types of the `AutoInstrumentation` resource, mirroring the OpenLIT operator's fields.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::endpoint::ENDPOINT_PATTERN;
use super::headers::HEADERS_PATTERN;
use super::image_ref::{IMAGE_REFERENCE_PATTERN, TAG_PATTERN};
use super::limits::{
    MAX_CUSTOM_PACKAGES_LEN, MAX_ENDPOINT_LEN, MAX_ENV_ENTRIES, MAX_ENVIRONMENT_LEN,
    MAX_HEADERS_LEN, MAX_IMAGE_REFERENCE_LEN, MAX_LABEL_KEY_LEN, MAX_MATCH_EXPRESSIONS,
    MAX_MATCH_LABELS, MAX_REFERENCE_LEN, MAX_SELECTOR_VALUES, MAX_VERSION_LEN, longest,
};
use super::requirements::CUSTOM_PACKAGES_PATTERN;
use super::schema;
use super::validation::{
    MAX_OTLP_TIMEOUT_SECONDS, MIN_OTLP_TIMEOUT_SECONDS, ON_FAILURE_VALUES, SELECTOR_OPERATORS,
};

/// Provider used when `python.instrumentation.provider` is absent.
pub const DEFAULT_PROVIDER: &str = "openlit";
/// Image tag used when `python.instrumentation.version` is absent.
pub const DEFAULT_VERSION: &str = "latest";
/// Pull policy used when `python.instrumentation.imagePullPolicy` is absent.
pub const DEFAULT_PULL_POLICY: &str = "IfNotPresent";
/// OTLP export timeout in seconds used when `otlp.timeout` is absent.
pub const DEFAULT_OTLP_TIMEOUT_SECONDS: i32 = 30;
/// Providers the operator knows how to inject.
pub const PROVIDERS: [&str; 4] = ["openlit", "openinference", "openllmetry", "custom"];
/// Accepted image pull policies.
pub const PULL_POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];
/// CPython versions the provider images are built for (`operator/providers/python-versions.txt`);
/// `python.instrumentation.pythonVersion` picks one, giving the image tag `<version>-py<python>`.
pub const PYTHON_VERSIONS: [&str; 3] = ["3.11", "3.12", "3.13"];
/// Failure mode used when `python.instrumentation.onFailure` is absent.
pub const DEFAULT_ON_FAILURE: &str = "continue";
/// Schema pattern of `resource.environment`: no characters that would break
/// `OTEL_RESOURCE_ATTRIBUTES`.
const ENVIRONMENT_PATTERN: &str = r"^[^,=\x00-\x1f\x7f]*$";

/// Desired instrumentation for the pods this resource selects.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "openlit.io",
    version = "v1alpha1",
    kind = "AutoInstrumentation",
    plural = "autoinstrumentations",
    singular = "autoinstrumentation",
    shortname = "ai",
    namespaced,
    status = "AutoInstrumentationStatus",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.python.instrumentation.provider"}"#,
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".spec.otlp.endpoint"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    doc = "Zero-code OpenTelemetry instrumentation for the Python pods a label selector picks."
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::spec_schema)]
pub struct AutoInstrumentationSpec {
    /// Pods to instrument. An empty selector matches nothing and makes the resource invalid.
    #[serde(default)]
    pub selector: PodSelector,
    /// Pods to leave alone even when `selector` matches them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<PodSelector>,
    /// Python instrumentation settings. Absent means Python instrumentation with every default;
    /// the API server stores it as `{}` so that the defaults of the fields inside are filled in
    /// (a default only applies inside an object that exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonSpec>,
    /// Accepted for compatibility with the OpenLIT operator; Go instrumentation is not performed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go: Option<GoSpec>,
    /// Where telemetry is sent.
    #[serde(default)]
    pub otlp: OtlpSpec,
    /// Resource attributes added to every instrumented pod's telemetry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceSpec>,
}

/// A Kubernetes label selector over pod labels.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::selector_schema)]
pub struct PodSelector {
    /// Labels the pod must carry with exactly these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = MAX_MATCH_LABELS))]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Set-based requirements, all of which must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxItems" = MAX_MATCH_EXPRESSIONS))]
    pub match_expressions: Option<Vec<SelectorRequirement>>,
}

/// One set-based label requirement.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::requirement_schema)]
pub struct SelectorRequirement {
    /// The label key the requirement applies to.
    #[schemars(extend("maxLength" = MAX_LABEL_KEY_LEN))]
    pub key: String,
    /// One of `In`, `NotIn`, `Exists`, `DoesNotExist`.
    #[schemars(extend("enum" = SELECTOR_OPERATORS, "maxLength" = longest(&SELECTOR_OPERATORS)))]
    pub operator: String,
    /// Values for `In` and `NotIn`; must be empty for `Exists` and `DoesNotExist`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxItems" = MAX_SELECTOR_VALUES))]
    pub values: Option<Vec<String>>,
}

/// Python-specific settings.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::python_schema)]
pub struct PythonSpec {
    /// How the Python instrumentation is delivered and configured (defaults to `{}`, so that the
    /// provider, version, pull policy and failure-mode defaults always apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrumentation: Option<PythonInstrumentation>,
}

/// Settings of the injected Python instrumentation.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::instrumentation_schema)]
pub struct PythonInstrumentation {
    /// `false` turns injection off for the pods this resource selects (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    /// Tag of the provider image: `latest` or a version such as `1.2.3` (default `latest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "default" = DEFAULT_VERSION,
        "pattern" = TAG_PATTERN,
        "maxLength" = MAX_VERSION_LEN
    ))]
    pub version: Option<String>,
    /// Instrumentation provider: `openlit`, `openinference`, `openllmetry` or `custom` (default `openlit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "default" = DEFAULT_PROVIDER,
        "enum" = PROVIDERS,
        "maxLength" = longest(&PROVIDERS)
    ))]
    pub provider: Option<String>,
    /// Pull policy of the init container image (default `IfNotPresent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "default" = DEFAULT_PULL_POLICY,
        "enum" = PULL_POLICIES,
        "maxLength" = longest(&PULL_POLICIES)
    ))]
    pub image_pull_policy: Option<String>,
    /// Extra packages to install, as comma-separated PEP 508 requirement strings, e.g.
    /// `langchain>=0.1.0, openai[datalib]==1.2.3; python_version >= "3.9"`. Direct URLs, pip
    /// options and shell metacharacters are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "pattern" = CUSTOM_PACKAGES_PATTERN,
        "maxLength" = MAX_CUSTOM_PACKAGES_LEN
    ))]
    pub custom_packages: Option<String>,
    /// Init container image overriding the provider's default; required for provider `custom`.
    /// Any OCI reference: `registry[:port]/repository[:tag][@sha256:digest]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "pattern" = IMAGE_REFERENCE_PATTERN,
        "maxLength" = MAX_IMAGE_REFERENCE_LEN
    ))]
    pub custom_init_image: Option<String>,
    /// Extra environment variables for instrumented containers; the container's own variables win.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxItems" = MAX_ENV_ENTRIES))]
    pub env: Option<Vec<EnvVar>>,
    /// Resources of the init container (default requests 100m/128Mi, limits 200m/256Mi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// CPython minor version of the applications, e.g. `"3.12"`: the provider image built for it
    /// is pulled (tag `<version>-py<pythonVersion>`), so compiled packages match the interpreter.
    /// Absent: the plain `<version>` tag, built for CPython 3.11. Ignored with `customInitImage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = PYTHON_VERSIONS, "maxLength" = longest(&PYTHON_VERSIONS)))]
    pub python_version: Option<String>,
    /// What a failing instrumentation setup does: `continue` (default: the app runs uninstrumented)
    /// or `block` (the pod does not start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "default" = DEFAULT_ON_FAILURE,
        "enum" = ON_FAILURE_VALUES,
        "maxLength" = longest(&ON_FAILURE_VALUES)
    ))]
    pub on_failure: Option<String>,
}

/// Go settings kept for compatibility; not acted on.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::go_schema)]
pub struct GoSpec {
    /// Go instrumentation image (unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = MAX_IMAGE_REFERENCE_LEN))]
    pub image: Option<String>,
    /// Go environment variables (unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxItems" = MAX_ENV_ENTRIES))]
    pub env: Option<Vec<EnvVar>>,
}

/// OTLP exporter settings.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::otlp_schema)]
pub struct OtlpSpec {
    /// Base OTLP/HTTP endpoint URL, e.g. `http://openlit.openlit.svc:4318` or `http://[::1]:4318`:
    /// http or https, a host, an optional port and an optional path (no query or credentials).
    #[serde(default)]
    #[schemars(extend("pattern" = ENDPOINT_PATTERN, "maxLength" = MAX_ENDPOINT_LEN))]
    pub endpoint: String,
    /// Export headers in the OpenTelemetry `key=value,key2=value2` form. The value travels in
    /// every instrumented pod's spec; to keep API keys in a Secret, use `headersFrom` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("pattern" = HEADERS_PATTERN, "maxLength" = MAX_HEADERS_LEN))]
    pub headers: Option<String>,
    /// Export headers read from a Secret key (holding the `key=value,key2=value2` form): the
    /// instrumented containers get `OTEL_EXPORTER_OTLP_HEADERS` with `valueFrom.secretKeyRef`, so
    /// the value never appears in the pod or in the webhook's answers. The Secret must be in the
    /// pod's namespace. Cannot be used together with `headers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_from: Option<HeadersSource>,
    /// Export timeout in seconds, 1 to 300 (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "default" = DEFAULT_OTLP_TIMEOUT_SECONDS,
        "minimum" = MIN_OTLP_TIMEOUT_SECONDS,
        "maximum" = MAX_OTLP_TIMEOUT_SECONDS
    ))]
    pub timeout: Option<i32>,
}

/// Where `otlp.headersFrom` reads the export headers.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeadersSource {
    /// A key of a Secret in the instrumented pod's namespace.
    pub secret_key_ref: SecretKeyReference,
}

/// A key of a Secret in the namespace of the pod that uses it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyReference {
    /// Name of the Secret.
    #[schemars(extend("maxLength" = MAX_REFERENCE_LEN))]
    pub name: String,
    /// Key inside the Secret.
    #[schemars(extend("maxLength" = MAX_REFERENCE_LEN))]
    pub key: String,
}

/// Resource attribute settings.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    /// Deployment environment (`deployment.environment`), e.g. `production`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("pattern" = ENVIRONMENT_PATTERN, "maxLength" = MAX_ENVIRONMENT_LEN))]
    pub environment: Option<String>,
}

/// Observed state written by the operator's leader.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoInstrumentationStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions following Kubernetes API conventions; `Ready` is always present once reconciled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Validation errors; while any exist the resource instruments nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_errors: Vec<String>,
    /// Validation warnings; the resource still works.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_warnings: Vec<String>,
}

impl AutoInstrumentationSpec {
    /// The Python instrumentation settings, or all defaults when absent.
    pub fn instrumentation(&self) -> PythonInstrumentation {
        self.python
            .as_ref()
            .and_then(|p| p.instrumentation.clone())
            .unwrap_or_default()
    }

    /// The OTLP timeout in seconds, defaulted.
    pub fn otlp_timeout_seconds(&self) -> i32 {
        self.otlp.timeout.unwrap_or(DEFAULT_OTLP_TIMEOUT_SECONDS)
    }
}

impl PythonInstrumentation {
    /// Whether injection is on (default `true`).
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    /// The provider name, defaulted.
    pub fn provider(&self) -> &str {
        non_empty(&self.provider).unwrap_or(DEFAULT_PROVIDER)
    }

    /// The image tag, defaulted.
    pub fn version(&self) -> &str {
        non_empty(&self.version).unwrap_or(DEFAULT_VERSION)
    }

    /// The image pull policy, defaulted.
    pub fn image_pull_policy(&self) -> &str {
        non_empty(&self.image_pull_policy).unwrap_or(DEFAULT_PULL_POLICY)
    }

    /// Whether a failed setup blocks the pod (`onFailure: block`).
    pub fn blocks_on_failure(&self) -> bool {
        self.on_failure.as_deref() == Some("block")
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}
