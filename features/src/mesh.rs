//! A service-mesh sidecar injector modelled on Istio's, registered as a second mutating webhook
//! next to the operator's: it adds the `istio-init` init container (first, because it sets up the
//! pod's traffic redirection before anything else runs), appends the `istio-proxy` sidecar with
//! its own environment, two volumes, a label and the `sidecar.istio.io/status` annotation. Like
//! Istio it leaves a pod alone that already carries that annotation (so a reinvocation changes
//! nothing) or opts out with `sidecar.istio.io/inject: "false"`. Its webhook configuration asks
//! for `reinvocationPolicy: IfNeeded`, so it is called again when a later webhook changes the pod.

mod server;

use std::sync::Arc;

use base64::Engine as _;
use kubesim::{Exit, Image, Process};
use serde_json::{Value, json};

use server::WebhookServer;

/// The injector's init container.
pub const INIT_CONTAINER: &str = "istio-init";
/// The injector's sidecar container.
pub const PROXY_CONTAINER: &str = "istio-proxy";
/// The annotation recording an injection (Istio's).
pub const STATUS_ANNOTATION: &str = "sidecar.istio.io/status";
/// The label and annotation that opt a pod out of the mesh.
pub const INJECT_KEY: &str = "sidecar.istio.io/inject";
/// The image of both containers.
pub const PROXY_IMAGE: &str = "docker.io/istio/proxyv2:1.22.0";
/// The namespace of the injector's Service.
pub const SERVICE_NAMESPACE: &str = "istio-system";
/// The injector's Service.
pub const SERVICE_NAME: &str = "istiod";
/// The Service's port.
pub const SERVICE_PORT: u16 = 443;

/// The injector could not start.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// Its certificates could not be issued or loaded.
    #[error("mesh injector certificates: {0}")]
    Certificate(String),
    /// It could not listen.
    #[error("mesh injector cannot listen: {0}")]
    Listen(#[source] std::io::Error),
}

/// A running sidecar injector.
pub struct MeshInjector {
    server: WebhookServer,
}

impl MeshInjector {
    /// Starts the injector's HTTPS webhook on a loopback port.
    pub async fn start() -> Result<MeshInjector, MeshError> {
        let name = format!("{SERVICE_NAME}.{SERVICE_NAMESPACE}.svc");
        let server = WebhookServer::start(&name, Arc::new(review_answer)).await?;
        Ok(MeshInjector { server })
    }

    /// Where the webhook listens (the Service's endpoint).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }

    /// AdmissionReviews the injector has answered.
    pub fn calls(&self) -> usize {
        self.server.reviews()
    }

    /// Its MutatingWebhookConfiguration, named `name` (the API server calls configurations in
    /// the order of their names, so the name decides whether it runs before the operator's).
    pub fn configuration(&self, name: &str) -> Value {
        let ca_bundle = base64::engine::general_purpose::STANDARD.encode(&self.server.ca_pem);
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [{
                "name": "sidecar-injector.istio.io",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 10,
                "reinvocationPolicy": "IfNeeded",
                "clientConfig": {
                    "caBundle": ca_bundle,
                    "service": {
                        "namespace": SERVICE_NAMESPACE,
                        "name": SERVICE_NAME,
                        "path": "/inject",
                        "port": SERVICE_PORT,
                    },
                },
                "rules": [{
                    "operations": ["CREATE"],
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "resources": ["pods"],
                }],
                "namespaceSelector": {"matchExpressions": [{
                    "key": "kubernetes.io/metadata.name",
                    "operator": "NotIn",
                    "values": ["kube-system", SERVICE_NAMESPACE],
                }]},
                "objectSelector": {"matchExpressions": [{
                    "key": INJECT_KEY, "operator": "NotIn", "values": ["false"],
                }]},
            }],
        })
    }
}

/// The proxy image as the simulated kubelet runs it: `istio-iptables` sets up the redirection
/// and exits; `proxy sidecar` keeps running.
pub fn proxy_image() -> Image {
    Image::new(PROXY_IMAGE).program(|process: &mut Process| {
        if process.args.first().map(String::as_str) == Some("istio-iptables") {
            process.println("iptables rules installed: outbound to 15001, inbound to 15006");
            Exit::Code(0)
        } else {
            process.println("Envoy proxy is ready");
            Exit::Running
        }
    })
}

