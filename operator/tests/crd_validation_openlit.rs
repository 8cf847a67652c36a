//! The OpenLIT operator's validation cases, restated: the same resources give the same messages
//! and exactly the same numbers of errors and warnings.

mod crd_support;

use crd_support::Msg::{Is, StartsWith};
use crd_support::{Case, Msg, check};

const OTLP: &str = "otlp:\n  endpoint: http://openlit.openlit.svc.cluster.local:4318";

#[test]
fn complete_valid_resource() {
    check(vec![Case {
        name: "labels, provider, custom image, endpoint and environment",
        spec: r#"
selector:
  matchLabels:
    app: chat
python:
  instrumentation:
    provider: openlit
    customInitImage: my-registry.com/custom-openlit:v1.0.0
otlp:
  endpoint: http://openlit.openlit.svc.cluster.local:4318
resource:
  environment: production
"#
        .into(),
        errors: vec![],
        warnings: vec![],
    }]);
}

#[test]
fn selector_cases() {
    check(vec![
        Case {
            name: "empty selector",
            spec: format!("selector: {{}}\n{OTLP}"),
            errors: vec![Is(
                "spec.selector must have either matchLabels or matchExpressions",
            )],
            warnings: vec![],
        },
        Case {
            name: "matchLabels only",
            spec: format!("selector:\n  matchLabels:\n    app: chat\n{OTLP}"),
            errors: vec![],
            warnings: vec![],
        },
        Case {
            name: "matchExpressions only",
            spec: format!(
                "selector:\n  matchExpressions:\n    - key: tier\n      operator: In\n      values: [ai]\n{OTLP}"
            ),
            errors: vec![],
            warnings: vec![],
        },
        Case {
            name: "empty matchLabels key",
            spec: format!("selector:\n  matchLabels:\n    \"\": chat\n{OTLP}"),
            errors: vec![Is("matchLabels keys cannot be empty")],
            warnings: vec![],
        },
        Case {
            name: "empty expression key",
            spec: format!(
                "selector:\n  matchExpressions:\n    - key: \"\"\n      operator: Exists\n{OTLP}"
            ),
            errors: vec![Is("matchExpressions[0].key cannot be empty")],
            warnings: vec![],
        },
        Case {
            name: "valid mixed selector",
            spec: format!(
                "selector:\n  matchLabels:\n    app: chat\n  matchExpressions:\n    - key: env\n      operator: NotIn\n      values: [dev]\n{OTLP}"
            ),
            errors: vec![],
            warnings: vec![],
        },
    ]);
}

#[test]
fn ignore_cases() {
    check(vec![
        Case {
            name: "empty ignore",
            spec: format!("selector:\n  matchLabels:\n    app: chat\nignore: {{}}\n{OTLP}"),
            errors: vec![],
            warnings: vec![Is("ignore selector with no criteria will ignore all pods")],
        },
        Case {
            name: "non-empty ignore",
            spec: format!(
                "selector:\n  matchLabels:\n    app: chat\nignore:\n  matchLabels:\n    skip: \"true\"\n{OTLP}"
            ),
            errors: vec![],
            warnings: vec![],
        },
    ]);
}

