//! The OpenLIT-compatible auto-instrumentation operator as a library.
#![forbid(unsafe_code)]

pub mod crd;
pub mod inject;
pub mod preview;
