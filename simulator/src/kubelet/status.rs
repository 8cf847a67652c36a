//! Advancing a pod's containers and building its status as the kubelet reports it.

use super::PodRuntime;
use super::image::Exit;
use super::run::{Started, backoff, container_id, containers, start, terminated};
use crate::cluster::Cluster;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

fn image_id(image: &str) -> String {
    let h = image.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!(
        "{}@sha256:{h:016x}{:016x}{:016x}{:016x}",
        super::image::repository(image),
        h.rotate_left(7),
        h.rotate_left(19),
        h.rotate_left(31)
    )
}

fn base(ctr: &Value, restarts: u32, id: Option<&str>) -> Value {
    let image = ctr["image"].as_str().unwrap_or_default();
    let mut v = json!({
        "name": ctr["name"], "image": image, "imageID": "", "ready": false, "started": false,
        "restartCount": restarts, "state": {}, "lastState": {},
    });
    if let Some(id) = id {
        v["containerID"] = json!(id);
        v["imageID"] = json!(image_id(image));
    }
    v
}

fn waiting(ctr: &Value, restarts: u32, reason: &str, message: Option<String>) -> Value {
    let mut v = base(ctr, restarts, None);
    v["state"] = json!({"waiting": {"reason": reason}});
    if let Some(m) = message {
        v["state"]["waiting"]["message"] = json!(m);
    }
    v
}

fn is_waiting(v: &Value) -> bool {
    v["state"]["waiting"].is_object()
}

/// Run whatever can run now: the next init containers, then the app containers.
pub(crate) fn advance(c: &Cluster, pod: &Value, rt: &mut PodRuntime, now: DateTime<Utc>) {
    let ts = c.clock.timestamp();
    let uid = rt.uid.clone();
    let pod_id = format!(
        "{}_{}({uid})",
        pod["metadata"]["name"].as_str().unwrap_or_default(),
        pod["metadata"]["namespace"].as_str().unwrap_or_default()
    );
    let policy = pod["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or("Always")
        .to_string();
    let inits = containers(pod, "initContainers");
    if rt.init_status.len() != inits.len() {
        rt.init_status = inits
            .iter()
            .map(|c| waiting(c, 0, "PodInitializing", None))
            .collect();
    }
    while rt.init_done < inits.len() && !rt.failed {
        let i = rt.init_done;
        let ctr = &inits[i];
        let name = ctr["name"].as_str().unwrap_or_default().to_string();
        let restarts = rt.restarts.get(&name).copied().unwrap_or(0);
        let id = container_id(&uid, &name, restarts);
        match start(c, pod, rt, ctr, true) {
            Started::Ran(Exit::Code(0)) => {
                let mut v = base(ctr, restarts, Some(&id));
                v["ready"] = json!(true);
                v["state"] = json!({"terminated": terminated(0, &ts, &ts, &id)});
                v["lastState"] = rt.init_status[i]["lastState"].clone();
                rt.init_status[i] = v;
                rt.init_done += 1;
            }
            Started::Ran(Exit::Code(code)) => {
                let restarts = restarts + 1;
                rt.restarts.insert(name.clone(), restarts);
                let term = terminated(code, &ts, &ts, &id);
                let mut v = base(ctr, restarts, Some(&id));
                if policy == "Never" {
                    v["restartCount"] = json!(restarts - 1);
                    v["state"] = json!({"terminated": term});
                    rt.failed = true;
                } else {
                    let wait = backoff(restarts);
                    v["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off {}s restarting failed container={name} pod={pod_id}", wait.num_seconds())}});
                    v["lastState"] = json!({"terminated": term});
                    rt.next_attempt = Some(now + wait);
                }
                rt.init_status[i] = v;
                break;
            }
            Started::Ran(Exit::Running) => {
                let mut v = base(ctr, restarts, Some(&id));
                v["started"] = json!(true);
                v["state"] = json!({"running": {"startedAt": ts}});
                rt.init_status[i] = v;
                break;
            }
            Started::ConfigError(msg) => {
                rt.init_status[i] = waiting(ctr, restarts, "CreateContainerConfigError", Some(msg));
                break;
            }
            Started::PullError => {
                rt.init_status[i] = waiting(
                    ctr,
                    restarts,
                    "ErrImagePull",
                    Some(format!(
                        "failed to pull image {:?}",
                        ctr["image"].as_str().unwrap_or_default()
                    )),
                );
                break;
            }
        }
    }
    let apps = containers(pod, "containers");
    if rt.app_status.len() != apps.len() {
        let reason = if inits.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        };
        rt.app_status = apps.iter().map(|c| waiting(c, 0, reason, None)).collect();
    }
    if rt.init_done < inits.len() || rt.failed {
        return;
    }
    for (i, ctr) in apps.iter().enumerate() {
        if !is_waiting(&rt.app_status[i]) {
            continue;
        }
        let name = ctr["name"].as_str().unwrap_or_default().to_string();
        let restarts = rt.restarts.get(&name).copied().unwrap_or(0);
        let id = container_id(&uid, &name, restarts);
        let last = rt.app_status[i]["lastState"].clone();
        rt.app_status[i] = match start(c, pod, rt, ctr, false) {
            Started::Ran(Exit::Running) => {
                let mut v = base(ctr, restarts, Some(&id));
                v["ready"] = json!(true);
                v["started"] = json!(true);
                v["state"] = json!({"running": {"startedAt": ts}});
                v["lastState"] = last;
                v
            }
            Started::Ran(Exit::Code(code)) => {
                let term = terminated(code, &ts, &ts, &id);
                let restart = policy == "Always" || (policy == "OnFailure" && code != 0);
                if restart {
                    let restarts = restarts + 1;
                    rt.restarts.insert(name.clone(), restarts);
                    let wait = backoff(restarts);
                    let next = now + wait;
                    rt.next_attempt = Some(rt.next_attempt.map_or(next, |t| t.min(next)));
                    let mut v = base(ctr, restarts, Some(&id));
                    v["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off {}s restarting failed container={name} pod={pod_id}", wait.num_seconds())}});
                    v["lastState"] = json!({"terminated": term});
                    v
                } else {
                    let mut v = base(ctr, restarts, Some(&id));
                    v["state"] = json!({"terminated": term});
                    v["lastState"] = last;
                    v
                }
            }
            Started::ConfigError(msg) => {
                waiting(ctr, restarts, "CreateContainerConfigError", Some(msg))
            }
            Started::PullError => waiting(
                ctr,
                restarts,
                "ErrImagePull",
                Some(format!(
                    "failed to pull image {:?}",
                    ctr["image"].as_str().unwrap_or_default()
                )),
            ),
        };
    }
}

