//! The MutatingWebhookConfiguration that routes pod creations to the webhook, kept as SPEC §5
//! describes and its `caBundle` current. Written only by the leader.
//!
//! [`run_webhook_config`] applies [`desired`] (server-side apply, field manager
//! [`WebhookConfigSettings::field_manager`]) whenever this replica becomes leader, the CA bundle
//! of the served certificate changes (including the old-plus-new bundle of a CA rollover), or the
//! live object drifts from it (edited or deleted). It writes nothing until a certificate is
//! loaded, so the API server is never told to trust a bundle the webhook cannot serve.
//!
//! What it knows of the live object comes from a watch (a relist replaces it entirely, so a
//! deletion missed while the watch was down is noticed) and, while leading, from a GET every
//! [`WebhookConfigSettings::verify_interval`], so the configuration is recreated even when the
//! watch itself is broken. Every replica records the `caBundle` the API server serves in
//! [`ServingCertificate::publish`]: a CA rollover waits for it. Each request is bounded by
//! [`WebhookConfigSettings::request_timeout`] on the clock.
//!
//! With [`WebhookConfigSettings::owner_cluster_role`] set, the configuration carries an
//! ownerReference to that ClusterRole (read afresh before each write, so a recreated role's new
//! uid is used): deleting the installation's ClusterRole, as uninstalling the manifests or the
//! chart does, lets the garbage collector remove the configuration, and no webhook is left
//! behind to intercept pods.

use std::future::Future;
use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::api::bounded;
use crate::clock::SharedClock;
use crate::inject::OPT_OUT_KEY;
use crate::tls::ServingCertificate;
use crate::watch::{WATCH_BACKOFF, watch_with_backoff};

/// Name of the single webhook in the configuration.
pub const WEBHOOK_NAME: &str = "pod-instrumentation.openlit.io";

/// What the API server does when the webhook cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Create the pod uninstrumented (the default: the operator never blocks pods).
    #[default]
    Ignore,
    /// Refuse the pod.
    Fail,
}

impl FailurePolicy {
    /// As written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Ignore => "Ignore",
            FailurePolicy::Fail => "Fail",
        }
    }
}

/// Settings of the webhook configuration.
#[derive(Clone, Debug)]
pub struct WebhookConfigSettings {
    /// The configuration's name (cluster-scoped, so derived from the installation's name).
    pub name: String,
    /// The webhook Service's name.
    pub service_name: String,
    /// The operator's namespace: the Service's, and excluded from injection.
    pub namespace: String,
    /// The Service port (default 443).
    pub service_port: i32,
    /// The path (default `/mutate`).
    pub path: String,
    /// Default [`FailurePolicy::Ignore`].
    pub failure_policy: FailurePolicy,
    /// Default 5.
    pub timeout_seconds: i32,
    /// Limit injection to these namespaces (`None`: all but the excluded ones).
    pub namespaces: Option<Vec<String>>,
    /// Label (key, value) of the operator's own pods, which are never sent to the webhook.
    pub operator_pod_label: (String, String),
    /// Labels on the configuration.
    pub labels: Vec<(String, String)>,
    /// Server-side apply field manager.
    pub field_manager: String,
    /// Wait before retrying a failed write (on the clock).
    pub retry_interval: Duration,
    /// ClusterRole the configuration is owned by, so it is garbage-collected with it.
    pub owner_cluster_role: Option<String>,
    /// Bound of one request (on the clock).
    pub request_timeout: Duration,
    /// While leading, read the live configuration this often, whatever the watch says.
    pub verify_interval: Duration,
}

impl WebhookConfigSettings {
    /// Defaults for an installation: configuration `<installation>-mutating-webhook-configuration`,
    /// Service `<installation>-webhook-service` in `namespace`.
    pub fn for_installation(installation: &str, namespace: &str) -> Self {
        WebhookConfigSettings {
            name: format!("{installation}-mutating-webhook-configuration"),
            service_name: format!("{installation}-webhook-service"),
            namespace: namespace.to_string(),
            service_port: 443,
            path: "/mutate".into(),
            failure_policy: FailurePolicy::Ignore,
            timeout_seconds: 5,
            namespaces: None,
            operator_pod_label: (
                "app.kubernetes.io/instance".into(),
                installation.to_string(),
            ),
            labels: vec![
                (
                    "app.kubernetes.io/managed-by".into(),
                    "openlit-operator".into(),
                ),
                (
                    "app.kubernetes.io/instance".into(),
                    installation.to_string(),
                ),
            ],
            field_manager: "openlit-operator".into(),
            retry_interval: Duration::from_secs(10),
            owner_cluster_role: None,
            request_timeout: crate::api::DEFAULT_REQUEST_TIMEOUT,
            verify_interval: Duration::from_secs(60),
        }
    }
}

