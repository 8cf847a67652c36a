//! The status a resource should have, computed without I/O from its spec's validation.
//!
//! Following the Kubernetes API conventions: one `Ready` condition whose `reason` is a CamelCase
//! word and whose `message` is a human sentence; `observedGeneration` on the status and on the
//! condition; `lastTransitionTime` changes only when the condition's `status` flips. Messages are
//! capped so the status stays bounded whatever the spec holds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::crd::{AutoInstrumentation, AutoInstrumentationStatus, Validation};

/// Type of the one condition the operator maintains.
pub const READY: &str = "Ready";
/// `Ready=True` reason (the OpenLIT operator's, so alerts and dashboards keep working).
pub const REASON_VALID: &str = "ValidationPassed";
/// `Ready=False` reason (the OpenLIT operator's).
pub const REASON_INVALID: &str = "ValidationFailed";
/// Longest condition message written (bytes).
pub const MAX_MESSAGE: usize = 4096;
/// Most errors or warnings listed in the status.
pub const MAX_ITEMS: usize = 20;

use crate::inject::limits::truncate;

fn bounded(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = items
        .iter()
        .take(MAX_ITEMS)
        .map(|i| truncate(i, 1024))
        .collect();
    if items.len() > MAX_ITEMS {
        out.push(format!("... and {} more", items.len() - MAX_ITEMS));
    }
    out
}

/// The `Ready` condition's message for a validation outcome.
pub fn ready_message(validation: &Validation) -> String {
    if validation.is_valid() {
        let base = "The resource is valid and instruments the pods it selects";
        match validation.warnings.len() {
            0 => format!("{base}."),
            1 => format!("{base} (1 warning)."),
            n => format!("{base} ({n} warnings)."),
        }
    } else {
        truncate(
            &format!(
                "The resource is invalid and instruments nothing: {}",
                validation.errors.join("; ")
            ),
            MAX_MESSAGE,
        )
    }
}

/// The status `resource` should have, given its validation, at `now`.
pub fn desired_status(
    resource: &AutoInstrumentation,
    validation: &Validation,
    now: Timestamp,
) -> AutoInstrumentationStatus {
    let generation = resource.metadata.generation;
    let status = if validation.is_valid() {
        "True"
    } else {
        "False"
    };
    let reason = if validation.is_valid() {
        REASON_VALID
    } else {
        REASON_INVALID
    };
    let previous = resource
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
    let last_transition_time = match previous {
        Some(condition) if condition.status == status => condition.last_transition_time.clone(),
        _ => Time(now),
    };
    let mut conditions: Vec<Condition> = resource
        .status
        .as_ref()
        .map(|s| {
            s.conditions
                .iter()
                .filter(|c| c.type_ != READY)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    conditions.insert(
        0,
        Condition {
            type_: READY.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: ready_message(validation),
            observed_generation: generation,
            last_transition_time,
        },
    );
    AutoInstrumentationStatus {
        observed_generation: generation,
        conditions,
        validation_errors: bounded(&validation.errors),
        validation_warnings: bounded(&validation.warnings),
    }
}

/// The `Ready` condition of a status, if any.
pub fn ready_condition(status: Option<&AutoInstrumentationStatus>) -> Option<&Condition> {
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::validate;
    use serde_json::json;

    fn resource(spec: serde_json::Value, generation: i64) -> AutoInstrumentation {
        serde_json::from_value(json!({
            "apiVersion": "openlit.io/v1alpha1", "kind": "AutoInstrumentation",
            "metadata": {"name": "r", "namespace": "apps", "generation": generation},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn an_invalid_resource_is_not_ready_with_its_errors() {
        let r = resource(json!({"selector": {}}), 1);
        let status = desired_status(&r, &validate(&r), Timestamp::UNIX_EPOCH);
        let ready = ready_condition(Some(&status)).unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, REASON_INVALID);
        assert!(ready.message.contains("spec.selector"), "{}", ready.message);
        assert_eq!(status.observed_generation, Some(1));
        assert_eq!(ready.observed_generation, Some(1));
        assert!(!status.validation_errors.is_empty());
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_flips() {
        let later = Timestamp::from_second(100).unwrap();
        let mut r = resource(
            json!({"selector": {"matchLabels": {"app": "a"}}, "otlp": {"endpoint": "http://c:4318"}}),
            1,
        );
        assert!(validate(&r).is_valid(), "{:?}", validate(&r));
        let first = desired_status(&r, &validate(&r), Timestamp::UNIX_EPOCH);
        r.status = Some(first.clone());
        r.metadata.generation = Some(2);
        let same = desired_status(&r, &validate(&r), later);
        assert_eq!(
            ready_condition(Some(&same)).unwrap().last_transition_time,
            Time(Timestamp::UNIX_EPOCH)
        );
        assert_eq!(same.observed_generation, Some(2));
        r.status = Some(same);
        r.spec.selector = Default::default();
        let flipped = desired_status(&r, &validate(&r), later);
        assert_eq!(
            ready_condition(Some(&flipped))
                .unwrap()
                .last_transition_time,
            Time(later)
        );
    }

    #[test]
    fn recomputing_an_unchanged_resource_gives_the_same_status() {
        let mut r = resource(json!({"selector": {"matchLabels": {"app": "a"}}}), 3);
        let status = desired_status(&r, &validate(&r), Timestamp::UNIX_EPOCH);
        r.status = Some(status.clone());
        let again = desired_status(&r, &validate(&r), Timestamp::from_second(50).unwrap());
        assert_eq!(again, status);
    }

    #[test]
    fn long_lists_and_messages_are_bounded() {
        let errors: Vec<String> = (0..100)
            .map(|i| format!("error {i} {}", "x".repeat(200)))
            .collect();
        let validation = Validation {
            errors,
            warnings: vec![],
        };
        let r = resource(json!({"selector": {}}), 1);
        let status = desired_status(&r, &validation, Timestamp::UNIX_EPOCH);
        assert_eq!(status.validation_errors.len(), MAX_ITEMS + 1);
        assert!(ready_condition(Some(&status)).unwrap().message.len() <= MAX_MESSAGE);
        assert!(truncate("héllo", 4).len() <= 4);
    }
}
