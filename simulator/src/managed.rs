//! Field ownership for server-side apply: managedFields entries, FieldsV1 sets, conflicts.

use crate::error::{ApiError, Cause};
use crate::patch;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A path in FieldsV1 notation: `f:spec`, `k:{"name":"a"}`, `v:"x"`.
pub type FieldPath = Vec<String>;

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Field manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion the fields were written with.
    pub api_version: String,
    /// Subresource written through, if any.
    pub subresource: String,
    /// Time of the last change.
    pub time: String,
    /// The owned fields.
    pub fields: BTreeSet<FieldPath>,
}

const SKIP_ROOT: &[&str] = &["apiVersion", "kind"];
const SKIP_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Collect the leaf field paths set in an object.
pub fn field_set(kind: &str, builtin: bool, obj: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    collect(kind, builtin, &mut vec![], &mut vec![], obj, &mut out);
    out
}

fn collect(
    kind: &str,
    builtin: bool,
    names: &mut Vec<String>,
    prefix: &mut FieldPath,
    v: &Value,
    out: &mut BTreeSet<FieldPath>,
) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if prefix.is_empty() && SKIP_ROOT.contains(&k.as_str()) {
                    continue;
                }
                if prefix.len() == 1 && prefix[0] == "f:metadata" && SKIP_META.contains(&k.as_str())
                {
                    continue;
                }
                prefix.push(format!("f:{k}"));
                if let (Value::Array(items), true) = (child, builtin) {
                    if let Some(key) = patch::merge_key(kind, names, k) {
                        names.push(k.clone());
                        for item in items {
                            let id = item.get(key).cloned().unwrap_or(Value::Null);
                            let mut m = Map::new();
                            m.insert(key.to_string(), id);
                            prefix.push(format!("k:{}", Value::Object(m)));
                            out.insert(prefix.clone());
                            collect(kind, builtin, names, prefix, item, out);
                            prefix.pop();
                        }
                        names.pop();
                        prefix.pop();
                        continue;
                    }
                    if k == "finalizers" {
                        for item in items {
                            prefix.push(format!("v:{item}"));
                            out.insert(prefix.clone());
                            prefix.pop();
                        }
                        prefix.pop();
                        continue;
                    }
                }
                names.push(k.clone());
                collect(kind, builtin, names, prefix, child, out);
                names.pop();
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

/// The value found at a field path.
pub fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for elem in path {
        if let Some(f) = elem.strip_prefix("f:") {
            cur = cur.get(f)?;
        } else if let Some(k) = elem.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(k).ok()?;
            cur = cur
                .as_array()?
                .iter()
                .find(|e| keys.iter().all(|(kk, kv)| e.get(kk) == Some(kv)))?;
        } else if let Some(v) = elem.strip_prefix("v:") {
            let want: Value = serde_json::from_str(v).ok()?;
            cur = cur.as_array()?.iter().find(|e| **e == want)?;
        } else {
            return None;
        }
    }
    Some(cur)
}

fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for elem in parent_path {
        let next = if let Some(f) = elem.strip_prefix("f:") {
            cur.get_mut(f)
        } else if let Some(k) = elem.strip_prefix("k:") {
            let Ok(keys) = serde_json::from_str::<Map<String, Value>>(k) else {
                return;
            };
            cur.as_array_mut().and_then(|a| {
                a.iter_mut()
                    .find(|e| keys.iter().all(|(kk, kv)| e.get(kk) == Some(kv)))
            })
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(k) = last.strip_prefix("k:") {
        if let (Ok(keys), Some(a)) = (
            serde_json::from_str::<Map<String, Value>>(k),
            cur.as_array_mut(),
        ) {
            a.retain(|e| !keys.iter().all(|(kk, kv)| e.get(kk) == Some(kv)));
        }
    } else if let Some(v) = last.strip_prefix("v:")
        && let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(v), cur.as_array_mut())
    {
        a.retain(|e| *e != want);
    }
}

/// Render a path the way conflict messages do: `.spec.containers[name="a"].image`.
pub fn path_string(path: &[String]) -> String {
    let mut s = String::new();
    for elem in path {
        if let Some(f) = elem.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = elem.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = elem.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        }
    }
    s
}

