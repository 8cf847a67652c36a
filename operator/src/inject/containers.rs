//! Which of a pod's containers get Python instrumentation, following the OpenLIT annotations
//! (`openlit.io/inject-python`, `container-languages`, `include-containers`, `exclude-containers`)
//! and name/image/command heuristics matched on whole words.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::pod::PodView;
use super::{MOUNT_PATH, VOLUME_NAME};

/// Pod annotation forcing every (non-sidecar, non-excluded) container to be treated as Python.
pub const INJECT_PYTHON_ANNOTATION: &str = "openlit.io/inject-python";
/// Pod annotation declaring container languages: `name:python,other:go`.
pub const CONTAINER_LANGUAGES_ANNOTATION: &str = "openlit.io/container-languages";
/// Pod annotation listing the only containers that may be instrumented.
pub const INCLUDE_CONTAINERS_ANNOTATION: &str = "openlit.io/include-containers";
/// Pod annotation listing containers never to instrument.
pub const EXCLUDE_CONTAINERS_ANNOTATION: &str = "openlit.io/exclude-containers";

/// Container names (substrings) of well-known sidecars and agents, never instrumented.
const SIDECAR_NAMES: &[&str] = &[
    "istio-proxy",
    "linkerd-proxy",
    "envoy",
    "oauth2-proxy",
    "cloudsql-proxy",
    "kube-proxy",
    "fluentd",
    "fluent-bit",
    "filebeat",
    "prometheus",
    "grafana-agent",
    "jaeger-agent",
    "otel-collector",
    "vault-agent",
    "consul-connect",
];

/// Image words of utility images that never run Python.
const UTILITY_IMAGE_WORDS: &[&str] = &["busybox", "alpine", "scratch", "pause"];

/// Image words that indicate a Python application.
const PYTHON_IMAGE_WORDS: &[&str] = &[
    "python",
    "pypy",
    "django",
    "flask",
    "fastapi",
    "uvicorn",
    "gunicorn",
    "celery",
    "jupyter",
    "anaconda",
    "miniconda",
    "conda",
    "litellm",
    "streamlit",
    "gradio",
    "langserve",
    "chainlit",
    "prefect",
    "airflow",
    "dbt",
    "mlflow",
    "bentoml",
    "ray",
    "vllm",
    "langchain",
    "llamaindex",
];

/// Environment variable name prefixes that indicate Python.
const PYTHON_ENV_PREFIXES: &[&str] = &[
    "PYTHONPATH",
    "PYTHON_VERSION",
    "PYTHONUNBUFFERED",
    "PIP_",
    "POETRY_",
    "CONDA_",
    "VIRTUAL_ENV",
    "DJANGO_SETTINGS_MODULE",
    "FLASK_APP",
    "FASTAPI_",
];

/// Command or argument words that indicate Python.
const PYTHON_COMMAND_WORDS: &[&str] = &[
    "python",
    "python3",
    "pip",
    "django",
    "flask",
    "gunicorn",
    "uvicorn",
    "litellm",
    "streamlit",
    "celery",
    "airflow",
    "prefect",
    "mlflow",
    "hypercorn",
    "daphne",
    "manage.py",
    "app.py",
    "main.py",
];

/// The decision for one application container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerDecision {
    /// Position in `spec.containers`.
    pub index: usize,
    /// The container's name.
    pub name: String,
    /// `Ok` when it is instrumented, else the reason it is not.
    pub outcome: Result<(), String>,
}

/// Decides for every application container of the pod.
pub fn choose_containers(pod: &PodView) -> Vec<ContainerDecision> {
    // Each annotation list is parsed once per pod into a set, so the per-container lookups stay
    // constant-time however long the lists are.
    let annotations = pod.annotations();
    let list = |key: &str| -> Option<Vec<&str>> {
        annotations.get(key).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
    };
    let force_python = annotations
        .get(INJECT_PYTHON_ANNOTATION)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let excluded: HashSet<&str> = list(EXCLUDE_CONTAINERS_ANNOTATION)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let included: Option<HashSet<&str>> =
        list(INCLUDE_CONTAINERS_ANNOTATION).map(|l| l.into_iter().collect());
    let mut languages: HashMap<&str, String> = HashMap::new();
    for (name, lang) in list(CONTAINER_LANGUAGES_ANNOTATION)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| item.split_once(':'))
    {
        // The first declaration of a container wins.
        languages
            .entry(name.trim())
            .or_insert_with(|| lang.trim().to_ascii_lowercase());
    }

    pod.containers()
        .iter()
        .enumerate()
        .map(|(index, container)| {
            let name = container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let declared = languages.get(name.as_str()).map(String::as_str);
            let outcome = decide(
                container,
                &name,
                force_python,
                &excluded,
                included.as_ref(),
                declared,
            );
            ContainerDecision {
                index,
                name,
                outcome,
            }
        })
        .collect()
}

