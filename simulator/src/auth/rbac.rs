//! RBAC evaluation, as the real API server's RBAC authorizer does it: a request is allowed when
//! one rule of one role bound to the user allows it; otherwise it is refused.
//!
//! ClusterRoleBindings grant their ClusterRole's rules everywhere; a RoleBinding grants its Role's
//! (or ClusterRole's) rules inside the binding's namespace only. Rules match on verbs, API groups,
//! resources (`resource/subresource`, `*`, `*/subresource`) and resourceNames; a rule with
//! resourceNames never matches a request without a name. Not modelled: aggregation rules (a
//! ClusterRole's `rules` are used as stored), escalation and bind checks on writes of roles and
//! bindings, non-resource URL rules (non-resource paths are open to every authenticated user).

use super::Attributes;
use crate::cluster::UserInfo;
use serde_json::Value;

/// Where the authorizer reads roles and bindings from.
pub trait RbacSource {
    /// Every ClusterRoleBinding.
    fn cluster_role_bindings(&self) -> Vec<Value>;
    /// The RoleBindings of one namespace.
    fn role_bindings(&self, namespace: &str) -> Vec<Value>;
    /// A ClusterRole by name.
    fn cluster_role(&self, name: &str) -> Option<Value>;
    /// A Role by namespace and name.
    fn role(&self, namespace: &str, name: &str) -> Option<Value>;
}