/// Encode a field set as a FieldsV1 object.
pub fn to_fields_v1(set: &BTreeSet<FieldPath>) -> Value {
    let mut root = json!({});
    for path in set {
        let mut cur = &mut root;
        for elem in path {
            cur = cur
                .as_object_mut()
                .map(|m| m.entry(elem.clone()).or_insert_with(|| json!({})))
                .expect("object");
        }
    }
    for path in set {
        let mut cur = &mut root;
        for elem in path {
            cur = &mut cur[elem.as_str()];
        }
        if let Some(m) = cur.as_object_mut()
            && !m.is_empty()
        {
            m.insert(".".into(), json!({}));
        }
    }
    root
}

/// Decode a FieldsV1 object.
pub fn from_fields_v1(v: &Value) -> BTreeSet<FieldPath> {
    fn walk(v: &Value, prefix: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
        if let Some(m) = v.as_object() {
            if m.is_empty() && !prefix.is_empty() {
                out.insert(prefix.clone());
            }
            for (k, child) in m {
                if k == "." {
                    out.insert(prefix.clone());
                    continue;
                }
                prefix.push(k.clone());
                walk(child, prefix, out);
                prefix.pop();
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut vec![], &mut out);
    out
}

/// Read the managedFields of an object.
pub fn read_entries(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| {
                    Some(Entry {
                        manager: e["manager"].as_str()?.to_string(),
                        operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                        api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
                        subresource: e["subresource"].as_str().unwrap_or_default().to_string(),
                        time: e["time"].as_str().unwrap_or_default().to_string(),
                        fields: from_fields_v1(&e["fieldsV1"]),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Write managedFields into an object.
pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let arr: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if arr.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(arr);
    }
}

fn is_leafy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Object(m)) => m.is_empty(),
        _ => true,
    }
}

fn manager_label(e: &Entry) -> String {
    let mut s = format!("{:?}", e.manager);
    if !e.subresource.is_empty() {
        s = format!("{s} with subresource {:?}", e.subresource);
    }
    if e.operation == "Update" {
        if e.time.is_empty() {
            s = format!("{s} using {}", e.api_version);
        } else {
            s = format!("{s} using {} at {}", e.api_version, e.time);
        }
    }
    s
}

/// What an apply needs to know about the request.
pub struct ApplyRequest<'a> {
    /// Kind of the object.
    pub kind: &'a str,
    /// Whether list merge keys of built-in types apply.
    pub builtin: bool,
    /// The field manager.
    pub manager: &'a str,
    /// `force=true`.
    pub force: bool,
    /// apiVersion of the object.
    pub api_version: &'a str,
    /// Current time.
    pub time: String,
}

