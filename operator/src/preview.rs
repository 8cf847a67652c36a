//! `openlit-operator preview`: what the webhook would do to a pod, from files, without a cluster.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::crd::AutoInstrumentation;
use crate::inject::{self, Decision, InjectConfig, Policy};

/// A problem with one of the input files.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The file could not be read.
    #[error("{path}: cannot read the file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not what it should be.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, on one line.
        message: String,
    },
}

/// Reads a pod and resources from files and describes the mutation the webhook would make.
pub fn preview_files(
    pod: &Path,
    resources: &[PathBuf],
    operator_namespace: &str,
) -> Result<String, PreviewError> {
    let pod_text = read(pod)?;
    let pod_value: Value = serde_saphyr::from_str(&pod_text).map_err(|e| invalid(pod, e))?;
    if pod_value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k != "Pod")
        || !pod_value.is_object()
    {
        return Err(PreviewError::Invalid {
            path: pod.to_path_buf(),
            message: "expected a Pod object".into(),
        });
    }
    let mut policies = Vec::new();
    for path in resources {
        let text = read(path)?;
        let documents: Vec<AutoInstrumentation> =
            serde_saphyr::from_multiple(&text).map_err(|e| invalid(path, e))?;
        for mut resource in documents {
            resource
                .metadata
                .namespace
                .get_or_insert_with(|| "default".into());
            policies.push(Policy::compile(&resource, inject::DEFAULT_IMAGE_PREFIX));
        }
    }
    Ok(describe(&pod_value, &policies, operator_namespace))
}

/// Describes the mutation of `pod` by `policies` for a human reader.
pub fn describe(pod: &Value, policies: &[Policy], operator_namespace: &str) -> String {
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = pod
        .pointer("/metadata/name")
        .or_else(|| pod.pointer("/metadata/generateName"))
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    let config = InjectConfig {
        operator_namespace: operator_namespace.to_string(),
        ..InjectConfig::default()
    };
    let mutation = inject::mutate(pod, namespace, policies, &config);
    let mut out = String::new();
    let _ = writeln!(out, "Pod: {namespace}/{name}");
    match &mutation.why {
        Some(why) => {
            let _ = writeln!(out, "Chosen resource: {why}");
        }
        None => {
            let _ = writeln!(out, "Chosen resource: none");
        }
    }
    let _ = match &mutation.decision {
        Decision::Untouched(reason) => writeln!(out, "Decision: untouched ({reason})"),
        Decision::Skipped { reason, .. } => writeln!(out, "Decision: not instrumented ({reason})"),
        Decision::Instrumented { containers, .. } => {
            writeln!(
                out,
                "Decision: instrumented containers {}",
                containers.join(", ")
            )
        }
    };
    if !mutation.skipped_containers.is_empty() {
        let _ = writeln!(out, "Skipped containers:");
        for (container, reason) in &mutation.skipped_containers {
            let _ = writeln!(out, "  - {container}: {reason}");
        }
    }
    if !mutation.warnings.is_empty() {
        let _ = writeln!(out, "Warnings:");
        for warning in &mutation.warnings {
            let _ = writeln!(out, "  - {warning}");
        }
    }
    let patch = serde_json::to_string_pretty(&mutation.patch).unwrap_or_default();
    let _ = writeln!(out, "JSONPatch:\n{patch}");
    let mut after = pod.clone();
    match json_patch::patch(&mut after, &mutation.patch) {
        Ok(()) => {
            let yaml = serde_saphyr::to_string(&after).unwrap_or_default();
            let _ = write!(out, "Pod after the patch:\n{yaml}");
        }
        Err(e) => {
            let _ = writeln!(out, "The patch does not apply: {e}");
        }
    }
    out
}

fn read(path: &Path) -> Result<String, PreviewError> {
    std::fs::read_to_string(path).map_err(|source| PreviewError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, error: impl std::fmt::Display) -> PreviewError {
    let message = error
        .to_string()
        .lines()
        .next()
        .unwrap_or("invalid YAML")
        .to_string();
    PreviewError::Invalid {
        path: path.to_path_buf(),
        message,
    }
}
