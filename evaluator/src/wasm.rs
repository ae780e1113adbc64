//! The WebAssembly binding: a thin layer over the pure core, and the only code
//! that knows about wasm-bindgen. The npm package's `index.js` wraps it.
//!
//! Strings cross from JavaScript as UTF-8; a lone surrogate becomes U+FFFD, as
//! with `TextEncoder`.
//!
//! Two ways out: the general one returns whole answers as JavaScript objects
//! (serde-wasm-bindgen); the fast one returns a number per answer, an index into a
//! small table of outcomes that JavaScript fetches once each, plus the bucket.
//! Building objects field by field across the boundary costs microseconds; the
//! number costs nothing.

use serde::Serialize;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

use crate::context::Attribute;
use crate::model::FlagType;
use crate::{Attributes, Context, Evaluation, Gate, Reason};

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
        Err(message) => Evaluation::error(crate::ErrorCode::InvalidContext, message, 0),
    };
    to_js(&evaluation)
}

/// A packed answer that JavaScript must ask for in full (it carries an error).
const NOT_PACKED: u32 = u32::MAX;
/// Bits of a packed answer that hold the bucket + 1 (0: no bucket).
const BUCKET_BITS: u32 = 14;

#[wasm_bindgen]
pub struct Evaluator {
    inner: crate::Evaluator,
    gates: Vec<Gate>,
    /// (rollout, environment) pairs handed out as numbers.
    places: Vec<Place>,
    outcomes: Vec<Outcome>,
}

struct Place {
    rollout: String,
    environment: String,
    /// The attributes its constraints read, in the order `evaluateStrings` takes them.
    attributes: Vec<String>,
}

/// How many attribute values `evaluateStrings` takes; more go through JSON.
const STRING_ATTRIBUTES: usize = 4;

/// A targeting key and string values of a place's attributes, read without
/// building a `Context`.
struct Strings<'a> {
    key: &'a str,
    names: &'a [String],
    values: [Option<String>; STRING_ATTRIBUTES],
}

impl Attributes for Strings<'_> {
    fn targeting_key(&self) -> Option<&str> {
        Some(self.key)
    }

    fn attribute(&self, name: &str) -> Option<Attribute<'_>> {
        let i = self.names.iter().position(|known| known == name)?;
        self.values.get(i)?.as_deref().map(Attribute::Text)
    }
}

/// Everything of an answer but its bucket.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    #[serde(skip)]
    place: usize,
    values: Map<String, Value>,
    stage: Option<String>,
    in_rollout: bool,
    reason: Reason,
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
            places: Vec::new(),
            outcomes: Vec::new(),
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

    /// A number for a (rollout, environment) pair, for the packed calls.
    pub fn place(&mut self, rollout: &str, environment: &str) -> usize {
        let attributes = self.inner.attribute_names(rollout, environment);
        self.places.push(Place {
            rollout: rollout.to_string(),
            environment: environment.to_string(),
            attributes: attributes.into_iter().map(str::to_string).collect(),
        });
        self.places.len() - 1
    }

    /// The attributes answers at `place` read besides the targeting key.
    #[wasm_bindgen(js_name = attributeNames)]
    pub fn attribute_names(&self, place: usize) -> Vec<String> {
        self.places
            .get(place)
            .map(|place| place.attributes.clone())
            .unwrap_or_default()
    }

    /// Packed answer for a targeting key alone.
    #[wasm_bindgen(js_name = evaluateKey)]
    pub fn evaluate_key(&mut self, place: usize, targeting_key: &str) -> u32 {
        let key = crate::KeyOnly(targeting_key);
        packed(&self.inner, &self.places, &mut self.outcomes, place, &key)
    }

    /// Packed answer for a targeting key and string values (or nothing) for the
    /// place's attributes, in `attributeNames` order.
    #[wasm_bindgen(js_name = evaluateStrings)]
    pub fn evaluate_strings(
        &mut self,
        place: usize,
        targeting_key: &str,
        a: Option<String>,
        b: Option<String>,
        c: Option<String>,
        d: Option<String>,
    ) -> u32 {
        let Some(Place {
            attributes: names, ..
        }) = self.places.get(place)
        else {
            return NOT_PACKED;
        };
        let strings = Strings {
            key: targeting_key,
            names,
            values: [a, b, c, d],
        };
        packed(
            &self.inner,
            &self.places,
            &mut self.outcomes,
            place,
            &strings,
        )
    }

    /// Packed answer for a context given as JSON text.
    #[wasm_bindgen(js_name = evaluateJson)]
    pub fn evaluate_json(&mut self, place: usize, context: &str) -> u32 {
        match serde_json::from_str::<Context>(context) {
            Ok(context) => packed(
                &self.inner,
                &self.places,
                &mut self.outcomes,
                place,
                &context,
            ),
            Err(_) => NOT_PACKED,
        }
    }

    /// The outcome a packed answer points to: values, stage, inRollout, reason.
    pub fn outcome(&self, id: usize) -> Result<JsValue, JsError> {
        to_js(&self.outcomes.get(id))
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

/// `outcome id << 14 | (bucket + 1)`, or NOT_PACKED for answers with an error.
fn packed(
    inner: &crate::Evaluator,
    places: &[Place],
    outcomes: &mut Vec<Outcome>,
    place: usize,
    context: &(impl Attributes + ?Sized),
) -> u32 {
    let Some(Place {
        rollout,
        environment,
        ..
    }) = places.get(place)
    else {
        return NOT_PACKED;
    };
    let answer = inner.evaluate_with(rollout, environment, context);
    if answer.error_code.is_some() {
        return NOT_PACKED;
    }
    let stage = answer.stage.as_deref();
    let found = outcomes.iter().position(|known| {
        known.place == place
            && known.in_rollout == answer.in_rollout
            && known.reason == answer.reason
            && known.stage.as_deref() == stage
    });
    let id = match found {
        Some(id) => id,
        None => {
            outcomes.push(Outcome {
                place,
                values: answer.values.clone().into_owned(),
                stage: stage.map(str::to_string),
                in_rollout: answer.in_rollout,
                reason: answer.reason,
            });
            outcomes.len() - 1
        }
    };
    let bucket = answer.bucket.map_or(0, |bucket| u32::from(bucket) + 1);
    (id as u32) << BUCKET_BITS | bucket
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
