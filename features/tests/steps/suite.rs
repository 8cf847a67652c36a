//! Runs every `.feature` file under `features/specs` on the selected backend: scenarios in
//! parallel on simulated clusters, one after another on a shared real cluster (each cleaning up
//! what it created), `@simulated` scenarios only where the simulator is.

use cucumber::{World as _, WriterExt as _, writer};
use features::backend::{self, Backend, SIMULATED_TAG};

use super::OperatorWorld;

/// Runs the suite on `backend` and exits the process with the outcome; with `junit` it also
/// writes JUnit XML there.
pub async fn run_and_exit(backend: Backend, junit: Option<String>) {
    let specs = concat!(env!("CARGO_MANIFEST_DIR"), "/specs");
    let parallel = backend.parallel();
    backend::select(backend);
    let cucumber = OperatorWorld::cucumber()
        .max_concurrent_scenarios(if parallel { 4 } else { 1 })
        .fail_on_skipped()
        .after(|_, _, _, _, world| {
            Box::pin(async move {
                if let Some(cluster) = world.and_then(|w| w.cluster.as_ref())
                    && let Err(e) = cluster.clean_up().await
                {
                    panic!("cleaning up after the scenario: {e}");
                }
            })
        });
    let runs_here = move |feature: &cucumber::gherkin::Feature,
                          _: Option<&cucumber::gherkin::Rule>,
                          scenario: &cucumber::gherkin::Scenario| {
        let simulated = feature
            .tags
            .iter()
            .chain(&scenario.tags)
            .any(|t| t == SIMULATED_TAG);
        parallel || !simulated
    };
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
                .filter_run_and_exit(specs, runs_here)
                .await
        }
        None => cucumber.filter_run_and_exit(specs, runs_here).await,
    }
}