fn env_case(name: &'static str, env: &str, errors: Vec<Msg>, warnings: Vec<Msg>) -> Case {
    Case {
        name,
        spec: format!(
            "selector:\n  matchLabels:\n    app: chat\npython:\n  instrumentation:\n    env:\n{}\n{OTLP}",
            env.trim_matches('\n')
                .lines()
                .map(|l| format!("      {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        errors,
        warnings,
    }
}

#[test]
fn environment_variable_cases() {
    check(vec![
        env_case(
            "duplicate name",
            "- name: APP_ENV\n  value: prod\n- name: APP_ENV\n  value: dev",
            vec![Is(
                "duplicate environment variable name 'APP_ENV' at position 1",
            )],
            vec![],
        ),
        env_case(
            "neither value nor valueFrom",
            "- name: APP_ENV",
            vec![Is(
                "environment variable 'APP_ENV' must have either 'value' or 'valueFrom' set",
            )],
            vec![],
        ),
        env_case(
            "both value and valueFrom",
            "- name: APP_ENV\n  value: prod\n  valueFrom:\n    secretKeyRef:\n      name: s\n      key: k",
            vec![Is(
                "environment variable 'APP_ENV' cannot have both 'value' and 'valueFrom' set",
            )],
            vec![],
        ),
        env_case(
            "reserved names",
            "- name: OTEL_EXPORTER_OTLP_ENDPOINT\n  value: http://other:4318\n- name: PYTHONPATH\n  value: /app",
            vec![],
            vec![
                Is(
                    "environment variable 'OTEL_EXPORTER_OTLP_ENDPOINT' is reserved and may be overridden by the operator",
                ),
                Is(
                    "environment variable 'PYTHONPATH' is reserved and may be overridden by the operator",
                ),
            ],
        ),
        env_case(
            "valid list with a secret reference",
            "- name: APP_ENV\n  value: prod\n- name: API_KEY\n  valueFrom:\n    secretKeyRef:\n      name: openlit-secret\n      key: api-key",
            vec![],
            vec![],
        ),
    ]);
}

fn otlp_case(name: &'static str, otlp: &str, errors: Vec<Msg>, warnings: Vec<Msg>) -> Case {
    Case {
        name,
        spec: format!("selector:\n  matchLabels:\n    app: chat\notlp:\n{otlp}"),
        errors,
        warnings,
    }
}

#[test]
fn otlp_cases() {
    check(vec![
        otlp_case(
            "endpoint with spaces",
            "  endpoint: http://invalid url with spaces",
            vec![StartsWith("invalid OTLP endpoint URL:")],
            vec![],
        ),
        otlp_case(
            "http endpoint with /v1/traces",
            "  endpoint: http://collector:4318/v1/traces",
            vec![],
            vec![Is(
                "OTLP endpoint should not include '/v1/traces' suffix for OpenLIT",
            )],
        ),
        otlp_case(
            "https endpoint with /v1/traces",
            "  endpoint: https://collector.example.com/v1/traces",
            vec![],
            vec![Is(
                "OTLP endpoint should not include '/v1/traces' suffix for OpenLIT",
            )],
        ),
        otlp_case(
            "timeout 0",
            "  endpoint: http://collector:4318\n  timeout: 0",
            vec![Is("timeout must be between 1 and 300 seconds")],
            vec![],
        ),
        otlp_case(
            "timeout 500",
            "  endpoint: http://collector:4318\n  timeout: 500",
            vec![Is("timeout must be between 1 and 300 seconds")],
            vec![],
        ),
        otlp_case(
            "headers and timeout 30",
            "  endpoint: http://collector:4318\n  headers: authorization=Bearer-token,x-custom=value\n  timeout: 30",
            vec![],
            vec![],
        ),
        otlp_case(
            "empty endpoint",
            "  endpoint: \"\"",
            vec![Is("spec.otlp.endpoint is required")],
            vec![],
        ),
    ]);
}

#[test]
fn deployment_environment_cases() {
    let case = |name: &'static str, environment: &str, warnings: Vec<Msg>| Case {
        name,
        spec: format!(
            "selector:\n  matchLabels:\n    app: chat\n{OTLP}\nresource:\n  environment: \"{environment}\""
        ),
        errors: vec![],
        warnings,
    };
    let dns = || {
        vec![Is(
            "environment should be DNS-compatible (no spaces or dots)",
        )]
    };
    check(vec![
        case("space", "prod env", dns()),
        case("dot", "prod.us", dns()),
        case("plain", "production", vec![]),
        case("hyphens", "prod-us-west", vec![]),
    ]);
}

#[test]
fn combined_cases() {
    check(vec![
        Case {
            name: "empty selector and empty ignore",
            spec: format!("selector: {{}}\nignore: {{}}\n{OTLP}"),
            errors: vec![Is(
                "spec.selector must have either matchLabels or matchExpressions",
            )],
            warnings: vec![Is("ignore selector with no criteria will ignore all pods")],
        },
        Case {
            name: "complex valid resource",
            spec: r#"
selector:
  matchLabels:
    app: chat
    tier: backend
  matchExpressions:
    - key: environment
      operator: In
      values: [production, staging]
ignore:
  matchLabels:
    openlit.io/skip: "true"
python:
  instrumentation:
    enabled: true
    provider: openlit
    version: 1.2.3
    imagePullPolicy: Always
    customPackages: requests==2.28.0,numpy>=1.21.0
    env:
      - name: APP_ENV
        value: production
      - name: API_KEY
        valueFrom:
          secretKeyRef:
            name: openlit-secret
            key: api-key
otlp:
  endpoint: https://otel.example.com:4318
  headers: api-key=secret
  timeout: 60
resource:
  environment: production
"#
            .into(),
            errors: vec![],
            warnings: vec![],
        },
        Case {
            name: "empty spec",
            spec: "{}".into(),
            errors: vec![
                Is("spec.selector must have either matchLabels or matchExpressions"),
                Is("spec.otlp.endpoint is required"),
            ],
            warnings: vec![],
        },
    ]);
}
