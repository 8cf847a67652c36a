//! The `AutoInstrumentation` custom resource (`openlit.io/v1alpha1`): its types, the defaults the
//! operator applies in code, and validation.
//!
//! Enumerated fields (provider, pull policy, selector operators) are kept as strings in the types so
//! that a resource applied without the generated CRD still deserialises; [`validate`] reports bad
//! values as errors instead.

mod types;
pub use types::*;
