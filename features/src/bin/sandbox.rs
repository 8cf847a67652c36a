//! `sandbox`: a simulated cluster with the operator running, an example AutoInstrumentation and a
//! Python Deployment, reporting what happened to the pod and leaving the cluster up for `kubectl`
//! until Ctrl-C.
//!
//! ```sh
//! cargo run -p features --bin sandbox [-- --kubeconfig PATH] [--once]
//! ```
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use features::cluster::TestCluster;
use features::kube_ops;
use features::simulation::InstallOptions;

const NAMESPACE: &str = "shop";
const RESOURCE: &str = include_str!("../../../operator/examples/sandbox/autoinstrumentation.yaml");

struct Options {
    kubeconfig: PathBuf,
    once: bool,
}

fn options() -> Result<Options, String> {
    let mut kubeconfig = std::env::temp_dir().join("openlit-sandbox.kubeconfig");
    let mut once = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--kubeconfig" => kubeconfig = args.next().ok_or("--kubeconfig needs a path")?.into(),
            "--once" => once = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; use --kubeconfig PATH or --once"
                ));
            }
        }
    }
    Ok(Options { kubeconfig, once })
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    println!("Starting a simulated cluster and the operator...");
    let cluster = TestCluster::simulate(InstallOptions::default()).await?;
    let sim = &cluster.simulation()?.sim;
    sim.write_kubeconfig(&options.kubeconfig)?;
    kube_ops::ensure_namespace(&cluster.client, NAMESPACE).await?;
    cluster.apply_and_await(NAMESPACE, RESOURCE).await?;
    println!(
        "Applied AutoInstrumentation {NAMESPACE}/chat (operator/examples/sandbox/autoinstrumentation.yaml)"
    );
    let labels = kube_ops::labels("app=chat");
    kube_ops::create_deployment(
        &cluster.client,
        NAMESPACE,
        "chat",
        "python:3.12-slim",
        &labels,
    )
    .await?;
    let pod_name = kube_ops::deployment_pod(&cluster.client, NAMESPACE, &labels).await?;
    let pod = kube_ops::running_pod(&cluster.client, NAMESPACE, &pod_name).await?;
    println!(
        "\nPod {NAMESPACE}/{pod_name} of Deployment chat is {}",
        pod["status"]["phase"].as_str().unwrap_or("?")
    );
    let annotations = &pod["metadata"]["annotations"];
    println!(
        "  chosen resource:  {}",
        annotations["openlit.io/instrumented-by"]
            .as_str()
            .unwrap_or("none")
    );
    for init in pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let args: Vec<&str> = init["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str())
            .collect();
        println!(
            "  init container:   {} ({}) args: {}",
            init["name"].as_str().unwrap_or("?"),
            init["image"].as_str().unwrap_or("?"),
            args.join(" ")
        );
    }
    if let Some(app) = sim.container(NAMESPACE, &pod_name, "app") {
        println!("  app container environment (as the kubelet resolved it):");
        for (name, value) in app.env.iter().filter(|(n, _)| {
            n.starts_with("OTEL_") || n.starts_with("OPENLIT_") || *n == "PYTHONPATH"
        }) {
            println!("    {name}={value}");
        }
        println!("  app container output: {}", app.logs.trim());
    }
    println!("\nkubeconfig: {}", options.kubeconfig.display());
    println!(
        "Try: KUBECONFIG={} kubectl get pods -n {NAMESPACE} -o yaml",
        options.kubeconfig.display()
    );
    if options.once {
        return Ok(());
    }
    println!("The cluster stays up until Ctrl-C.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
