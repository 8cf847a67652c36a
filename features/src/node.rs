//! What a node shows of a container, read through the Kubernetes API the same way on every
//! backend: `exec` for its environment and files, `log` for its output.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, AttachParams, LogParams};
use tokio::io::AsyncReadExt as _;

use crate::kube_ops::{StepError, StepResult};

/// What a command run in a container printed, and whether it exited with status 0.
#[derive(Debug)]
pub struct Output {
    /// Its standard output.
    pub stdout: String,
    /// Whether it succeeded.
    pub success: bool,
}

/// Runs `command` in a running container, like `kubectl exec`.
pub async fn exec(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[&str],
) -> StepResult<Output> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = AttachParams::default()
        .container(container)
        .stdout(true)
        .stderr(false);
    let mut process = pods.exec(pod, command.to_vec(), &params).await?;
    let mut stdout = String::new();
    if let Some(mut out) = process.stdout() {
        out.read_to_string(&mut stdout)
            .await
            .map_err(|e| StepError::Other(format!("reading `{}`: {e}", command.join(" "))))?;
    }
    let status = match process.take_status() {
        Some(status) => status.await,
        None => None,
    };
    process
        .join()
        .await
        .map_err(|e| StepError::Other(format!("`{}`: {e}", command.join(" "))))?;
    let success = status.is_some_and(|s| s.status.as_deref() == Some("Success"));
    Ok(Output { stdout, success })
}

/// The environment of a running container's processes (`env` in it).
pub async fn environment(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: &str,
) -> StepResult<BTreeMap<String, String>> {
    let output = exec(client, namespace, pod, container, &["env"]).await?;
    if !output.success {
        return Err(StepError::Other(format!(
            "`env` failed in {namespace}/{pod}/{container}"
        )));
    }
    Ok(parse_env(&output.stdout))
}

/// `NAME=value` lines → a map (a value holding `=` keeps it).
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// Whether `path` exists in a running container (`test -e` in it).
pub async fn exists(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: &str,
    path: &str,
) -> StepResult<bool> {
    Ok(
        exec(client, namespace, pod, container, &["test", "-e", path])
            .await?
            .success,
    )
}

/// What a container has printed.
pub async fn logs(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: &str,
) -> StepResult<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = LogParams {
        container: Some(container.to_string()),
        ..LogParams::default()
    };
    Ok(pods.logs(pod, &params).await?)
}

#[cfg(test)]
mod tests {
    use super::parse_env;

    #[test]
    fn env_lines_become_a_map_and_values_keep_their_equals_signs() {
        let env = parse_env("PATH=/usr/bin\nOTEL_RESOURCE_ATTRIBUTES=a=1,b=2\nnot a variable\n");
        assert_eq!(env.len(), 2);
        assert_eq!(env["OTEL_RESOURCE_ATTRIBUTES"], "a=1,b=2");
    }
}
