//! The provider images proven with real Python (SPEC §8): for each provider, its locked
//! requirements are installed as its Dockerfile installs them, the setup program runs with the
//! init container's exact command, arguments and environment from the injection core, and an
//! application calling the OpenAI client against a fake LLM server runs with the environment the
//! injection core gives its container. A loopback OTLP/HTTP receiver must then hold spans of the
//! LLM call carrying `service.name` and the `k8s.*` resource attributes.
//!
//! Needs `python3` with pip, and fails saying how to install it when it is absent. Downloads (uv
//! from PyPI, the locked packages) are pinned, checked against the locks' SHA-256 sums, and stay
//! in the uv cache between runs.

mod providers_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openlit_operator::crd::AutoInstrumentation;
use openlit_operator::inject::{Decision, InjectConfig, Policy, mutate};
use providers_support::*;
use serde_json::Value;

const NAMESPACE: &str = "shop";
const POD_NAME: &str = "chat-api-7c9d8f6b5-x2x4q";
const NODE_NAME: &str = "node-a";
const SETUP_LIMIT: Duration = Duration::from_secs(300);
const APP_LIMIT: Duration = Duration::from_secs(120);

fn resource_yaml(
    provider: &str,
    otlp: &str,
    extra_instrumentation: &str,
    pricing: &Path,
) -> String {
    format!(
        r#"apiVersion: openlit.io/v1alpha1
kind: AutoInstrumentation
metadata:
  name: llm-apps
  namespace: {NAMESPACE}
  generation: 2
  creationTimestamp: "2026-01-01T00:00:00Z"
spec:
  selector:
    matchLabels:
      app.kubernetes.io/part-of: chat
  python:
    instrumentation:
      provider: {provider}
      onFailure: block
      env:
        - name: OPENLIT_PRICING_JSON
          value: {pricing}
{extra_instrumentation}
  otlp:
    endpoint: {otlp}
    headers: "x-tenant=acme,authorization=Bearer%20s3cret"
    timeout: 7
  resource:
    environment: staging
"#,
        pricing = pricing.display()
    )
}

fn pod(llm: &str) -> Value {
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  generateName: chat-api-7c9d8f6b5-
  namespace: {NAMESPACE}
  labels:
    app.kubernetes.io/name: chat-api
    app.kubernetes.io/part-of: chat
    pod-template-hash: 7c9d8f6b5
  ownerReferences:
    - apiVersion: apps/v1
      kind: ReplicaSet
      name: chat-api-7c9d8f6b5
      uid: 0b4e3f3e-3c1e-4d59-9a53-6f3a4f5b7a10
      controller: true
spec:
  containers:
    - name: api
      image: registry.example.com/chat-api:1.4.2
      command: ["python3", "/app/app.py"]
      env:
        - name: PYTHONPATH
          value: /app/deps
        - name: OPENAI_BASE_URL
          value: {llm}/v1
        - name: OPENAI_API_KEY
          value: sk-test
"#
    );
    serde_saphyr::from_str(&yaml).unwrap()
}

/// The pod after admission, from the injection core.
fn admitted(resource_yaml: &str, pod: &Value) -> Value {
    let resource: AutoInstrumentation = serde_saphyr::from_str(resource_yaml).unwrap();
    let policy = Policy::compile(&resource, "ghcr.io/openlit");
    assert!(
        policy.errors.is_empty(),
        "resource is valid: {:?}",
        policy.errors
    );
    let mutation = mutate(pod, NAMESPACE, [&policy], &InjectConfig::default());
    assert!(
        matches!(mutation.decision, Decision::Instrumented { .. }),
        "{:?}",
        mutation.decision
    );
    let mut out = pod.clone();
    json_patch::patch(&mut out, &mutation.patch).unwrap();
    out["metadata"]["name"] = POD_NAME.into();
    out["spec"]["nodeName"] = NODE_NAME.into();
    out
}

fn downward() -> Downward<'static> {
    Downward {
        pod_name: POD_NAME,
        namespace: NAMESPACE,
        node_name: NODE_NAME,
    }
}

