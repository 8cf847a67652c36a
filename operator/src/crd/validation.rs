//! Validation of an `AutoInstrumentation`: errors make the resource inert, warnings are reported
//! but do not stop it working. Messages that the OpenLIT operator produced are kept word for word.
//!
//! Every field is checked against its size limit ([`super::limits`]) before it is parsed, so a
//! resource stored under a CRD without those limits costs bounded work and gives short messages.

use super::endpoint::parse_endpoint;
use super::env_vars::{check_env, env_limit_errors};
use super::headers::parse_headers;
use super::image_ref::{check_tag, parse_image_reference};
use super::labels::{check_label_key, check_label_value};
use super::limits::{
    MAX_ENDPOINT_LEN, MAX_ENVIRONMENT_LEN, MAX_HEADERS_LEN, MAX_IMAGE_REFERENCE_LEN,
    MAX_LABEL_KEY_LEN, MAX_LABEL_VALUE_LEN, MAX_MATCH_EXPRESSIONS, MAX_MATCH_LABELS,
    MAX_REFERENCE_LEN, MAX_SELECTOR_VALUES, MAX_VERSION_LEN, check_count, check_len, shorten,
};
use super::quantity::check_resources;
use super::requirements::custom_package_errors;
use super::types::{
    AutoInstrumentation, AutoInstrumentationSpec, GoSpec, OtlpSpec, PROVIDERS, PULL_POLICIES,
    PYTHON_VERSIONS, PodSelector, PythonInstrumentation, ResourceSpec, SelectorRequirement,
};

/// Accepted `python.instrumentation.onFailure` values.
pub const ON_FAILURE_VALUES: [&str; 2] = ["continue", "block"];
/// Accepted `matchExpressions[].operator` values.
pub const SELECTOR_OPERATORS: [&str; 4] = ["In", "NotIn", "Exists", "DoesNotExist"];
/// Smallest accepted `otlp.timeout`, in seconds.
pub const MIN_OTLP_TIMEOUT_SECONDS: i32 = 1;
/// Largest accepted `otlp.timeout`, in seconds.
pub const MAX_OTLP_TIMEOUT_SECONDS: i32 = 300;

/// The outcome of validating a resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    /// Problems that make the resource invalid; it instruments nothing while any exist.
    pub errors: Vec<String>,
    /// Problems worth telling the user about that do not stop the resource working.
    pub warnings: Vec<String>,
}

impl Validation {
    /// Whether the resource has no errors (warnings are allowed).
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    /// Records a size-limit error; `true` when the value is within its limit.
    fn within(&mut self, limit: Result<(), String>) -> bool {
        match limit {
            Ok(()) => true,
            Err(message) => {
                self.error(message);
                false
            }
        }
    }
}

/// Validates a resource against every rule of the `AutoInstrumentation` API.
pub fn validate(resource: &AutoInstrumentation) -> Validation {
    validate_spec(&resource.spec)
}

/// Validates a resource's spec; messages come in field order.
pub fn validate_spec(spec: &AutoInstrumentationSpec) -> Validation {
    let mut out = Validation::default();
    check_selector(&spec.selector, SelectorRole::Select, &mut out);
    if let Some(ignore) = &spec.ignore {
        check_selector(ignore, SelectorRole::Ignore, &mut out);
    }
    check_python(&spec.instrumentation(), &mut out);
    if let Some(go) = &spec.go {
        out.warn("spec.go is accepted for compatibility, but Go instrumentation is not performed");
        check_go(go, &mut out);
    }
    check_otlp(&spec.otlp, &mut out);
    if let Some(resource) = &spec.resource {
        check_resource(resource, &mut out);
    }
    out
}

/// Which of the two selectors is being checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SelectorRole {
    Select,
    Ignore,
}

