//! Rules for `python.instrumentation.env`: names, value sources, duplicates and reserved names.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource};

use super::limits::{
    MAX_ENV_ENTRIES, MAX_ENV_NAME_LEN, MAX_ENV_VALUE_LEN, MAX_REFERENCE_LEN, check_count, check_len,
};

/// Variables the operator sets or merges itself; setting them in the resource draws a warning.
pub const RESERVED_ENV_NAMES: [&str; 7] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SERVICE_NAME",
    "OTEL_SERVICE_VERSION",
    "PYTHONPATH",
];

/// Schema pattern of an environment variable name, as Kubernetes validates it on pods.
pub const ENV_NAME_PATTERN: &str = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$";

/// Size problems of the environment variable list at `path`: too many entries, or a name, value
/// or `valueFrom` string over its limit. Messages name the field and the limit, never the text.
pub fn env_limit_errors(env: &[EnvVar], path: &str) -> Vec<String> {
    if let Err(message) = check_count(path, env.len(), MAX_ENV_ENTRIES) {
        return vec![message];
    }
    let mut errors = Vec::new();
    for (index, var) in env.iter().enumerate() {
        let at = format!("{path}[{index}]");
        let mut fields = vec![(format!("{at}.name"), var.name.as_str(), MAX_ENV_NAME_LEN)];
        if let Some(value) = &var.value {
            fields.push((format!("{at}.value"), value, MAX_ENV_VALUE_LEN));
        }
        if let Some(source) = &var.value_from {
            fields.extend(
                source_strings(source).into_iter().map(|(field, text)| {
                    (format!("{at}.valueFrom.{field}"), text, MAX_REFERENCE_LEN)
                }),
            );
        }
        errors.extend(
            fields
                .into_iter()
                .filter_map(|(field, text, max)| check_len(&field, text, max).err()),
        );
    }
    errors
}

/// Every string of a `valueFrom`, with its field path below `valueFrom`.
fn source_strings(source: &EnvVarSource) -> Vec<(&'static str, &str)> {
    let mut strings = Vec::new();
    if let Some(secret) = &source.secret_key_ref {
        strings.push(("secretKeyRef.name", secret.name.as_str()));
        strings.push(("secretKeyRef.key", secret.key.as_str()));
    }
    if let Some(config_map) = &source.config_map_key_ref {
        strings.push(("configMapKeyRef.name", config_map.name.as_str()));
        strings.push(("configMapKeyRef.key", config_map.key.as_str()));
    }
    if let Some(field) = &source.field_ref {
        strings.push(("fieldRef.fieldPath", field.field_path.as_str()));
        if let Some(api_version) = &field.api_version {
            strings.push(("fieldRef.apiVersion", api_version.as_str()));
        }
    }
    if let Some(resource) = &source.resource_field_ref {
        strings.push(("resourceFieldRef.resource", resource.resource.as_str()));
        if let Some(container) = &resource.container_name {
            strings.push(("resourceFieldRef.containerName", container.as_str()));
        }
        if let Some(divisor) = &resource.divisor {
            strings.push(("resourceFieldRef.divisor", divisor.0.as_str()));
        }
    }
    strings
}

/// Checks an environment variable list; returns `(errors, warnings)`.
pub fn check_env(env: &[EnvVar]) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = BTreeSet::new();
    for (position, var) in env.iter().enumerate() {
        let name = var.name.as_str();
        if name.is_empty() {
            errors.push(format!(
                "environment variable at position {position} has an empty name"
            ));
            continue;
        }
        if !is_valid_name(name) {
            errors.push(format!(
                "environment variable name '{name}' is invalid: use letters, digits, '_', '-' and '.', not starting with a digit"
            ));
        }
        if !seen.insert(name) {
            errors.push(format!(
                "duplicate environment variable name '{name}' at position {position}"
            ));
        }
        let has_value = var.value.as_deref().is_some_and(|v| !v.is_empty());
        match (has_value, &var.value_from) {
            (false, None) => errors.push(format!(
                "environment variable '{name}' must have either 'value' or 'valueFrom' set"
            )),
            (true, Some(_)) => errors.push(format!(
                "environment variable '{name}' cannot have both 'value' and 'valueFrom' set"
            )),
            (false, Some(source)) => errors.extend(check_source(name, source)),
            (true, None) => {}
        }
        if RESERVED_ENV_NAMES.contains(&name) {
            warnings.push(format!(
                "environment variable '{name}' is reserved and may be overridden by the operator"
            ));
        }
    }
    (errors, warnings)
}

/// Kubernetes' classic rule for environment variable names (`[-._a-zA-Z][-._a-zA-Z0-9]*`).
fn is_valid_name(name: &str) -> bool {
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    let bytes = name.as_bytes();
    bytes
        .first()
        .is_some_and(|b| !b.is_ascii_digit() && allowed(b))
        && bytes.iter().all(allowed)
}

