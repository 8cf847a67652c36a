//! Resource bytes in, compiled policy out: see `harness/resource.rs` for what one input goes
//! through and what must hold.
//!
//! Run from `operator/fuzz` with the seed corpus, the regression inputs and the dictionary:
//! `cargo +nightly fuzz run autoinstrumentation corpus/autoinstrumentation seeds-resource
//! regressions-resource -- -dict=autoinstrumentation.dict`. Inputs that crashed it go to
//! `regressions-resource/`, which `operator/tests/crd_fuzz_regressions.rs` replays.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/resource.rs"]
mod harness;

fuzz_target!(|bytes: &[u8]| {
    harness::exercise(bytes);
});