/// The AdmissionReview answering `review`: always allowed, with the injection patch when the
/// pod needs one.
pub fn review_answer(review: &Value) -> Value {
    let request = &review["request"];
    let mut response = json!({"uid": request["uid"], "allowed": true});
    let patch = injection_patch(&request["object"]);
    if !patch.is_empty() {
        response["patchType"] = json!("JSONPatch");
        response["patch"] = json!(
            base64::engine::general_purpose::STANDARD.encode(Value::Array(patch).to_string())
        );
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

/// The RFC 6902 operations injecting the mesh into `pod`; none when it is already injected or
/// opted out.
pub fn injection_patch(pod: &Value) -> Vec<Value> {
    let metadata = &pod["metadata"];
    let opted_out = [&metadata["labels"], &metadata["annotations"]]
        .iter()
        .any(|map| map[INJECT_KEY] == "false");
    if opted_out || metadata["annotations"].get(STATUS_ANNOTATION).is_some() {
        return Vec::new();
    }
    let status = json!({
        "initContainers": [INIT_CONTAINER],
        "containers": [PROXY_CONTAINER],
        "volumes": ["istio-envoy", "istio-data"],
        "revision": "default",
    });
    let mut patch = vec![
        put_in_map(
            pod,
            "/metadata/annotations",
            STATUS_ANNOTATION,
            json!(status.to_string()),
        ),
        put_in_map(
            pod,
            "/metadata/labels",
            "security.istio.io/tlsMode",
            json!("istio"),
        ),
    ];
    patch.push(match pod["spec"]["initContainers"].as_array() {
        Some(list) if !list.is_empty() => add("/spec/initContainers/0", init_container()),
        _ => add("/spec/initContainers", json!([init_container()])),
    });
    patch.push(add("/spec/containers/-", proxy_container(pod)));
    let volumes = [
        json!({"name": "istio-envoy", "emptyDir": {"medium": "Memory"}}),
        json!({"name": "istio-data", "emptyDir": {}}),
    ];
    if pod["spec"]["volumes"].is_array() {
        patch.extend(volumes.into_iter().map(|v| add("/spec/volumes/-", v)));
    } else {
        patch.push(add("/spec/volumes", Value::Array(volumes.to_vec())));
    }
    patch
}

fn add(path: &str, value: Value) -> Value {
    json!({"op": "add", "path": path, "value": value})
}

/// Adds `key` to the map at `path`, creating the map when the pod has none.
fn put_in_map(pod: &Value, path: &str, key: &str, value: Value) -> Value {
    let pointer = path.trim_start_matches('/');
    let existing = pointer
        .split('/')
        .try_fold(pod, |node, part| node.get(part))
        .is_some_and(Value::is_object);
    if existing {
        let escaped = key.replace('~', "~0").replace('/', "~1");
        add(&format!("{path}/{escaped}"), value)
    } else {
        add(path, json!({key: value}))
    }
}

fn init_container() -> Value {
    json!({
        "name": INIT_CONTAINER,
        "image": PROXY_IMAGE,
        "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
                 "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020"],
        "securityContext": {
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
            "runAsUser": 0,
            "runAsNonRoot": false,
        },
    })
}

fn proxy_container(pod: &Value) -> Value {
    let workload = pod["metadata"]["labels"]["app"]
        .as_str()
        .or_else(|| pod["metadata"]["name"].as_str())
        .unwrap_or_default();
    let field = |path: &str| json!({"fieldRef": {"fieldPath": path}});
    json!({
        "name": PROXY_CONTAINER,
        "image": PROXY_IMAGE,
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
        "env": [
            {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
            {"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
            {"name": "POD_NAME", "valueFrom": field("metadata.name")},
            {"name": "POD_NAMESPACE", "valueFrom": field("metadata.namespace")},
            {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
            {"name": "ISTIO_META_WORKLOAD_NAME", "value": workload},
        ],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "volumeMounts": [
            {"name": "istio-envoy", "mountPath": "/etc/istio/proxy"},
            {"name": "istio-data", "mountPath": "/var/lib/istio/data"},
        ],
        "securityContext": {"runAsUser": 1337, "runAsGroup": 1337, "runAsNonRoot": true},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "chat", "labels": {"app": "chat"}},
            "spec": {"containers": [{"name": "app", "image": "python:3.12-slim"}]},
        })
    }

    #[test]
    fn injects_once_and_leaves_an_injected_pod_alone() {
        let mut pod = pod();
        let patch: json_patch::Patch =
            serde_json::from_value(Value::Array(injection_patch(&pod))).expect("a patch");
        json_patch::patch(&mut pod, &patch).expect("the patch applies");
        assert_eq!(pod["spec"]["initContainers"][0]["name"], INIT_CONTAINER);
        assert_eq!(pod["spec"]["containers"][1]["name"], PROXY_CONTAINER);
        assert!(pod["metadata"]["annotations"][STATUS_ANNOTATION].is_string());
        assert!(
            injection_patch(&pod).is_empty(),
            "a second call changes nothing"
        );
    }

    #[test]
    fn puts_its_init_container_first_and_respects_the_opt_out() {
        let mut with_init = pod();
        with_init["spec"]["initContainers"] = json!([{"name": "migrate", "image": "busybox"}]);
        with_init["metadata"]["annotations"] = json!({"other": "x"});
        let patch = injection_patch(&with_init);
        assert!(
            patch
                .iter()
                .any(|op| op["path"] == "/spec/initContainers/0")
        );
        assert!(
            patch
                .iter()
                .any(|op| op["path"] == "/metadata/annotations/sidecar.istio.io~1status")
        );
        let mut opted_out = pod();
        opted_out["metadata"]["labels"][INJECT_KEY] = json!("false");
        assert!(injection_patch(&opted_out).is_empty());
    }
}
