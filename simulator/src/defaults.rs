//! Defaulting of built-in types and the built-in admission plugins that run before webhooks
//! (ServiceAccount token volume, default tolerations).

use crate::error::Cause;
use serde_json::{Value, json};

fn set_default(obj: &mut Value, key: &str, v: Value) {
    if let Some(m) = obj.as_object_mut()
        && m.get(key).is_none_or(Value::is_null)
    {
        m.insert(key.to_string(), v);
    }
}

fn image_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        return "IfNotPresent";
    }
    match last.split_once(':') {
        None => "Always",
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn container_defaults(c: &mut Value) {
    let image = c["image"].as_str().unwrap_or_default().to_string();
    set_default(c, "imagePullPolicy", json!(image_pull_policy(&image)));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    for p in c["ports"].as_array_mut().into_iter().flatten() {
        set_default(p, "protocol", json!("TCP"));
    }
    for e in c["env"].as_array_mut().into_iter().flatten() {
        if e["valueFrom"]["fieldRef"].is_object() {
            set_default(&mut e["valueFrom"]["fieldRef"], "apiVersion", json!("v1"));
        }
    }
}

/// Defaults of a pod spec (also used inside templates).
pub fn pod_spec_defaults(spec: &mut Value) {
    for key in ["containers", "initContainers"] {
        for c in spec[key].as_array_mut().into_iter().flatten() {
            container_defaults(c);
        }
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    for v in spec["volumes"].as_array_mut().into_iter().flatten() {
        for kind in ["secret", "configMap"] {
            if v[kind].is_object() {
                set_default(&mut v[kind], "defaultMode", json!(420));
            }
        }
    }
}

/// Apply the defaults the API server applies when decoding a built-in object.
pub fn builtin_defaults(kind: &str, obj: &mut Value) {
    match kind {
        "Pod" => {
            pod_spec_defaults(&mut obj["spec"]);
            let spec = &mut obj["spec"];
            set_default(spec, "serviceAccountName", json!("default"));
            let sa = spec["serviceAccountName"].clone();
            set_default(spec, "serviceAccount", sa);
            set_default(spec, "enableServiceLinks", json!(true));
            set_default(spec, "priority", json!(0));
            set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
        }
        "Deployment" | "ReplicaSet" => {
            set_default(&mut obj["spec"], "replicas", json!(1));
            if kind == "Deployment" {
                set_default(
                    &mut obj["spec"],
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
                );
                set_default(&mut obj["spec"], "revisionHistoryLimit", json!(10));
                set_default(&mut obj["spec"], "progressDeadlineSeconds", json!(600));
            }
            pod_spec_defaults(&mut obj["spec"]["template"]["spec"]);
        }
        "Service" => {
            let spec = &mut obj["spec"];
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            for p in spec["ports"].as_array_mut().into_iter().flatten() {
                set_default(p, "protocol", json!("TCP"));
                let port = p["port"].clone();
                set_default(p, "targetPort", port);
            }
        }
        "Secret" => set_default(obj, "type", json!("Opaque")),
        "Namespace" => {
            let name = obj["metadata"]["name"].clone();
            if !obj["metadata"]["labels"].is_object() {
                obj["metadata"]["labels"] = json!({});
            }
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            set_default(obj, "spec", json!({"finalizers": ["kubernetes"]}));
        }
        "MutatingWebhookConfiguration" => {
            for w in obj["webhooks"].as_array_mut().into_iter().flatten() {
                set_default(w, "failurePolicy", json!("Fail"));
                set_default(w, "matchPolicy", json!("Equivalent"));
                set_default(w, "namespaceSelector", json!({}));
                set_default(w, "objectSelector", json!({}));
                set_default(w, "timeoutSeconds", json!(10));
                set_default(w, "reinvocationPolicy", json!("Never"));
                if w["clientConfig"]["service"].is_object() {
                    set_default(&mut w["clientConfig"]["service"], "port", json!(443));
                }
                for r in w["rules"].as_array_mut().into_iter().flatten() {
                    set_default(r, "scope", json!("*"));
                }
            }
        }
        "CustomResourceDefinition" => {
            set_default(&mut obj["spec"], "conversion", json!({"strategy": "None"}));
        }
        _ => {}
    }
}

/// Status the API server gives a new object of a built-in kind.
pub fn initial_status(kind: &str) -> Option<Value> {
    match kind {
        "Pod" => Some(json!({"phase": "Pending", "qosClass": "BestEffort"})),
        "Namespace" => Some(json!({"phase": "Active"})),
        "Deployment" | "ReplicaSet" | "Service" => Some(json!({})),
        _ => None,
    }
}

/// The ServiceAccount and DefaultTolerationSeconds admission plugins for a new pod.
pub fn pod_admission(pod: &mut Value, suffix: &str) {
    let spec = &mut pod["spec"];
    if !spec["tolerations"].is_array() {
        spec["tolerations"] = json!([]);
    }
    if let Some(t) = spec["tolerations"].as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            if !t.iter().any(|x| x["key"] == key) {
                t.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
    if spec["automountServiceAccountToken"] == json!(false) {
        return;
    }
    let mount_path = "/var/run/secrets/kubernetes.io/serviceaccount";
    let already = ["containers", "initContainers"].iter().any(|k| {
        spec[*k].as_array().into_iter().flatten().any(|c| {
            c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["mountPath"] == mount_path)
        })
    });
    if already {
        return;
    }
    let vol_name = format!("kube-api-access-{suffix}");
    let volume = json!({"name": vol_name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
    ]}});
    if !spec["volumes"].is_array() {
        spec["volumes"] = json!([]);
    }
    if let Some(v) = spec["volumes"].as_array_mut() {
        v.push(volume);
    }
    for key in ["containers", "initContainers"] {
        for c in spec[key].as_array_mut().into_iter().flatten() {
            if !c["volumeMounts"].is_array() {
                c["volumeMounts"] = json!([]);
            }
            if let Some(m) = c["volumeMounts"].as_array_mut() {
                m.push(json!({"name": vol_name, "readOnly": true, "mountPath": mount_path}));
            }
        }
    }
}

