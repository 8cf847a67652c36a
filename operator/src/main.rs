//! The `openlit-operator` command.
#![forbid(unsafe_code)]

fn main() {}
