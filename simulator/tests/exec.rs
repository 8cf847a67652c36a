//! `pods/exec` over WebSocket: kube-rs's `Api::exec` and the real `kubectl exec` run commands
//! against a running container's resolved environment and mounted files.
mod common;

use common::kubectl::kubectl_and_serve;
use common::wait_for;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, PostParams};
use kubesim::Image;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(30);

fn running(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
        })
}

/// A ConfigMap and a pod whose container `app` resolves variables through the downward API and
/// `$(VAR)` expansion and mounts the ConfigMap; returns the pods API once the pod runs.
async fn web_pod(sim: &kubesim::Simulator) -> Api<Pod> {
    let client = sim.client().unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm = json!({"metadata": {"name": "web-config"}, "data": {"app.yaml": "level: debug\n"}});
    cms.create(&PostParams::default(), &serde_json::from_value(cm).unwrap())
        .await
        .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let pod = json!({
        "metadata": {"name": "web"},
        "spec": {
            "volumes": [{"name": "config", "configMap": {"name": "web-config"}}],
            "containers": [
                {
                    "name": "app", "image": "example.com/web:1",
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}],
                    "env": [
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "GREETING", "value": "hello from $(POD_NAME)"}
                    ]
                },
                {"name": "sidecar", "image": "busybox:1.36"}
            ]
        }
    });
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
    wait_for(&pods, "web", running).await;
    pods
}

/// Stdout, stderr and the status of `argv` run in container `app` of pod `web`.
async fn exec(pods: &Api<Pod>, argv: &[&str]) -> (String, String, Status) {
    let params = AttachParams::default().container("app").stderr(true);
    tokio::time::timeout(LIMIT, async {
        let mut p = pods.exec("web", argv.to_vec(), &params).await.unwrap();
        let status = p.take_status().unwrap();
        let (mut out, mut err) = (p.stdout().unwrap(), p.stderr().unwrap());
        let (mut o, mut e) = (String::new(), String::new());
        let (ro, re) = tokio::join!(out.read_to_string(&mut o), err.read_to_string(&mut e));
        ro.unwrap();
        re.unwrap();
        let status = status.await.expect("a status on the error channel");
        p.join().await.unwrap();
        (o, e, status)
    })
    .await
    .expect("exec finished in time")
}

fn exit_cause(s: &Status) -> Option<(String, String)> {
    let c = s.details.as_ref()?.causes.as_ref()?.first()?;
    Some((c.reason.clone()?, c.message.clone()?))
}

#[tokio::test]
async fn kube_exec_sees_the_resolved_env_and_mounted_files() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let pods = web_pod(&sim).await;

    let (env, err, status) = exec(&pods, &["env"]).await;
    assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");
    assert_eq!(err, "");
    let lines: Vec<&str> = env.lines().collect();
    assert!(lines.contains(&"POD_NAME=web"), "{env}");
    assert!(lines.contains(&"GREETING=hello from web"), "{env}");
    assert!(
        lines.contains(&"KUBERNETES_SERVICE_HOST=10.96.0.1"),
        "{env}"
    );
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "env prints the variables sorted by name");

    let (file, _, status) = exec(&pods, &["cat", "/etc/web/app.yaml"]).await;
    assert_eq!(status.status.as_deref(), Some("Success"));
    assert_eq!(file, "level: debug\n");
    let (listing, _, _) = exec(&pods, &["ls", "/etc/web"]).await;
    assert_eq!(listing, "app.yaml\n");
    let (value, _, _) = exec(&pods, &["printenv", "GREETING"]).await;
    assert_eq!(value, "hello from web\n");
    let (token, _, _) = exec(
        &pods,
        &["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"],
    )
    .await;
    assert!(token.starts_with("kubesim-token.default."), "{token}");
    assert_eq!(sim.request_count("create", "pods", "exec"), 5);
}

#[tokio::test]
async fn kube_exec_reports_non_zero_exit_and_missing_executables() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let pods = web_pod(&sim).await;

    let (_, _, status) = exec(&pods, &["false"]).await;
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    assert_eq!(
        status.message.as_deref(),
        Some("command terminated with non-zero exit code: command terminated with exit code 1")
    );
    assert_eq!(exit_cause(&status), Some(("ExitCode".into(), "1".into())));

    let (_, err, status) = exec(&pods, &["cat", "/etc/web/missing"]).await;
    assert_eq!(
        err,
        "cat: can't open '/etc/web/missing': No such file or directory\n"
    );
    assert_eq!(exit_cause(&status), Some(("ExitCode".into(), "1".into())));
    let (_, err, status) = exec(&pods, &["sh", "-c", "test -d /etc/web && exit 7"]).await;
    assert_eq!(err, "sh: syntax not supported by kubesim: &\n");
    assert_eq!(exit_cause(&status), Some(("ExitCode".into(), "2".into())));
    let (_, _, status) = exec(&pods, &["sh", "-c", "exit 7"]).await;
    assert_eq!(exit_cause(&status), Some(("ExitCode".into(), "7".into())));

    let (_, _, status) = exec(&pods, &["python", "-V"]).await;
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("InternalError"));
    assert_eq!(status.code, Some(500));
    let message = status.message.unwrap_or_default();
    assert!(
        message.starts_with("Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \"")
            && message.ends_with(": OCI runtime exec failed: exec failed: unable to start container process: exec: \"python\": executable file not found in $PATH: unknown"),
        "{message}"
    );
}

