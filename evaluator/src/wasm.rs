//! The WebAssembly binding: a thin layer over the pure core, and the only code
//! that knows about wasm-bindgen. The npm package's `index.js` wraps it.
//!
//! Strings cross from JavaScript as UTF-8; a lone surrogate becomes U+FFFD, as
//! with `TextEncoder`.
//!
//! Contexts come in as JSON text (`JSON.stringify`); answers go out as JSON text
//! (`JSON.parse`), written by the crate's own JSON writer: no serde in the
//! package, which keeps it small. The fast path returns a number per answer, an
//! index into a small table of outcomes that JavaScript fetches once each, plus
//! the bucket: building an object per call would cost more than the evaluation.
//!
//! Comments here are `//`, not `///`: wasm-bindgen copies doc comments into the
//! glue JavaScript, which ships; the package's documented API is index.d.ts.

use wasm_bindgen::prelude::*;

use crate::context::Attribute;
use crate::json::WriteJson;
use crate::model::FlagType;
use crate::{Attributes, Context, Evaluation, Gate};

// Talc instead of the default dlmalloc: 7 KB less wasm, for a few ns more per call.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

// The bucket (0..=9999) of `unit` under `salt`.
#[wasm_bindgen]
pub fn bucket(salt: &str, unit: &str) -> u16 {
    crate::bucket(salt, unit)
}

// Evaluates against a plan given as JSON text, without preparing it; never throws.
#[wasm_bindgen(js_name = evaluateOnce)]
pub fn evaluate_once(plan: &str, rollout: &str, environment: &str, context: &str) -> String {
    let evaluation = match context_from(context) {
        Ok(context) => crate::evaluate_once(plan, rollout, environment, &context),
        Err(message) => Evaluation::error(crate::ErrorCode::InvalidContext, message, 0),
    };
    json(&evaluation)
}

// A packed answer that JavaScript must ask for in full (it carries an error).
const NOT_PACKED: u32 = u32::MAX;
// Bits of a packed answer that hold the bucket + 1 (0: no bucket).
const BUCKET_BITS: u32 = 14;

#[wasm_bindgen]
pub struct Evaluator {
    inner: crate::Evaluator,
    gates: Vec<Gate>,
    // (rollout, environment) pairs handed out as numbers.
    places: Vec<Place>,
    // The last unknown pair asked for: kept once, not numbered, so that names
    // from anywhere cannot grow `places`.
    unknown: Place,
    outcomes: Vec<Outcome>,
}

struct Place {
    rollout: String,
    environment: String,
    // The attributes its constraints read, in the order `evaluateStrings` takes them.
    attributes: Vec<String>,
}

// How many attribute values `evaluateStrings` takes; more go through JSON.
const STRING_ATTRIBUTES: usize = 3;

// A targeting key and string values of a place's attributes, read without
// building a `Context`.
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

// Everything of an answer but its bucket (which is left out), and where.
struct Outcome {
    place: usize,
    answer: Evaluation<'static>,
}

#[wasm_bindgen]
impl Evaluator {
    // Parses, validates and prepares a plan; none if it has problems (the error
    // message of `evaluateOnce` lists them: JavaScript throws its own Error, which
    // costs less wasm than a JsError).
    pub fn load(plan: &str) -> Option<Evaluator> {
        Some(Evaluator {
            inner: crate::Evaluator::from_json(plan).ok()?,
            gates: Vec::new(),
            places: Vec::new(),
            unknown: Place {
                rollout: String::new(),
                environment: String::new(),
                attributes: Vec::new(),
            },
            outcomes: Vec::new(),
        })
    }

    #[wasm_bindgen(getter)]
    pub fn revision(&self) -> f64 {
        self.inner.revision() as f64
    }

    // Numbers a (rollout, environment) pair for the other calls, which take the
    // number instead of the two names: the first pair is 0, the next 1, and so
    // on. Answers the names its constraints read besides the targeting key (a
    // JSON array), in the order `evaluateStrings` takes them; or null for an
    // unknown pair, which any number no pair has then stands for.
    pub fn place(&mut self, rollout: &str, environment: &str) -> String {
        let known = self.inner.attribute_names(rollout, environment);
        let place = Place {
            rollout: rollout.to_string(),
            environment: environment.to_string(),
            attributes: (known.iter().flatten())
                .map(|name| name.to_string())
                .collect(),
        };
        match known {
            None => {
                self.unknown = place;
                "null".to_string()
            }
            Some(_) => {
                let out = json(&place.attributes);
                self.places.push(place);
                out
            }
        }
    }

