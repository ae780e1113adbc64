//! The WebAssembly binding: glue over the pure core that converts types at the
//! boundary, and the only code that knows about wasm-bindgen. The npm package's
//! `index.js` wraps it.
//!
//! Strings cross from JavaScript as UTF-8; a lone surrogate becomes U+FFFD, as
//! with `TextEncoder`.
//!
//! Contexts come in as JSON text (`JSON.stringify`); answers go out as JSON text
//! (`JSON.parse`), written by the crate's own JSON writer: no serde in the
//! package, which keeps it small. The fast path returns a number per answer, an
//! index into a small table of outcomes that JavaScript fetches once each, plus
//! the bucket: building an object per call would cost more than the evaluation.
//! The numbering and packing are the core's (`packed`); this module only passes
//! them across.
//!
//! Comments here are `//`, not `///`: wasm-bindgen copies doc comments into the
//! glue JavaScript, which ships; the package's documented API is index.d.ts.

use wasm_bindgen::prelude::*;

use crate::context::Context;
use crate::evaluate::{ErrorCode, Evaluation, Resolution};
use crate::json::WriteJson;
use crate::model::FlagType;
use crate::packed::{NOT_PACKED, PackedEvaluator};

// Talc instead of the default dlmalloc: 7 KB less wasm, for a few ns more per call.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

// The bucket (0..=9999) of `unit` under `salt`.
#[wasm_bindgen]
pub fn bucket(salt: &str, unit: &str) -> u16 {
    crate::bucket::bucket(salt, unit)
}

// Evaluates against a plan given as JSON text, without preparing it; never throws.
#[wasm_bindgen(js_name = evaluateOnce)]
pub fn evaluate_once(plan: &str, rollout: &str, environment: &str, context: &str) -> String {
    let evaluation = match context_from(context) {
        Ok(context) => crate::evaluate::evaluate_once(plan, rollout, environment, &context),
        Err(message) => Evaluation::error(ErrorCode::InvalidContext, message, 0),
    };
    json(&evaluation)
}

#[wasm_bindgen]
pub struct Evaluator {
    inner: PackedEvaluator,
}

#[wasm_bindgen]
impl Evaluator {
    // Parses, validates and prepares a plan; none if it has problems (the error
    // message of `evaluateOnce` lists them: JavaScript throws its own Error, which
    // costs less wasm than a JsError).
    pub fn load(plan: &str) -> Option<Evaluator> {
        let evaluator = crate::evaluate::Evaluator::from_json(plan).ok()?;
        Some(Evaluator {
            inner: PackedEvaluator::new(evaluator),
        })
    }

    #[wasm_bindgen(getter)]
    pub fn revision(&self) -> f64 {
        self.inner.evaluator().revision() as f64
    }

    // Numbers a (rollout, environment) pair (see `PackedEvaluator::place`):
    // answers the names its constraints read as a JSON array, or null for an
    // unknown pair.
    pub fn place(&mut self, rollout: &str, environment: &str) -> String {
        match self.inner.place(rollout, environment) {
            Some(attributes) => json(&attributes),
            None => "null".to_string(),
        }
    }

    // Every flag's value for `context` (JSON text; none: it could not be
    // written as JSON); a malformed context is an INVALID_CONTEXT answer.
    pub fn evaluate(&self, place: usize, context: &str) -> String {
        let (rollout, environment) = self.inner.names(place);
        let inner = self.inner.evaluator();
        match context_from(context) {
            Ok(context) => json(&inner.evaluate(rollout, environment, &context)),
            Err(message) => json(&inner.invalid_context(rollout, message)),
        }
    }

    // Packed answer for a targeting key alone.
    #[wasm_bindgen(js_name = evaluateKey)]
    pub fn evaluate_key(&mut self, place: usize, targeting_key: &str) -> u32 {
        self.inner.evaluate_key(place, targeting_key)
    }

    // Packed answer for a targeting key and string values (or nothing) for the
    // place's attributes, in the order `place` named them.
    #[wasm_bindgen(js_name = evaluateStrings)]
    pub fn evaluate_strings(
        &mut self,
        place: usize,
        targeting_key: &str,
        a: Option<String>,
        b: Option<String>,
        c: Option<String>,
    ) -> u32 {
        self.inner.evaluate_strings(place, targeting_key, [a, b, c])
    }

    // Packed answer for a context given as JSON text.
    #[wasm_bindgen(js_name = evaluateJson)]
    pub fn evaluate_json(&mut self, place: usize, context: &str) -> u32 {
        match Context::from_json(context) {
            Ok(context) => self.inner.evaluate_packed(place, &context),
            Err(_) => NOT_PACKED,
        }
    }

    // The outcome a packed answer points to: values, stage, inRollout, reason.
    pub fn outcome(&self, id: usize) -> String {
        json(&self.inner.outcome(id))
    }

    // One flag's value; `flag_type` ("boolean", "string", "number", "json") turns a
    // flag of another type into a TYPE_MISMATCH answer, as does a type of another name.
    pub fn resolve(
        &self,
        place: usize,
        flag: &str,
        context: &str,
        flag_type: Option<String>,
    ) -> String {
        let (rollout, environment) = self.inner.names(place);
        let inner = self.inner.evaluator();
        let expected = match flag_type
            .as_deref()
            .map(|name| (name, FlagType::from_name(name)))
        {
            None => None,
            Some((_, Some(kind))) => Some(kind),
            Some((name, None)) => {
                let message =
                    format!("'{name}' is not a flag type (boolean, string, number, json)");
                let revision = inner.revision();
                let answer = Resolution::error(ErrorCode::TypeMismatch, message, revision);
                return json(&answer);
            }
        };
        match context_from(context) {
            Ok(context) => json(&inner.resolve(rollout, flag, environment, &context, expected)),
            Err(message) => json(&Resolution::error(
                ErrorCode::InvalidContext,
                message,
                inner.revision(),
            )),
        }
    }

    // A handle for a (rollout, boolean flag, environment) triple, or -1.
    pub fn gate(&mut self, rollout: &str, flag: &str, environment: &str) -> i32 {
        match self.inner.gate(rollout, flag, environment) {
            Some(gate) => gate as i32,
            None => -1,
        }
    }

    #[wasm_bindgen(js_name = isEnabledAt)]
    pub fn is_enabled_at(&self, gate: usize, targeting_key: &str) -> bool {
        self.inner.is_enabled_at(gate, targeting_key)
    }
}

// A context from JSON text; "" is a context JavaScript could not write as JSON.
fn context_from(text: &str) -> Result<Context, String> {
    if text.is_empty() {
        return Err("context: cannot be written as JSON (a cycle, or a BigInt?)".to_string());
    }
    Context::from_json(text)
}

fn json(value: &impl WriteJson) -> String {
    let mut out = String::new();
    value.write_json(&mut out);
    out
}
