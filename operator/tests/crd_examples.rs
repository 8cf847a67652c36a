//! The example resources in `operator/examples/resources/` parse, validate as documented, are
//! accepted by the generated schema, and mean the same with or without the schema's defaults.

mod crd_support;

use std::collections::BTreeMap;

use openlit_operator::crd::{AutoInstrumentation, parse_custom_packages, validate};
use serde_json::Value;

use crd_support::{apply_defaults, documents, examples_dir, from_json, schema, schema_errors};

/// Every example document, by file name (a file may hold several documents).
fn examples() -> BTreeMap<String, Vec<Value>> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            all.insert(name, documents(&text));
        }
    }
    all
}

fn typed(name: &str) -> Vec<AutoInstrumentation> {
    let docs = examples()
        .remove(name)
        .unwrap_or_else(|| panic!("no example {name}"));
    docs.into_iter().map(from_json).collect()
}

#[test]
fn the_expected_examples_exist() {
    let names: Vec<String> = examples().into_keys().collect();
    assert_eq!(
        names,
        [
            "custom-packages-and-digest.yaml",
            "env-sources.yaml",
            "expressions-and-ignore.yaml",
            "headers-from-secret.yaml",
            "minimal.yaml",
            "openlit-compatible.yaml",
            "provider-custom.yaml",
            "provider-openinference.yaml",
            "provider-openlit.yaml",
            "provider-openllmetry.yaml",
        ]
    );
}

#[test]
fn every_example_is_valid_without_warnings() {
    for (name, docs) in examples() {
        for doc in docs {
            let resource = from_json(doc);
            let result = validate(&resource);
            assert!(
                result.errors.is_empty() && result.warnings.is_empty(),
                "{name}: {result:?}"
            );
        }
    }
}

#[test]
fn every_example_is_accepted_by_the_schema() {
    let schema = schema();
    for (name, docs) in examples() {
        for doc in docs {
            let errors = schema_errors(&schema, &doc);
            assert!(errors.is_empty(), "{name}: {errors:#?}");
        }
    }
}

#[test]
fn schema_defaults_change_nothing_the_operator_sees() {
    let schema = schema();
    for (name, docs) in examples() {
        for doc in docs {
            let raw = from_json(doc.clone());
            let mut defaulted = doc;
            apply_defaults(&schema, &mut defaulted);
            let defaulted = from_json(defaulted);
            let (a, b) = (raw.spec.instrumentation(), defaulted.spec.instrumentation());
            assert_eq!(a.provider(), b.provider(), "{name}");
            assert_eq!(a.version(), b.version(), "{name}");
            assert_eq!(a.image_pull_policy(), b.image_pull_policy(), "{name}");
            assert_eq!(a.is_enabled(), b.is_enabled(), "{name}");
            assert_eq!(a.blocks_on_failure(), b.blocks_on_failure(), "{name}");
            assert_eq!(
                raw.spec.otlp_timeout_seconds(),
                defaulted.spec.otlp_timeout_seconds(),
                "{name}"
            );
        }
    }
}

#[test]
fn minimal_example_takes_every_default() {
    let [resource] = typed("minimal.yaml").try_into().unwrap();
    assert_eq!(resource.metadata.name.as_deref(), Some("minimal"));
    assert_eq!(resource.metadata.namespace.as_deref(), Some("ai-apps"));
    assert!(resource.spec.python.is_none());
    let python = resource.spec.instrumentation();
    assert_eq!(python.provider(), "openlit");
    assert_eq!(python.version(), "latest");
    assert_eq!(python.image_pull_policy(), "IfNotPresent");
    assert!(python.is_enabled());
    assert!(!python.blocks_on_failure());
    assert_eq!(resource.spec.otlp_timeout_seconds(), 30);
}

