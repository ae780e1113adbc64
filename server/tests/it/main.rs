//! The server's integration tests, linked into one binary (`cargo test -p
//! stagegate-server --test it`; one module a topic).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod api;
mod binary;
mod changes;
mod checklist;
mod cli;
mod client_document;
mod common;
mod concurrency;
mod console;
mod contract;
mod durability;
mod events;
mod export;
mod gate;
mod gate_sequences;
mod guardrails;
mod hardening;
mod hostile;
mod ofrep;
mod openapi;
mod refusals;
mod roles;
mod shared_counts;
mod simulate;
mod users;
mod webhooks;
