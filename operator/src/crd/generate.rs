//! The `CustomResourceDefinition` generated from the Rust types, and its YAML form (the content of
//! `operator/deploy/crd.yaml`).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use thiserror::Error;

use super::types::AutoInstrumentation;

/// First lines of the generated YAML.
const HEADER: &str = "# Generated from the Rust types by `openlit-operator crd`; do not edit by hand.\n\
# Regenerate with: cargo run -p openlit-operator -- crd > operator/deploy/crd.yaml\n";

/// Why the CRD could not be rendered.
#[derive(Debug, Error)]
pub enum CrdError {
    /// The YAML serialiser failed.
    #[error("could not render the CRD as YAML: {0}")]
    Yaml(#[from] serde_saphyr::ser::Error),
}

/// The `autoinstrumentations.openlit.io` CRD: schema with descriptions, enums, patterns and
/// defaults, the status subresource, and the printer columns.
pub fn crd() -> CustomResourceDefinition {
    AutoInstrumentation::crd()
}

/// The CRD as a YAML document, exactly as checked in at `operator/deploy/crd.yaml`.
pub fn crd_yaml() -> Result<String, CrdError> {
    let body = serde_saphyr::to_string(&crd())?;
    Ok(format!("{HEADER}---\n{body}"))
}