/// Runs the injected init container: its command and arguments, its environment plus the image's
/// (`INSTRUMENTATION_SOURCE`), with the volume at `volume`.
fn run_init_container(
    admitted: &Value,
    image: &ProviderImage,
    volume: &Path,
    cwd: &Path,
) -> Outcome {
    let init = admitted["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    let mounts = Mounts(vec![
        ("/instrumentation-packages".into(), volume.to_path_buf()),
        (
            "/usr/local/bin/setup-instrumentation.py".into(),
            providers_dir().join("base/setup-instrumentation.py"),
        ),
        (
            format!("/opt/instrumentation/{}", image.provider),
            image.source.clone(),
        ),
    ]);
    let image_env = [(
        "INSTRUMENTATION_SOURCE",
        format!("/opt/instrumentation/{}", image.provider),
    )];
    let mut env = resolve_env(init, &image_env, &downward());
    for key in ["TARGET_PATH", "INSTRUMENTATION_SOURCE"] {
        if let Some(value) = env.get_mut(key) {
            *value = mounts.map(value);
        }
    }
    let words: Vec<String> = init["command"]
        .as_array()
        .unwrap()
        .iter()
        .chain(init["args"].as_array().unwrap())
        .map(|w| mounts.map(w.as_str().unwrap()))
        .collect();
    assert_eq!(
        words[0], "python3",
        "the init container runs python3 with an argv list"
    );
    run(&python(), &words[1..], &env, cwd, SETUP_LIMIT)
}

/// Runs the application container's command with its resolved environment.
fn run_app_container(
    admitted: &Value,
    volume: &Path,
    app: &Path,
) -> (Outcome, BTreeMap<String, String>) {
    let container = &admitted["spec"]["containers"][0];
    let mounts = Mounts(vec![
        ("/instrumentation-packages".into(), volume.to_path_buf()),
        ("/app".into(), app.to_path_buf()),
    ]);
    let mut env = resolve_env(container, &[], &downward());
    let pythonpath = mounts.map(&env["PYTHONPATH"]);
    env.insert("PYTHONPATH".into(), pythonpath);
    let words: Vec<String> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| mounts.map(w.as_str().unwrap()))
        .collect();
    let injected = resolve_env(container, &[], &downward());
    (run(&python(), &words[1..], &env, app, APP_LIMIT), injected)
}

fn report(outcome: &Outcome) -> Value {
    let line = outcome.stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "the application printed no report ({e}); exit {}\nstdout:\n{}\nstderr:\n{}",
            outcome.code, outcome.stdout, outcome.stderr
        )
    })
}

fn is_llm_span(span: &SpanRecord) -> bool {
    span.attributes.values().any(|v| v.contains("gpt-4o-mini"))
}

