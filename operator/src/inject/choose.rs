//! Which resource instruments a pod: the pod's namespace first, then the operator's namespace
//! (cluster-wide defaults); inside a namespace the oldest resource wins, ties broken by name.

use std::collections::BTreeMap;

use super::policy::{Policy, ResourceRef};

/// The resource chosen for a pod, and why.
#[derive(Debug)]
pub struct Choice<'a> {
    /// The winning resource.
    pub policy: &'a Policy,
    /// Other resources that also selected the pod in the same namespace, in precedence order.
    pub also_matched: Vec<ResourceRef>,
    /// A sentence explaining the choice.
    pub why: String,
}

/// Picks the resource for a pod in `pod_namespace` with `labels`, among `policies` (any namespace;
/// only the pod's and `operator_namespace` are considered). Deterministic for a given set.
pub fn choose<'a>(
    policies: impl IntoIterator<Item = &'a Policy>,
    pod_namespace: &str,
    operator_namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Option<Choice<'a>> {
    let (mut local, mut global): (Vec<&Policy>, Vec<&Policy>) = policies
        .into_iter()
        .filter(|p| {
            p.resource.namespace == pod_namespace || p.resource.namespace == operator_namespace
        })
        .filter(|p| p.selects(labels))
        .partition(|p| p.resource.namespace == pod_namespace);
    let (matches, scope) = if !local.is_empty() {
        (&mut local, "the pod's namespace")
    } else if !global.is_empty() {
        (
            &mut global,
            "the operator's namespace (cluster-wide default)",
        )
    } else {
        return None;
    };
    matches.sort_by(|a, b| precedence_key(a).cmp(&precedence_key(b)));
    let winner = matches[0];
    let also_matched: Vec<ResourceRef> = matches[1..].iter().map(|p| p.resource.clone()).collect();
    let why = if also_matched.is_empty() {
        format!(
            "{} selects the pod and is the only match in {scope}",
            winner.resource
        )
    } else {
        format!(
            "{} selects the pod and is the oldest of {} matches in {scope} (ties broken by name); also matched: {}",
            winner.resource,
            also_matched.len() + 1,
            also_matched
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Some(Choice {
        policy: winner,
        also_matched,
        why,
    })
}

/// Oldest first; resources without a creation time after those with one; then by name.
fn precedence_key(policy: &Policy) -> (bool, Option<k8s_openapi::jiff::Timestamp>, &str) {
    (
        policy.created.is_none(),
        policy.created,
        policy.resource.name.as_str(),
    )
}
