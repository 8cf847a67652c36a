//! One AdmissionReview, free of I/O: body bytes in, HTTP status and JSON reply out.
//!
//! [`review`] is what `POST /mutate` runs (and what the fuzz target calls). A body that is not an
//! AdmissionReview is answered with `400 Bad Request` and a plain-text message; every valid review
//! is answered `200 OK` with `allowed: true` — the operator never refuses a pod, it only declines to
//! change it, with a warning when something went wrong on its side.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::inject::{Decision, InjectConfig, Policy, cap_warnings, mutate, truncate};
use crate::metrics::AdmissionOutcome;

/// Where the webhook finds the resources to apply: the watch-fed cache in production.
pub trait PolicySource: Send + Sync {
    /// The compiled resources that may apply to a pod in `pod_namespace`: those of that namespace
    /// and those of `operator_namespace` (cluster-wide defaults). Must not do I/O.
    fn candidates(&self, pod_namespace: &str, operator_namespace: &str) -> Vec<Arc<Policy>>;

    /// Whether the source has seen the complete initial list of resources.
    fn synced(&self) -> bool {
        true
    }
}

/// A fixed set of resources, for tools, benchmarks and tests.
#[derive(Clone, Debug, Default)]
pub struct StaticPolicies(pub Vec<Arc<Policy>>);

impl PolicySource for StaticPolicies {
    fn candidates(&self, pod_namespace: &str, operator_namespace: &str) -> Vec<Arc<Policy>> {
        self.0
            .iter()
            .filter(|p| {
                p.resource.namespace == pod_namespace || p.resource.namespace == operator_namespace
            })
            .cloned()
            .collect()
    }
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// HTTP status: 200 for every AdmissionReview, 400 for anything else.
    pub status: u16,
    /// The JSON AdmissionReview (status 200) or a plain-text explanation (status 400).
    pub body: Vec<u8>,
    /// How the admission ended, for the metrics.
    pub outcome: AdmissionOutcome,
}

impl Reply {
    fn bad_request(message: String) -> Reply {
        Reply {
            status: 400,
            body: format!("invalid AdmissionReview: {message}\n").into_bytes(),
            outcome: AdmissionOutcome::Error,
        }
    }
}

/// Warning returned when the operator failed internally and admitted the pod unchanged.
pub const INTERNAL_ERROR_WARNING: &str = "openlit-operator: internal error while processing this pod; it was admitted without instrumentation";

/// Answers one `POST /mutate` body.
///
/// | Input | Answer |
/// |---|---|
/// | not UTF-8, not JSON, nested deeper than 128 levels, not an object | 400 |
/// | `apiVersion`/`kind` not `admission.k8s.io/v1` (or `v1beta1`) `AdmissionReview` | 400 |
/// | `request` missing or not an object, `request.uid` missing | 400 |
/// | CREATE of a Pod with `request.object` missing or not an object | 400 |
/// | another kind, a subresource, UPDATE, DELETE, CONNECT | 200, allowed, no patch (a warning for another kind) |
/// | CREATE of a Pod (dry-run included: the mutation has no side effects) | 200, allowed, the injection's patch and warnings |
/// | an internal failure (a panic) while deciding | 200, allowed, no patch, [`INTERNAL_ERROR_WARNING`] |
pub fn review(body: &[u8], source: &dyn PolicySource, config: &InjectConfig) -> Reply {
    let parsed = match parse(body) {
        Ok(parsed) => parsed,
        Err(message) => return Reply::bad_request(message),
    };
    let Parsed {
        api_version,
        uid,
        request,
    } = parsed;
    let answer = |response: Map<String, Value>, outcome| {
        let mut response = response;
        response.insert("uid".into(), Value::String(uid.clone()));
        response.insert("allowed".into(), Value::Bool(true));
        let review = json!({
            "apiVersion": api_version,
            "kind": "AdmissionReview",
            "response": response,
        });
        Reply {
            status: 200,
            body: serde_json::to_vec(&review).unwrap_or_default(),
            outcome,
        }
    };

    let kind = &request["kind"];
    let group = kind["group"].as_str().unwrap_or_default();
    let kind_name = kind["kind"].as_str().unwrap_or_default();
    if !group.is_empty() || kind_name != "Pod" {
        let shown = if group.is_empty() {
            kind_name.to_string()
        } else {
            format!("{group}/{kind_name}")
        };
        let warning =
            format!("openlit-operator only mutates Pods; this {shown} request was left unchanged");
        return answer(warnings(vec![warning]), AdmissionOutcome::Untouched);
    }
    if request["subResource"]
        .as_str()
        .is_some_and(|s| !s.is_empty())
    {
        return answer(Map::new(), AdmissionOutcome::Untouched);
    }
    if request["operation"].as_str() != Some("CREATE") {
        return answer(Map::new(), AdmissionOutcome::Untouched);
    }
    let pod = &request["object"];
    if !pod.is_object() {
        return Reply::bad_request(format!(
            "request.object must be the Pod being created, got {}",
            type_name(pod)
        ));
    }
    let namespace = request["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            pod["metadata"]["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
        });
    let Some(namespace) = namespace else {
        let warning =
            "openlit-operator: the request names no namespace; the pod was left unchanged";
        return answer(warnings(vec![warning.into()]), AdmissionOutcome::Error);
    };

    let decided = catch_unwind(AssertUnwindSafe(|| {
        let candidates = source.candidates(namespace, &config.operator_namespace);
        mutate(pod, namespace, candidates.iter().map(Arc::as_ref), config)
    }));
    let Ok(mutation) = decided else {
        return answer(
            warnings(vec![INTERNAL_ERROR_WARNING.into()]),
            AdmissionOutcome::Error,
        );
    };
    let outcome = match &mutation.decision {
        Decision::Instrumented { .. } => AdmissionOutcome::Instrumented,
        Decision::Skipped { .. } => AdmissionOutcome::Skipped,
        Decision::Untouched(_) => AdmissionOutcome::Untouched,
    };
    let mut response = warnings(mutation.warnings);
    if !mutation.patch.is_empty() {
        let Ok(patch) = serde_json::to_vec(&mutation.patch) else {
            return answer(
                warnings(vec![INTERNAL_ERROR_WARNING.into()]),
                AdmissionOutcome::Error,
            );
        };
        response.insert("patchType".into(), Value::String("JSONPatch".into()));
        response.insert(
            "patch".into(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(patch)),
        );
    }
    let audit = match &mutation.decision {
        Decision::Instrumented { resource, .. } => format!("instrumented by {resource}"),
        Decision::Skipped { resource, reason } => {
            format!("selected by {resource}, skipped: {reason}")
        }
        Decision::Untouched(reason) => reason.clone(),
    };
    let audit = truncate(&audit, MAX_AUDIT_BYTES);
    response.insert("auditAnnotations".into(), json!({ "decision": audit }));
    answer(response, outcome)
}

