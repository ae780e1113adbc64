//! stagegate's evaluator: the one source of truth for who is in a staged rollout
//! and which flag values they get.
//!
//! Pure: no I/O, no clock. The same code runs natively (server, CLI) and as
//! WebAssembly (console, npm package); only the [`wasm`] module knows about
//! wasm-bindgen. It reads and writes JSON itself ([`json`]); serde support is the
//! optional, default `serde` feature.
//!
//! ```
//! use evaluator::{Context, Evaluator, Reason};
//!
//! let plan = r#"{"schemaVersion": 1, "rollouts": {"checkout": {
//!     "flags": {"newCheckout": {"type": "boolean", "fallback": false}},
//!     "stages": [{"id": "s1", "name": "25%", "percentage": 25, "values": {"newCheckout": true}}],
//!     "environments": {"production": {"activeStage": "s1"}}}}}"#;
//! let evaluator = Evaluator::from_json(plan).unwrap();
//! let answer = evaluator.evaluate("checkout", "production", &Context::new("user-42"));
//! assert_eq!(answer.reason, Reason::Split);
//! assert_eq!(answer.values["newCheckout"], answer.in_rollout);
//! ```

pub mod bucket;
pub mod client;
pub mod context;
pub mod digest;
pub mod evaluate;
pub mod flag_key;
pub mod gate;
pub mod json;
pub mod load;
pub mod model;
pub mod murmur3;
pub mod packed;
pub mod problem;
mod read;
pub mod semver;
pub mod signoff;
mod sort;
pub mod stats;
pub mod validate;

#[cfg(all(feature = "wasm", target_arch = "wasm32"))]
pub mod wasm;

pub use bucket::{Salt, bucket};
pub use context::{Attributes, Context, KeyOnly};
pub use digest::stage_digest;
pub use evaluate::{ErrorCode, Evaluation, Evaluator, Gate, Reason, Resolution, evaluate_once};
pub use load::{parse_plan, plan_from_value};
pub use model::Plan;
pub use problem::{Invalid, Problem};
pub use validate::validate;