/// The configuration for `ca_bundle` (PEM; `caBundle` is omitted when empty, for an external
/// injector such as cert-manager's to fill).
pub fn desired(settings: &WebhookConfigSettings, ca_bundle: &str) -> Value {
    let mut excluded = vec![settings.namespace.clone(), "kube-system".to_string()];
    excluded.dedup();
    let mut namespace_rules = vec![json!({
        "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded,
    })];
    if let Some(list) = &settings.namespaces {
        namespace_rules.push(json!({
            "key": "kubernetes.io/metadata.name", "operator": "In", "values": list,
        }));
    }
    let (own_key, own_value) = &settings.operator_pod_label;
    let mut client_config = json!({
        "service": {
            "name": settings.service_name,
            "namespace": settings.namespace,
            "path": settings.path,
            "port": settings.service_port,
        }
    });
    if !ca_bundle.is_empty() {
        client_config["caBundle"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ca_bundle));
    }
    let labels: serde_json::Map<String, Value> = settings
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": settings.name, "labels": labels},
        "webhooks": [{
            "name": WEBHOOK_NAME,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "timeoutSeconds": settings.timeout_seconds,
            "failurePolicy": settings.failure_policy.as_str(),
            "reinvocationPolicy": "IfNeeded",
            "matchPolicy": "Equivalent",
            "rules": [{
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": ["pods"],
                "scope": "Namespaced",
            }],
            "namespaceSelector": {"matchExpressions": namespace_rules},
            "objectSelector": {"matchExpressions": [
                {"key": OPT_OUT_KEY, "operator": "NotIn", "values": ["false"]},
                {"key": own_key, "operator": "NotIn", "values": [own_value]},
            ]},
            "clientConfig": client_config,
        }],
    })
}

/// `configuration` owned by the ClusterRole `name` with `uid`: the garbage collector deletes it
/// once the role is gone. Not a controller reference, and it does not block the role's deletion.
pub fn owned_by_cluster_role(mut configuration: Value, name: &str, uid: &str) -> Value {
    configuration["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "name": name,
        "uid": uid,
    }]);
    configuration
}

/// [`desired`], with the ownerReference to the configured ClusterRole as it is now.
async fn desired_now(
    client: &Client,
    clock: &SharedClock,
    settings: &WebhookConfigSettings,
    ca_bundle: &str,
) -> Result<Value, kube::Error> {
    let want = desired(settings, ca_bundle);
    let Some(owner) = &settings.owner_cluster_role else {
        return Ok(want);
    };
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let role = bounded(&**clock, settings.request_timeout, roles.get(owner)).await?;
    let uid = role.metadata.uid.unwrap_or_default();
    Ok(owned_by_cluster_role(want, owner, &uid))
}

/// Whether every field of `want` is in `have` with the same value (arrays element by element).
fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| h.get(k).is_some_and(|hv| contains(hv, v))),
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(a, b)| contains(a, b))
        }
        _ => have == want,
    }
}

