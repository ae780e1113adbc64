//! Several real `stagegate serve` processes on one real PostgreSQL, and what
//! happens when parts of that go away: each test starts its own throwaway
//! cluster (stagegate-pgtemp) so that it may stop it.
//!
//! Where PostgreSQL's server is not installed, each test says so and passes,
//! unless `STAGEGATE_REQUIRE_POSTGRES=1` (as `cargo xtask test` sets): then it fails.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod faults;
mod harness;
mod migrate;
mod servers;