#[test]
fn provider_examples_pick_their_provider() {
    for (file, provider) in [
        ("provider-openlit.yaml", "openlit"),
        ("provider-openinference.yaml", "openinference"),
        ("provider-openllmetry.yaml", "openllmetry"),
        ("provider-custom.yaml", "custom"),
    ] {
        let [resource] = typed(file).try_into().unwrap();
        assert_eq!(
            resource.spec.instrumentation().provider(),
            provider,
            "{file}"
        );
    }
    let [openlit] = typed("provider-openlit.yaml").try_into().unwrap();
    assert_eq!(openlit.spec.instrumentation().version(), "1.36.0");
    let [openllmetry] = typed("provider-openllmetry.yaml").try_into().unwrap();
    assert!(openllmetry.spec.instrumentation().blocks_on_failure());
    let [custom] = typed("provider-custom.yaml").try_into().unwrap();
    assert_eq!(
        custom.spec.instrumentation().custom_init_image.as_deref(),
        Some("registry.internal.example.com:5000/platform/python-instrumentation:2.4.1")
    );
    assert!(custom.spec.instrumentation().resources.is_some());
}

#[test]
fn env_example_keeps_every_source() {
    let [resource] = typed("env-sources.yaml").try_into().unwrap();
    let env = resource.spec.instrumentation().env.unwrap();
    let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "OPENLIT_APPLICATION_NAME",
            "OPENLIT_API_KEY",
            "OPENLIT_COLLECT_GPU_STATS",
            "NODE_IP"
        ]
    );
    assert_eq!(env[0].value.as_deref(), Some("rag-worker"));
    let secret = env[1]
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (secret.name.as_str(), secret.key.as_str()),
        ("openlit-credentials", "api-key")
    );
    let config_map = env[2]
        .value_from
        .as_ref()
        .unwrap()
        .config_map_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(config_map.optional, Some(true));
    let field = env[3]
        .value_from
        .as_ref()
        .unwrap()
        .field_ref
        .as_ref()
        .unwrap();
    assert_eq!(field.field_path, "status.hostIP");
}

#[test]
fn expressions_example_uses_every_operator() {
    let [resource] = typed("expressions-and-ignore.yaml").try_into().unwrap();
    let operators: Vec<String> = resource
        .spec
        .selector
        .match_expressions
        .unwrap()
        .into_iter()
        .map(|r| r.operator)
        .collect();
    assert_eq!(operators, ["In", "NotIn", "Exists", "DoesNotExist"]);
    let ignore = resource.spec.ignore.unwrap();
    assert_eq!(ignore.match_expressions.unwrap()[0].key, "openlit.io/debug");
}

#[test]
fn packages_example_splits_into_separate_requirements() {
    let [resource] = typed("custom-packages-and-digest.yaml").try_into().unwrap();
    let python = resource.spec.instrumentation();
    let packages = parse_custom_packages(python.custom_packages.as_deref().unwrap()).unwrap();
    assert_eq!(
        packages,
        [
            "langchain>=0.1.0,<0.4",
            "chromadb>=0.4.0",
            "openai[datalib]==1.2.3; python_version >= \"3.9\""
        ]
    );
    assert!(python.custom_init_image.unwrap().contains("@sha256:"));
}

#[test]
fn openlit_resources_work_unchanged() {
    let [complete, quickstart] = typed("openlit-compatible.yaml").try_into().unwrap();
    assert_eq!(
        complete.spec.instrumentation().custom_packages.as_deref(),
        Some("langchain>=0.1.0,chromadb>=0.4.0")
    );
    assert_eq!(
        parse_custom_packages("langchain>=0.1.0,chromadb>=0.4.0").unwrap(),
        ["langchain>=0.1.0", "chromadb>=0.4.0"]
    );
    assert_eq!(
        complete
            .spec
            .selector
            .match_expressions
            .as_ref()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(quickstart.spec.instrumentation().provider(), "openlit");
    assert!(quickstart.spec.instrumentation().is_enabled());
}