/// Whether the live configuration names the configured owner (any uid: a recreated role is
/// noticed at the next write; the garbage collector removes a configuration whose owner is gone).
fn owner_current(have: &Value, settings: &WebhookConfigSettings) -> bool {
    let Some(owner) = &settings.owner_cluster_role else {
        return true;
    };
    have["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["kind"] == "ClusterRole" && r["name"] == owner.as_str())
}

/// The CA bundle (PEM) of a live configuration's webhook, if it carries one.
pub fn served_bundle(configuration: &Value) -> Option<String> {
    let encoded = configuration["webhooks"]
        .as_array()?
        .iter()
        .find(|w| w["name"] == WEBHOOK_NAME)?["clientConfig"]["caBundle"]
        .as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(decoded).ok()
}

fn after(now: Timestamp, by: Duration) -> Timestamp {
    now.checked_add(SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

/// Keeps the configuration equal to [`desired`] for the served certificate's CA bundle while
/// `leader` holds `true`, until `shutdown` completes.
pub async fn run_webhook_config(
    client: Client,
    settings: WebhookConfigSettings,
    clock: SharedClock,
    certificate: ServingCertificate,
    mut leader: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let config = watcher::Config::default().fields(&format!("metadata.name={}", settings.name));
    let stream = watch_with_backoff(
        watcher(api.clone(), config),
        clock.clone(),
        WATCH_BACKOFF,
        "the webhook configuration".into(),
    );
    tokio::pin!(stream, shutdown);
    let mut bundles = certificate.subscribe();
    let mut live: Option<Value> = None;
    // Objects of a relist in progress: they replace `live` when it completes.
    let mut relist: Option<Option<Value>> = None;
    let mut synced = false;
    let mut leader_open = true;
    let mut bundles_open = true;
    let mut retry: Option<Timestamp> = None;
    let mut verify_at: Option<Timestamp> = None;
    loop {
        let sleep = retry.map(|t| clock.sleep_until(t));
        let leading = *leader.borrow();
        let verify = verify_at.filter(|_| leading).map(|t| clock.sleep_until(t));
        let mut verify_now = false;
        tokio::select! {
            () = &mut shutdown => return,
            event = stream.next() => match event {
                None => return,
                Some(Err(e)) => tracing::warn!(error = %e, "watching the webhook configuration"),
                Some(Ok(watcher::Event::Init)) => relist = Some(None),
                Some(Ok(watcher::Event::InitApply(o))) => {
                    relist = Some(serde_json::to_value(o).ok());
                }
                Some(Ok(watcher::Event::Apply(o))) => live = serde_json::to_value(o).ok(),
                Some(Ok(watcher::Event::InitDone)) => {
                    live = relist.take().flatten();
                    synced = true;
                }
                Some(Ok(watcher::Event::Delete(_))) => live = None,
            },
            changed = leader.changed(), if leader_open => leader_open = changed.is_ok(),
            changed = bundles.changed(), if bundles_open => bundles_open = changed.is_ok(),
            () = async { if let Some(s) = sleep { s.await } else { std::future::pending().await } } => {
                retry = None;
            }
            () = async { if let Some(s) = verify { s.await } else { std::future::pending().await } } => {
                verify_now = true;
            }
        }
        if synced {
            certificate.publish(live.as_ref().and_then(served_bundle));
        }
        if !synced || !*leader.borrow() {
            verify_at = None;
            continue;
        }
        if verify_now || verify_at.is_none() {
            verify_at = Some(after(clock.now(), settings.verify_interval));
        }
        if verify_now {
            match bounded(
                &*clock,
                settings.request_timeout,
                api.get_opt(&settings.name),
            )
            .await
            {
                Ok(found) => {
                    if found.is_none() && live.is_some() {
                        tracing::warn!(name = %settings.name, "the webhook configuration is gone");
                    }
                    live = found.and_then(|o| serde_json::to_value(o).ok());
                    certificate.publish(live.as_ref().and_then(served_bundle));
                }
                Err(e) => tracing::warn!(error = %e, "reading the webhook configuration"),
            }
        }
        if retry.is_some() {
            continue;
        }
        let Some(served) = certificate.current() else {
            continue;
        };
        let unowned = desired(&settings, &served.ca_bundle);
        if live
            .as_ref()
            .is_some_and(|have| contains(have, &unowned) && owner_current(have, &settings))
        {
            continue;
        }
        let params = PatchParams::apply(&settings.field_manager).force();
        let written = match desired_now(&client, &clock, &settings, &served.ca_bundle).await {
            Ok(want) => {
                let patch = Patch::Apply(&want);
                let apply = api.patch(&settings.name, &params, &patch);
                bounded(&*clock, settings.request_timeout, apply).await
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(written) => {
                tracing::info!(name = %settings.name, "applied the webhook configuration");
                live = serde_json::to_value(written).ok();
                certificate.publish(live.as_ref().and_then(served_bundle));
            }
            Err(e) => {
                tracing::warn!(error = %e, "applying the webhook configuration");
                retry = Some(after(clock.now(), settings.retry_interval));
            }
        }
    }
}
