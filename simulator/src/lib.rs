//! kubesim: an in-process fake Kubernetes for testing operators.
//!
//! It serves the Kubernetes REST API on a loopback port (so `kube::Client` and `kubectl` work
//! unchanged), runs the mutating admission chain over HTTPS, the Deployment/ReplicaSet
//! controllers, a scheduler, garbage collection and a kubelet that runs simulated images, all
//! on a virtual clock.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kubesim::SimError> {
//! let sim = kubesim::Simulator::start().await?;
//! let client = sim.client()?;
//! # let _ = client;
//! sim.clock().advance(std::time::Duration::from_secs(30));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod admission;
pub mod auth;
pub mod clock;
pub mod cluster;
pub mod controllers;
pub mod defaults;
pub mod delete;
pub mod error;
pub mod faults;
pub mod http;
pub mod kubeconfig;
pub mod kubelet;
pub mod managed;
pub mod metrics;
pub mod patch;
pub mod read;
pub mod resources;
pub mod schema;
pub mod selector;
mod service_route;
mod sim;
pub mod store;
pub mod write;

pub use auth::Denial;
pub use clock::SimClock;
pub use error::{ApiError, SimError};
pub use faults::Faults;
pub use kubelet::{ContainerView, Exit, Image, Process};
pub use sim::{Simulator, SimulatorBuilder};
