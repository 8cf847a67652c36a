//! The controller manager: reacts to store events and clock movements, running the Deployment,
//! ReplicaSet, namespace, garbage-collection and scheduler controllers and the kubelet.

mod gc;
mod workloads;

use crate::cluster::{Cluster, WriteOptions};
use crate::error::ApiError;
use crate::store::{Event, EventType};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The name of the single simulated node.
pub const NODE_NAME: &str = "kubesim-node";

/// Start the controller manager.
pub fn spawn(c: Cluster) -> tokio::task::JoinHandle<()> {
    let mut events = c.store.subscribe_all();
    let mut clock = c.clock.subscribe();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev) = ev else { return };
                    handle(&c, &ev).await;
                }
                changed = clock.changed() => {
                    if changed.is_err() { return; }
                    resync(&c).await;
                }
                _ = tick.tick() => resync(&c).await,
            }
        }
    })
}

async fn handle(c: &Cluster, ev: &Arc<Event>) {
    let obj = &ev.object;
    let (group, resource) = (ev.gr.0.as_str(), ev.gr.1.as_str());
    if ev.kind == EventType::Deleted {
        gc::collect_dependents(c, obj).await;
    }
    match (group, resource) {
        ("", "namespaces") => gc::namespace(c, obj, ev.kind).await,
        ("apps", "deployments") if ev.kind != EventType::Deleted => {
            workloads::deployment(c, obj).await
        }
        ("apps", "replicasets") => {
            if ev.kind != EventType::Deleted {
                workloads::replicaset(c, obj).await;
            }
            owner_deployment(c, obj).await;
        }
        ("", "pods") => {
            if ev.kind == EventType::Deleted {
                c.kubelet.forget_pod(
                    &ev.namespace,
                    obj["metadata"]["name"].as_str().unwrap_or_default(),
                );
            } else {
                gc::schedule(c, obj);
                let _ = crate::kubelet::sync_pod(c, obj).await;
            }
            if let Some(rs) = controller_of(c, obj, "apps", "replicasets") {
                workloads::replicaset(c, &rs).await;
            }
        }
        _ => {}
    }
}

async fn owner_deployment(c: &Cluster, rs: &Value) {
    if let Some(d) = controller_of(c, rs, "apps", "deployments") {
        workloads::deployment(c, &d).await;
    }
}

/// The controlling owner of an object, if it is of the given resource and still exists.
fn controller_of(c: &Cluster, obj: &Value, group: &str, resource: &str) -> Option<Value> {
    let r = obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)?
        .clone();
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let owner = c
        .store
        .txn()
        .get(&(group.into(), resource.into()), ns, r["name"].as_str()?)?;
    (owner["metadata"]["uid"] == r["uid"]).then_some(owner)
}

async fn resync(c: &Cluster) {
    let (pods, rss, deps) = {
        let t = c.store.txn();
        (
            t.list(&("".into(), "pods".into()), None),
            t.list(&("apps".into(), "replicasets".into()), None),
            t.list(&("apps".into(), "deployments".into()), None),
        )
    };
    for p in &pods {
        gc::schedule(c, p);
        let _ = crate::kubelet::sync_pod(c, p).await;
    }
    for rs in &rss {
        workloads::replicaset(c, rs).await;
    }
    for d in &deps {
        workloads::deployment(c, d).await;
    }
}

/// Create an Event about `obj` as a controller would.
pub(crate) async fn record_event(
    c: &Cluster,
    obj: &Value,
    component: &str,
    ty: &str,
    reason: &str,
    message: &str,
) {
    let Ok(def) = c.resource("", "v1", "events") else {
        return;
    };
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let now = c.clock.timestamp();
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{}", crate::cluster::random_suffix(10)), "namespace": ns},
        "involvedObject": {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": name, "namespace": ns, "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"]},
        "reason": reason, "message": message, "type": ty, "count": 1,
        "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now, "reportingComponent": component,
    });
    let _ = crate::write::create(c, &def, ns, ev, &WriteOptions::controller(component)).await;
}

/// Write status through the status subresource unless unchanged; ignore races.
pub(crate) async fn write_status(
    c: &Cluster,
    group: &str,
    resource: &str,
    obj: &Value,
    status: Value,
    who: &str,
) {
    if obj["status"] == status {
        return;
    }
    let Some(def) = c.registry.by_group_resource(group, resource) else {
        return;
    };
    let mut o = obj.clone();
    o["status"] = status;
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    match crate::write::update(
        c,
        &def,
        ns,
        name,
        "status",
        o,
        &WriteOptions::controller(who),
    )
    .await
    {
        Ok(_)
        | Err(ApiError {
            code: 404 | 409, ..
        }) => {}
        Err(_) => {}
    }
}
