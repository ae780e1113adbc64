//! The `stagegate` binary's library: the config store server, its API, and the CLI.

pub mod alerts;
pub mod api;
pub mod app_keys;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod error;
pub mod export;
pub mod guard;
pub mod http_client;
pub mod metrics;
pub mod openapi;
pub mod serve;
pub mod simulate;
pub mod static_files;
pub mod storage;
pub mod store;
pub mod users;
pub mod util;

pub use api::{AppState, app};