fn check_selector(selector: &PodSelector, role: SelectorRole, out: &mut Validation) {
    let path = match role {
        SelectorRole::Select => "spec.selector",
        SelectorRole::Ignore => "spec.ignore",
    };
    let labels = selector.match_labels.as_ref().filter(|m| !m.is_empty());
    let expressions = selector
        .match_expressions
        .as_ref()
        .filter(|e| !e.is_empty());
    let labels_fit = out.within(check_count(
        &format!("{path}.matchLabels"),
        labels.map_or(0, |l| l.len()),
        MAX_MATCH_LABELS,
    ));
    let expressions_fit = out.within(check_count(
        &format!("{path}.matchExpressions"),
        expressions.map_or(0, |e| e.len()),
        MAX_MATCH_EXPRESSIONS,
    ));
    if !(labels_fit && expressions_fit) {
        return;
    }
    if labels.is_none() && expressions.is_none() {
        match role {
            SelectorRole::Select => {
                out.error("spec.selector must have either matchLabels or matchExpressions")
            }
            SelectorRole::Ignore => {
                out.warn("ignore selector with no criteria will ignore all pods")
            }
        }
        return;
    }
    for (key, value) in labels.into_iter().flatten() {
        if key.is_empty() {
            out.error("matchLabels keys cannot be empty");
            continue;
        }
        if !out.within(check_len(
            &format!("{path}.matchLabels key"),
            key,
            MAX_LABEL_KEY_LEN,
        )) {
            continue;
        }
        if !out.within(check_len(
            &format!("{path}.matchLabels['{key}']"),
            value,
            MAX_LABEL_VALUE_LEN,
        )) {
            continue;
        }
        if let Err(reason) = check_label_key(key) {
            out.error(format!(
                "{path}.matchLabels key '{key}' is not a valid label key: {reason}"
            ));
        }
        if let Err(reason) = check_label_value(value) {
            out.error(format!(
                "{path}.matchLabels['{key}'] value '{value}' is not a valid label value: {reason}"
            ));
        }
    }
    for (index, requirement) in expressions.into_iter().flatten().enumerate() {
        check_requirement(
            requirement,
            &format!("{path}.matchExpressions[{index}]"),
            index,
            out,
        );
    }
}

fn check_requirement(
    requirement: &SelectorRequirement,
    path: &str,
    index: usize,
    out: &mut Validation,
) {
    let key = requirement.key.as_str();
    // A key over its limit is reported without being quoted or parsed.
    if out.within(check_len(&format!("{path}.key"), key, MAX_LABEL_KEY_LEN)) {
        if key.is_empty() {
            out.error(format!("matchExpressions[{index}].key cannot be empty"));
        } else if let Err(reason) = check_label_key(key) {
            out.error(format!(
                "{path}.key '{key}' is not a valid label key: {reason}"
            ));
        }
    }
    let values = requirement.values.as_deref().unwrap_or_default();
    if !out.within(check_count(
        &format!("{path}.values"),
        values.len(),
        MAX_SELECTOR_VALUES,
    )) {
        return;
    }
    let operator = requirement.operator.as_str();
    match operator {
        "In" | "NotIn" if values.is_empty() => out.error(format!(
            "{path} uses operator {operator}, which needs at least one value"
        )),
        "Exists" | "DoesNotExist" if !values.is_empty() => out.error(format!(
            "{path} uses operator {operator}, which takes no values"
        )),
        "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
        _ => out.error(format!(
            "{path}.operator '{}' is not one of {}",
            shorten(operator),
            SELECTOR_OPERATORS.join(", ")
        )),
    }
    for (index, value) in values.iter().enumerate() {
        if !out.within(check_len(
            &format!("{path}.values[{index}]"),
            value,
            MAX_LABEL_VALUE_LEN,
        )) {
            continue;
        }
        if let Err(reason) = check_label_value(value) {
            out.error(format!(
                "{path}.values has '{value}', which is not a valid label value: {reason}"
            ));
        }
    }
}

