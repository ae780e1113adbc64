//! Answers as numbers, for a caller across a boundary where strings and objects
//! cost more than the evaluation itself (the npm package; `wasm` is its glue).
//!
//! A (rollout, environment) pair is numbered once (a "place"); the fast calls
//! take the number instead of the two names. Their answer is one `u32`: an index
//! into a table of outcomes (everything of an answer but its bucket, fetched
//! once each) and the bucket. Boolean flags get handles the same way ("gates").
//! Unknown names are never numbered: they may come from anywhere, and must not
//! grow the tables.

use crate::context::{Attribute, Attributes, KeyOnly};
use crate::evaluate::{Decision, Evaluation, Evaluator, Gate, Place};

/// A packed answer that must be asked for in full (it carries an error).
pub const NOT_PACKED: u32 = u32::MAX;
/// Bits of a packed answer that hold the bucket + 1 (0: no bucket); the outcome's
/// index is above them.
pub const BUCKET_BITS: u32 = 14;
/// How many attribute values `evaluate_strings` takes; more go as a context.
pub const STRING_ATTRIBUTES: usize = 3;

/// An [`Evaluator`] with numbered places, packed answers and gate handles.
///
/// The methods the wasm glue calls once each are `#[inline]`: at `opt-level = "z"`
/// they would otherwise stay calls, with their `Option`s passed through memory.
pub struct PackedEvaluator {
    inner: Evaluator,
    gates: Vec<Gate>,
    /// (rollout, environment) pairs handed out as numbers.
    places: Vec<Numbered>,
    /// The last unknown pair asked for (rollout, environment): kept once, not
    /// numbered, so that names from anywhere cannot grow `places`.
    unknown: (String, String),
    outcomes: Vec<Outcome>,
}

struct Numbered {
    at: Place,
    rollout: String,
    environment: String,
    /// The attributes its constraints read, in the order `evaluate_strings` takes them.
    attributes: Vec<String>,
}

/// A targeting key and string values of a place's attributes, read without
/// building a `Context`.
struct Strings<'a> {
    key: &'a str,
    names: &'a [String],
    values: [Option<&'a str>; STRING_ATTRIBUTES],
}

impl Attributes for Strings<'_> {
    fn targeting_key(&self) -> Option<&str> {
        Some(self.key)
    }

    fn attribute(&self, name: &str) -> Option<Attribute<'_>> {
        let i = self.names.iter().position(|known| known == name)?;
        self.values.get(i)?.map(Attribute::Text)
    }
}

/// Everything of an answer but its bucket (which is left out), and where.
struct Outcome {
    place: usize,
    /// How it was decided (no bucket): what finds it again.
    decision: Decision,
    answer: Evaluation<'static>,
}

impl PackedEvaluator {
    pub fn new(inner: Evaluator) -> Self {
        PackedEvaluator {
            inner,
            gates: Vec::new(),
            places: Vec::new(),
            unknown: (String::new(), String::new()),
            outcomes: Vec::new(),
        }
    }

    /// The evaluator, for the calls that answer in full.
    pub fn evaluator(&self) -> &Evaluator {
        &self.inner
    }

    /// Numbers a (rollout, environment) pair: the first pair is 0, the next 1,
    /// and so on. Answers the names its constraints read besides the targeting
    /// key, in the order `evaluate_strings` takes them; or none for an unknown
    /// pair, which any number no pair has then stands for. (A `&Vec`: the wasm
    /// glue writes it as JSON, and a slice there costs the package bytes.)
    #[inline]
    pub fn place(&mut self, rollout: &str, environment: &str) -> Option<&Vec<String>> {
        let (rollout, environment) = (rollout.to_string(), environment.to_string());
        let Some(at) = self.inner.place(&rollout, &environment) else {
            self.unknown = (rollout, environment);
            return None;
        };
        let attributes = (self
            .inner
            .attribute_names(&rollout, &environment)
            .iter()
            .flatten())
        .map(|name| name.to_string())
        .collect();
        self.places.push(Numbered {
            at,
            rollout,
            environment,
            attributes,
        });
        self.places.last().map(|place| &place.attributes)
    }

    /// The rollout and environment of a place (of the last unknown pair, for a
    /// number no place has).
    pub fn names(&self, place: usize) -> (&str, &str) {
        match self.places.get(place) {
            Some(place) => (&place.rollout, &place.environment),
            None => (&self.unknown.0, &self.unknown.1),
        }
    }

    /// Packed answer for a targeting key alone.
    #[inline]
    pub fn evaluate_key(&mut self, place: usize, targeting_key: &str) -> u32 {
        let key = KeyOnly(targeting_key);
        packed(&self.inner, &self.places, &mut self.outcomes, place, &key)
    }

