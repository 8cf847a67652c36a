//! Running a pod's containers: init containers in order (with restart backoff), then the app
//! containers; volumes; environment; then the status write.

use super::env::{self, Lookup};
use super::fs::{ContainerFs, Mount, Volume};
use super::image::{Exit, Image, Process};
use super::{ContainerView, PodRuntime};
use crate::cluster::{Cluster, WriteOptions};
use crate::error::ApiError;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

struct StoreLookup<'a>(&'a Cluster);

impl Lookup for StoreLookup<'_> {
    fn lookup(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let plural = if kind == "Secret" {
            "secrets"
        } else {
            "configmaps"
        };
        self.0
            .store
            .txn()
            .get(&("".into(), plural.into()), namespace, name)
    }
}

/// The outcome of starting a container once.
pub(crate) enum Started {
    Ran(Exit),
    ConfigError(String),
    PullError,
}

fn decode_data(obj: &Value, secret: bool) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (k, v) in obj["data"].as_object().into_iter().flatten() {
        let s = v.as_str().unwrap_or_default();
        let bytes = if secret {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .unwrap_or_default()
        } else {
            s.as_bytes().to_vec()
        };
        out.insert(k.clone(), bytes);
    }
    for (k, v) in obj["binaryData"].as_object().into_iter().flatten() {
        out.insert(
            k.clone(),
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or_default())
                .unwrap_or_default(),
        );
    }
    out
}

fn with_items(data: BTreeMap<String, Vec<u8>>, items: &Value) -> BTreeMap<String, Vec<u8>> {
    match items.as_array() {
        Some(items) if !items.is_empty() => items
            .iter()
            .filter_map(|i| {
                let key = i["key"].as_str()?;
                Some((
                    i["path"].as_str().unwrap_or(key).to_string(),
                    data.get(key)?.clone(),
                ))
            })
            .collect(),
        _ => data,
    }
}

fn downward_files(pod: &Value, items: &Value) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for i in items.as_array().into_iter().flatten() {
        let path = i["path"].as_str().unwrap_or_default();
        let fp = i["fieldRef"]["fieldPath"].as_str().unwrap_or_default();
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let v = match fp {
            "metadata.namespace" => ns.to_string(),
            "metadata.name" => pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            "metadata.uid" => pod["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            "metadata.labels" | "metadata.annotations" => {
                let m = pod["metadata"][fp.trim_start_matches("metadata.")]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                m.iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            _ => String::new(),
        };
        out.insert(path.to_string(), v.into_bytes());
    }
    out
}

fn volume_for(c: &Cluster, pod: &Value, rt: &PodRuntime, vol: &Value) -> Volume {
    let name = vol["name"].as_str().unwrap_or_default();
    if let Some(v) = rt.volumes.get(name) {
        return v.clone();
    }
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let lookup = StoreLookup(c);
    let mut files = BTreeMap::new();
    if vol["secret"].is_object() {
        if let Some(s) = lookup.lookup(
            "Secret",
            ns,
            vol["secret"]["secretName"].as_str().unwrap_or_default(),
        ) {
            files = with_items(decode_data(&s, true), &vol["secret"]["items"]);
        }
    } else if vol["configMap"].is_object() {
        if let Some(cm) = lookup.lookup(
            "ConfigMap",
            ns,
            vol["configMap"]["name"].as_str().unwrap_or_default(),
        ) {
            files = with_items(decode_data(&cm, false), &vol["configMap"]["items"]);
        }
    } else if vol["downwardAPI"].is_object() {
        files = downward_files(pod, &vol["downwardAPI"]["items"]);
    } else if vol["projected"].is_object() {
        for src in vol["projected"]["sources"].as_array().into_iter().flatten() {
            if src["serviceAccountToken"].is_object() {
                let path = src["serviceAccountToken"]["path"]
                    .as_str()
                    .unwrap_or("token");
                let sa = pod["spec"]["serviceAccountName"]
                    .as_str()
                    .unwrap_or("default");
                files.insert(
                    path.to_string(),
                    format!("kubesim-token.{ns}.{sa}").into_bytes(),
                );
            } else if src["configMap"].is_object() {
                if let Some(cm) = lookup.lookup(
                    "ConfigMap",
                    ns,
                    src["configMap"]["name"].as_str().unwrap_or_default(),
                ) {
                    files.extend(with_items(
                        decode_data(&cm, false),
                        &src["configMap"]["items"],
                    ));
                }
            } else if src["secret"].is_object() {
                if let Some(s) = lookup.lookup(
                    "Secret",
                    ns,
                    src["secret"]["name"].as_str().unwrap_or_default(),
                ) {
                    files.extend(with_items(decode_data(&s, true), &src["secret"]["items"]));
                }
            } else if src["downwardAPI"].is_object() {
                files.extend(downward_files(pod, &src["downwardAPI"]["items"]));
            }
        }
    }
    Volume::with_files(files)
}