/// Server-side apply `applied` onto `live` (an empty object when creating).
pub fn apply(req: &ApplyRequest<'_>, live: &Value, applied: &Value) -> Result<Value, ApiError> {
    let mut entries = read_entries(live);
    let new_set = field_set(req.kind, req.builtin, applied);
    let mut conflicts: Vec<(Entry, FieldPath)> = vec![];
    for e in &entries {
        if e.manager == req.manager && e.operation == "Apply" {
            continue;
        }
        for p in e.fields.intersection(&new_set) {
            let (a, b) = (value_at(live, p), value_at(applied, p));
            if is_leafy(a) && is_leafy(b) && a != b && a.is_some() {
                conflicts.push((e.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !req.force {
        return Err(conflict_error(&conflicts));
    }
    for (c, p) in &conflicts {
        for e in entries.iter_mut() {
            if e.manager == c.manager
                && e.operation == c.operation
                && e.subresource == c.subresource
            {
                e.fields.remove(p);
            }
        }
    }
    let mut result = live.clone();
    let old_set = entries
        .iter()
        .find(|e| e.manager == req.manager && e.operation == "Apply")
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for p in old_set.difference(&new_set) {
        let owned_elsewhere = entries.iter().any(|e| {
            !(e.manager == req.manager && e.operation == "Apply")
                && e.fields
                    .iter()
                    .any(|q| q.starts_with(p) || p.starts_with(q))
        });
        if !owned_elsewhere && !new_set.iter().any(|q| q.starts_with(p)) {
            remove_at(&mut result, p);
        }
    }
    let mut body = applied.clone();
    if let Some(m) = body["metadata"].as_object_mut() {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    if req.builtin {
        patch::strategic_merge_patch(req.kind, &mut result, &body)?;
    } else {
        patch::merge_patch(&mut result, &body);
    }
    entries.retain(|e| !(e.manager == req.manager && e.operation == "Apply"));
    entries.push(Entry {
        manager: req.manager.to_string(),
        operation: "Apply".into(),
        api_version: req.api_version.to_string(),
        subresource: String::new(),
        time: req.time.clone(),
        fields: new_set,
    });
    write_entries(&mut result, &entries);
    Ok(result)
}

fn conflict_error(conflicts: &[(Entry, FieldPath)]) -> ApiError {
    let causes: Vec<Cause> = conflicts
        .iter()
        .map(|(e, p)| Cause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", manager_label(e)),
            field: path_string(p),
        })
        .collect();
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            manager_label(&conflicts[0].0),
            path_string(&conflicts[0].1)
        )
    } else {
        let mut managers: Vec<String> = conflicts.iter().map(|(e, _)| manager_label(e)).collect();
        managers.sort();
        managers.dedup();
        let mut lines = vec![];
        for m in &managers {
            lines.push(format!("conflicts with {m}"));
            for (e, p) in conflicts {
                if &manager_label(e) == m {
                    lines.push(format!("- {}", path_string(p)));
                }
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    ApiError {
        code: 409,
        reason: "Conflict".into(),
        message,
        details: Some(Value::Object({
            let mut m = Map::new();
            m.insert(
                "causes".into(),
                Value::Array(
                    causes
                        .iter()
                        .map(
                            |c| json!({"reason": c.reason, "message": c.message, "field": c.field}),
                        )
                        .collect(),
                ),
            );
            m
        })),
    }
}

/// Record ownership for a non-apply write (create, update, patch) by `manager`.
#[allow(clippy::too_many_arguments)]
pub fn track_update(
    kind: &str,
    builtin: bool,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: &str,
    api_version: &str,
    time: String,
) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let new_fields = field_set(kind, builtin, new);
    let changed: BTreeSet<FieldPath> = new_fields
        .iter()
        .filter(|p| old.is_none_or(|o| value_at(o, p) != value_at(new, p)))
        .cloned()
        .collect();
    for e in entries.iter_mut() {
        e.fields
            .retain(|p| new_fields.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| {
            e.manager == manager && e.operation == "Update" && e.subresource == subresource
        }) {
            Some(e) => {
                e.fields.extend(changed);
                e.time = time;
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                subresource: subresource.to_string(),
                time,
                fields: changed,
            }),
        }
    }
    write_entries(new, &entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(manager: &'a str, force: bool) -> ApplyRequest<'a> {
        ApplyRequest {
            kind: "ConfigMap",
            builtin: true,
            manager,
            force,
            api_version: "v1",
            time: "t".into(),
        }
    }

    #[test]
    fn two_managers_conflict_then_force() {
        let live = json!({"metadata": {"name": "c"}});
        let a = apply(&req("a", false), &live, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "1"}})).unwrap();
        let err = apply(
            &req("b", false),
            &a,
            &json!({"metadata": {"name": "c"}, "data": {"x": "2"}}),
        )
        .unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"a\": .data.x"
        );
        let forced = apply(
            &req("b", true),
            &a,
            &json!({"metadata": {"name": "c"}, "data": {"x": "2"}}),
        )
        .unwrap();
        assert_eq!(forced["data"]["x"], "2");
        let owners = read_entries(&forced);
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].manager, "b");
    }

    #[test]
    fn dropping_a_field_from_the_applied_config_removes_it() {
        let live = json!({"metadata": {"name": "c"}});
        let a = apply(
            &req("a", false),
            &live,
            &json!({"metadata": {"name": "c"}, "data": {"x": "1", "y": "2"}}),
        )
        .unwrap();
        let b = apply(
            &req("a", false),
            &a,
            &json!({"metadata": {"name": "c"}, "data": {"x": "1"}}),
        )
        .unwrap();
        assert_eq!(b["data"], json!({"x": "1"}));
    }

    #[test]
    fn fields_v1_roundtrip() {
        let set = field_set(
            "Pod",
            true,
            &json!({"spec": {"containers": [{"name": "a", "image": "i"}]}}),
        );
        assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
    }
}
