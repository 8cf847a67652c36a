//! kubesim: an in-process fake Kubernetes for testing operators.
#![forbid(unsafe_code)]