/// `valueFrom` must name exactly one source, with the fields the kubelet needs.
fn check_source(name: &str, source: &EnvVarSource) -> Option<String> {
    let count = [
        source.secret_key_ref.is_some(),
        source.config_map_key_ref.is_some(),
        source.field_ref.is_some(),
        source.resource_field_ref.is_some(),
    ]
    .into_iter()
    .filter(|set| *set)
    .count();
    if count != 1 {
        return Some(format!(
            "environment variable '{name}' valueFrom must set exactly one of secretKeyRef, configMapKeyRef, fieldRef or resourceFieldRef"
        ));
    }
    if let Some(secret) = &source.secret_key_ref
        && (secret.name.is_empty() || secret.key.is_empty())
    {
        return Some(format!(
            "environment variable '{name}' secretKeyRef needs both 'name' and 'key'"
        ));
    }
    if let Some(config_map) = &source.config_map_key_ref
        && (config_map.name.is_empty() || config_map.key.is_empty())
    {
        return Some(format!(
            "environment variable '{name}' configMapKeyRef needs both 'name' and 'key'"
        ));
    }
    if let Some(field) = &source.field_ref
        && field.field_path.is_empty()
    {
        return Some(format!(
            "environment variable '{name}' fieldRef needs 'fieldPath'"
        ));
    }
    if let Some(resource) = &source.resource_field_ref
        && resource.resource.is_empty()
    {
        return Some(format!(
            "environment variable '{name}' resourceFieldRef needs 'resource'"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapKeySelector, ObjectFieldSelector, SecretKeySelector,
    };

    fn value(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            ..Default::default()
        }
    }

    fn from(name: &str, source: EnvVarSource) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(source),
            ..Default::default()
        }
    }

    fn secret(name: &str, key: &str) -> EnvVarSource {
        EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: name.into(),
                key: key.into(),
                optional: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn valid_lists_are_clean() {
        let env = [
            value("APP_ENV", "prod"),
            from("API_KEY", secret("openai", "key")),
            from(
                "REGION",
                EnvVarSource {
                    config_map_key_ref: Some(ConfigMapKeySelector {
                        name: "settings".into(),
                        key: "region".into(),
                        optional: Some(true),
                    }),
                    ..Default::default()
                },
            ),
            from(
                "POD_IP",
                EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "status.podIP".into(),
                        api_version: None,
                    }),
                    ..Default::default()
                },
            ),
            value("my.dotted-name", "x"),
        ];
        assert_eq!(check_env(&env), (vec![], vec![]));
    }

    #[test]
    fn each_rule_reports_once() {
        let cases: Vec<(Vec<EnvVar>, &str)> = vec![
            (
                vec![value("APP_ENV", "a"), value("APP_ENV", "b")],
                "duplicate environment variable name 'APP_ENV' at position 1",
            ),
            (
                vec![EnvVar {
                    name: "EMPTY".into(),
                    ..Default::default()
                }],
                "environment variable 'EMPTY' must have either 'value' or 'valueFrom' set",
            ),
            (
                vec![value("EMPTY", "")],
                "environment variable 'EMPTY' must have either 'value' or 'valueFrom' set",
            ),
            (
                vec![EnvVar {
                    name: "BOTH".into(),
                    value: Some("x".into()),
                    value_from: Some(secret("s", "k")),
                }],
                "environment variable 'BOTH' cannot have both 'value' and 'valueFrom' set",
            ),
            (
                vec![value("", "x")],
                "environment variable at position 0 has an empty name",
            ),
            (
                vec![value("1ST", "x")],
                "environment variable name '1ST' is invalid: use letters, digits, '_', '-' and '.', not starting with a digit",
            ),
            (
                vec![value("HAS SPACE", "x")],
                "environment variable name 'HAS SPACE' is invalid: use letters, digits, '_', '-' and '.', not starting with a digit",
            ),
            (
                vec![from("NONE", EnvVarSource::default())],
                "environment variable 'NONE' valueFrom must set exactly one of secretKeyRef, configMapKeyRef, fieldRef or resourceFieldRef",
            ),
            (
                vec![from("S", secret("", "k"))],
                "environment variable 'S' secretKeyRef needs both 'name' and 'key'",
            ),
            (
                vec![from(
                    "F",
                    EnvVarSource {
                        field_ref: Some(ObjectFieldSelector::default()),
                        ..Default::default()
                    },
                )],
                "environment variable 'F' fieldRef needs 'fieldPath'",
            ),
        ];
        for (env, expected) in cases {
            let (errors, warnings) = check_env(&env);
            assert_eq!(errors, [expected], "{env:?}");
            assert!(warnings.is_empty());
        }
    }

    #[test]
    fn reserved_names_warn() {
        let env = [
            value("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318"),
            value("PYTHONPATH", "/app"),
        ];
        let (errors, warnings) = check_env(&env);
        assert!(errors.is_empty());
        assert_eq!(
            warnings,
            [
                "environment variable 'OTEL_EXPORTER_OTLP_ENDPOINT' is reserved and may be overridden by the operator",
                "environment variable 'PYTHONPATH' is reserved and may be overridden by the operator",
            ]
        );
    }
}
