//! The cross-crate tests, linked into one binary (`cargo test -p stagegate-tests
//! --test it`): the test data against the native evaluator, the committed JSON
//! Schema, and native/npm parity.
#![allow(clippy::unwrap_used)] // a test that cannot read its own data should stop loudly

mod flag_keys;
mod parity;
mod schema;
mod testdata;