/// The full flow for one provider.
fn provider_delivers_spans(provider: &str) {
    let image = provider_image(provider);
    let app = application();
    let scratch = tempfile::tempdir().unwrap();
    let volume = scratch.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    let pricing = scratch.path().join("pricing.json");
    std::fs::write(&pricing, "{}").unwrap();
    let llm = Server::fake_llm();
    let otlp = Server::otlp_receiver();
    let admitted = admitted(
        &resource_yaml(provider, &otlp.url, "", &pricing),
        &pod(&llm.url),
    );

    let setup = run_init_container(&admitted, &image, &volume, scratch.path());
    assert_eq!(
        setup.code, 0,
        "setup failed:\n{}\n{}",
        setup.stdout, setup.stderr
    );
    assert!(volume.join("sitecustomize.py").is_file());
    assert!(!volume.join(".instrumentation-failed").exists());
    assert!(!volume.join(".tmp").exists(), "temporary files are removed");

    let (outcome, env) = run_app_container(&admitted, &volume, &app);
    let stderr = &outcome.stderr;
    assert_eq!(
        outcome.code, 0,
        "the application failed:\n{}\n{stderr}",
        outcome.stdout
    );
    let report = report(&outcome);
    assert_eq!(report["reply"], "Hello from the fake LLM");
    assert_eq!(
        report["application_sitecustomize_ran"], true,
        "the application's own sitecustomize.py still runs"
    );
    assert_eq!(
        env["OTEL_EXPORTER_OTLP_TIMEOUT"], "7000",
        "milliseconds in the environment"
    );
    let exporters = report["exporters"].as_array().unwrap();
    assert!(
        !exporters.is_empty(),
        "{provider} configured no OTLP span exporter\n{stderr}"
    );
    for exporter in exporters {
        assert_eq!(
            exporter["timeout_seconds"].as_f64(),
            Some(7.0),
            "the effective export timeout is otlp.timeout (7 s): {exporter}"
        );
        assert_eq!(exporter["endpoint"], format!("{}/v1/traces", otlp.url));
    }
    assert!(
        !stderr.contains(" off:"),
        "{provider} stayed off:\n{stderr}"
    );
    assert_eq!(
        llm.received()
            .iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .count(),
        1
    );

    let requests = otlp.wait_until(Duration::from_secs(30), |r| {
        spans(r).iter().any(is_llm_span)
    });
    let all = spans(&requests);
    let llm_span = all.iter().find(|s| is_llm_span(s)).unwrap_or_else(|| {
        panic!(
            "no span of the LLM call reached the receiver; spans: {:?}\nrequests: {:?}\nstderr:\n{stderr}",
            all.iter().map(|s| &s.name).collect::<Vec<_>>(),
            requests.iter().map(|r| &r.path).collect::<Vec<_>>()
        )
    });
    println!(
        "{provider}: span {:?} from {} ({} spans, app ran {:.1} s)",
        llm_span.name,
        llm_span.scope,
        all.len(),
        outcome.elapsed.as_secs_f64()
    );
    let resource = &llm_span.resource;
    assert_eq!(
        resource.get("service.name").map(String::as_str),
        Some("chat-api")
    );
    assert_eq!(
        resource.get("k8s.pod.name").map(String::as_str),
        Some(POD_NAME)
    );
    assert_eq!(
        resource.get("k8s.node.name").map(String::as_str),
        Some(NODE_NAME)
    );
    assert_eq!(
        resource.get("k8s.namespace.name").map(String::as_str),
        Some(NAMESPACE)
    );
    assert_eq!(
        resource.get("k8s.deployment.name").map(String::as_str),
        Some("chat-api")
    );
    for pair in env["OTEL_RESOURCE_ATTRIBUTES"].split(',') {
        let (key, value) = pair.split_once('=').unwrap();
        assert_eq!(
            resource.get(key).map(String::as_str),
            Some(value),
            "resource attribute {key} of OTEL_RESOURCE_ATTRIBUTES"
        );
    }
    for request in requests.iter().filter(|r| r.path == "/v1/traces") {
        assert_eq!(
            request.headers.get("x-tenant").map(String::as_str),
            Some("acme")
        );
        assert_eq!(
            request.headers.get("authorization").map(String::as_str),
            Some("Bearer s3cret"),
            "headers in the k=v form, percent-decoded"
        );
        assert_eq!(
            request.headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
    }
}

#[test]
fn openlit_provider_exports_the_llm_call_with_the_injected_environment() {
    provider_delivers_spans("openlit");
}

#[test]
fn openinference_provider_exports_the_llm_call_with_the_injected_environment() {
    provider_delivers_spans("openinference");
}

#[test]
fn openllmetry_provider_exports_the_llm_call_with_the_injected_environment() {
    provider_delivers_spans("openllmetry");
}

/// `customPackages: opentelemetry-instrumentation-httpx>=0.66b0` on the base image (provider
/// `custom` with `customInitImage`, the way a platform team uses it): installed at
/// pod start (into the `opentelemetry` namespace package next to the image's own), never through
/// a shell, and picked up by the base sitecustomize.py: the OpenAI client's HTTP call is traced.
#[test]
fn custom_package_with_a_version_range_is_installed_and_used() {
    let image = provider_image("base");
    let app = application();
    let scratch = tempfile::tempdir().unwrap();
    let volume = scratch.path().join("volume");
    let cwd = scratch.path().join("cwd");
    std::fs::create_dir(&volume).unwrap();
    std::fs::create_dir(&cwd).unwrap();
    let pricing = scratch.path().join("pricing.json");
    std::fs::write(&pricing, "{}").unwrap();
    let llm = Server::fake_llm();
    let otlp = Server::otlp_receiver();
    let extra = "      customInitImage: ghcr.io/openlit/base-ai-instrumentation:1.0.0\n      customPackages: opentelemetry-instrumentation-httpx>=0.66b0";
    let admitted = admitted(
        &resource_yaml("custom", &otlp.url, extra, &pricing),
        &pod(&llm.url),
    );
    let args = admitted["spec"]["initContainers"][0]["args"].clone();
    assert_eq!(
        args.as_array().unwrap()[4..],
        ["--package", "opentelemetry-instrumentation-httpx>=0.66b0"]
    );

    let setup = run_init_container(&admitted, &image, &volume, &cwd);
    assert_eq!(
        setup.code, 0,
        "setup failed:\n{}\n{}",
        setup.stdout, setup.stderr
    );
    assert!(
        setup.stdout.contains("Successfully installed")
            && setup
                .stdout
                .contains("opentelemetry-instrumentation-httpx-"),
        "{}",
        setup.stdout
    );
    assert!(
        volume
            .join("opentelemetry/instrumentation/httpx/__init__.py")
            .is_file()
    );
    assert!(
        volume.join("opentelemetry/sdk/trace/__init__.py").is_file(),
        "the image's packages in the same namespace are kept"
    );
    assert_eq!(
        std::fs::read_dir(&cwd).unwrap().count(),
        0,
        "no shell turned '>=0.66b0' into a file redirection"
    );
    assert!(
        !volume.join(".tmp").exists(),
        "pip's temporary files are removed"
    );

    let (outcome, _) = run_app_container(&admitted, &volume, &app);
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    let requests = otlp.wait_until(Duration::from_secs(30), |r| {
        spans(r).iter().any(|s| s.scope.contains("httpx"))
    });
    let all = spans(&requests);
    let http = all
        .iter()
        .find(|s| s.scope.contains("httpx"))
        .unwrap_or_else(|| panic!("no httpx span: {all:?}\nstderr:\n{}", outcome.stderr));
    assert!(http.name.starts_with("POST"), "{http:?}");
    assert_eq!(
        http.resource.get("k8s.pod.name").map(String::as_str),
        Some(POD_NAME)
    );
}

/// What a person sees in the init container's log, and what the application does, when a custom
/// package cannot be installed: refused before pip runs when it is not a PEP 508 requirement,
/// pip's own error when it does not exist; `block` exits 1, `continue` exits 0 and leaves the
/// marker, and the application then starts uninstrumented, saying why.
#[test]
fn failing_custom_packages_block_or_continue_with_a_clear_message() {
    let python = python();
    let image = provider_image("base");
    let setup_program = providers_dir().join("base/setup-instrumentation.py");
    let scratch = tempfile::tempdir().unwrap();
    let env: BTreeMap<String, String> = [
        ("INSTRUMENTATION_PROVIDER", "base".to_string()),
        ("INSTRUMENTATION_SOURCE", image.source.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let setup = |volume: &Path, on_failure: &str, package: &str| {
        let args: Vec<String> = [
            setup_program.display().to_string(),
            "--target".into(),
            volume.display().to_string(),
            "--on-failure".into(),
            on_failure.into(),
            "--package".into(),
            "requests>=2".into(),
            "--package".into(),
            package.into(),
        ]
        .into();
        std::fs::create_dir_all(volume).unwrap();
        run(&python, &args, &env, scratch.path(), SETUP_LIMIT)
    };

    for (bad, why) in [
        ("requests; rm -rf /", "not an environment marker"),
        (
            "--index-url=http://evil.example/simple",
            "must start with a package name",
        ),
        ("evil @ https://evil.example/evil.whl", "direct URL"),
        ("requests $(id)", "shell metacharacter"),
    ] {
        let volume = scratch.path().join(format!("block-{}", bad.len()));
        let outcome = setup(&volume, "block", bad);
        assert_eq!(outcome.code, 1, "{bad}: {}", outcome.stderr);
        assert!(
            outcome.stderr.contains(&format!(
                "custom package {bad:?} is not a valid PEP 508 requirement"
            )) && outcome.stderr.contains(why)
                && outcome
                    .stderr
                    .contains("onFailure is block: the pod will not start"),
            "{bad}: {}",
            outcome.stderr
        );
        assert!(
            !outcome.stdout.contains("installing custom packages"),
            "pip never ran"
        );
        assert!(!volume.join(".instrumentation-failed").exists());
    }

    let missing = "openlit-operator-test-no-such-package>=1.0";
    let volume = scratch.path().join("missing");
    let outcome = setup(&volume, "block", missing);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(
            "pip could not install requests>=2, openlit-operator-test-no-such-package>=1.0"
        ),
        "{}",
        outcome.stderr
    );

    let volume = scratch.path().join("continue");
    let outcome = setup(&volume, "continue", "requests; rm -rf /");
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("onFailure is continue: the application starts without instrumentation")
    );
    let marker = std::fs::read_to_string(volume.join(".instrumentation-failed")).unwrap();
    assert!(
        marker.contains("\"requests; rm -rf /\" is not a valid PEP 508 requirement"),
        "{marker}"
    );
    let mut left: Vec<String> = std::fs::read_dir(&volume)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            ".instrumentation-failed",
            "_instrumentation_bootstrap.py",
            "sitecustomize.py"
        ],
        "no package is left to shadow the application's"
    );

    // The application starts uninstrumented and says why; its own sitecustomize still runs.
    let app = application();
    let llm = Server::fake_llm();
    let app_env: BTreeMap<String, String> = [
        (
            "PYTHONPATH",
            format!("{}:{}", volume.display(), app.join("deps").display()),
        ),
        ("OPENAI_BASE_URL", format!("{}/v1", llm.url)),
        ("OPENAI_API_KEY", "sk-test".into()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let outcome = run(&python, &["app.py".into()], &app_env, &app, APP_LIMIT);
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    let report = report(&outcome);
    assert_eq!(report["reply"], "Hello from the fake LLM");
    assert_eq!(report["application_sitecustomize_ran"], true);
    assert_eq!(report["exporters"], serde_json::json!([]));
    assert!(
        outcome.stderr.contains(
            "[base instrumentation] off: instrumentation setup failed in the init container: custom package \"requests; rm -rf /\""
        ),
        "{}",
        outcome.stderr
    );
}

/// The packages only load in the CPython they were built for: in another one sitecustomize.py
/// stays off, names the field that fixes it, and takes the volume off sys.path.
#[test]
fn another_python_version_keeps_the_instrumentation_off() {
    let python = python();
    let image = provider_image("base");
    let scratch = tempfile::tempdir().unwrap();
    let volume = scratch.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    let args = vec![
        providers_dir()
            .join("base/setup-instrumentation.py")
            .display()
            .to_string(),
        "--target".into(),
        volume.display().to_string(),
        "--on-failure".into(),
        "block".into(),
        "--source".into(),
        image.source.display().to_string(),
    ];
    let outcome = run(
        &python,
        &args,
        &BTreeMap::new(),
        scratch.path(),
        SETUP_LIMIT,
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        std::fs::read_to_string(volume.join(".instrumentation-python"))
            .unwrap()
            .trim(),
        python_minor()
    );
    std::fs::write(volume.join(".instrumentation-python"), "3.0\n").unwrap();
    let env: BTreeMap<String, String> =
        [("PYTHONPATH".to_string(), volume.display().to_string())].into();
    let probe = format!(
        "import sys; print({:?} in sys.path)",
        volume.display().to_string()
    );
    let outcome = run(
        &python,
        &["-c".into(), probe],
        &env,
        scratch.path(),
        APP_LIMIT,
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.trim(),
        "False",
        "the volume is taken off sys.path"
    );
    assert!(
        outcome.stderr.contains(&format!(
            "off: the instrumentation packages were built for CPython 3.0 but this is CPython {}; set python.instrumentation.pythonVersion",
            python_minor()
        )),
        "{}",
        outcome.stderr
    );
}

/// The OpenLIT operator's invocation (no arguments, everything in the environment) still works,
/// a retried init container starts from a clean volume, and a folder the program did not fill
/// is never emptied.
#[test]
fn legacy_invocation_retries_and_foreign_folders() {
    let python = python();
    let image = provider_image("base");
    let scratch = tempfile::tempdir().unwrap();
    let volume = scratch.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    let program = vec![
        providers_dir()
            .join("base/setup-instrumentation.py")
            .display()
            .to_string(),
    ];
    let env: BTreeMap<String, String> = [
        ("TARGET_PATH", volume.display().to_string()),
        ("INSTRUMENTATION_PROVIDER", "base".to_string()),
        ("INSTRUMENTATION_SOURCE", image.source.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let first = run(&python, &program, &env, scratch.path(), SETUP_LIMIT);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(volume.join("sitecustomize.py").is_file());
    assert!(volume.join("opentelemetry/sdk").is_dir());
    std::fs::write(volume.join("leftover-from-a-failed-attempt"), "x").unwrap();
    let again = run(&python, &program, &env, scratch.path(), SETUP_LIMIT);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!volume.join("leftover-from-a-failed-attempt").exists());

    let foreign: PathBuf = scratch.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("precious.txt"), "keep me").unwrap();
    let mut env = env;
    env.insert("TARGET_PATH".into(), foreign.display().to_string());
    let refused = run(&python, &program, &env, scratch.path(), SETUP_LIMIT);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("is not empty and holds no earlier instrumentation"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("precious.txt")).unwrap(),
        "keep me"
    );
}
