//! Behaviour specifications of the operator: the clusters they run against and what the steps
//! do with them (step definitions live in `tests/steps`).
#![forbid(unsafe_code)]
pub mod apps;
pub mod backend;
pub mod clock;
pub mod cluster;
pub mod kube_ops;
pub mod mesh;
pub mod metrics_text;
pub mod node;
pub mod probe;
pub mod provider_images;
pub mod simulation;
