//! What a user does with the Kubernetes API in the scenarios: apply manifests, create workloads,
//! read pods back, and wait (with a deadline, never a sleep) for what they expect.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, core::DynamicObject, discovery::ApiResource};
use serde_json::{Value, json};

/// How long a scenario waits for the cluster to reach an expected state.
pub const WAIT: Duration = Duration::from_secs(20);
/// How long a real cluster may take to delete a namespace and its pods.
pub const NAMESPACE_DELETION: Duration = Duration::from_secs(120);

/// A failure in a step, with a message for the scenario's report.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The API call failed.
    #[error("API call failed: {0}")]
    Api(#[from] kube::Error),
    /// A manifest in the scenario could not be read.
    #[error("manifest is not valid YAML: {0}")]
    Manifest(String),
    /// Waiting ran out.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Result of a step helper.
pub type StepResult<T> = Result<T, StepError>;

/// Parses a YAML manifest from a scenario into JSON.
pub fn manifest(yaml: &str) -> StepResult<Value> {
    serde_saphyr::from_str(yaml).map_err(|e| StepError::Manifest(e.to_string()))
}

/// Polls `check` until it yields `Some`, or fails after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> StepResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StepResult<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e.to_string()),
        }
        if tokio::time::Instant::now() >= deadline {
            let detail = last_error
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default();
            return Err(StepError::Timeout(timeout, format!("{what}{detail}")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates a namespace unless it exists.
pub async fn ensure_namespace(client: &Client, name: &str) -> StepResult<bool> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt(name).await?.is_some() {
        return Ok(false);
    }
    let ns = serde_json::from_value(json!({"metadata": {"name": name}}))
        .map_err(|e| StepError::Other(e.to_string()))?;
    match namespaces.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the object at an API path; one that is already gone is fine.
pub async fn delete_path(client: &Client, path: &str) -> StepResult<()> {
    let request = http::Request::delete(path)
        .body(Vec::new())
        .map_err(|e| StepError::Other(e.to_string()))?;
    match client.request::<Value>(request).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The API resource of `AutoInstrumentation`.
pub fn autoinstrumentation_resource() -> ApiResource {
    ApiResource {
        group: "openlit.io".into(),
        version: "v1alpha1".into(),
        api_version: "openlit.io/v1alpha1".into(),
        kind: "AutoInstrumentation".into(),
        plural: "autoinstrumentations".into(),
    }
}

/// Applies (server-side) an AutoInstrumentation manifest in `namespace`, as `kubectl apply` would.
pub async fn apply_autoinstrumentation(
    client: &Client,
    namespace: &str,
    yaml: &str,
) -> StepResult<DynamicObject> {
    let mut object = manifest(yaml)?;
    object["apiVersion"] = json!("openlit.io/v1alpha1");
    object["kind"] = json!("AutoInstrumentation");
    object["metadata"]["namespace"] = json!(namespace);
    let name = object["metadata"]["name"]
        .as_str()
        .ok_or_else(|| StepError::Manifest("metadata.name is missing".into()))?
        .to_string();
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &autoinstrumentation_resource());
    let params = PatchParams::apply("features").force();
    Ok(api.patch(&name, &params, &Patch::Apply(&object)).await?)
}

/// A pod created through the API, with the admission warnings the API server returned.
#[derive(Clone, Debug)]
pub struct Created {
    /// The stored pod.
    pub object: Value,
    /// `Warning` headers of the create response.
    pub warnings: Vec<String>,
}

/// Creates an object with a raw POST so the response's `Warning` headers can be read.
pub async fn create_with_warnings(
    client: &Client,
    path: &str,
    object: &Value,
) -> StepResult<Created> {
    let body = serde_json::to_vec(object).map_err(|e| StepError::Other(e.to_string()))?;
    let request = http::Request::post(path)
        .header("content-type", "application/json")
        .body(body)
        .map_err(|e| StepError::Other(e.to_string()))?;
    let response = client.send(request.map(kube::client::Body::from)).await?;
    let status = response.status();
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(parse_warning)
        .collect();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map_err(|e| StepError::Other(e.to_string()))?
        .to_bytes();
    let object: Value =
        serde_json::from_slice(&bytes).map_err(|e| StepError::Other(e.to_string()))?;
    if !status.is_success() {
        let message = object["message"].as_str().unwrap_or_default();
        return Err(StepError::Other(format!(
            "create refused with {status}: {message}"
        )));
    }
    Ok(Created { object, warnings })
}

/// `299 - "text"` → `text`.
fn parse_warning(header: &str) -> String {
    let text = header.splitn(3, ' ').nth(2).unwrap_or(header);
    text.trim().trim_matches('"').replace("\\\"", "\"")
}

/// Creates a pod in `namespace`, returning it with the admission warnings.
/// Python containers without a command get the application's, see [`crate::apps::with_app_command`].
pub async fn create_pod(client: &Client, namespace: &str, pod: &Value) -> StepResult<Created> {
    let mut pod = pod.clone();
    crate::apps::with_app_command(&mut pod["spec"]);
    pod["apiVersion"] = json!("v1");
    pod["kind"] = json!("Pod");
    create_with_warnings(
        client,
        &format!("/api/v1/namespaces/{namespace}/pods"),
        &pod,
    )
    .await
}

/// A one-container pod manifest.
pub fn simple_pod(name: &str, image: &str, labels: &Value) -> Value {
    json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": image}]},
    })
}

/// `a=b,c=d` → `{"a": "b", "c": "d"}`.
pub fn labels(text: &str) -> Value {
    let map: serde_json::Map<String, Value> = text
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), json!(v.trim())))
        .collect();
    Value::Object(map)
}

/// Creates a one-replica Deployment whose pods carry `labels` (a Python image runs the
/// application's command, see [`crate::apps::with_app_command`]).
pub async fn create_deployment(
    client: &Client,
    namespace: &str,
    name: &str,
    image: &str,
    labels: &Value,
) -> StepResult<()> {
    let mut deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": image}]}},
        },
    });
    crate::apps::with_app_command(&mut deployment["spec"]["template"]["spec"]);
    create_with_warnings(
        client,
        &format!("/apis/apps/v1/namespaces/{namespace}/deployments"),
        &deployment,
    )
    .await?;
    Ok(())
}

/// Waits until a pod of the Deployment exists and returns its name.
pub async fn deployment_pod(
    client: &Client,
    namespace: &str,
    labels: &Value,
) -> StepResult<String> {
    let selector: Vec<String> = labels
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&selector.join(","));
    eventually(WAIT, "a pod of the Deployment", || {
        let pods = pods.clone();
        let params = params.clone();
        async move {
            let list = pods.list(&params).await?;
            Ok(list.items.into_iter().find_map(|p| p.metadata.name))
        }
    })
    .await
}

/// Waits until the pod is Running and returns it as JSON.
pub async fn running_pod(client: &Client, namespace: &str, name: &str) -> StepResult<Value> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    eventually(
        WAIT,
        &format!("pod {namespace}/{name} to be Running"),
        || {
            let pods = pods.clone();
            async move {
                let Some(pod) = pods.get_opt(name).await? else {
                    return Ok(None);
                };
                let value =
                    serde_json::to_value(&pod).map_err(|e| StepError::Other(e.to_string()))?;
                Ok((value["status"]["phase"] == "Running").then_some(value))
            }
        },
    )
    .await
}