fn condition(
    rt: &mut PodRuntime,
    ty: &str,
    ok: bool,
    now: &str,
    reason: Option<(&str, String)>,
) -> Value {
    let entry = rt
        .conditions
        .entry(ty.to_string())
        .or_insert((ok, now.to_string()));
    if entry.0 != ok {
        *entry = (ok, now.to_string());
    }
    let mut v = json!({"type": ty, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": entry.1});
    if let (false, Some((r, m))) = (ok, reason) {
        v["reason"] = json!(r);
        v["message"] = json!(m);
    }
    v
}

/// The pod status for the current runtime state.
pub(crate) fn build(pod: &Value, rt: &PodRuntime, now: &str) -> Value {
    let mut rt_conditions = PodRuntime {
        conditions: rt.conditions.clone(),
        ..Default::default()
    };
    let inits = containers(pod, "initContainers");
    let initialized = rt.init_done >= inits.len();
    let names = |list: &[Value], pred: &dyn Fn(&Value) -> bool| -> String {
        list.iter()
            .filter(|v| pred(v))
            .filter_map(|v| v["name"].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let all_ready = !rt.app_status.is_empty() && rt.app_status.iter().all(|v| v["ready"] == true);
    let all_done = !rt.app_status.is_empty()
        && rt
            .app_status
            .iter()
            .all(|v| v["state"]["terminated"].is_object());
    let any_running = rt
        .app_status
        .iter()
        .any(|v| v["state"]["running"].is_object());
    let phase = if rt.failed {
        "Failed"
    } else if !initialized {
        "Pending"
    } else if all_done {
        if rt
            .app_status
            .iter()
            .all(|v| v["state"]["terminated"]["exitCode"] == 0)
        {
            "Succeeded"
        } else {
            "Failed"
        }
    } else if any_running
        || rt
            .app_status
            .iter()
            .any(|v| v["lastState"]["terminated"].is_object())
    {
        "Running"
    } else {
        "Pending"
    };
    let completed = phase == "Succeeded" || phase == "Failed";
    let not_ready = names(&rt.app_status, &|v| v["ready"] != true);
    let ready_reason = if completed {
        ("PodCompleted", String::new())
    } else {
        (
            "ContainersNotReady",
            format!("containers with unready status: [{not_ready}]"),
        )
    };
    let not_init = names(&rt.init_status, &|v| {
        v["state"]["terminated"]["exitCode"] != 0
    });
    let conditions = vec![
        condition(
            &mut rt_conditions,
            "PodReadyToStartContainers",
            true,
            now,
            None,
        ),
        condition(
            &mut rt_conditions,
            "Initialized",
            initialized,
            now,
            Some((
                "ContainersNotInitialized",
                format!("containers with incomplete status: [{not_init}]"),
            )),
        ),
        condition(
            &mut rt_conditions,
            "Ready",
            all_ready,
            now,
            Some(ready_reason.clone()),
        ),
        condition(
            &mut rt_conditions,
            "ContainersReady",
            all_ready,
            now,
            Some(ready_reason),
        ),
        condition(&mut rt_conditions, "PodScheduled", true, now, None),
    ];
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": "10.0.0.10",
        "hostIPs": [{"ip": "10.0.0.10"}],
        "podIP": rt.ip,
        "podIPs": [{"ip": rt.ip}],
        "startTime": rt.started_at,
        "containerStatuses": rt.app_status,
        "qosClass": pod["status"]["qosClass"].as_str().unwrap_or("BestEffort"),
    });
    if !inits.is_empty() {
        status["initContainerStatuses"] = json!(rt.init_status);
    }
    status
}

/// Remember the condition transition times computed by [`build`].
pub(crate) fn remember_conditions(rt: &mut PodRuntime, status: &Value) {
    for c in status["conditions"].as_array().into_iter().flatten() {
        let ty = c["type"].as_str().unwrap_or_default().to_string();
        let ok = c["status"] == "True";
        let t = c["lastTransitionTime"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        rt.conditions.insert(ty, (ok, t));
    }
}
