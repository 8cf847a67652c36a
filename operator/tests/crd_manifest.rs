//! The checked-in `operator/deploy/crd.yaml` is exactly what `openlit-operator crd` prints.

use std::path::Path;

use openlit_operator::crd::{crd, crd_yaml};

#[test]
fn checked_in_crd_matches_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/crd.yaml");
    let checked_in = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let generated = crd_yaml().unwrap();
    if checked_in != generated {
        let line = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || checked_in.lines().count().min(generated.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "operator/deploy/crd.yaml is out of date (first difference at line {line}); \
             run `cargo run -p openlit-operator -- crd > operator/deploy/crd.yaml`"
        );
    }
}

#[test]
fn generated_yaml_reads_back_as_the_same_crd() {
    let yaml = crd_yaml().unwrap();
    let parsed: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
        serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(parsed, crd());
}

#[test]
fn generated_yaml_says_how_to_regenerate_it() {
    let yaml = crd_yaml().unwrap();
    assert!(yaml.starts_with("# Generated"), "{}", &yaml[..80]);
    assert!(yaml.contains("cargo run -p openlit-operator -- crd > operator/deploy/crd.yaml"));
    assert!(yaml.ends_with('\n'));
}