/// The authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A rule allows the request.
    Allow,
    /// No rule allows it; `reason` names roles that bindings of the user refer to but that do
    /// not exist (empty when there are none), as the real server appends it to the message.
    Deny {
        /// `RBAC: ...` or empty.
        reason: String,
    },
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether one PolicyRule allows the request.
pub fn rule_allows(rule: &Value, attrs: &Attributes) -> bool {
    let verbs = strings(&rule["verbs"]);
    let groups = strings(&rule["apiGroups"]);
    let resources = strings(&rule["resources"]);
    let names = strings(&rule["resourceNames"]);
    let combined = attrs.combined_resource();
    let verb_ok = verbs.iter().any(|v| *v == "*" || *v == attrs.verb);
    let group_ok = groups.iter().any(|g| *g == "*" || *g == attrs.group);
    let resource_ok = resources.iter().any(|r| {
        *r == "*"
            || *r == combined
            || (!attrs.subresource.is_empty()
                && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
    });
    let name_ok = names.is_empty() || names.contains(&attrs.name.as_str());
    verb_ok && group_ok && resource_ok && name_ok
}

/// Whether a binding subject is the user. A ServiceAccount subject without a namespace means the
/// binding's namespace.
pub fn subject_applies(subject: &Value, user: &UserInfo, binding_namespace: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str() {
        Some("User") => user.username == name,
        Some("Group") => user.groups.iter().any(|g| g == name),
        Some("ServiceAccount") => {
            let namespace = subject["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            !namespace.is_empty()
                && user.username == format!("system:serviceaccount:{namespace}:{name}")
        }
        _ => false,
    }
}

fn binding_applies(binding: &Value, user: &UserInfo, namespace: &str) -> bool {
    binding["subjects"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| subject_applies(s, user, namespace)))
}

/// The rules a binding's roleRef grants, or why they cannot be read.
fn referenced_rules(
    source: &impl RbacSource,
    binding: &Value,
    namespace: &str,
) -> Result<Vec<Value>, String> {
    let role_ref = &binding["roleRef"];
    let name = role_ref["name"].as_str().unwrap_or_default();
    let role = match role_ref["kind"].as_str() {
        Some("ClusterRole") => source
            .cluster_role(name)
            .ok_or_else(|| format!("clusterrole.rbac.authorization.k8s.io \"{name}\" not found"))?,
        Some("Role") => source
            .role(namespace, name)
            .ok_or_else(|| format!("role.rbac.authorization.k8s.io \"{name}\" not found"))?,
        other => {
            return Err(format!(
                "unsupported role reference kind: \"{}\"",
                other.unwrap_or_default()
            ));
        }
    };
    Ok(role["rules"].as_array().cloned().unwrap_or_default())
}

/// Decide one request of a (non-administrator) user.
pub fn decide(source: &impl RbacSource, user: &UserInfo, attrs: &Attributes) -> Decision {
    let mut errors = Vec::new();
    let mut scopes = vec![(String::new(), source.cluster_role_bindings())];
    if !attrs.namespace.is_empty() {
        scopes.push((
            attrs.namespace.clone(),
            source.role_bindings(&attrs.namespace),
        ));
    }
    for (namespace, bindings) in scopes {
        for binding in bindings
            .iter()
            .filter(|b| binding_applies(b, user, &namespace))
        {
            match referenced_rules(source, binding, &namespace) {
                Ok(rules) if rules.iter().any(|r| rule_allows(r, attrs)) => {
                    return Decision::Allow;
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    let reason = match errors.as_slice() {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    };
    Decision::Deny { reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Default)]
    struct Fixed {
        objects: Vec<Value>,
    }

    impl Fixed {
        fn of_kind(&self, kind: &str) -> impl Iterator<Item = &Value> {
            self.objects.iter().filter(move |o| o["kind"] == kind)
        }
    }

    impl RbacSource for Fixed {
        fn cluster_role_bindings(&self) -> Vec<Value> {
            self.of_kind("ClusterRoleBinding").cloned().collect()
        }
        fn role_bindings(&self, namespace: &str) -> Vec<Value> {
            self.of_kind("RoleBinding")
                .filter(|o| o["metadata"]["namespace"] == namespace)
                .cloned()
                .collect()
        }
        fn cluster_role(&self, name: &str) -> Option<Value> {
            self.of_kind("ClusterRole")
                .find(|o| o["metadata"]["name"] == name)
                .cloned()
        }
        fn role(&self, namespace: &str, name: &str) -> Option<Value> {
            self.of_kind("Role")
                .find(|o| o["metadata"]["name"] == name && o["metadata"]["namespace"] == namespace)
                .cloned()
        }
    }

    fn attrs(verb: &str, resource: &str, namespace: &str, name: &str) -> Attributes {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        Attributes {
            verb: verb.into(),
            group: String::new(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    #[test]
    fn rules_match_verbs_resources_subresources_and_names() {
        let rule = json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"], "verbs": ["get", "watch"]});
        assert!(rule_allows(&rule, &attrs("get", "secrets", "ns", "a")));
        assert!(!rule_allows(&rule, &attrs("get", "secrets", "ns", "b")));
        assert!(!rule_allows(&rule, &attrs("list", "secrets", "ns", "")));
        assert!(!rule_allows(&rule, &attrs("watch", "secrets", "ns", "")));
        assert!(!rule_allows(
            &rule,
            &attrs("get", "secrets/status", "ns", "a")
        ));
        let any = json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]});
        assert!(rule_allows(&any, &attrs("patch", "pods/status", "", "p")));
        let status = json!({"apiGroups": [""], "resources": ["*/status"], "verbs": ["update"]});
        assert!(rule_allows(
            &status,
            &attrs("update", "pods/status", "", "p")
        ));
        assert!(!rule_allows(&status, &attrs("update", "pods", "", "p")));
    }

    #[test]
    fn a_role_binding_grants_only_in_its_namespace() {
        let user = UserInfo::service_account("apps", "reader");
        let source = Fixed {
            objects: vec![
                json!({"kind": "ClusterRole", "metadata": {"name": "view"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
                json!({"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "apps"}, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "ServiceAccount", "name": "reader"}]}),
            ],
        };
        assert_eq!(
            decide(&source, &user, &attrs("get", "pods", "apps", "p")),
            Decision::Allow
        );
        assert!(matches!(
            decide(&source, &user, &attrs("get", "pods", "other", "p")),
            Decision::Deny { .. }
        ));
        assert!(matches!(
            decide(&source, &user, &attrs("get", "pods", "", "p")),
            Decision::Deny { .. }
        ));
    }

    #[test]
    fn groups_and_missing_roles() {
        let user = UserInfo::service_account("apps", "reader");
        let source = Fixed {
            objects: vec![
                json!({"kind": "ClusterRole", "metadata": {"name": "list"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}),
                json!({"kind": "ClusterRoleBinding", "metadata": {"name": "g"}, "roleRef": {"kind": "ClusterRole", "name": "list"}, "subjects": [{"kind": "Group", "name": "system:serviceaccounts:apps"}]}),
                json!({"kind": "ClusterRoleBinding", "metadata": {"name": "m"}, "roleRef": {"kind": "ClusterRole", "name": "gone"}, "subjects": [{"kind": "User", "name": "system:serviceaccount:apps:reader"}]}),
            ],
        };
        assert_eq!(
            decide(&source, &user, &attrs("list", "pods", "", "")),
            Decision::Allow
        );
        assert_eq!(
            decide(&source, &user, &attrs("get", "pods", "apps", "p")),
            Decision::Deny {
                reason: "RBAC: clusterrole.rbac.authorization.k8s.io \"gone\" not found".into()
            }
        );
    }
}
