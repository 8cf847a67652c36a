//! Deployment → ReplicaSet → Pod controllers.

use super::{record_event, write_status};
use crate::cluster::{Cluster, WriteOptions, gr};
use crate::delete::{DeleteOptions, delete};
use crate::selector::LabelSelector;
use serde_json::{Value, json};

const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The `pod-template-hash` of a template.
pub fn template_hash(template: &Value) -> String {
    let s = serde_json::to_string(template).unwrap_or_default();
    let mut h = s.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x01000193)
    });
    let mut out = String::new();
    for _ in 0..10 {
        out.push(SAFE[(h % SAFE.len() as u32) as usize] as char);
        h /= SAFE.len() as u32;
        if h == 0 {
            break;
        }
    }
    out
}

fn owner_ref(obj: &Value) -> Value {
    json!({
        "apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
    })
}

fn owned_by(o: &Value, uid: &Value) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|r| {
            r.iter()
                .any(|x| x["uid"] == *uid && x["controller"] == true)
        })
}

fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// Reconcile a Deployment: one ReplicaSet per template, old ones scaled to zero, status.
pub async fn deployment(c: &Cluster, d: &Value) {
    if d["metadata"]["deletionTimestamp"].is_string() {
        return;
    }
    let ns = d["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Ok(rs_def) = c.resource("apps", "v1", "replicasets") else {
        return;
    };
    let uid = d["metadata"]["uid"].clone();
    let template = d["spec"]["template"].clone();
    let hash = template_hash(&template);
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let owned: Vec<Value> = c
        .store
        .txn()
        .iter(&gr(&rs_def), Some(&ns))
        .filter(|r| owned_by(r, &uid))
        .cloned()
        .collect();
    let current = owned
        .iter()
        .find(|r| r["metadata"]["labels"]["pod-template-hash"] == hash.as_str())
        .cloned();
    let max_rev = owned
        .iter()
        .filter_map(|r| {
            r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()?
                .parse::<i64>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    let opts = WriteOptions::controller("deployment-controller");
    let name = d["metadata"]["name"].as_str().unwrap_or_default();
    match &current {
        None => {
            let mut tpl = template.clone();
            tpl["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut selector = d["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {
                    "name": format!("{name}-{hash}"), "namespace": ns, "labels": tpl["metadata"]["labels"],
                    "annotations": {"deployment.kubernetes.io/revision": (max_rev + 1).to_string(), "deployment.kubernetes.io/desired-replicas": replicas.to_string(), "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string()},
                    "ownerReferences": [owner_ref(d)],
                },
                "spec": {"replicas": replicas, "selector": selector, "template": tpl},
            });
            if crate::write::create(c, &rs_def, &ns, rs, &opts)
                .await
                .is_ok()
            {
                record_event(
                    c,
                    d,
                    "deployment-controller",
                    "Normal",
                    "ScalingReplicaSet",
                    &format!("Scaled up replica set {name}-{hash} from 0 to {replicas}"),
                )
                .await;
            }
        }
        Some(rs) if int(&rs["spec"]["replicas"]) != replicas => {
            let mut r = rs.clone();
            r["spec"]["replicas"] = json!(replicas);
            let rs_name = rs["metadata"]["name"].as_str().unwrap_or_default();
            let _ = crate::write::update(c, &rs_def, &ns, rs_name, "", r, &opts).await;
        }
        _ => {}
    }
    for old in owned
        .iter()
        .filter(|r| r["metadata"]["labels"]["pod-template-hash"] != hash.as_str())
    {
        if int(&old["spec"]["replicas"]) != 0 {
            let mut r = old.clone();
            r["spec"]["replicas"] = json!(0);
            let rs_name = old["metadata"]["name"].as_str().unwrap_or_default();
            let _ = crate::write::update(c, &rs_def, &ns, rs_name, "", r, &opts).await;
        }
    }
    let owned: Vec<Value> = c
        .store
        .txn()
        .iter(&gr(&rs_def), Some(&ns))
        .filter(|r| owned_by(r, &uid))
        .cloned()
        .collect();
    let sum = |f: &str| owned.iter().map(|r| int(&r["status"][f])).sum::<i64>();
    let updated = owned
        .iter()
        .find(|r| r["metadata"]["labels"]["pod-template-hash"] == hash.as_str())
        .map(|r| int(&r["status"]["replicas"]))
        .unwrap_or(0);
    let available = sum("availableReplicas");
    let now = c.clock.timestamp();
    let prev_conditions = d["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let cond = |ty: &str, ok: bool, reason: &str, msg: String| {
        let status = if ok { "True" } else { "False" };
        let prev = prev_conditions.iter().find(|c| c["type"] == ty);
        let (since, updated_at) = match prev {
            Some(p) if p["status"] == status && p["reason"] == reason => {
                (p["lastTransitionTime"].clone(), p["lastUpdateTime"].clone())
            }
            Some(p) if p["status"] == status => (p["lastTransitionTime"].clone(), json!(now)),
            _ => (json!(now), json!(now)),
        };
        json!({"type": ty, "status": status, "lastUpdateTime": updated_at, "lastTransitionTime": since, "reason": reason, "message": msg})
    };
    let complete = updated == replicas && available >= replicas;
    let rs_name = format!("{name}-{hash}");
    let conditions = vec![
        if available >= replicas {
            cond(
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            )
        } else {
            cond(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        },
        if complete {
            cond(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            )
        } else {
            cond(
                "Progressing",
                true,
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{rs_name}\" is progressing."),
            )
        },
    ];
    let mut status = json!({
        "observedGeneration": d["metadata"]["generation"],
        "replicas": sum("replicas"),
        "updatedReplicas": updated,
        "readyReplicas": sum("readyReplicas"),
        "availableReplicas": available,
        "conditions": conditions,
    });
    let unavailable = replicas - available;
    if unavailable > 0 {
        status["unavailableReplicas"] = json!(unavailable);
    }
    for k in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        if status[k] == 0
            && let Some(m) = status.as_object_mut()
        {
            m.remove(k);
        }
    }
    let fresh = c
        .store
        .txn()
        .get(&("apps".into(), "deployments".into()), &ns, name);
    if let Some(fresh) = fresh.filter(|f| f["metadata"]["uid"] == uid) {
        write_status(
            c,
            "apps",
            "deployments",
            &fresh,
            status,
            "deployment-controller",
        )
        .await;
    }
}

/// Reconcile a ReplicaSet: create or delete pods to match `spec.replicas`, then status.
pub async fn replicaset(c: &Cluster, rs: &Value) {
    let ns = rs["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = rs["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Some(rs) = c
        .store
        .txn()
        .get(&("apps".into(), "replicasets".into()), &ns, &name)
        .filter(|r| r["metadata"]["uid"] == rs["metadata"]["uid"])
    else {
        return;
    };
    if rs["metadata"]["deletionTimestamp"].is_string() {
        return;
    }
    let Ok(pod_def) = c.resource("", "v1", "pods") else {
        return;
    };
    let uid = rs["metadata"]["uid"].clone();
    let selector = LabelSelector::from_object(&rs["spec"]["selector"]);
    let pods = |c: &Cluster| -> Vec<Value> {
        c.store
            .txn()
            .iter(&gr(&pod_def), Some(&ns))
            .filter(|p| {
                owned_by(p, &uid)
                    && p["metadata"]["deletionTimestamp"].is_null()
                    && !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
            })
            .cloned()
            .collect()
    };
    let current = pods(c);
    let want = rs["spec"]["replicas"].as_i64().unwrap_or(1);
    let opts = WriteOptions::controller("replicaset-controller");
    if (current.len() as i64) < want {
        for _ in current.len() as i64..want {
            let tpl = &rs["spec"]["template"];
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"generateName": format!("{name}-"), "namespace": ns, "labels": tpl["metadata"]["labels"], "annotations": tpl["metadata"]["annotations"], "ownerReferences": [owner_ref(&rs)]},
                "spec": tpl["spec"],
            });
            let mut pod = pod;
            if pod["metadata"]["annotations"].is_null()
                && let Some(m) = pod["metadata"].as_object_mut()
            {
                m.remove("annotations");
            }
            match crate::write::create(c, &pod_def, &ns, pod, &opts).await {
                Ok(w) => {
                    let pn = w.object["metadata"]["name"].as_str().unwrap_or_default();
                    record_event(
                        c,
                        &rs,
                        "replicaset-controller",
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {pn}"),
                    )
                    .await;
                }
                Err(e) => {
                    record_event(
                        c,
                        &rs,
                        "replicaset-controller",
                        "Warning",
                        "FailedCreate",
                        &format!("Error creating: {}", e.message),
                    )
                    .await;
                    break;
                }
            }
        }
    } else if (current.len() as i64) > want {
        let mut victims = current.clone();
        victims.sort_by_key(|p| {
            (
                pod_ready(p),
                std::cmp::Reverse(
                    p["metadata"]["creationTimestamp"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
            )
        });
        for p in victims.iter().take(current.len() - want.max(0) as usize) {
            let pn = p["metadata"]["name"].as_str().unwrap_or_default();
            if delete(c, &pod_def, &ns, pn, &DeleteOptions::default()).is_ok() {
                record_event(
                    c,
                    &rs,
                    "replicaset-controller",
                    "Normal",
                    "SuccessfulDelete",
                    &format!("Deleted pod: {pn}"),
                )
                .await;
            }
        }
    }
    let now_pods = pods(c);
    let ready = now_pods.iter().filter(|p| pod_ready(p)).count();
    let labeled = now_pods
        .iter()
        .filter(|p| selector.matches(&p["metadata"]["labels"]))
        .count();
    let mut status = json!({
        "replicas": now_pods.len(),
        "fullyLabeledReplicas": labeled,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": rs["metadata"]["generation"],
    });
    for k in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
        if status[k] == 0
            && let Some(m) = status.as_object_mut()
        {
            m.remove(k);
        }
    }
    let fresh = c
        .store
        .txn()
        .get(&("apps".into(), "replicasets".into()), &ns, &name);
    if let Some(fresh) = fresh.filter(|f| f["metadata"]["uid"] == uid) {
        write_status(
            c,
            "apps",
            "replicasets",
            &fresh,
            status,
            "replicaset-controller",
        )
        .await;
    }
}
