//! Behaviour specifications of the operator (step definitions live here).
#![forbid(unsafe_code)]
pub mod apps;
pub mod clock;
pub mod cluster;
pub mod kube_ops;
pub mod probe;
pub mod provider_images;
