//! The shared state of one simulated cluster and the request options of API operations.

use crate::admission::ServiceRegistry;
use crate::auth::Auth;
use crate::clock::SimClock;
use crate::error::{ApiError, Cause};
use crate::faults::Faults;
use crate::http::proxy::PodEndpoints;
use crate::kubelet::KubeletState;
use crate::metrics::RequestCounter;
use crate::resources::{Registry, ResourceDef};
use crate::store::{GroupResource, Store};
use rand::Rng;
use serde_json::{Value, json};

/// Who is making a request, as sent to webhooks in `userInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    /// User name.
    pub username: String,
    /// Groups.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The cluster administrator every HTTP client is treated as.
    pub fn admin() -> Self {
        UserInfo {
            username: "kubernetes-admin".into(),
            groups: vec![
                "kubeadm:cluster-admins".into(),
                "system:authenticated".into(),
            ],
        }
    }

    /// A built-in controller's service account.
    pub fn controller(name: &str) -> Self {
        UserInfo::service_account("kube-system", name)
    }

    /// The user a service account's token authenticates as.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        UserInfo {
            username: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }

    /// As JSON for an AdmissionReview.
    pub fn to_json(&self) -> Value {
        json!({"username": self.username, "groups": self.groups})
    }
}

/// How unknown fields are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop silently.
    Ignore,
    /// Drop and warn (the server default).
    #[default]
    Warn,
    /// Reject with 400.
    Strict,
}

/// Options of a write request.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `fieldManager`, or the one derived from the user agent.
    pub field_manager: String,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `force` (apply).
    pub force: bool,
    /// The requesting user.
    pub user: UserInfo,
}

impl WriteOptions {
    /// Options for a write made by a built-in controller.
    pub fn controller(name: &str) -> Self {
        WriteOptions {
            dry_run: false,
            field_manager: name.to_string(),
            field_validation: FieldValidation::Ignore,
            force: false,
            user: UserInfo::controller(name),
        }
    }
}

/// One simulated cluster: the store, served resources, clock, admission registry, faults, kubelet.
#[derive(Clone)]
pub struct Cluster {
    /// Objects.
    pub store: Store,
    /// Served resources.
    pub registry: Registry,
    /// Virtual clock.
    pub clock: SimClock,
    /// Where webhook services are reachable.
    pub services: ServiceRegistry,
    /// Fault rules.
    pub faults: Faults,
    /// Request counts.
    pub requests: RequestCounter,
    /// Kubelet images and running containers.
    pub kubelet: KubeletState,
    /// Issued service account tokens and the log of refused requests.
    pub auth: Auth,
    /// Where pods' ports are served, for the `pods/proxy` subresource.
    pub pod_endpoints: PodEndpoints,
}

impl Cluster {
    /// A new cluster with the given clock and watch history size.
    pub fn new(clock: SimClock, history: usize) -> Self {
        Cluster {
            store: Store::with_history(history),
            registry: Registry::default(),
            clock,
            services: ServiceRegistry::default(),
            faults: Faults::default(),
            requests: RequestCounter::default(),
            kubelet: KubeletState::default(),
            auth: Auth::default(),
            pod_endpoints: PodEndpoints::default(),
        }
    }

    /// Look a resource up, or 404.
    pub fn resource(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Result<ResourceDef, ApiError> {
        self.registry
            .get(group, version, plural)
            .ok_or_else(ApiError::unknown_resource)
    }
}

/// `(group, plural)` of a definition.
pub fn gr(def: &ResourceDef) -> GroupResource {
    (def.group.clone(), def.plural.clone())
}

const NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Random suffix as used by generateName.
pub fn random_suffix(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| NAME_CHARS[rng.random_range(0..NAME_CHARS.len())] as char)
        .collect()
}

/// A random UUID (version 4).
pub fn new_uid() -> String {
    let b: [u8; 16] = rand::random();
    let h = |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        h(0..4),
        h(4..6),
        &h(6..8)[1..],
        8 | (b[8] & 3),
        &h(8..10)[1..],
        h(10..16)
    )
}

/// Validate a `generateName` prefix as the API server does: a trailing `-` is allowed (the random
/// suffix follows it), anything else must already be a valid DNS-1123 subdomain.
pub fn validate_generate_name(prefix: &str) -> Option<Cause> {
    let masked = match prefix.strip_suffix('-') {
        Some(head) => format!("{head}a"),
        None => prefix.to_string(),
    };
    let mut cause = validate_name(&masked)?;
    cause.message = cause
        .message
        .replacen(&format!("{masked:?}"), &format!("{prefix:?}"), 1);
    cause.field = "metadata.generateName".into();
    Some(cause)
}

/// Validate an object name as a DNS-1123 subdomain.
pub fn validate_name(name: &str) -> Option<Cause> {
    let re_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !p.starts_with('-')
                && !p.ends_with('-')
        });
    if re_ok {
        return None;
    }
    Some(Cause {
        reason: "FieldValueInvalid".into(),
        message: format!(
            "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        ),
        field: "metadata.name".into(),
    })
}

/// The part of an object whose change bumps `metadata.generation`.
pub fn generation_relevant(def: &ResourceDef, obj: &Value) -> Value {
    if def.custom {
        let mut o = obj.clone();
        if let Some(m) = o.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        o
    } else if def.kind == "MutatingWebhookConfiguration" {
        obj["webhooks"].clone()
    } else {
        obj["spec"].clone()
    }
}

/// Strip what does not count when deciding whether an update changed anything.
pub fn comparable(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    o
}

/// The default field manager for a user agent (the part before the first `/`).
pub fn manager_from_user_agent(ua: &str) -> String {
    let m = ua.split('/').next().unwrap_or_default();
    if m.is_empty() {
        "unknown".into()
    } else {
        m.to_string()
    }
}