#[tokio::test]
async fn exec_errors_before_the_upgrade_are_status_bodies() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let pods = web_pod(&sim).await;
    let api_error = |r: Result<kube::api::AttachedProcess, kube::Error>| match r {
        Err(kube::Error::Api(s)) => (s.code, s.message),
        Err(other) => panic!("not an API error: {other}"),
        Ok(_) => panic!("exec was accepted"),
    };

    let params = AttachParams::default().container("nope");
    let (code, message) = api_error(pods.exec("web", ["env"], &params).await);
    assert_eq!(
        (code, message.as_str()),
        (400, "container nope is not valid for pod web")
    );
    let (code, message) = api_error(pods.exec("web", ["env"], &AttachParams::default()).await);
    assert_eq!(
        (code, message.as_str()),
        (
            400,
            "a container name must be specified for pod web, choose one of: [app sidecar]"
        )
    );
    let params = AttachParams::default().container("app");
    let (code, message) = api_error(pods.exec("gone", ["env"], &params).await);
    assert_eq!((code, message.as_str()), (404, "pods \"gone\" not found"));

    let plain = http::Request::get(
        "/api/v1/namespaces/default/pods/web/exec?command=env&stdout=true&container=app",
    )
    .body(vec![])
    .unwrap();
    match sim.client().unwrap().request_text(plain).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(
                (s.code, s.message.as_str()),
                (400, "Upgrade request required")
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn exec_waits_for_stdin_when_the_command_reads_it() {
    let sim = kubesim::Simulator::start().await.unwrap();
    sim.register_image(Image::new("example.com/web:1").command("python", |p| {
        let script = String::from_utf8_lossy(&p.stdin).into_owned();
        p.println(format!(
            "ran {} lines for {}",
            script.lines().count(),
            p.env["POD_NAME"]
        ));
        0
    }));
    let pods = web_pod(&sim).await;
    let params = AttachParams::default().container("app").stdin(true);
    let out = tokio::time::timeout(LIMIT, async {
        let mut p = pods.exec("web", ["python", "-"], &params).await.unwrap();
        let mut stdin = p.stdin().unwrap();
        stdin
            .write_all(b"import os\nprint(os.environ)\n")
            .await
            .unwrap();
        stdin.shutdown().await.unwrap();
        drop(stdin);
        let mut out = String::new();
        p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
        out
    })
    .await
    .expect("exec finished in time");
    assert_eq!(out, "ran 2 lines for web\n");
}

#[tokio::test]
async fn exec_is_authorized_as_create_on_pods_exec() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    let sim = kubesim::Simulator::start().await.unwrap();
    web_pod(&sim).await;
    let admin = sim.client().unwrap();
    let sas: Api<ServiceAccount> = Api::default_namespaced(admin.clone());
    let sa = json!({"metadata": {"name": "debugger"}});
    sas.create(&PostParams::default(), &serde_json::from_value(sa).unwrap())
        .await
        .unwrap();
    let roles: Api<Role> = Api::default_namespaced(admin.clone());
    let role = json!({"metadata": {"name": "debug"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(role).unwrap(),
        )
        .await
        .unwrap();
    let bindings: Api<RoleBinding> = Api::default_namespaced(admin);
    let binding = json!({
        "metadata": {"name": "debug"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "debug"},
        "subjects": [{"kind": "ServiceAccount", "name": "debugger"}]
    });
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(binding).unwrap(),
        )
        .await
        .unwrap();
    let pods: Api<Pod> =
        Api::default_namespaced(sim.service_account_client("default", "debugger").unwrap());
    let params = AttachParams::default().container("app");
    match pods.exec("web", ["true"], &params).await {
        Err(kube::Error::Api(s)) => assert_eq!(
            (s.code, s.message.as_str()),
            (
                403,
                "pods \"web\" is forbidden: User \"system:serviceaccount:default:debugger\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"default\""
            )
        ),
        Err(other) => panic!("not an API error: {other}"),
        Ok(_) => panic!("exec was allowed without create on pods/exec"),
    }
    let role = json!({"metadata": {"name": "debug"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}
    ]});
    roles
        .replace(
            "debug",
            &PostParams::default(),
            &serde_json::from_value(role).unwrap(),
        )
        .await
        .unwrap();
    let (_, _, status) = exec(&pods, &["true"]).await;
    assert_eq!(status.status.as_deref(), Some("Success"));
}

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: solo}
spec:
  containers:
  - name: app
    image: busybox:1.36
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: GREETING, value: "hi $(POD_NAME)"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_prints_env_and_exits_with_the_command_status() {
    let (k, _server, _) = kubectl_and_serve().await;
    let pod = k.write("pod.yaml", POD);
    let (code, _, err) = k.run(&["apply", "-f", &pod]).await;
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = k
        .run(&["wait", "--for=condition=Ready", "pod/solo", "--timeout=30s"])
        .await;
    assert_eq!(code, Some(0), "{err}");

    let (code, out, err) = k.run(&["exec", "solo", "-c", "app", "--", "env"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.lines().any(|l| l == "GREETING=hi solo"), "{out}");
    assert!(out.lines().any(|l| l == "HOSTNAME=solo"), "{out}");

    let (code, out, err) = k.run(&["exec", "solo", "--", "false"]).await;
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert!(err.contains("command terminated with exit code 1"), "{err}");
    let (code, _, err) = k
        .run(&["exec", "solo", "-c", "app", "--", "sh", "-c", "exit 3"])
        .await;
    assert_eq!(code, Some(3), "{err}");

    let (code, out, err) = k
        .run_with_stdin(
            &["exec", "-i", "solo", "-c", "app", "--", "cat"],
            b"piped in\n",
        )
        .await;
    assert_eq!((code, out.as_str()), (Some(0), "piped in\n"), "{err}");

    let (code, _, err) = k.run(&["exec", "solo", "-c", "nope", "--", "env"]).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("Error from server (BadRequest): container nope is not valid for pod solo"),
        "{err}"
    );
}
