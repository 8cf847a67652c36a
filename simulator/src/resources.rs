//! The resource types the API server serves: built-ins plus those registered by CRDs.

use serde_json::Value;
use std::sync::{Arc, RwLock};

/// How a resource is served.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDef {
    /// API group (`""` for core).
    pub group: String,
    /// Served version.
    pub version: String,
    /// Plural resource name, e.g. `pods`.
    pub plural: String,
    /// Singular name, e.g. `pod`.
    pub singular: String,
    /// Kind, e.g. `Pod`.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
    /// Categories for kubectl (`all`).
    pub categories: Vec<String>,
    /// Whether a `status` subresource separates status from the main resource.
    pub status_subresource: bool,
    /// Whether `metadata.generation` is maintained.
    pub generation: bool,
    /// For custom resources: the structural `openAPIV3Schema`.
    pub schema: Option<Value>,
    /// For custom resources: `additionalPrinterColumns`.
    pub printer_columns: Vec<Value>,
    /// Whether this resource comes from a CRD.
    pub custom: bool,
}

impl ResourceDef {
    /// `group/version`, or `version` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The list kind, e.g. `PodList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The verbs served.
    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    /// The URL path prefix of the group version, e.g. `/api/v1` or `/apis/apps/v1`.
    pub fn gv_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

struct Builtin(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    bool,
    bool,
);

const BUILTINS: &[Builtin] = &[
    // group, version, plural, kind, namespaced, shortNames, status subresource, generation
    Builtin(
        "",
        "v1",
        "namespaces",
        "Namespace",
        false,
        &["ns"],
        true,
        false,
    ),
    Builtin("", "v1", "nodes", "Node", false, &["no"], true, false),
    Builtin("", "v1", "pods", "Pod", true, &["po"], true, false),
    Builtin("", "v1", "secrets", "Secret", true, &[], false, false),
    Builtin(
        "",
        "v1",
        "configmaps",
        "ConfigMap",
        true,
        &["cm"],
        false,
        false,
    ),
    Builtin("", "v1", "services", "Service", true, &["svc"], true, false),
    Builtin(
        "",
        "v1",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        false,
        false,
    ),
    Builtin(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        true,
        &[],
        false,
        false,
    ),
    Builtin(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        false,
        true,
    ),
    Builtin(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        false,
        false,
    ),
    Builtin("", "v1", "events", "Event", true, &["ev"], false, false),
    Builtin(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        true,
        &["ev"],
        false,
        false,
    ),
    Builtin(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        true,
        &[],
        false,
        false,
    ),
    Builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        true,
        true,
    ),
    Builtin(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        true,
        true,
    ),
    Builtin(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        &[],
        false,
        true,
    ),
    Builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        &[],
        false,
        false,
    ),
    Builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        false,
        false,
    ),
    Builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        false,
        false,
    ),
    Builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        false,
        false,
    ),
    Builtin(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        true,
        true,
    ),
    Builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        true,
        true,
    ),
];

fn builtin_defs() -> Vec<ResourceDef> {
    BUILTINS
        .iter()
        .map(|b| ResourceDef {
            group: b.0.into(),
            version: b.1.into(),
            plural: b.2.into(),
            singular: b.3.to_lowercase(),
            kind: b.3.into(),
            namespaced: b.4,
            short_names: b.5.iter().map(|s| s.to_string()).collect(),
            categories: if matches!(b.2, "pods" | "services" | "deployments" | "replicasets") {
                vec!["all".into()]
            } else {
                vec![]
            },
            status_subresource: b.6,
            generation: b.7,
            schema: None,
            printer_columns: vec![],
            custom: false,
        })
        .collect()
}

/// The set of served resources, shared by the API server and the controllers.
#[derive(Clone)]
pub struct Registry {
    defs: Arc<RwLock<Vec<ResourceDef>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            defs: Arc::new(RwLock::new(builtin_defs())),
        }
    }
}

impl Registry {
    /// Look a resource up by group, version and plural.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<ResourceDef> {
        self.find(|d| d.group == group && d.version == version && d.plural == plural)
    }

    /// Look a resource up by group and plural (any served version).
    pub fn by_group_resource(&self, group: &str, plural: &str) -> Option<ResourceDef> {
        self.find(|d| d.group == group && d.plural == plural)
    }

    /// Look a resource up by apiVersion and kind.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<ResourceDef> {
        self.find(|d| d.api_version() == api_version && d.kind == kind)
    }

    /// All served resources.
    pub fn all(&self) -> Vec<ResourceDef> {
        self.read()
    }

    fn find(&self, pred: impl Fn(&ResourceDef) -> bool) -> Option<ResourceDef> {
        self.defs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|d| pred(d))
            .cloned()
    }

    fn read(&self) -> Vec<ResourceDef> {
        self.defs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Register (or replace) the resources of a CRD.
    pub fn register_crd(&self, defs: Vec<ResourceDef>) {
        let mut all = self.defs.write().unwrap_or_else(|e| e.into_inner());
        for def in defs {
            all.retain(|d| {
                !(d.custom
                    && d.group == def.group
                    && d.plural == def.plural
                    && d.version == def.version)
            });
            all.push(def);
        }
    }

    /// Remove every resource of the given group and plural that a CRD registered.
    pub fn unregister_crd(&self, group: &str, plural: &str) {
        let mut all = self.defs.write().unwrap_or_else(|e| e.into_inner());
        all.retain(|d| !(d.custom && d.group == group && d.plural == plural));
    }
}

/// Build the resource definitions a CRD object declares (one per served version).
pub fn defs_from_crd(crd: &Value) -> Vec<ResourceDef> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let plural = names["plural"].as_str().unwrap_or_default().to_string();
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    let singular = names["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut out = vec![];
    for v in spec["versions"].as_array().cloned().unwrap_or_default() {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        out.push(ResourceDef {
            group: group.clone(),
            version: v["name"].as_str().unwrap_or("v1").to_string(),
            plural: plural.clone(),
            singular: singular.clone(),
            kind: kind.clone(),
            namespaced,
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            status_subresource: v["subresources"]["status"].is_object(),
            generation: true,
            schema: v["schema"]["openAPIV3Schema"]
                .as_object()
                .map(|_| v["schema"]["openAPIV3Schema"].clone()),
            printer_columns: v["additionalPrinterColumns"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            custom: true,
        });
    }
    out
}
