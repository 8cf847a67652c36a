//! The kubesim command line: `kubesim serve [--port N] [--kubeconfig PATH]`.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "kubesim",
    about = "A fake Kubernetes API server with controllers and a simulated kubelet"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a simulated cluster until interrupted.
    Serve {
        /// Loopback port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Where to write a kubeconfig for the cluster.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> Result<(), kubesim::SimError> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { port, kubeconfig } => {
            let sim = kubesim::Simulator::builder().port(port).start().await?;
            // A served cluster lives in real time: ages grow and certificates made by other
            // processes become valid when they say.
            tokio::spawn(kubesim::clock::follow_real_time(
                sim.clock().clone(),
                std::time::Duration::from_millis(250),
            ));
            if let Some(path) = &kubeconfig {
                sim.write_kubeconfig(path)?;
                eprintln!("kubeconfig written to {}", path.display());
            }
            println!("kubesim serving at {}", sim.url());
            tokio::signal::ctrl_c().await?;
            Ok(())
        }
    }
}