fn check_python(python: &PythonInstrumentation, out: &mut Validation) {
    const PATH: &str = "spec.python.instrumentation";
    let provider = python.provider();
    if !PROVIDERS.contains(&provider) {
        out.error(format!(
            "{PATH}.provider '{}' is not one of {}",
            shorten(provider),
            PROVIDERS.join(", ")
        ));
    }
    let version = python.version();
    if out.within(check_len(
        &format!("{PATH}.version"),
        version,
        MAX_VERSION_LEN,
    )) {
        match check_tag(version) {
            Err(e) => out.error(format!("{PATH}.version: {e}")),
            Ok(()) if version != "latest" && !is_semver_like(version) => {
                out.warn("version should follow semantic versioning (e.g., 1.0.0)")
            }
            Ok(()) => {}
        }
    }
    let policy = python.image_pull_policy();
    if !PULL_POLICIES.contains(&policy) {
        out.error(format!(
            "{PATH}.imagePullPolicy '{}' is not one of {}",
            shorten(policy),
            PULL_POLICIES.join(", ")
        ));
    }
    match python
        .custom_init_image
        .as_deref()
        .filter(|i| !i.is_empty())
    {
        Some(image) => {
            let fits = out.within(check_len(
                &format!("{PATH}.customInitImage"),
                image,
                MAX_IMAGE_REFERENCE_LEN,
            ));
            if fits && let Err(e) = parse_image_reference(image) {
                out.error(format!(
                    "{PATH}.customInitImage '{image}' is not a valid image reference: {e}"
                ));
            }
        }
        None if provider == "custom" => {
            out.error("customInitImage is required when provider is 'custom'")
        }
        None => {}
    }
    if let Some(python_version) = python.python_version.as_deref().filter(|v| !v.is_empty()) {
        if !PYTHON_VERSIONS.contains(&python_version) {
            out.error(format!(
                "{PATH}.pythonVersion '{}' is not one of {}",
                shorten(python_version),
                PYTHON_VERSIONS.join(", ")
            ));
        } else if python
            .custom_init_image
            .as_deref()
            .is_some_and(|i| !i.is_empty())
        {
            out.warn(format!(
                "{PATH}.pythonVersion is ignored because customInitImage is set: that image must match the applications' CPython"
            ));
        }
    }
    if let Some(packages) = &python.custom_packages {
        for message in custom_package_errors(packages) {
            out.error(format!("{PATH}.{message}"));
        }
    }
    if let Some(on_failure) = python.on_failure.as_deref().filter(|v| !v.is_empty())
        && !ON_FAILURE_VALUES.contains(&on_failure)
    {
        out.error(format!(
            "{PATH}.onFailure '{}' is not one of {}",
            shorten(on_failure),
            ON_FAILURE_VALUES.join(", ")
        ));
    }
    if let Some(env) = &python.env {
        let too_big = env_limit_errors(env, &format!("{PATH}.env"));
        if too_big.is_empty() {
            let (errors, warnings) = check_env(env);
            out.errors.extend(errors);
            out.warnings.extend(warnings);
        } else {
            out.errors.extend(too_big);
        }
    }
    if let Some(resources) = &python.resources {
        out.errors
            .extend(check_resources(resources, &format!("{PATH}.resources")));
    }
}

