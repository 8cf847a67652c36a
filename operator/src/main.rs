//! The `openlit-operator` command.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Zero-code OpenTelemetry instrumentation for Python AI applications on Kubernetes.
#[derive(Parser)]
#[command(name = "openlit-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the AutoInstrumentation CustomResourceDefinition as YAML.
    Crd,
    /// Show what the webhook would do to a pod, given AutoInstrumentation resources.
    Preview {
        /// The pod manifest (YAML or JSON).
        #[arg(long)]
        pod: PathBuf,
        /// AutoInstrumentation manifests (repeatable; a file may hold several documents).
        #[arg(long = "resource", required = true)]
        resources: Vec<PathBuf>,
        /// The operator's namespace, whose resources apply to every namespace.
        #[arg(long, default_value = "openlit")]
        namespace_of_operator: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match openlit_operator::crd::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Preview {
            pod,
            resources,
            namespace_of_operator,
        } => {
            match openlit_operator::preview::preview_files(&pod, &resources, &namespace_of_operator)
            {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    }
}

fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}
