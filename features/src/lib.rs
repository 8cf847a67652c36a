//! Behaviour specifications of the operator (step definitions live here).
#![forbid(unsafe_code)]
pub mod provider_images;