/// Validation of built-in kinds (the subset the simulator enforces).
pub fn validate_builtin(kind: &str, obj: &Value) -> Vec<Cause> {
    let mut out = vec![];
    let required = |out: &mut Vec<Cause>, field: String| {
        out.push(Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field,
        })
    };
    let pod_spec =
        |out: &mut Vec<Cause>, spec: &Value, prefix: &str| match spec["containers"].as_array() {
            Some(cs) if !cs.is_empty() => {
                // Container names are unique across init and app containers.
                let mut names = std::collections::BTreeSet::new();
                for key in ["initContainers", "containers"] {
                    for (i, c) in spec[key].as_array().into_iter().flatten().enumerate() {
                        match c["name"].as_str().filter(|n| !n.is_empty()) {
                            None => required(out, format!("{prefix}.{key}[{i}].name")),
                            Some(name) if !names.insert(name) => out.push(Cause {
                                reason: "FieldValueDuplicate".into(),
                                message: format!("Duplicate value: \"{name}\""),
                                field: format!("{prefix}.{key}[{i}].name"),
                            }),
                            Some(_) => {}
                        }
                        if c["image"].as_str().is_none_or(str::is_empty) {
                            required(out, format!("{prefix}.{key}[{i}].image"));
                        }
                    }
                }
            }
            _ => required(out, format!("{prefix}.containers")),
        };
    match kind {
        "Pod" => pod_spec(&mut out, &obj["spec"], "spec"),
        "Deployment" | "ReplicaSet" => {
            if !obj["spec"]["selector"].is_object() {
                required(&mut out, "spec.selector".into());
            } else {
                let sel = crate::selector::LabelSelector::from_object(&obj["spec"]["selector"]);
                if !sel.matches(&obj["spec"]["template"]["metadata"]["labels"]) {
                    out.push(Cause {
                        reason: "FieldValueInvalid".into(),
                        message: format!(
                            "Invalid value: {}: `selector` does not match template `labels`",
                            serde_json::to_string(&obj["spec"]["template"]["metadata"]["labels"])
                                .unwrap_or_default()
                        ),
                        field: "spec.template.metadata.labels".into(),
                    });
                }
            }
            pod_spec(
                &mut out,
                &obj["spec"]["template"]["spec"],
                "spec.template.spec",
            );
        }
        "CustomResourceDefinition" => {
            let spec = &obj["spec"];
            for f in ["group", "names.plural", "names.kind"] {
                let mut cur = spec;
                for seg in f.split('.') {
                    cur = &cur[seg];
                }
                if cur.as_str().is_none_or(str::is_empty) {
                    required(&mut out, format!("spec.{f}"));
                }
            }
            let name = obj["metadata"]["name"].as_str().unwrap_or_default();
            let want = format!(
                "{}.{}",
                spec["names"]["plural"].as_str().unwrap_or_default(),
                spec["group"].as_str().unwrap_or_default()
            );
            if out.is_empty() && name != want {
                out.push(Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!(
                        "Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"
                    ),
                    field: "metadata.name".into(),
                });
            }
        }
        _ => {}
    }
    out
}

/// The status the API server gives an accepted CRD.
pub fn crd_status(crd: &Value, now: &str) -> Value {
    let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": msg});
    let versions: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .map(|v| v["name"].clone())
        .collect();
    json!({
        "conditions": [
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": crd["spec"]["names"],
        "storedVersions": versions,
    })
}
