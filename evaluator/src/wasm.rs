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
//! An evaluator's methods take their texts (names, targeting key, attributes,
//! context) as lengths: JavaScript writes them one after another into a buffer
//! the evaluator keeps (`keyBuffer`), as `TextEncoder` encodes them, and zeros
//! what is left of longer text, so the buffer stays a valid `String` without a
//! check per call. A string argument would allocate and free wasm memory on
//! every call, which costs more than hashing a key, and grow the glue.
//!
//! Comments here are `//`, not `///`: wasm-bindgen copies doc comments into the
//! glue JavaScript, which ships; the package's documented API is index.d.ts.

use wasm_bindgen::prelude::*;

use crate::context::Context;
use crate::evaluate::{ErrorCode, Evaluation, Resolution};
use crate::json::WriteJson;
use crate::model::FlagType;
use crate::packed::{NOT_PACKED, PackedEvaluator, STRING_ATTRIBUTES};

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
    key: String,
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
            key: String::new(),
        })
    }

    #[wasm_bindgen(getter)]
    pub fn revision(&self) -> f64 {
        self.inner.evaluator().revision() as f64
    }

    // Numbers a (rollout, environment) pair (see `PackedEvaluator::place`):
    // answers the names its constraints read as a JSON array, or null for an
    // unknown pair.
    pub fn place(&mut self, rollout: usize, environment: usize) -> String {
        let [rollout, environment] = texts(&self.key, [rollout, environment]);
        match self.inner.place(rollout, environment) {
            Some(attributes) => json(&attributes),
            None => "null".to_string(),
        }
    }

    // Every flag's value for `context` (JSON text; none: it could not be
    // written as JSON); a malformed context is an INVALID_CONTEXT answer.
    pub fn evaluate(&self, place: usize, context: usize) -> String {
        let [context] = texts(&self.key, [context]);
        let (rollout, environment) = self.inner.names(place);
        let inner = self.inner.evaluator();
        match context_from(context) {
            Ok(context) => json(&inner.evaluate(rollout, environment, &context)),
            Err(message) => json(&inner.invalid_context(rollout, message)),
        }
    }

    // Where JavaScript writes the texts of the calls below, with room for at
    // least `len` bytes (it moves when it grows).
    #[wasm_bindgen(js_name = keyBuffer)]
    pub fn key_buffer(&mut self, len: usize) -> *mut u8 {
        while self.key.len() < len {
            self.key.push('\0');
        }
        self.key.as_mut_ptr()
    }

    // Packed answer for a targeting key and string values (or nothing: -1) for
    // the place's attributes, in the order `place` named them: their lengths in
    // bytes, one after another in the key buffer.
    #[wasm_bindgen(js_name = evaluateStrings)]
    pub fn evaluate_strings(&mut self, place: usize, key: usize, a: i32, b: i32, c: i32) -> u32 {
        let mut end = key;
        let mut values = [None; STRING_ATTRIBUTES];
        for (value, len) in values.iter_mut().zip([a, b, c]) {
            if let Ok(len) = usize::try_from(len) {
                let start = end;
                end = start.saturating_add(len);
                *value = self.key.get(start..end);
                if value.is_none() {
                    return NOT_PACKED;
                }
            }
        }
        match self.key.get(..key) {
            Some(key) => self.inner.evaluate_strings(place, key, values),
            None => NOT_PACKED,
        }
    }

    // Packed answer for the targeting key of `len` bytes in the key buffer alone
    // (`evaluateStrings` with no values, in fewer arguments: each costs).
    #[wasm_bindgen(js_name = evaluateKey)]
    pub fn evaluate_key(&mut self, place: usize, len: usize) -> u32 {
        match self.key.get(..len) {
            Some(key) => self.inner.evaluate_key(place, key),
            None => NOT_PACKED,
        }
    }

    // Packed answer for a context given as JSON text.
    #[wasm_bindgen(js_name = evaluateJson)]
    pub fn evaluate_json(&mut self, place: usize, context: usize) -> u32 {
        let [context] = texts(&self.key, [context]);
        match Context::from_json(context) {
            Ok(context) => self.inner.evaluate_packed(place, &context),
            Err(_) => NOT_PACKED,
        }
    }

    // The outcome a packed answer points to: values, stage, inRollout, reason.
    pub fn outcome(&self, id: usize) -> String {
        json(&self.inner.outcome(id))
    }

    // One flag's value; `flag_type` ("boolean", "string", "number", "json"; -1:
    // none) turns a flag of another type into a TYPE_MISMATCH answer, as does a
    // type of another name.
    pub fn resolve(&self, place: usize, flag: usize, context: usize, flag_type: i32) -> String {
        let [flag, context, name] = texts(&self.key, [flag, context, flag_type.max(0) as usize]);
        let (rollout, environment) = self.inner.names(place);
        let inner = self.inner.evaluator();
        let flag_type = (flag_type >= 0).then_some(name);
        let expected = match flag_type.map(|name| (name, FlagType::from_name(name))) {
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
    pub fn gate(&mut self, rollout: usize, flag: usize, environment: usize) -> i32 {
        let [rollout, flag, environment] = texts(&self.key, [rollout, flag, environment]);
        match self.inner.gate(rollout, flag, environment) {
            Some(gate) => gate as i32,
            None => -1,
        }
    }

    // Whether a gate's flag is on for the targeting key of `len` bytes in the key buffer.
    #[wasm_bindgen(js_name = isEnabledAt)]
    pub fn is_enabled_at(&self, gate: usize, len: usize) -> bool {
        (self.key.get(..len))
            .is_some_and(|targeting_key| self.inner.is_enabled_at(gate, targeting_key))
    }
}

// Texts JavaScript wrote one after another into the key buffer, by their
// lengths in bytes ("" for any that is not whole there: never, from index.js).
fn texts<const N: usize>(buffer: &str, lengths: [usize; N]) -> [&str; N] {
    let mut end = 0_usize;
    lengths.map(|len| {
        let start = end;
        end = start.saturating_add(len);
        buffer.get(start..end).unwrap_or_default()
    })
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
