//! Kubernetes label selector evaluation over pod labels.

use std::collections::BTreeMap;

use crate::crd::PodSelector;

/// A label selector compiled for evaluation; only built from selectors that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Selector {
    /// Compiles a selector. `None` when it is empty (matches nothing) or uses an unknown operator,
    /// so an invalid selector never selects a pod.
    pub fn compile(selector: &PodSelector) -> Option<Selector> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::In(key.clone(), vec![value.clone()]));
        }
        for expression in selector.match_expressions.iter().flatten() {
            let key = expression.key.clone();
            let values = expression.values.clone().unwrap_or_default();
            let requirement = match expression.operator.as_str() {
                "In" if !values.is_empty() => Requirement::In(key, values),
                "NotIn" if !values.is_empty() => Requirement::NotIn(key, values),
                "Exists" if values.is_empty() => Requirement::Exists(key),
                "DoesNotExist" if values.is_empty() => Requirement::DoesNotExist(key),
                _ => return None,
            };
            requirements.push(requirement);
        }
        if requirements.is_empty() {
            return None;
        }
        Some(Selector { requirements })
    }

    /// A selector without requirements, matching every pod.
    pub fn everything() -> Selector {
        Selector {
            requirements: Vec::new(),
        }
    }

    /// Whether every requirement holds for these labels.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(key, values) => labels.get(key).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::DoesNotExist(key) => !labels.contains_key(key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::SelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> PodSelector {
        PodSelector {
            match_labels: None,
            match_expressions: Some(vec![SelectorRequirement {
                key: key.into(),
                operator: operator.into(),
                values: (!values.is_empty())
                    .then(|| values.iter().map(|v| v.to_string()).collect()),
            }]),
        }
    }

    #[test]
    fn each_operator_matches_as_kubernetes_defines_it() {
        // (operator, values, pod labels, selected)
        type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], bool);
        let cases: &[Case] = &[
            ("In", &["a", "b"], &[("tier", "b")], true),
            ("In", &["a", "b"], &[("tier", "c")], false),
            ("In", &["a"], &[], false),
            ("NotIn", &["a"], &[("tier", "b")], true),
            ("NotIn", &["a"], &[("tier", "a")], false),
            ("NotIn", &["a"], &[], true),
            ("Exists", &[], &[("tier", "")], true),
            ("Exists", &[], &[("other", "x")], false),
            ("DoesNotExist", &[], &[("other", "x")], true),
            ("DoesNotExist", &[], &[("tier", "x")], false),
        ];
        for (operator, values, pod, expected) in cases {
            let selector = Selector::compile(&expression("tier", operator, values)).unwrap();
            assert_eq!(
                selector.matches(&labels(pod)),
                *expected,
                "{operator} {values:?} on {pod:?}"
            );
        }
    }

    #[test]
    fn labels_and_expressions_must_all_hold() {
        let mut selector = expression("tier", "NotIn", &["db"]);
        selector.match_labels = Some(labels(&[("app", "chat")]));
        let selector = Selector::compile(&selector).unwrap();
        assert!(selector.matches(&labels(&[("app", "chat"), ("tier", "web")])));
        assert!(!selector.matches(&labels(&[("app", "chat"), ("tier", "db")])));
        assert!(!selector.matches(&labels(&[("tier", "web")])));
    }

    #[test]
    fn empty_or_malformed_selectors_select_nothing() {
        assert_eq!(Selector::compile(&PodSelector::default()), None);
        let empty = PodSelector {
            match_labels: Some(BTreeMap::new()),
            match_expressions: Some(vec![]),
        };
        assert_eq!(Selector::compile(&empty), None);
        assert_eq!(
            Selector::compile(&expression("tier", "Matches", &["x"])),
            None
        );
        assert_eq!(Selector::compile(&expression("tier", "In", &[])), None);
        assert_eq!(
            Selector::compile(&expression("tier", "Exists", &["x"])),
            None
        );
    }
}
