//! The `openlit-operator` command.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use openlit_operator::config::{Config, ConfigError, ignore_empty_env, parse_error};

/// Zero-code OpenTelemetry instrumentation for Python AI applications on Kubernetes.
#[derive(Parser)]
#[command(name = "openlit-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator: admission webhook, controller, leader election, certificates.
    ///
    /// Every flag can also be given as the environment variable shown; an empty variable means
    /// the default.
    Run(Box<RunArgs>),
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

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    config: Config,
}

fn parse() -> Result<Cli, ConfigError> {
    let matches = ignore_empty_env(Cli::command())
        .try_get_matches()
        .map_err(|e| parse_error(&e))?;
    Cli::from_arg_matches(&matches).map_err(|e| parse_error(&e))
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(ConfigError::Parse(text)) if text.contains('\n') => {
            // --help or --version
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(e),
    };
    match cli.command {
        Command::Run(args) => run(args.config),
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

fn run(config: Config) -> ExitCode {
    if let Err(e) = config.validate() {
        return fail(e);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(openlit_operator::run::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}
