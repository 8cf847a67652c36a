//! Which webhooks a request matches: rules, scope, namespaceSelector, objectSelector.

use super::Attributes;
use crate::selector::LabelSelector;
use serde_json::Value;

fn any_matches(list: &Value, want: &str) -> bool {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|x| x == "*" || x == want)
}

fn resource_matches(rules: &Value, plural: &str, sub: &str) -> bool {
    rules
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|r| {
            let (rr, rs) = r.split_once('/').unwrap_or((r, ""));
            match (rr, rs) {
                ("*", "*") => true,
                ("*", s) => s == sub,
                (res, "*") => res == plural && !sub.is_empty(),
                (res, s) => res == plural && s == sub,
            }
        })
}

/// Whether webhook `w` is called for this request.
pub fn matches(w: &Value, attrs: &Attributes, obj: &Value, ns_labels: &Value) -> bool {
    let d = &attrs.def;
    let rule_ok = w["rules"].as_array().into_iter().flatten().any(|r| {
        let scope = r["scope"].as_str().unwrap_or("*");
        let scope_ok = match scope {
            "Cluster" => !d.namespaced,
            "Namespaced" => d.namespaced,
            _ => true,
        };
        scope_ok
            && any_matches(&r["operations"], attrs.operation.as_str())
            && any_matches(&r["apiGroups"], &d.group)
            && any_matches(&r["apiVersions"], &d.version)
            && resource_matches(&r["resources"], &d.plural, &attrs.subresource)
    });
    if !rule_ok {
        return false;
    }
    let ns_applies = d.namespaced || (d.group.is_empty() && d.plural == "namespaces");
    if ns_applies && w["namespaceSelector"].is_object() {
        let sel = LabelSelector::from_object(&w["namespaceSelector"]);
        if !sel.matches(ns_labels) {
            return false;
        }
    }
    if w["objectSelector"].is_object() {
        let sel = LabelSelector::from_object(&w["objectSelector"]);
        let new_ok = sel.matches(&obj["metadata"]["labels"]);
        let old_ok = attrs
            .old
            .as_ref()
            .is_some_and(|o| sel.matches(&o["metadata"]["labels"]));
        if !new_ok && !old_ok {
            return false;
        }
    }
    true
}
