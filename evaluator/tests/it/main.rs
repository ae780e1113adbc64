//! The evaluator's integration tests, linked into one binary (`cargo test -p
//! stagegate-evaluator --test it`).
#![allow(clippy::unwrap_used)] // a test that cannot read its own data should stop loudly

mod layers;
mod never_panics;
mod stats;
