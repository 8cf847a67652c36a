//! Garbage collection by ownerReferences, namespace lifecycle, and the scheduler.

use super::NODE_NAME;
use crate::cluster::{Cluster, WriteOptions, gr};
use crate::delete::{DeleteOptions, delete};
use crate::store::EventType;
use serde_json::{Value, json};

/// Delete every object whose owners are all gone after `owner` was removed.
pub async fn collect_dependents(c: &Cluster, owner: &Value) {
    let Some(uid) = owner["metadata"]["uid"].as_str() else {
        return;
    };
    let mut doomed = vec![];
    for def in c.registry.all() {
        let t = c.store.txn();
        for o in t.iter(&gr(&def), None) {
            let Some(refs) = o["metadata"]["ownerReferences"].as_array() else {
                continue;
            };
            if !refs.iter().any(|r| r["uid"] == uid) {
                continue;
            }
            let ns = o["metadata"]["namespace"].as_str().unwrap_or_default();
            let remaining = refs
                .iter()
                .filter(|r| r["uid"] != uid)
                .any(|r| owner_exists(&t, c, r, ns));
            if !remaining && o["metadata"]["deletionTimestamp"].is_null() {
                doomed.push((
                    def.clone(),
                    ns.to_string(),
                    o["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ));
            }
        }
    }
    for (def, ns, name) in doomed {
        let _ = delete(c, &def, &ns, &name, &DeleteOptions::default());
    }
}

fn owner_exists(t: &crate::store::Txn<'_>, c: &Cluster, r: &Value, ns: &str) -> bool {
    let api_version = r["apiVersion"].as_str().unwrap_or_default();
    let kind = r["kind"].as_str().unwrap_or_default();
    let Some(def) = c.registry.by_kind(api_version, kind) else {
        return false;
    };
    let ns = if def.namespaced { ns } else { "" };
    t.get_ref(&gr(&def), ns, r["name"].as_str().unwrap_or_default())
        .is_some_and(|o| o["metadata"]["uid"] == r["uid"])
}

/// Namespace lifecycle: default ServiceAccount and root CA ConfigMap; content removal on delete.
pub async fn namespace(c: &Cluster, ns_obj: &Value, kind: EventType) {
    let ns = ns_obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if kind == EventType::Deleted {
        return;
    }
    if ns_obj["metadata"]["deletionTimestamp"].is_string() {
        let mut remaining = 0;
        for def in c.registry.all().into_iter().filter(|d| d.namespaced) {
            let names: Vec<String> = c
                .store
                .txn()
                .iter(&gr(&def), Some(&ns))
                .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
                .collect();
            for n in names {
                remaining += 1;
                let _ = delete(c, &def, &ns, &n, &DeleteOptions::default());
            }
        }
        let left = c
            .registry
            .all()
            .into_iter()
            .filter(|d| d.namespaced)
            .any(|def| c.store.txn().iter(&gr(&def), Some(&ns)).next().is_some());
        if !left || remaining == 0 {
            let mut t = c.store.txn();
            if let Some(o) = t.get(&("".into(), "namespaces".into()), "", &ns)
                && o["metadata"]["finalizers"]
                    .as_array()
                    .is_none_or(|f| f.is_empty())
            {
                t.remove(&("".into(), "namespaces".into()), "", &ns);
            }
        }
        return;
    }
    if kind != EventType::Added {
        return;
    }
    let opts = WriteOptions::controller("service-account-controller");
    if let Ok(def) = c.resource("", "v1", "serviceaccounts") {
        let _ = crate::write::create(
            c,
            &def,
            &ns,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
            &opts,
        )
        .await;
    }
    if let Ok(def) = c.resource("", "v1", "configmaps") {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}}, "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nkubesim\n-----END CERTIFICATE-----\n"}});
        let _ = crate::write::create(
            c,
            &def,
            &ns,
            cm,
            &WriteOptions::controller("root-ca-cert-publisher"),
        )
        .await;
    }
}

/// Bind an unscheduled pod to the node (as a binding would: no admission on the pod).
pub fn schedule(c: &Cluster, pod: &Value) {
    if pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty())
        || pod["metadata"]["deletionTimestamp"].is_string()
    {
        return;
    }
    if pod["spec"]["schedulerName"]
        .as_str()
        .is_some_and(|s| s != "default-scheduler")
    {
        return;
    }
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let key = ("".to_string(), "pods".to_string());
    let mut t = c.store.txn();
    let Some(mut cur) = t.get(&key, ns, name) else {
        return;
    };
    if cur["metadata"]["uid"] != pod["metadata"]["uid"] || cur["spec"]["nodeName"].is_string() {
        return;
    }
    cur["spec"]["nodeName"] = json!(NODE_NAME);
    if !cur["status"]["conditions"].is_array() {
        cur["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": c.clock.timestamp()}]);
    }
    t.put(&key, ns, name, cur, EventType::Modified);
}
