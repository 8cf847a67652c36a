//! The behaviour suite: every `.feature` file under `features/specs`.
//!
//! `cargo test --workspace --test behaviour` runs each scenario in its own simulated cluster with
//! the operator in-process. With `FEATURES_BACKEND=cluster` it runs against the cluster
//! `KUBECONFIG` points at, where the operator is already installed (`INSTALLATION_NAME`,
//! `OPERATOR_NAMESPACE`, both `openlit` by default), skipping `@simulated` scenarios. With
//! `FEATURES_JUNIT=<file>` it also writes JUnit XML for CI systems.

mod steps;

use features::backend::Backend;

#[tokio::main]
async fn main() {
    let backend = match Backend::from_env() {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let junit = std::env::var("FEATURES_JUNIT").ok();
    steps::suite::run_and_exit(backend, junit).await;
}