/// `MAJOR.MINOR.PATCH` followed by anything (the OpenLIT Helm chart's version pattern).
fn is_semver_like(version: &str) -> bool {
    let mut parts = version.splitn(3, '.');
    let numeric = |part: Option<&str>| {
        part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let patch_starts_numeric = |part: Option<&str>| {
        part.is_some_and(|p| p.bytes().next().is_some_and(|b| b.is_ascii_digit()))
    };
    numeric(parts.next()) && numeric(parts.next()) && patch_starts_numeric(parts.next())
}

/// `spec.go` is not acted on, but its size is bounded like Python's settings.
fn check_go(go: &GoSpec, out: &mut Validation) {
    if let Some(image) = &go.image {
        out.within(check_len("spec.go.image", image, MAX_IMAGE_REFERENCE_LEN));
    }
    if let Some(env) = &go.env {
        out.errors.extend(env_limit_errors(env, "spec.go.env"));
    }
}

fn check_otlp(otlp: &OtlpSpec, out: &mut Validation) {
    if otlp.endpoint.is_empty() {
        out.error("spec.otlp.endpoint is required");
    } else if out.within(check_len(
        "spec.otlp.endpoint",
        &otlp.endpoint,
        MAX_ENDPOINT_LEN,
    )) {
        match parse_endpoint(&otlp.endpoint) {
            Err(e) => out.error(format!("invalid OTLP endpoint URL: {e}")),
            Ok(endpoint) if endpoint.path.trim_end_matches('/').ends_with("/v1/traces") => {
                out.warn("OTLP endpoint should not include '/v1/traces' suffix for OpenLIT")
            }
            Ok(_) => {}
        }
    }
    let headers = otlp.headers.as_deref().filter(|h| !h.is_empty());
    if let Some(headers) = headers
        && out.within(check_len("spec.otlp.headers", headers, MAX_HEADERS_LEN))
        && let Err(e) = parse_headers(headers)
    {
        out.error(format!(
            "spec.otlp.headers must be in key=value,key2=value2 form: {e}"
        ));
    }
    if let Some(source) = &otlp.headers_from {
        if headers.is_some() {
            out.error("spec.otlp.headers and spec.otlp.headersFrom cannot both be set");
        }
        let secret = &source.secret_key_ref;
        for (field, value) in [("name", &secret.name), ("key", &secret.key)] {
            let path = format!("spec.otlp.headersFrom.secretKeyRef.{field}");
            if value.is_empty() {
                out.error(format!("{path} is required"));
            } else {
                out.within(check_len(&path, value, MAX_REFERENCE_LEN));
            }
        }
    }
    if let Some(timeout) = otlp.timeout
        && !(MIN_OTLP_TIMEOUT_SECONDS..=MAX_OTLP_TIMEOUT_SECONDS).contains(&timeout)
    {
        out.error("timeout must be between 1 and 300 seconds");
    }
}

fn check_resource(resource: &ResourceSpec, out: &mut Validation) {
    let Some(environment) = resource.environment.as_deref().filter(|e| !e.is_empty()) else {
        return;
    };
    if !out.within(check_len(
        "spec.resource.environment",
        environment,
        MAX_ENVIRONMENT_LEN,
    )) {
        return;
    }
    if environment.contains([',', '=']) || environment.chars().any(char::is_control) {
        out.error(format!(
            "spec.resource.environment '{environment}' must not contain ',', '=' or control characters (it becomes part of OTEL_RESOURCE_ATTRIBUTES)"
        ));
    } else if environment.contains([' ', '.']) {
        out.warn("environment should be DNS-compatible (no spaces or dots)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn spec() -> AutoInstrumentationSpec {
        AutoInstrumentationSpec {
            selector: PodSelector {
                match_labels: Some(BTreeMap::from([("app".to_string(), "chat".to_string())])),
                match_expressions: None,
            },
            otlp: OtlpSpec {
                endpoint: "http://openlit.openlit.svc:4318".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn with_python(python: PythonInstrumentation) -> AutoInstrumentationSpec {
        AutoInstrumentationSpec {
            python: Some(super::super::types::PythonSpec {
                instrumentation: Some(python),
            }),
            ..spec()
        }
    }

    #[test]
    fn minimal_spec_is_clean() {
        assert_eq!(validate_spec(&spec()), Validation::default());
    }

    #[test]
    fn semver_like_versions() {
        for v in ["1.0.0", "1.2.3-rc.1", "10.20.30rc1"] {
            assert!(is_semver_like(v), "{v}");
        }
        for v in ["1", "1.2", "v1.2.3", "dev", "1.a.3", ".1.2"] {
            assert!(!is_semver_like(v), "{v}");
        }
    }

    #[test]
    fn python_field_errors_name_the_field() {
        let python = PythonInstrumentation {
            provider: Some("datadog".into()),
            image_pull_policy: Some("Sometimes".into()),
            on_failure: Some("retry".into()),
            version: Some("-bad".into()),
            ..Default::default()
        };
        let result = validate_spec(&with_python(python));
        assert_eq!(
            result.errors,
            [
                "spec.python.instrumentation.provider 'datadog' is not one of openlit, openinference, openllmetry, custom",
                "spec.python.instrumentation.version: invalid tag '-bad': a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
                "spec.python.instrumentation.imagePullPolicy 'Sometimes' is not one of Always, IfNotPresent, Never",
                "spec.python.instrumentation.onFailure 'retry' is not one of continue, block",
            ]
        );
        assert!(result.warnings.is_empty());
    }

    #[test]
    fn python_version_is_one_the_images_are_built_for() {
        let python = |version: &str, image: Option<&str>| PythonInstrumentation {
            python_version: Some(version.into()),
            custom_init_image: image.map(Into::into),
            ..Default::default()
        };
        assert_eq!(
            validate_spec(&with_python(python("3.12", None))),
            Validation::default()
        );
        assert_eq!(
            validate_spec(&with_python(python("3.9", None))).errors,
            ["spec.python.instrumentation.pythonVersion '3.9' is not one of 3.11, 3.12, 3.13"]
        );
        assert_eq!(
            validate_spec(&with_python(python(
                "3.12",
                Some("registry.example.com/i:1")
            )))
            .warnings,
            [
                "spec.python.instrumentation.pythonVersion is ignored because customInitImage is set: that image must match the applications' CPython"
            ]
        );
    }

    #[test]
    fn empty_strings_mean_the_default() {
        let python = PythonInstrumentation {
            provider: Some(String::new()),
            version: Some(String::new()),
            image_pull_policy: Some(String::new()),
            on_failure: Some(String::new()),
            custom_init_image: Some(String::new()),
            custom_packages: Some(String::new()),
            python_version: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(validate_spec(&with_python(python)), Validation::default());
    }

    #[test]
    fn environment_with_separator_characters_is_an_error() {
        let mut s = spec();
        s.resource = Some(ResourceSpec {
            environment: Some("prod,team=a".into()),
        });
        assert_eq!(validate_spec(&s).errors.len(), 1);
    }
}
