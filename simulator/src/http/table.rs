//! `meta.k8s.io/v1` Table output for `kubectl get`.

use crate::clock::parse_time;
use crate::resources::ResourceDef;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Human-readable age, like the API server's `duration.HumanDuration`.
pub fn human_age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (m, h, days) = (s / 60, s / 3600, s / 86400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{}h", h % 24)
        }
    } else if days < 365 * 2 {
        format!("{days}d")
    } else {
        format!("{}y", days / 365)
    }
}

fn col(name: &str, ty: &str, priority: u8) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": ty, "format": format, "description": name, "priority": priority})
}

fn columns(def: &ResourceDef) -> Vec<Value> {
    if def.custom && !def.printer_columns.is_empty() {
        let mut cols = vec![col("Name", "string", 0)];
        for c in &def.printer_columns {
            cols.push(col(
                c["name"].as_str().unwrap_or_default(),
                c["type"].as_str().unwrap_or("string"),
                c["priority"].as_u64().unwrap_or(0) as u8,
            ));
        }
        return cols;
    }
    match def.kind.as_str() {
        "Pod" => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            col("Age", "string", 0),
            col("IP", "string", 1),
            col("Node", "string", 1),
        ],
        "Deployment" => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Up-to-date", "integer", 0),
            col("Available", "integer", 0),
            col("Age", "string", 0),
        ],
        "ReplicaSet" => vec![
            col("Name", "string", 0),
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            col("Age", "string", 0),
        ],
        "Namespace" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Age", "string", 0),
        ],
        _ => vec![col("Name", "string", 0), col("Age", "string", 0)],
    }
}

fn pod_status(p: &Value) -> String {
    if p["metadata"]["deletionTimestamp"].is_string() {
        return "Terminating".into();
    }
    for key in ["initContainerStatuses", "containerStatuses"] {
        for (i, cs) in p["status"][key]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(r) = cs["state"]["waiting"]["reason"].as_str() {
                return if key == "initContainerStatuses" {
                    format!("Init:{r}")
                } else {
                    r.to_string()
                };
            }
            if key == "initContainerStatuses" && cs["state"]["running"].is_object() {
                let n = p["spec"]["initContainers"]
                    .as_array()
                    .map(Vec::len)
                    .unwrap_or(0);
                return format!("Init:{i}/{n}");
            }
        }
    }
    p["status"]["phase"]
        .as_str()
        .unwrap_or("Pending")
        .to_string()
}

fn cells(def: &ResourceDef, o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(o["metadata"]["name"]);
    let age = o["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(parse_time)
        .map(|t| human_age(now - t))
        .unwrap_or("<unknown>".into());
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    if def.custom && !def.printer_columns.is_empty() {
        let mut cells = vec![name];
        for c in &def.printer_columns {
            let v = super::jsonpath::first(o, c["jsonPath"].as_str().unwrap_or_default())
                .cloned()
                .unwrap_or(Value::Null);
            let v = match (c["type"].as_str(), &v) {
                (Some("date"), Value::String(s)) => json!(
                    parse_time(s)
                        .map(|t| human_age(now - t))
                        .unwrap_or_default()
                ),
                _ => v,
            };
            cells.push(v);
        }
        return cells;
    }
    match def.kind.as_str() {
        "Pod" => {
            let statuses = o["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = o["spec"]["containers"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            let ready = statuses
                .iter()
                .filter(|c| c["ready"].as_bool() == Some(true))
                .count();
            let restarts: i64 = statuses.iter().map(|c| int(&c["restartCount"])).sum();
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status(o)),
                json!(restarts.to_string()),
                json!(age),
                json!(o["status"]["podIP"].as_str().unwrap_or("<none>")),
                json!(o["spec"]["nodeName"].as_str().unwrap_or("<none>")),
            ]
        }
        "Deployment" => vec![
            name,
            json!(format!(
                "{}/{}",
                int(&o["status"]["readyReplicas"]),
                int(&o["spec"]["replicas"])
            )),
            json!(int(&o["status"]["updatedReplicas"])),
            json!(int(&o["status"]["availableReplicas"])),
            json!(age),
        ],
        "ReplicaSet" => vec![
            name,
            json!(int(&o["spec"]["replicas"])),
            json!(int(&o["status"]["replicas"])),
            json!(int(&o["status"]["readyReplicas"])),
            json!(age),
        ],
        "Namespace" => vec![
            name,
            json!(o["status"]["phase"].as_str().unwrap_or("Active")),
            json!(age),
        ],
        _ => vec![name, json!(age)],
    }
}

fn row(def: &ResourceDef, o: &Value, now: DateTime<Utc>, include: &str) -> Value {
    let object = match include {
        "None" => Value::Null,
        "Object" => o.clone(),
        _ => {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
        }
    };
    json!({"cells": cells(def, o, now), "object": object})
}

/// A Table of the given objects.
pub fn table(
    def: &ResourceDef,
    objs: &[Value],
    rv: &str,
    cont: Option<&Value>,
    now: DateTime<Utc>,
    include: &str,
) -> Value {
    let rows: Vec<Value> = objs.iter().map(|o| row(def, o, now, include)).collect();
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = c.clone();
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns(def), "rows": rows})
}

/// Whether an Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}
