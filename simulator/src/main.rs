//! The kubesim command line.
#![forbid(unsafe_code)]

fn main() {}
