//! The OpenLIT-compatible auto-instrumentation operator as a library.
#![forbid(unsafe_code)]

pub mod api;
pub mod cache;
pub mod clock;
pub mod config;
pub mod controller;
pub mod crd;
pub mod inject;
pub mod leader;
pub mod metrics;
pub mod preview;
pub mod run;
pub mod supervise;
pub mod telemetry;
pub mod tls;
pub mod watch;
pub mod webhook;
pub mod webhook_config;
