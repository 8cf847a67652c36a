//! Whether two resources can select the same pod, decided exactly from their label selectors.
//!
//! A pod is selected by a resource when `selector` matches and `ignore` (if present) does not.
//! Two resources overlap when some label set satisfies both. `not ignore` is a disjunction of the
//! negated requirements of `ignore` (each of which is again a label requirement: `In`↔`NotIn`,
//! `Exists`↔`DoesNotExist`), so the question becomes: is any of a few conjunctions of label
//! requirements satisfiable? A conjunction is satisfiable unless, for some key, the key must both
//! exist and not exist, or the values allowed by its `In` requirements are all excluded.
//! Selectors that cannot be interpreted (unknown operators, `In` without values) select nothing
//! and so overlap with nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::crd::{AutoInstrumentationSpec, PodSelector};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    DoesNotExist,
}

type Requirement = (String, Op);

fn compile(selector: &PodSelector) -> Option<Vec<Requirement>> {
    let mut out = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        out.push((key.clone(), Op::In(BTreeSet::from([value.clone()]))));
    }
    for expression in selector.match_expressions.iter().flatten() {
        let values: BTreeSet<String> = expression.values.iter().flatten().cloned().collect();
        let op = match expression.operator.as_str() {
            "In" if !values.is_empty() => Op::In(values),
            "NotIn" if !values.is_empty() => Op::NotIn(values),
            "Exists" if values.is_empty() => Op::Exists,
            "DoesNotExist" if values.is_empty() => Op::DoesNotExist,
            _ => return None,
        };
        out.push((expression.key.clone(), op));
    }
    Some(out)
}

fn negate((key, op): &Requirement) -> Requirement {
    let op = match op {
        Op::In(v) => Op::NotIn(v.clone()),
        Op::NotIn(v) => Op::In(v.clone()),
        Op::Exists => Op::DoesNotExist,
        Op::DoesNotExist => Op::Exists,
    };
    (key.clone(), op)
}

fn satisfiable(requirements: &[&Requirement]) -> bool {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for (key, op) in requirements {
        by_key.entry(key.as_str()).or_default().push(op);
    }
    by_key.values().all(|ops| {
        let absent = ops.iter().any(|o| matches!(o, Op::DoesNotExist));
        let present = ops.iter().any(|o| matches!(o, Op::In(_) | Op::Exists));
        if absent {
            return !present;
        }
        let mut allowed: Option<BTreeSet<&String>> = None;
        for op in ops {
            if let Op::In(values) = op {
                let these: BTreeSet<&String> = values.iter().collect();
                allowed = Some(match allowed {
                    None => these,
                    Some(before) => before.intersection(&these).copied().collect(),
                });
            }
        }
        let Some(allowed) = allowed else {
            // Only Exists/NotIn: a fresh value satisfies them.
            return true;
        };
        allowed.iter().any(|value| {
            !ops.iter()
                .any(|o| matches!(o, Op::NotIn(excluded) if excluded.contains(*value)))
        })
    })
}

/// The alternatives of "selected": the selector plus, for each alternative, one negated
/// requirement of `ignore`. `None` when the resource selects nothing.
fn alternatives(
    spec: &AutoInstrumentationSpec,
) -> Option<(Vec<Requirement>, Vec<Option<Requirement>>)> {
    let selector = compile(&spec.selector)?;
    if selector.is_empty() {
        return None;
    }
    let escapes = match &spec.ignore {
        None => vec![None],
        Some(ignore) => {
            let ignore = compile(ignore)?;
            if ignore.is_empty() {
                // An empty ignore selector ignores every pod.
                return None;
            }
            ignore.iter().map(|r| Some(negate(r))).collect()
        }
    };
    Some((selector, escapes))
}

/// Whether some pod could be selected by both resources.
pub fn overlaps(a: &AutoInstrumentationSpec, b: &AutoInstrumentationSpec) -> bool {
    let (Some((select_a, escapes_a)), Some((select_b, escapes_b))) =
        (alternatives(a), alternatives(b))
    else {
        return false;
    };
    escapes_a.iter().any(|escape_a| {
        escapes_b.iter().any(|escape_b| {
            let all: Vec<&Requirement> = select_a
                .iter()
                .chain(&select_b)
                .chain(escape_a.iter())
                .chain(escape_b.iter())
                .collect();
            satisfiable(&all)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> AutoInstrumentationSpec {
        serde_json::from_value(value).unwrap()
    }

    fn check(a: serde_json::Value, b: serde_json::Value) -> bool {
        let (a, b) = (spec(a), spec(b));
        let forward = overlaps(&a, &b);
        assert_eq!(forward, overlaps(&b, &a), "overlap is symmetric");
        forward
    }

    #[test]
    fn equal_or_nested_label_selectors_overlap() {
        assert!(check(
            json!({"selector": {"matchLabels": {"app": "x"}}}),
            json!({"selector": {"matchLabels": {"app": "x"}}})
        ));
        assert!(check(
            json!({"selector": {"matchLabels": {"app": "x"}}}),
            json!({"selector": {"matchLabels": {"tier": "web"}}})
        ));
        assert!(check(
            json!({"selector": {"matchLabels": {"app": "x"}}}),
            json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["x", "y"]}]}})
        ));
    }

    #[test]
    fn contradictory_selectors_do_not_overlap() {
        assert!(!check(
            json!({"selector": {"matchLabels": {"app": "x"}}}),
            json!({"selector": {"matchLabels": {"app": "y"}}})
        ));
        assert!(!check(
            json!({"selector": {"matchLabels": {"app": "x"}}}),
            json!({"selector": {"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}})
        ));
        assert!(!check(
            json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["x"]}]}}),
            json!({"selector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}, {"key": "app", "operator": "Exists"}]}})
        ));
    }

    #[test]
    fn ignore_selectors_can_remove_the_overlap() {
        assert!(!check(
            json!({"selector": {"matchLabels": {"app": "x"}}, "ignore": {"matchLabels": {"tier": "web"}}}),
            json!({"selector": {"matchLabels": {"app": "x", "tier": "web"}}})
        ));
        assert!(check(
            json!({"selector": {"matchLabels": {"app": "x"}}, "ignore": {"matchLabels": {"tier": "web"}}}),
            json!({"selector": {"matchLabels": {"app": "x"}}})
        ));
        // An ignore with no criteria ignores everything.
        assert!(!check(
            json!({"selector": {"matchLabels": {"app": "x"}}, "ignore": {}}),
            json!({"selector": {"matchLabels": {"app": "x"}}})
        ));
    }

    #[test]
    fn selectors_that_select_nothing_overlap_with_nothing() {
        assert!(!check(
            json!({"selector": {}}),
            json!({"selector": {"matchLabels": {"app": "x"}}})
        ));
        assert!(!check(
            json!({"selector": {"matchExpressions": [{"key": "app", "operator": "Near"}]}}),
            json!({"selector": {"matchLabels": {"app": "x"}}})
        ));
    }
}
