//! The `AutoInstrumentation` custom resource (`openlit.io/v1alpha1`): its types, the defaults the
//! operator applies in code, validation, and the generated CRD.
//!
//! Enumerated fields (provider, pull policy, selector operators) are kept as strings in the types so
//! that a resource applied without the generated CRD still deserialises; [`validate`] reports bad
//! values as errors instead.

pub mod endpoint;
pub mod env_vars;
mod generate;
pub mod headers;
pub mod image_ref;
pub mod labels;
pub mod limits;
pub mod quantity;
pub mod requirements;
mod schema;
mod types;
mod validation;

pub use generate::{CrdError, crd, crd_yaml};
pub use requirements::parse_custom_packages;
pub use types::*;
pub use validation::{
    MAX_OTLP_TIMEOUT_SECONDS, MIN_OTLP_TIMEOUT_SECONDS, ON_FAILURE_VALUES, SELECTOR_OPERATORS,
    Validation, validate, validate_spec,
};