/// Longest audit annotation value written (bytes).
const MAX_AUDIT_BYTES: usize = 1024;

/// Warning returned when every admission worker stayed busy for the whole queue timeout.
pub const BUSY_WARNING: &str = "openlit-operator: too busy to process this pod in time; it was admitted without instrumentation";

/// The answer when the operator is too busy to decide: a valid AdmissionReview is allowed
/// unchanged with [`BUSY_WARNING`]; anything else gets the same 400 as [`review`] gives it.
/// Reads only the envelope (`apiVersion`, `kind`, `request.uid`), skipping the pod unparsed.
pub fn busy(body: &[u8]) -> Reply {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "apiVersion", default)]
        api_version: String,
        #[serde(default)]
        kind: String,
        request: Option<EnvelopeRequest>,
    }
    #[derive(serde::Deserialize)]
    struct EnvelopeRequest {
        #[serde(default)]
        uid: String,
    }
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(e) => return Reply::bad_request(format!("the body is not valid JSON: {e}")),
    };
    let known = matches!(
        envelope.api_version.as_str(),
        "admission.k8s.io/v1" | "admission.k8s.io/v1beta1"
    );
    let uid = envelope.request.map(|r| r.uid).unwrap_or_default();
    if envelope.kind != "AdmissionReview" || !known || uid.is_empty() {
        return Reply::bad_request(
            "expected an admission.k8s.io/v1 AdmissionReview with a request.uid".into(),
        );
    }
    let review = json!({
        "apiVersion": envelope.api_version,
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": true, "warnings": [BUSY_WARNING]},
    });
    Reply {
        status: 200,
        body: serde_json::to_vec(&review).unwrap_or_default(),
        outcome: AdmissionOutcome::Error,
    }
}

struct Parsed {
    api_version: String,
    uid: String,
    request: Value,
}

fn parse(body: &[u8]) -> Result<Parsed, String> {
    if let Err(e) = std::str::from_utf8(body) {
        return Err(format!(
            "the body is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ));
    }
    let mut value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Some(object) = value.as_object_mut() else {
        return Err(format!(
            "the body must be a JSON object, got {}",
            type_name(&value)
        ));
    };
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != "AdmissionReview"
        || !matches!(
            api_version.as_str(),
            "admission.k8s.io/v1" | "admission.k8s.io/v1beta1"
        )
    {
        return Err(format!(
            "expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got apiVersion {api_version:?} and kind {kind:?}"
        ));
    }
    let request = match object.remove("request") {
        Some(request @ Value::Object(_)) => request,
        Some(other) => {
            return Err(format!(
                "request must be an object, got {}",
                type_name(&other)
            ));
        }
        None => return Err("the AdmissionReview has no request".into()),
    };
    let uid = match request.get("uid").and_then(Value::as_str) {
        Some(uid) if !uid.is_empty() => uid.to_string(),
        _ => return Err("request.uid is missing or empty".into()),
    };
    Ok(Parsed {
        api_version,
        uid,
        request,
    })
}

/// The `warnings` of a response, capped in number and length.
fn warnings(list: Vec<String>) -> Map<String, Value> {
    let mut map = Map::new();
    let list = cap_warnings(list);
    if !list.is_empty() {
        map.insert(
            "warnings".into(),
            Value::Array(list.into_iter().map(Value::String).collect()),
        );
    }
    map
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