    /// Packed answer for a targeting key and string values (or nothing) for the
    /// place's attributes, in the order `place` named them.
    #[inline]
    pub fn evaluate_strings(
        &mut self,
        place: usize,
        targeting_key: &str,
        values: [Option<&str>; STRING_ATTRIBUTES],
    ) -> u32 {
        let Some(Numbered {
            attributes: names, ..
        }) = self.places.get(place)
        else {
            return NOT_PACKED;
        };
        let strings = Strings {
            key: targeting_key,
            names,
            values,
        };
        packed(
            &self.inner,
            &self.places,
            &mut self.outcomes,
            place,
            &strings,
        )
    }

    /// Packed answer for any context.
    #[inline]
    pub fn evaluate_packed(&mut self, place: usize, context: &dyn Attributes) -> u32 {
        packed(
            &self.inner,
            &self.places,
            &mut self.outcomes,
            place,
            context,
        )
    }

    /// The outcome a packed answer points to (`packed >> BUCKET_BITS`): values,
    /// stage, in rollout, reason; no bucket.
    pub fn outcome(&self, id: usize) -> Option<&Evaluation<'static>> {
        self.outcomes.get(id).map(|outcome| &outcome.answer)
    }

    /// A handle for a (rollout, boolean flag, environment) triple; none for an
    /// unknown one (which is not kept).
    #[inline]
    pub fn gate(&mut self, rollout: &str, flag: &str, environment: &str) -> Option<usize> {
        let gate = self.inner.gate(rollout, flag, environment)?;
        self.gates.push(gate);
        Some(self.gates.len() - 1)
    }

    /// Whether the flag of a gate is on for `targeting_key`; false for a handle
    /// no gate has.
    #[inline(always)]
    pub fn is_enabled_at(&self, gate: usize, targeting_key: &str) -> bool {
        self.gates
            .get(gate)
            .is_some_and(|&gate| self.inner.is_enabled_at(gate, targeting_key))
    }
}