    // Every flag's value for `context` (JSON text; none: it could not be
    // written as JSON); a malformed context is an INVALID_CONTEXT answer.
    pub fn evaluate(&self, place: usize, context: &str) -> String {
        let (rollout, environment) = self.names(place);
        match context_from(context) {
            Ok(context) => json(&self.inner.evaluate(rollout, environment, &context)),
            Err(message) => json(&self.inner.invalid_context(rollout, message)),
        }
    }

    // Packed answer for a targeting key alone.
    #[wasm_bindgen(js_name = evaluateKey)]
    pub fn evaluate_key(&mut self, place: usize, targeting_key: &str) -> u32 {
        let key = crate::KeyOnly(targeting_key);
        packed(&self.inner, &self.places, &mut self.outcomes, place, &key)
    }

    // Packed answer for a targeting key and string values (or nothing) for the
    // place's attributes, in `attributeNames` order.
    #[wasm_bindgen(js_name = evaluateStrings)]
    pub fn evaluate_strings(
        &mut self,
        place: usize,
        targeting_key: &str,
        a: Option<String>,
        b: Option<String>,
        c: Option<String>,
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
            values: [a, b, c],
        };
        packed(
            &self.inner,
            &self.places,
            &mut self.outcomes,
            place,
            &strings,
        )
    }

    // Packed answer for a context given as JSON text.
    #[wasm_bindgen(js_name = evaluateJson)]
    pub fn evaluate_json(&mut self, place: usize, context: &str) -> u32 {
        match Context::from_json(context) {
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

    // The outcome a packed answer points to: values, stage, inRollout, reason.
    pub fn outcome(&self, id: usize) -> String {
        json(&self.outcomes.get(id).map(|outcome| &outcome.answer))
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
        let (rollout, environment) = self.names(place);
        let expected = match flag_type
            .as_deref()
            .map(|name| (name, FlagType::from_name(name)))
        {
            None => None,
            Some((_, Some(kind))) => Some(kind),
            Some((name, None)) => {
                let message =
                    format!("'{name}' is not a flag type (boolean, string, number, json)");
                let revision = self.inner.revision();
                let answer =
                    crate::Resolution::error(crate::ErrorCode::TypeMismatch, message, revision);
                return json(&answer);
            }
        };
        match context_from(context) {
            Ok(context) => {
                json(
                    &self
                        .inner
                        .resolve(rollout, flag, environment, &context, expected),
                )
            }
            Err(message) => json(&crate::Resolution::error(
                crate::ErrorCode::InvalidContext,
                message,
                self.inner.revision(),
            )),
        }
    }

    // A handle for a (rollout, boolean flag, environment) triple, or -1.
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
}

impl Evaluator {
    // The rollout and environment of a place (of the last unknown pair, for a
    // number no place has).
    fn names(&self, place: usize) -> (&str, &str) {
        let place = self.places.get(place).unwrap_or(&self.unknown);
        (&place.rollout, &place.environment)
    }
}

// `outcome id << 14 | (bucket + 1)`, or NOT_PACKED for answers with an error.
fn packed(
    inner: &crate::Evaluator,
    places: &[Place],
    outcomes: &mut Vec<Outcome>,
    place: usize,
    context: &dyn Attributes,
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
    let found = outcomes.iter().position(|known| {
        known.place == place
            && known.answer.in_rollout == answer.in_rollout
            && known.answer.reason == answer.reason
            && known.answer.stage == answer.stage
    });
    let bucket = answer.bucket.map_or(0, |bucket| u32::from(bucket) + 1);
    let id = match found {
        Some(id) => id,
        None => {
            let answer = Evaluation {
                bucket: None,
                ..answer.into_owned()
            };
            outcomes.push(Outcome { place, answer });
            outcomes.len() - 1
        }
    };
    (id as u32) << BUCKET_BITS | bucket
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