/// Start one container: resolve env and mounts, run the image program, record the view.
pub(crate) fn start(
    c: &Cluster,
    pod: &Value,
    rt: &PodRuntime,
    container: &Value,
    init: bool,
) -> Started {
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pod_name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let cname = container["name"].as_str().unwrap_or_default().to_string();
    let image_ref = container["image"].as_str().unwrap_or_default().to_string();
    let strict = c.kubelet.lock().strict_images;
    let image = match c.kubelet.image(&image_ref) {
        Some(i) => i,
        None if strict => return Started::PullError,
        None => Image::new(image_ref.clone()),
    };
    let env = match env::resolve(pod, container, &image.env, &StoreLookup(c)) {
        Ok(e) => e,
        Err(msg) => return Started::ConfigError(msg),
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|s| env::expand(s, &env))
            .collect()
    };
    let mut command = strings(&container["command"]);
    if command.is_empty() {
        command = image.entrypoint.clone();
    }
    let args = strings(&container["args"]);
    let root = Volume::with_files(image.files.clone());
    let mut mounts = vec![];
    let vols = pod["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let vname = m["name"].as_str().unwrap_or_default();
        if let Some(vol) = vols.iter().find(|v| v["name"] == vname) {
            mounts.push(Mount {
                path: m["mountPath"].as_str().unwrap_or_default().to_string(),
                volume: volume_for(c, pod, rt, vol),
                sub_path: m["subPath"].as_str().unwrap_or_default().to_string(),
                read_only: m["readOnly"].as_bool() == Some(true) || !vol["emptyDir"].is_object(),
            });
        }
    }
    let fs = ContainerFs { root, mounts };
    let mut proc = Process {
        env: env.clone(),
        command: command.clone(),
        args: args.clone(),
        fs: fs.clone(),
        pod: pod_name.clone(),
        container: cname.clone(),
        stdout: String::new(),
    };
    let exit = match &image.program {
        Some(p) => p(&mut proc),
        None => default_program(&mut proc, init),
    };
    let key = (ns, pod_name, cname);
    let mut k = c.kubelet.lock();
    let starts = k.containers.get(&key).map(|v| v.starts).unwrap_or(0) + 1;
    k.containers.insert(
        key,
        ContainerView {
            image: image_ref,
            env,
            command,
            args,
            fs,
            logs: proc.stdout,
            starts,
            exit: match exit {
                Exit::Code(code) => Some(code),
                Exit::Running => None,
            },
        },
    );
    Started::Ran(exit)
}

/// Restart backoff after `restarts` failures: 10s doubling to at most 5 minutes.
pub(crate) fn backoff(restarts: u32) -> chrono::Duration {
    let secs = 10u64
        .saturating_mul(1u64 << restarts.saturating_sub(1).min(5))
        .min(300);
    chrono::Duration::seconds(secs as i64)
}

/// Bring one pod forward: start what can start, then write its status if it changed.
pub async fn sync_pod(c: &Cluster, pod: &Value) -> Result<(), ApiError> {
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty)
        || pod["metadata"]["deletionTimestamp"].is_string()
    {
        return Ok(());
    }
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let uid = pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let now: DateTime<Utc> = c.clock.now();
    let mut rt = {
        let mut k = c.kubelet.lock();
        let existing = k
            .pods
            .remove(&(ns.clone(), name.clone()))
            .filter(|r| r.uid == uid);
        match existing {
            Some(r) => r,
            None => {
                k.next_ip += 1;
                let n = k.next_ip;
                let mut r = PodRuntime {
                    uid: uid.clone(),
                    ip: format!("10.244.{}.{}", n / 250, n % 250 + 2),
                    started_at: c.clock.timestamp(),
                    ..Default::default()
                };
                for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
                    if v["emptyDir"].is_object() {
                        r.volumes.insert(
                            v["name"].as_str().unwrap_or_default().to_string(),
                            Volume::default(),
                        );
                    }
                }
                r
            }
        }
    };
    if rt.next_attempt.is_none_or(|t| t <= now) {
        rt.next_attempt = None;
        super::status::advance(c, pod, &mut rt, now);
    }
    let status = super::status::build(pod, &rt, &c.clock.timestamp());
    super::status::remember_conditions(&mut rt, &status);
    c.kubelet.lock().pods.insert((ns.clone(), name.clone()), rt);
    if status == pod["status"] {
        return Ok(());
    }
    let def = c.resource("", "v1", "pods")?;
    let mut updated = pod.clone();
    updated["status"] = status;
    match crate::write::update(
        c,
        &def,
        &ns,
        &name,
        "status",
        updated,
        &WriteOptions::controller("kubelet"),
    )
    .await
    {
        Ok(_)
        | Err(ApiError {
            code: 404 | 409, ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Shorthand to read a container spec list.
pub(crate) fn containers(pod: &Value, key: &str) -> Vec<Value> {
    pod["spec"][key].as_array().cloned().unwrap_or_default()
}

/// A fake container ID.
pub(crate) fn container_id(pod_uid: &str, name: &str, n: u32) -> String {
    let h = format!("{pod_uid}{name}{n}")
        .bytes()
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
    format!("containerd://{h:016x}{:016x}", h.rotate_left(17))
}

/// JSON for a terminated state.
pub(crate) fn terminated(code: i32, started: &str, finished: &str, id: &str) -> Value {
    json!({"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }, "startedAt": started, "finishedAt": finished, "containerID": id})
}

/// What an image without a registered program does: `echo` commands print their arguments
/// (directly or through `sh -c`), init containers then exit 0, app containers keep running.
fn default_program(p: &mut Process, init: bool) -> Exit {
    let mut words: Vec<String> = p.command.iter().chain(p.args.iter()).cloned().collect();
    if words.len() >= 3 && words[0].ends_with("sh") && words[1] == "-c" {
        words = words[2].split_whitespace().map(str::to_string).collect();
    }
    let printed = match words.first().map(String::as_str) {
        Some("echo") | Some("/bin/echo") => {
            Some(words[1..].join(" ").trim_matches('"').to_string())
        }
        _ => None,
    };
    if let Some(line) = printed {
        p.println(line);
    }
    if init { Exit::Code(0) } else { Exit::Running }
}
