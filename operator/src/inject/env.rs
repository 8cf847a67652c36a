//! The environment of an instrumented container, as JSONPatch operations on its `env` list.
//!
//! Precedence, highest first: the container's own variables, then `python.instrumentation.env`,
//! then the values the operator derives. Two variables are merged rather than skipped:
//! `PYTHONPATH` gets the packages directory prepended, and `OTEL_RESOURCE_ATTRIBUTES` is merged
//! per key (container pairs first and winning, then the resource's, then the derived ones).

use std::collections::{HashMap, HashSet};

use json_patch::{AddOperation, PatchOperation, ReplaceOperation};
use jsonptr::PointerBuf;
use serde_json::{Value, json};

use super::MOUNT_PATH;
use super::identity::{NODE_NAME_VAR, POD_NAME_VAR};

/// Variables whose values are merged with the container's instead of being skipped.
const PYTHONPATH: &str = "PYTHONPATH";
const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// What the operator wants in a container's environment, before precedence is applied.
#[derive(Clone, Debug)]
pub struct DesiredEnv<'a> {
    /// `python.instrumentation.env` entries (raw EnvVar JSON).
    pub resource_env: &'a [Value],
    /// Derived `name=value` pairs, in injection order (PYTHONPATH and OTEL_RESOURCE_ATTRIBUTES excluded).
    pub derived: Vec<(String, String)>,
    /// Derived variables taken from a source instead of a value: `(name, valueFrom)`, added
    /// after `derived` under the same precedence.
    pub derived_from: Vec<(String, Value)>,
    /// Derived resource attributes, in a fixed order.
    pub attributes: Vec<(String, String)>,
}

/// Computes the operations that give the container at `index` its instrumented environment.
pub fn env_operations(
    container: &Value,
    index: usize,
    desired: &DesiredEnv,
) -> Vec<PatchOperation> {
    let existing: &[Value] = container
        .get("env")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    // The last entry of each name, indexed once so every lookup below is constant-time.
    let last_index: HashMap<&str, usize> = existing
        .iter()
        .enumerate()
        .filter_map(|(at, e)| Some((env_name(e)?, at)))
        .collect();
    let existing_value = |name: &str| -> Option<(usize, &Value)> {
        let at = *last_index.get(name)?;
        Some((at, existing.get(at)?))
    };
    let defines = |name: &str| existing_value(name).is_some();

    // The downward-API variables come first so later `$(VAR)` references expand.
    let downward: Vec<Value> = [
        (POD_NAME_VAR, "metadata.name"),
        (NODE_NAME_VAR, "spec.nodeName"),
    ]
    .into_iter()
    .filter(|(name, _)| !defines(name))
    .map(|(name, path)| json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}))
    .collect();

    let mut appended: Vec<Value> = Vec::new();
    let mut appended_names: HashSet<String> = HashSet::new();
    let seen = |name: &str, appended_names: &HashSet<String>| {
        defines(name) || appended_names.contains(name)
    };
    for entry in desired.resource_env {
        let Some(name) = env_name(entry) else {
            continue;
        };
        if name == PYTHONPATH || name == RESOURCE_ATTRIBUTES || seen(name, &appended_names) {
            continue;
        }
        appended_names.insert(name.to_string());
        appended.push(entry.clone());
    }
    let resource_literal = |name: &str| -> Option<String> {
        desired
            .resource_env
            .iter()
            .rev()
            .find(|e| env_name(e) == Some(name))
            .and_then(|e| e.get("value").and_then(Value::as_str))
            .map(str::to_string)
    };

    let mut merges: Vec<(usize, String)> = Vec::new();
    // PYTHONPATH: the container's value (or the resource's) goes after the packages directory.
    let pythonpath = |base: Option<&str>| match base.filter(|b| !b.is_empty()) {
        Some(base) => format!("{MOUNT_PATH}:{base}"),
        None => MOUNT_PATH.to_string(),
    };
    match existing_value(PYTHONPATH) {
        Some((at, entry)) => {
            merges.push((at, pythonpath(entry.get("value").and_then(Value::as_str))))
        }
        None => appended.push(literal(
            PYTHONPATH,
            &pythonpath(resource_literal(PYTHONPATH).as_deref()),
        )),
    }
    for (name, value) in &desired.derived {
        if !seen(name, &appended_names) {
            appended_names.insert(name.clone());
            appended.push(literal(name, value));
        }
    }
    for (name, source) in &desired.derived_from {
        if !seen(name, &appended_names) {
            appended_names.insert(name.clone());
            appended.push(json!({"name": name, "valueFrom": source}));
        }
    }
    // OTEL_RESOURCE_ATTRIBUTES: merged per key when the container sets it literally; a container
    // taking it from valueFrom keeps its own.
    match existing_value(RESOURCE_ATTRIBUTES) {
        Some((at, entry)) => {
            if let Some(user) = entry.get("value").and_then(Value::as_str) {
                merges.push((
                    at,
                    merge_attributes(
                        &[
                            user,
                            resource_literal(RESOURCE_ATTRIBUTES)
                                .as_deref()
                                .unwrap_or(""),
                        ],
                        &desired.attributes,
                    ),
                ));
            }
        }
        None => {
            let merged = merge_attributes(
                &[resource_literal(RESOURCE_ATTRIBUTES)
                    .as_deref()
                    .unwrap_or("")],
                &desired.attributes,
            );
            appended.push(literal(RESOURCE_ATTRIBUTES, &merged));
        }
    }

    let base = format!("/spec/containers/{index}/env");
    if container.get("env").and_then(Value::as_array).is_none() {
        let all: Vec<Value> = downward.into_iter().chain(appended).collect();
        return vec![add(&base, Value::Array(all))];
    }
    let mut ops = Vec::new();
    let offset = downward.len();
    for (i, entry) in downward.into_iter().enumerate() {
        ops.push(add(&format!("{base}/{i}"), entry));
    }
    for (at, value) in merges {
        let path = format!("{base}/{}/value", at + offset);
        let has_value = existing.get(at).and_then(|e| e.get("value")).is_some();
        ops.push(if has_value {
            replace(&path, Value::String(value))
        } else {
            add(&path, Value::String(value))
        });
    }
    for entry in appended {
        ops.push(add(&format!("{base}/-"), entry));
    }
    ops
}

/// Merges `key=value` lists: earlier sources win per key and keep their order; derived pairs
/// follow for keys nobody set.
pub fn merge_attributes(sources: &[&str], derived: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(derived.len() + 4);
    let mut keys: HashSet<&str> = HashSet::with_capacity(derived.len() + 4);
    let parsed = sources
        .iter()
        .flat_map(|s| s.split(','))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = key.trim();
            (!key.is_empty()).then(|| (key, value.trim()))
        });
    for (key, value) in parsed.chain(derived.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        if keys.insert(key) {
            pairs.push((key, value));
        }
    }
    let mut merged = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            merged.push(',');
        }
        merged.push_str(key);
        merged.push('=');
        merged.push_str(value);
    }
    merged
}

fn env_name(entry: &Value) -> Option<&str> {
    entry.get("name").and_then(Value::as_str)
}

fn literal(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// An RFC 6902 `add` at a JSON pointer written as a string of already-escaped tokens.
pub fn add(path: &str, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: pointer(path),
        value,
    })
}

/// An RFC 6902 `replace`.
pub fn replace(path: &str, value: Value) -> PatchOperation {
    PatchOperation::Replace(ReplaceOperation {
        path: pointer(path),
        value,
    })
}

fn pointer(path: &str) -> PointerBuf {
    PointerBuf::parse(path).unwrap_or_default()
}