/// `outcome id << 14 | (bucket + 1)`, or NOT_PACKED for answers with an error.
fn packed(
    inner: &Evaluator,
    places: &[Numbered],
    outcomes: &mut Vec<Outcome>,
    place: usize,
    context: &dyn Attributes,
) -> u32 {
    let Some(&Numbered { at, .. }) = places.get(place) else {
        return NOT_PACKED;
    };
    let Some(decision) = inner.decide_at(at, context) else {
        return NOT_PACKED;
    };
    let bucket = decision.bucket.map_or(0, |bucket| u32::from(bucket) + 1);
    let decision = Decision {
        bucket: None,
        ..decision
    };
    let found =
        (outcomes.iter()).position(|known| known.place == place && known.decision == decision);
    let id = match found {
        Some(id) => id,
        // Once per outcome: the whole answer, decided the same way again.
        None => {
            let answer = Evaluation {
                bucket: None,
                ..inner.evaluate_at(at, context).into_owned()
            };
            outcomes.push(Outcome {
                place,
                decision,
                answer,
            });
            outcomes.len() - 1
        }
    };
    (id as u32) << BUCKET_BITS | bucket
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::evaluate::Reason;

    // "web" (a constraint on platform and appVersion) at 50%, "all" at 100% on
    // staging and no stage in production, "other" (another flag) the same on staging.
    const PLAN: &str = r#"{"schemaVersion": 1, "revision": 7, "rollouts": {
        "web": {
            "flags": {"on": {"type": "boolean", "fallback": false}},
            "stages": [{"id": "half", "name": "50%", "percentage": 50, "values": {"on": true}}],
            "environments": {"production": {"activeStage": "half", "constraints": [
                {"attribute": "platform", "operator": "in", "values": ["web"]},
                {"attribute": "appVersion", "operator": "semverGte", "value": "3.0.0"}]}}},
        "all": {
            "flags": {"on": {"type": "boolean", "fallback": false}},
            "stages": [{"id": "full", "name": "100%", "percentage": 100, "values": {"on": true}}],
            "environments": {"staging": {"activeStage": "full"}, "production": {"activeStage": null}}},
        "other": {
            "flags": {"other": {"type": "boolean", "fallback": false}},
            "stages": [{"id": "full", "name": "100%", "percentage": 100, "values": {"other": true}}],
            "environments": {"staging": {"activeStage": "full"}}}}}"#;

    fn packed() -> PackedEvaluator {
        PackedEvaluator::new(Evaluator::from_json(PLAN).unwrap())
    }

    /// The outcome's id and the bucket of a packed answer (as index.js reads it).
    fn unpack(answer: u32) -> (usize, Option<u16>) {
        let bucket = answer & ((1 << BUCKET_BITS) - 1);
        let bucket = bucket.checked_sub(1).map(|bucket| bucket as u16);
        ((answer >> BUCKET_BITS) as usize, bucket)
    }

    #[test]
    fn known_pairs_are_numbered_in_order_and_unknown_ones_are_not_kept() {
        let mut packed = packed();
        let names = |attributes: Option<&Vec<String>>| attributes.cloned();
        assert_eq!(names(packed.place("all", "staging")), Some(vec![]));
        assert_eq!(names(packed.place("nope", "staging")), None);
        assert_eq!(
            names(packed.place("web", "production")),
            Some(vec!["platform".to_string(), "appVersion".to_string()])
        );
        assert_eq!(names(packed.place("all", "qa")), None);
        assert_eq!(packed.names(0), ("all", "staging"));
        assert_eq!(packed.names(1), ("web", "production"));
        // A number no pair has stands for the last unknown pair.
        assert_eq!(packed.names(2), ("all", "qa"));
        assert_eq!(packed.names(usize::MAX), ("all", "qa"));
        assert_eq!(packed.evaluate_key(2, "user-1"), NOT_PACKED);
    }

    #[test]
    fn a_packed_answer_is_its_outcome_and_its_bucket() {
        let mut packed = packed();
        let places = [
            ("all", "staging"),
            ("all", "production"),
            ("other", "staging"),
        ];
        for (rollout, environment) in places {
            packed.place(rollout, environment);
        }
        let evaluator = Evaluator::from_json(PLAN).unwrap();
        for (place, (rollout, environment)) in places.into_iter().enumerate() {
            assert_eq!(packed.names(place), (rollout, environment));
            for i in 0..200 {
                let key = format!("user-{i}");
                let (id, bucket) = unpack(packed.evaluate_key(place, &key));
                let full = evaluator.evaluate(rollout, environment, &Context::new(&*key));
                assert_eq!(bucket, full.bucket, "{key}");
                let outcome = packed.outcome(id).unwrap();
                assert_eq!(
                    *outcome,
                    Evaluation {
                        bucket: None,
                        ..full
                    }
                );
            }
        }
        // One outcome per place here (everyone in at 100%, no stage in
        // production); "other" answers as "all" does on staging, with other values.
        assert_eq!(packed.outcomes.len(), 3);
        assert_eq!(packed.outcome(0).unwrap().reason, Reason::Split);
        assert_eq!(packed.outcome(1).unwrap().reason, Reason::Default);
        assert!(packed.outcome(3).is_none());
    }

    #[test]
    fn string_attributes_answer_as_a_context_with_them_would() {
        let mut packed = packed();
        packed.place("web", "production");
        let evaluator = Evaluator::from_json(PLAN).unwrap();
        let cases = [
            (Some("web"), Some("3.1.0")),
            (Some("web"), Some("2.9.9")),
            (Some("ios"), Some("3.1.0")),
            (None, Some("3.1.0")),
            (Some("web"), None),
        ];
        for (platform, version) in cases {
            for i in 0..50 {
                let key = format!("user-{i}");
                let values = [platform, version, None];
                let answer = packed.evaluate_strings(0, &key, values);
                let mut context = Context::new(&*key);
                if let Some(platform) = platform {
                    context = context.with("platform", platform);
                }
                if let Some(version) = version {
                    context = context.with("appVersion", version);
                }
                let full = evaluator.evaluate("web", "production", &context);
                let (id, bucket) = unpack(answer);
                assert_eq!(bucket, full.bucket);
                assert_eq!(packed.outcome(id).unwrap().in_rollout, full.in_rollout);
                assert_eq!(packed.outcome(id).unwrap().reason, full.reason);
                assert_eq!(packed.evaluate_packed(0, &context), answer);
            }
        }
        // Split in or out, or not matched: three outcomes, however many units.
        assert_eq!(packed.outcomes.len(), 3);
        assert_eq!(
            packed.evaluate_strings(1, "user-1", [None, None, None]),
            NOT_PACKED
        );
    }

    #[test]
    fn answers_with_an_error_are_not_packed() {
        let mut packed = packed();
        packed.place("all", "staging");
        // A stage is active and there is no targeting key.
        assert_eq!(packed.evaluate_packed(0, &Context::default()), NOT_PACKED);
        assert!(packed.outcomes.is_empty());
    }

    #[test]
    fn gates_are_numbered_and_unknown_ones_are_not_kept() {
        let mut packed = packed();
        assert_eq!(packed.gate("all", "on", "staging"), Some(0));
        assert_eq!(packed.gate("all", "off", "staging"), None);
        assert_eq!(packed.gate("all", "on", "production"), Some(1));
        assert_eq!(packed.gates.len(), 2);
        assert!(packed.is_enabled_at(0, "user-1"));
        assert!(!packed.is_enabled_at(1, "user-1"));
        assert!(!packed.is_enabled_at(2, "user-1"));
    }
}