fn decide(
    container: &Value,
    name: &str,
    force_python: bool,
    excluded: &HashSet<&str>,
    included: Option<&HashSet<&str>>,
    declared_language: Option<&str>,
) -> Result<(), String> {
    if excluded.contains(name) {
        return Err(format!(
            "excluded by the {EXCLUDE_CONTAINERS_ANNOTATION} annotation"
        ));
    }
    if let Some(included) = included
        && !included.contains(name)
    {
        return Err(format!(
            "not listed in the {INCLUDE_CONTAINERS_ANNOTATION} annotation"
        ));
    }
    let lower_name = name.to_ascii_lowercase();
    if let Some(sidecar) = SIDECAR_NAMES.iter().find(|s| lower_name.contains(*s)) {
        return Err(format!("a known sidecar ({sidecar}), never instrumented"));
    }
    check_mounts_and_pythonpath(container)?;
    match declared_language {
        Some("python") => return Ok(()),
        Some(other) => {
            return Err(format!(
                "declared as {other} by the {CONTAINER_LANGUAGES_ANNOTATION} annotation"
            ));
        }
        None => {}
    }
    if force_python {
        return Ok(());
    }
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let image_words = words(image_repository(&image));
    let is_python_image = image_words.iter().any(|w| PYTHON_IMAGE_WORDS.contains(w));
    // `alpine` alone marks a utility image, but `python:3.12-alpine` is Python.
    if !is_python_image && image_words.iter().any(|w| UTILITY_IMAGE_WORDS.contains(w)) {
        return Err(format!("image {image} is a utility image"));
    }
    let env_says_python = container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("name").and_then(Value::as_str))
        .any(|n| PYTHON_ENV_PREFIXES.iter().any(|p| n.starts_with(p)));
    let command_says_python = ["command", "args"]
        .iter()
        .filter_map(|k| container.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(str::split_whitespace)
        .map(|token| {
            token
                .rsplit('/')
                .next()
                .unwrap_or(token)
                .to_ascii_lowercase()
        })
        .any(|program| {
            PYTHON_COMMAND_WORDS.contains(&program.as_str()) || program.starts_with("python3.")
        });
    if is_python_image || env_says_python || command_says_python {
        Ok(())
    } else {
        Err(format!(
            "not recognised as Python (image {image}); set the {CONTAINER_LANGUAGES_ANNOTATION} annotation to \"{name}:python\" to instrument it"
        ))
    }
}

/// A container that already mounts something at our path, or whose PYTHONPATH comes from
/// `valueFrom`, cannot be instrumented safely.
fn check_mounts_and_pythonpath(container: &Value) -> Result<(), String> {
    let mounts = container
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for mount in mounts {
        let name = mount.get("name").and_then(Value::as_str);
        let path = mount.get("mountPath").and_then(Value::as_str);
        if name == Some(VOLUME_NAME) || path == Some(MOUNT_PATH) {
            return Err(format!(
                "already mounts a volume at {MOUNT_PATH} or named {VOLUME_NAME}"
            ));
        }
    }
    let pythonpath_from = container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("name").and_then(Value::as_str) == Some("PYTHONPATH"))
        .any(|e| e.get("valueFrom").is_some());
    if pythonpath_from {
        return Err("PYTHONPATH is set from valueFrom and cannot be extended".into());
    }
    Ok(())
}

/// The repository part of an image reference (registry host and path, without tag or digest).
fn image_repository(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or_default();
    match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => without_digest,
    }
}

fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}
