//! The WebAssembly binding: a thin layer over the pure core, and the only code
//! that knows about wasm-bindgen. The npm package's `index.js` wraps it.
//!
//! Strings cross from JavaScript as UTF-8; a lone surrogate becomes U+FFFD, as
//! with `TextEncoder`.

use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::model::FlagType;
use crate::{Context, Gate};

/// The bucket (0..=9999) of `unit` under `salt`.
#[wasm_bindgen]
pub fn bucket(salt: &str, unit: &str) -> u16 {
    crate::bucket(salt, unit)
}

/// Evaluates against a plan given as JSON text, without preparing it; never throws.
#[wasm_bindgen(js_name = evaluateOnce)]
pub fn evaluate_once(
    plan: &str,
    rollout: &str,
    environment: &str,
    context: JsValue,
) -> Result<JsValue, JsError> {
    let evaluation = match context_from(context) {
        Ok(context) => crate::evaluate_once(plan, rollout, environment, &context),
        Err(message) => crate::Evaluation::error(crate::ErrorCode::InvalidContext, message, 0),
    };
    to_js(&evaluation)
}

#[wasm_bindgen]
pub struct Evaluator {
    inner: crate::Evaluator,
    gates: Vec<Gate>,
}

#[wasm_bindgen]
impl Evaluator {
    /// Parses, validates and prepares a plan; throws with every problem.
    #[wasm_bindgen(constructor)]
    pub fn new(plan: &str) -> Result<Evaluator, JsError> {
        let inner = crate::Evaluator::from_json(plan)
            .map_err(|invalid| JsError::new(&invalid.to_string()))?;
        Ok(Evaluator {
            inner,
            gates: Vec::new(),
        })
    }

    #[wasm_bindgen(getter)]
    pub fn revision(&self) -> f64 {
        self.inner.revision() as f64
    }

    /// Every flag's value for `context`; a malformed context is an INVALID_CONTEXT answer.
    pub fn evaluate(
        &self,
        rollout: &str,
        environment: &str,
        context: JsValue,
    ) -> Result<JsValue, JsError> {
        match context_from(context) {
            Ok(context) => to_js(&self.inner.evaluate(rollout, environment, &context)),
            Err(message) => to_js(&self.inner.invalid_context(rollout, message)),
        }
    }

    /// Every key in `targeting_keys` with the same attributes, as an array of evaluations.
    #[wasm_bindgen(js_name = evaluateMany)]
    pub fn evaluate_many(
        &self,
        rollout: &str,
        environment: &str,
        targeting_keys: Vec<String>,
        attributes: JsValue,
    ) -> Result<JsValue, JsError> {
        let mut context = match context_from(attributes) {
            Ok(context) => context,
            Err(message) => {
                let failed = self.inner.invalid_context(rollout, message);
                return to_js(&vec![failed; targeting_keys.len()]);
            }
        };
        let mut answers = Vec::with_capacity(targeting_keys.len());
        for key in targeting_keys {
            context.targeting_key = Some(key);
            answers.push(
                self.inner
                    .evaluate(rollout, environment, &context)
                    .into_owned(),
            );
        }
        to_js(&answers)
    }

    /// One flag's value; `flag_type` ("boolean", "string", "number", "json") turns a
    /// flag of another type into a TYPE_MISMATCH answer.
    pub fn resolve(
        &self,
        rollout: &str,
        flag: &str,
        environment: &str,
        context: JsValue,
        flag_type: Option<String>,
    ) -> Result<JsValue, JsError> {
        let expected = match flag_type.as_deref() {
            None => None,
            Some(name) => Some(
                FlagType::from_name(name)
                    .ok_or_else(|| JsError::new(&format!("unknown flag type '{name}'")))?,
            ),
        };
        match context_from(context) {
            Ok(context) => {
                to_js(
                    &self
                        .inner
                        .resolve(rollout, flag, environment, &context, expected),
                )
            }
            Err(message) => to_js(&self.inner.invalid_context(rollout, message)),
        }
    }

    /// A handle for a (rollout, boolean flag, environment) triple, or -1.
    pub fn gate(&mut self, rollout: &str, flag: &str, environment: &str) -> i32 {
        match self.inner.gate(rollout, flag, environment) {
            Some(gate) => {
                self.gates.push(gate);
                self.gates.len() as i32 - 1
            }
            None => -1,
        }
    }

    #[wasm_bindgen(js_name = isEnabledAt)]
    pub fn is_enabled_at(&self, gate: usize, targeting_key: &str) -> bool {
        self.gates
            .get(gate)
            .is_some_and(|&gate| self.inner.is_enabled_at(gate, targeting_key))
    }

    /// `is_enabled_at` for many keys: one byte (0 or 1) per key.
    #[wasm_bindgen(js_name = isEnabledMany)]
    pub fn is_enabled_many(&self, gate: usize, targeting_keys: Vec<String>) -> Vec<u8> {
        targeting_keys
            .iter()
            .map(|key| u8::from(self.is_enabled_at(gate, key)))
            .collect()
    }
}

fn context_from(value: JsValue) -> Result<Context, String> {
    if value.is_undefined() || value.is_null() {
        return Ok(Context::default());
    }
    let value: Value =
        serde_wasm_bindgen::from_value(value).map_err(|error| format!("context: {error}"))?;
    Context::from_value(value)
}

fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|error| JsError::new(&error.to_string()))
}
