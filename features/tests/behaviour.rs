//! The behaviour suite: every `.feature` file under `features/specs`, each scenario in its own
//! simulated cluster with the operator running in-process.
//!
//! `cargo test --workspace --test behaviour` runs it; with `FEATURES_JUNIT=<file>` it also writes
//! JUnit XML for CI systems.

mod steps;

use cucumber::{World as _, WriterExt as _, writer};
use steps::OperatorWorld;

#[tokio::main]
async fn main() {
    let specs = concat!(env!("CARGO_MANIFEST_DIR"), "/specs");
    let junit = std::env::var("FEATURES_JUNIT").ok();
    let cucumber = OperatorWorld::cucumber()
        .max_concurrent_scenarios(4)
        .fail_on_skipped();
    match junit {
        Some(path) => {
            let file =
                std::fs::File::create(&path).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
            cucumber
                .with_writer(
                    writer::Basic::stdout()
                        .summarized()
                        .tee::<OperatorWorld, _>(writer::JUnit::for_tee(file, 0))
                        .normalized(),
                )
                .run_and_exit(specs)
                .await
        }
        None => cucumber.run_and_exit(specs).await,
    }
}
