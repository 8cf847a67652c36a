//! The real kubectl against `kubesim serve`.
mod common;

use common::kubectl::kubectl_and_serve;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: The desired widget.
            properties:
              size: {type: integer, description: How many parts the widget has., default: 3}
              image: {type: string, description: The image to run.}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#;

fn widget(size: u32) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w1}}\nspec: {{image: demo, size: {size}}}\n"
    )
}

fn deployment(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.27\n        env: [{{name: REPLICAS, value: \"{replicas}\"}}]\n"
    )
}

fn pod(greeting: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: solo, labels: {{app: solo, greeting: {greeting}}}}}\nspec:\n  containers:\n  - name: app\n    image: busybox:1.36\n    command: [sh, -c, \"echo hello from solo\"]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_works_against_kubesim_serve() {
    let (k, _server, _) = kubectl_and_serve().await;

    let crd = k.write("crd.yaml", CRD);
    assert!(
        k.ok(&["apply", "-f", &crd])
            .await
            .contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.com created")
    );
    assert!(k.ok(&["apply", "-f", &crd]).await.contains("unchanged"));
    let w = k.write("w.yaml", &widget(2));
    assert!(
        k.ok(&["apply", "-f", &w])
            .await
            .contains("widget.example.com/w1 created")
    );
    let d = k.write("d.yaml", &deployment(1));
    assert!(
        k.ok(&["apply", "-f", &d])
            .await
            .contains("deployment.apps/web created")
    );
    let p = k.write("p.yaml", &pod("hi"));
    assert!(
        k.ok(&["apply", "-f", &p])
            .await
            .contains("pod/solo created")
    );

    let w = k.write("w.yaml", &widget(4));
    assert!(
        k.ok(&["apply", "-f", &w])
            .await
            .contains("widget.example.com/w1 configured")
    );
    let d = k.write("d.yaml", &deployment(2));
    assert!(
        k.ok(&["apply", "-f", &d])
            .await
            .contains("deployment.apps/web configured")
    );
    let p = k.write("p.yaml", &pod("hello"));
    assert!(
        k.ok(&["apply", "-f", &p])
            .await
            .contains("pod/solo configured")
    );

    let yaml = k.ok(&["get", "widget", "w1", "-o", "yaml"]).await;
    assert!(yaml.contains("size: 4"), "{yaml}");
    assert!(yaml.contains("kubectl.kubernetes.io/last-applied-configuration"));
    let yaml = k.ok(&["get", "deploy", "web", "-o", "yaml"]).await;
    assert!(
        yaml.contains("replicas: 2") && yaml.contains("value: \"2\""),
        "{yaml}"
    );
    let yaml = k.ok(&["get", "pod", "solo", "-o", "yaml"]).await;
    assert!(yaml.contains("greeting: hello"), "{yaml}");
    // A filtered printer column prints the matching condition's status, as the API server does.
    k.ok(&[
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Synced","status":"False"},{"type":"Ready","status":"True"}]}}"#,
    ])
    .await;
    let table = k.ok(&["get", "wd"]).await;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "SIZE", "READY"], "{table}");
    assert_eq!(rows[1][..3], ["w1", "4", "True"], "{table}");

    let mut watch = k
        .command(&[
            "get",
            "widget",
            "w1",
            "-w",
            "-o",
            "jsonpath={.spec.size}{\"\\n\"}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), seen.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.trim(), "4");
    k.ok(&[
        "patch",
        "widget",
        "w1",
        "--type",
        "merge",
        "-p",
        "{\"spec\":{\"size\":7}}",
    ])
    .await;
    let changed = tokio::time::timeout(Duration::from_secs(30), seen.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(changed.trim(), "7");
    let _ = watch.kill().await;

    let waited = k
        .ok(&["wait", "--for=condition=Ready", "pod/solo", "--timeout=30s"])
        .await;
    assert!(waited.contains("pod/solo condition met"), "{waited}");
    k.ok(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    assert_eq!(k.ok(&["logs", "solo"]).await, "hello from solo\n");

    let resources = k.ok(&["api-resources"]).await;
    assert!(
        resources.lines().any(|l| l.split_whitespace().eq([
            "widgets",
            "wd",
            "example.com/v1",
            "true",
            "Widget"
        ])),
        "{resources}"
    );
    let explained = k.ok(&["explain", "widget.spec.size"]).await;
    assert!(
        explained.contains("FIELD: size <integer>")
            && explained.contains("How many parts the widget has."),
        "{explained}"
    );

    assert!(
        k.ok(&["delete", "pod", "solo"])
            .await
            .contains("pod \"solo\" deleted")
    );
    let err = k.fails(&["get", "pod", "solo"]).await;
    assert!(
        err.contains("Error from server (NotFound): pods \"solo\" not found"),
        "{err}"
    );
    assert!(
        k.ok(&["delete", "-f", &d])
            .await
            .contains("deployment.apps \"web\" deleted")
    );
    assert!(
        k.ok(&["delete", "widget", "w1"])
            .await
            .contains("widget.example.com \"w1\" deleted")
    );
}

/// A webhook configuration first applied with a Service reference.
const WEBHOOK_BY_SERVICE: &str = r#"apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: hook}
webhooks:
- name: a.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  timeoutSeconds: 5
  clientConfig:
    service: {name: hook, namespace: default, path: /mutate}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reapplying_a_webhook_configuration_merges_its_webhooks_by_name() {
    let (k, _server, _) = kubectl_and_serve().await;
    let first = k.write("hook.yaml", WEBHOOK_BY_SERVICE);
    k.ok(&["apply", "-f", &first]).await;
    // Switching to a URL: kubectl's patch sets `service` to null inside the webhook it merges by
    // name; the stored webhook keeps its other fields and has the URL alone.
    let by_url = WEBHOOK_BY_SERVICE
        .replace(
            "service: {name: hook, namespace: default, path: /mutate}",
            "url: https://127.0.0.1:9443/mutate",
        )
        .replace("timeoutSeconds: 5", "timeoutSeconds: 7");
    let second = k.write("hook.yaml", &by_url);
    k.ok(&["apply", "-f", &second]).await;
    let stored: serde_json::Value = serde_json::from_str(
        &k.ok(&["get", "mutatingwebhookconfiguration", "hook", "-o", "json"])
            .await,
    )
    .expect("kubectl prints JSON");
    let webhook = &stored["webhooks"][0];
    assert_eq!(
        webhook["clientConfig"],
        serde_json::json!({"url": "https://127.0.0.1:9443/mutate"}),
        "{stored}"
    );
    assert_eq!(webhook["timeoutSeconds"], 7, "{stored}");
    assert_eq!(
        webhook["admissionReviewVersions"],
        serde_json::json!(["v1"])
    );
    assert_eq!(webhook["sideEffects"], "None");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_cluster_follows_real_time() {
    let (k, _server, _) = kubectl_and_serve().await;
    let cm = k.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: aging}\ndata: {a: b}\n",
    );
    k.ok(&["apply", "-f", &cm]).await;
    // The AGE column grows past 0s as wall-clock seconds pass; nothing moves the clock by hand.
    common::eventually("the ConfigMap's AGE grows", || async {
        let row = k.ok(&["get", "configmap", "aging", "--no-headers"]).await;
        row.split_whitespace().last().is_some_and(|age| age != "0s")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imperative_create_commands_work() {
    // kubectl 1.32 and later send these bodies as protobuf.
    let (k, _server, _) = kubectl_and_serve().await;
    assert!(
        k.ok(&["create", "namespace", "imperative"])
            .await
            .contains("namespace/imperative created")
    );
    for args in [
        &[
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast",
        ][..],
        &[
            "create",
            "secret",
            "generic",
            "key",
            "--from-literal=token=s3cr3t",
        ],
        &["create", "serviceaccount", "robot"],
        &[
            "create",
            "deployment",
            "web",
            "--image=python:3.12-slim",
            "--replicas=2",
            "--port=8080",
        ],
    ] {
        k.ok(&[&["-n", "imperative"][..], args].concat()).await;
    }
    let token = k
        .ok(&["-n", "imperative", "create", "token", "robot"])
        .await;
    assert!(!token.trim().is_empty());

    let get = |kind: &'static str, name: &'static str| {
        let k = &k;
        async move {
            let json = k
                .ok(&["-n", "imperative", "get", kind, name, "-o", "json"])
                .await;
            serde_json::from_str::<serde_json::Value>(&json).expect("kubectl prints JSON")
        }
    };
    assert_eq!(
        get("configmap", "settings").await["data"],
        serde_json::json!({"mode": "fast"})
    );
    let secret = get("secret", "key").await;
    assert_eq!(secret["data"]["token"], "czNjcjN0");
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(
        get("serviceaccount", "robot").await["metadata"]["name"],
        "robot"
    );
    let spec = get("deployment", "web").await["spec"].clone();
    assert_eq!(spec["replicas"], 2, "{spec}");
    assert_eq!(
        spec["selector"]["matchLabels"],
        serde_json::json!({"app": "web"})
    );
    let container = &spec["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "python:3.12-slim", "{spec}");
    assert_eq!(container["ports"][0]["containerPort"], 8080, "{spec}");
}
