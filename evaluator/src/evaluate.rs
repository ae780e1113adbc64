//! Evaluation: who is in the rollout, and which values they get.
//!
//! An [`Evaluator`] is built once from a plan (parsed, validated, indexed); each
//! evaluation is then a few lookups and one hash, with no allocation on the way to
//! a decision.

use std::borrow::Cow;

use crate::json::{Map, Object, Value, WriteJson};

use crate::bucket::{Salt, basis_points};
use crate::context::{Attribute, Attributes, Context, KeyOnly};
use crate::load::{parse_plan, plan_from_value, read_plan};
use crate::model::{Constraint, FlagType, Operator, Plan};
use crate::problem::Invalid;
use crate::semver::{OwnedVersion, Version};
use crate::sort::SortedSet;

/// Why a unit got the values it got (OpenFeature's resolution reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "SCREAMING_SNAKE_CASE"))]
pub enum Reason {
    /// Decided by the unit's bucket against the active stage's percentage.
    Split,
    /// Decided by an include or exclude list, or a constraint.
    TargetingMatch,
    /// The environment's kill switch is on: everyone gets the fallbacks.
    Disabled,
    /// No active stage: everyone gets the fallbacks.
    Default,
    /// Something was wrong; see the error code. Everyone gets the fallbacks.
    Error,
}

/// OpenFeature's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "SCREAMING_SNAKE_CASE"))]
pub enum ErrorCode {
    /// Unknown rollout, environment or flag.
    FlagNotFound,
    /// The plan could not be read (not JSON, or the wrong shape).
    ParseError,
    /// A flag was asked for as a type it is not.
    TypeMismatch,
    /// A stage is active and the context has no targeting key.
    TargetingKeyMissing,
    /// The context, or an attribute a constraint needs, is malformed.
    InvalidContext,
    /// The plan was read but breaks the rules (see the message).
    General,
}

/// The answer for one unit in one rollout and environment.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Evaluation<'a> {
    /// Every flag of the rollout (none when the rollout is unknown).
    pub values: Cow<'a, Map>,
    /// The environment's active stage, when one applies.
    pub stage: Option<Cow<'a, str>>,
    /// The unit's bucket (0..=9999), when there is a unit and an active stage.
    #[cfg_attr(feature = "schema", schemars(range(max = 9999)))]
    pub bucket: Option<u16>,
    /// Whether the unit gets the active stage's values.
    pub in_rollout: bool,
    pub reason: Reason,
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<String>,
    /// The plan revision this was computed from.
    pub revision: u64,
}

impl Evaluation<'_> {
    pub fn into_owned(self) -> Evaluation<'static> {
        Evaluation {
            values: Cow::Owned(self.values.into_owned()),
            stage: self.stage.map(|stage| Cow::Owned(stage.into_owned())),
            bucket: self.bucket,
            in_rollout: self.in_rollout,
            reason: self.reason,
            error_code: self.error_code,
            error_message: self.error_message,
            revision: self.revision,
        }
    }

    /// An error with no values at all (no plan, or an unknown rollout).
    pub fn error(
        code: ErrorCode,
        message: impl Into<String>,
        revision: u64,
    ) -> Evaluation<'static> {
        Evaluation {
            values: Cow::Owned(Map::new()),
            stage: None,
            bucket: None,
            in_rollout: false,
            reason: Reason::Error,
            error_code: Some(code),
            error_message: Some(message.into()),
            revision,
        }
    }
}

/// One flag's answer, for callers that want a single typed value (OpenFeature's
/// `resolveBooleanEvaluation` and friends).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Resolution<'a> {
    /// The flag's value, or `None` on an error (the caller uses its own default).
    pub value: Option<Cow<'a, Value>>,
    pub stage: Option<Cow<'a, str>>,
    pub bucket: Option<u16>,
    pub in_rollout: bool,
    pub reason: Reason,
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<String>,
    pub revision: u64,
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::json::deserialize_named(deserializer, &Reason::ALL, Reason::name)
    }
}

impl Reason {
    pub const ALL: [Reason; 5] = [
        Reason::Split,
        Reason::TargetingMatch,
        Reason::Disabled,
        Reason::Default,
        Reason::Error,
    ];

    /// The name on the wire (OpenFeature's).
    pub fn name(self) -> &'static str {
        match self {
            Reason::Split => "SPLIT",
            Reason::TargetingMatch => "TARGETING_MATCH",
            Reason::Disabled => "DISABLED",
            Reason::Default => "DEFAULT",
            Reason::Error => "ERROR",
        }
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::json::deserialize_named(deserializer, &ErrorCode::ALL, ErrorCode::name)
    }
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 6] = [
        ErrorCode::FlagNotFound,
        ErrorCode::ParseError,
        ErrorCode::TypeMismatch,
        ErrorCode::TargetingKeyMissing,
        ErrorCode::InvalidContext,
        ErrorCode::General,
    ];

    /// The name on the wire (OpenFeature's).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorCode::ParseError => "PARSE_ERROR",
            ErrorCode::TypeMismatch => "TYPE_MISMATCH",
            ErrorCode::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            ErrorCode::InvalidContext => "INVALID_CONTEXT",
            ErrorCode::General => "GENERAL",
        }
    }
}

impl WriteJson for Reason {
    fn write_json(&self, out: &mut String) {
        self.name().write_json(out);
    }
}

impl WriteJson for ErrorCode {
    fn write_json(&self, out: &mut String) {
        self.name().write_json(out);
    }
}

/// The same JSON as serde writes, without serde (the npm package's way out).
impl WriteJson for Evaluation<'_> {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::open(out);
        object
            .field("values", &self.values)
            .field("stage", &self.stage)
            .field("bucket", &self.bucket)
            .field("inRollout", &self.in_rollout)
            .field("reason", &self.reason)
            .field("errorCode", &self.error_code)
            .field("errorMessage", &self.error_message)
            .field("revision", &self.revision);
        object.close();
    }
}

impl WriteJson for Resolution<'_> {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::open(out);
        object
            .field("value", &self.value)
            .field("stage", &self.stage)
            .field("bucket", &self.bucket)
            .field("inRollout", &self.in_rollout)
            .field("reason", &self.reason)
            .field("errorCode", &self.error_code)
            .field("errorMessage", &self.error_message)
            .field("revision", &self.revision);
        object.close();
    }
}

impl Resolution<'_> {
    /// An error answer: no value (the caller uses its own default).
    pub fn error(
        code: ErrorCode,
        message: impl Into<String>,
        revision: u64,
    ) -> Resolution<'static> {
        Resolution {
            value: None,
            stage: None,
            bucket: None,
            in_rollout: false,
            reason: Reason::Error,
            error_code: Some(code),
            error_message: Some(message.into()),
            revision,
        }
    }
}

/// A prepared plan. Cheap to query from many threads at once.
#[derive(Debug)]
pub struct Evaluator {
    plan: Plan,
    /// Linear scans: plans have a handful of rollouts, environments and flags, and a
    /// scan of a few short strings beats hashing them.
    rollouts: Vec<PreparedRollout>,
}

#[derive(Debug)]
struct PreparedRollout {
    key: String,
    salt: Salt,
    flags: Vec<(String, FlagType)>,
    fallbacks: Map,
    /// Per flag (in `flags` order): whether the fallback is `true`.
    fallback_on: Vec<bool>,
    stages: Vec<PreparedStage>,
    environments: Vec<PreparedEnvironment>,
}

#[derive(Debug)]
struct PreparedStage {
    id: String,
    points: u16,
    /// The fallbacks with this stage's values over them.
    values: Map,
    /// Per flag: whether the value is `true`.
    on: Vec<bool>,
}

#[derive(Debug)]
struct PreparedEnvironment {
    name: String,
    active_stage: Option<usize>,
    kill_switch: bool,
    include: SortedSet,
    exclude: SortedSet,
    /// Whether either list has a unit: most have none, and the fast path then
    /// skips two calls.
    listed: bool,
    constraints: Vec<PreparedConstraint>,
}

#[derive(Debug)]
enum PreparedConstraint {
    In {
        attribute: String,
        values: SortedSet,
        negate: bool,
    },
    Semver {
        attribute: String,
        operator: Operator,
        version: OwnedVersion,
    },
}

/// Indices of a (rollout, environment) pair, looked up once for the `_at` calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    rollout: u32,
    environment: u32,
}

/// Indices of a (rollout, flag, environment) triple, for [`Evaluator::is_enabled_at`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    place: Place,
    flag: u32,
}

/// How a unit was decided, before values are attached: an answer without an
/// error, its stage as an index into the rollout's stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub stage: Option<usize>,
    pub in_rollout: bool,
    pub bucket: Option<u16>,
    pub reason: Reason,
}

/// Why a unit could not be decided.
struct Failure {
    code: ErrorCode,
    message: String,
}

impl Evaluator {
    /// Parses, validates and prepares a plan from JSON text.
    pub fn from_json(text: &str) -> Result<Self, Invalid> {
        Ok(Self::new(parse_plan(text)?))
    }

    /// Validates and prepares a plan from a JSON value.
    pub fn from_value(value: Value) -> Result<Self, Invalid> {
        Ok(Self::new(plan_from_value(value)?))
    }

    /// Validates and prepares a plan.
    pub fn from_plan(plan: Plan) -> Result<Self, Invalid> {
        let problems = crate::validate::validate(&plan);
        if problems.is_empty() {
            Ok(Self::new(plan))
        } else {
            Err(Invalid(problems))
        }
    }

    /// Prepares a plan that has been validated.
    fn new(plan: Plan) -> Self {
        let mut rollouts = Vec::with_capacity(plan.rollouts.len());
        for (key, rollout) in &plan.rollouts {
            // The flags' own order and names, known distinct: no need to check again.
            let fallbacks = Map {
                entries: (rollout.flags.iter())
                    .map(|(name, flag)| (name.clone(), flag.fallback.clone()))
                    .collect(),
            };
            let on = |values: &Map| -> Vec<bool> {
                rollout
                    .flags
                    .keys()
                    .map(|name| values.get(name) == Some(&Value::Bool(true)))
                    .collect()
            };
            let stages: Vec<PreparedStage> = rollout
                .stages
                .iter()
                .map(|stage| {
                    let mut values = fallbacks.clone();
                    for (name, value) in &stage.values {
                        values.insert(name.clone(), value.clone());
                    }
                    PreparedStage {
                        id: stage.id.clone(),
                        points: basis_points(&stage.percentage).unwrap_or(0),
                        on: on(&values),
                        values,
                    }
                })
                .collect();
            let environments: Vec<PreparedEnvironment> = rollout
                .environments
                .iter()
                .map(|(name, env)| PreparedEnvironment {
                    name: name.clone(),
                    active_stage: env
                        .active_stage
                        .as_ref()
                        .and_then(|id| stages.iter().position(|s| &s.id == id)),
                    kill_switch: env.kill_switch,
                    include: SortedSet::new(&env.include),
                    exclude: SortedSet::new(&env.exclude),
                    listed: !(env.include.is_empty() && env.exclude.is_empty()),
                    constraints: env
                        .constraints
                        .iter()
                        .filter_map(prepare_constraint)
                        .collect(),
                })
                .collect();
            rollouts.push(PreparedRollout {
                key: key.clone(),
                salt: Salt::new(rollout.salt(key)),
                flags: rollout
                    .flags
                    .iter()
                    .map(|(name, flag)| (name.clone(), flag.kind))
                    .collect(),
                fallback_on: on(&fallbacks),
                fallbacks,
                stages,
                environments,
            });
        }
        Evaluator { plan, rollouts }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn revision(&self) -> u64 {
        self.plan.revision
    }

    /// Every flag's value for `context` in `rollout` and `environment`.
    pub fn evaluate(&self, rollout: &str, environment: &str, context: &Context) -> Evaluation<'_> {
        self.evaluate_with(rollout, environment, context)
    }

    /// `evaluate` for any source of a targeting key and attributes.
    pub fn evaluate_with(
        &self,
        rollout: &str,
        environment: &str,
        context: &dyn Attributes,
    ) -> Evaluation<'_> {
        let revision = self.plan.revision;
        let Some(prepared) = self.rollout(rollout) else {
            return Evaluation::error(
                ErrorCode::FlagNotFound,
                format!("rollout '{rollout}' not found"),
                revision,
            );
        };
        let decision = match prepared.environment(environment) {
            None => Err(Failure {
                code: ErrorCode::FlagNotFound,
                message: format!("environment '{environment}' not found in rollout '{rollout}'"),
            }),
            Some(env) => decide_any(prepared, env, context),
        };
        self.answer(prepared, decision)
    }

    /// `evaluate` at a place looked up before (a place of another evaluator
    /// answers FLAG_NOT_FOUND or another pair's answer).
    pub fn evaluate_at(&self, place: Place, context: &dyn Attributes) -> Evaluation<'_> {
        match self.prepared(place) {
            Some((prepared, env)) => self.answer(prepared, decide_any(prepared, env, context)),
            None => Evaluation::error(
                ErrorCode::FlagNotFound,
                "place not found",
                self.plan.revision,
            ),
        }
    }

    /// How `evaluate_at` decides, without its values; none when it answers an error.
    pub fn decide_at(&self, place: Place, context: &dyn Attributes) -> Option<Decision> {
        let (prepared, env) = self.prepared(place)?;
        decide_any(prepared, env, context).ok()
    }

    fn answer<'a>(
        &'a self,
        prepared: &'a PreparedRollout,
        decision: Result<Decision, Failure>,
    ) -> Evaluation<'a> {
        let revision = self.plan.revision;
        match decision {
            Ok(Decision {
                stage,
                in_rollout,
                bucket,
                reason,
            }) => {
                let stage = stage.map(|i| &prepared.stages[i]);
                let values = match stage {
                    Some(stage) if in_rollout => &stage.values,
                    _ => &prepared.fallbacks,
                };
                Evaluation {
                    values: Cow::Borrowed(values),
                    stage: stage.map(|stage| Cow::Borrowed(stage.id.as_str())),
                    bucket,
                    in_rollout,
                    reason,
                    error_code: None,
                    error_message: None,
                    revision,
                }
            }
            Err(Failure { code, message }) => Evaluation {
                values: Cow::Borrowed(&prepared.fallbacks),
                stage: None,
                bucket: None,
                in_rollout: false,
                reason: Reason::Error,
                error_code: Some(code),
                error_message: Some(message),
                revision,
            },
        }
    }

    /// Evaluates with a context given as JSON; a malformed context is an
    /// `INVALID_CONTEXT` answer, never an error.
    pub fn evaluate_value(
        &self,
        rollout: &str,
        environment: &str,
        context: Value,
    ) -> Evaluation<'_> {
        match Context::from_value(context) {
            Ok(context) => self.evaluate(rollout, environment, &context),
            Err(message) => self.invalid_context(rollout, message),
        }
    }

    /// The `INVALID_CONTEXT` answer: the rollout's fallbacks, if it exists.
    pub fn invalid_context(&self, rollout: &str, message: String) -> Evaluation<'_> {
        let mut evaluation =
            Evaluation::error(ErrorCode::InvalidContext, message, self.plan.revision);
        if let Some(prepared) = self.rollout(rollout) {
            evaluation.values = Cow::Borrowed(&prepared.fallbacks);
        }
        evaluation
    }

    /// One flag's value; `expected` turns a flag of another type into `TYPE_MISMATCH`.
    pub fn resolve(
        &self,
        rollout: &str,
        flag: &str,
        environment: &str,
        context: &Context,
        expected: Option<FlagType>,
    ) -> Resolution<'_> {
        let found = self
            .rollout(rollout)
            .and_then(|prepared| prepared.flag(flag));
        let mismatch = match (found, expected) {
            (None, _) => Some((
                ErrorCode::FlagNotFound,
                format!("flag '{flag}' not found in rollout '{rollout}'"),
            )),
            (Some((_, kind)), Some(want)) if kind != want => Some((
                ErrorCode::TypeMismatch,
                format!("flag '{flag}' is a {}, not a {}", kind.name(), want.name()),
            )),
            _ => None,
        };
        let evaluation = self.evaluate(rollout, environment, context);
        let (error_code, error_message) = match mismatch {
            Some((code, message)) if evaluation.error_code.is_none() => (Some(code), Some(message)),
            _ => (evaluation.error_code, evaluation.error_message),
        };
        let value = match (&evaluation.values, error_code) {
            (_, Some(_)) => None,
            (Cow::Borrowed(values), None) => values.get(flag).map(Cow::Borrowed),
            (Cow::Owned(values), None) => values.get(flag).cloned().map(Cow::Owned),
        };
        Resolution {
            value,
            stage: evaluation.stage,
            bucket: evaluation.bucket,
            in_rollout: evaluation.in_rollout,
            reason: if error_code.is_some() {
                Reason::Error
            } else {
                evaluation.reason
            },
            error_code,
            error_message,
            revision: evaluation.revision,
        }
    }

    /// The attributes (besides the targeting key) that evaluations in this
    /// environment read: the ones its constraints name, each once.
    /// `None` for an unknown rollout or environment.
    pub fn attribute_names(&self, rollout: &str, environment: &str) -> Option<Vec<&str>> {
        let env = self
            .rollout(rollout)
            .and_then(|prepared| prepared.environment(environment))?;
        let mut names: Vec<&str> = Vec::new();
        for constraint in &env.constraints {
            let name = constraint.attribute();
            if name != crate::context::TARGETING_KEY && !names.contains(&name) {
                names.push(name);
            }
        }
        Some(names)
    }

    /// Looks up a (rollout, environment) pair once, for the `_at` calls.
    pub fn place(&self, rollout: &str, environment: &str) -> Option<Place> {
        let index = self
            .rollouts
            .iter()
            .position(|prepared| prepared.key == rollout)?;
        let environment = self.rollouts[index]
            .environments
            .iter()
            .position(|env| env.name == environment)?;
        Some(Place {
            rollout: index as u32,
            environment: environment as u32,
        })
    }

    /// Looks up a (rollout, boolean flag, environment) triple once, for [`Self::is_enabled_at`].
    pub fn gate(&self, rollout: &str, flag: &str, environment: &str) -> Option<Gate> {
        let place = self.place(rollout, environment)?;
        let (flag, kind) = self.rollouts[place.rollout as usize].flag(flag)?;
        (kind == FlagType::Boolean).then_some(Gate {
            place,
            flag: flag as u32,
        })
    }

    /// The fast path: whether a boolean flag is on for a targeting key alone.
    /// `false` for anything unknown or not boolean, and on every error.
    pub fn is_enabled(
        &self,
        rollout: &str,
        flag: &str,
        environment: &str,
        targeting_key: &str,
    ) -> bool {
        self.gate(rollout, flag, environment)
            .is_some_and(|gate| self.is_enabled_at(gate, targeting_key))
    }

    /// [`Self::is_enabled`] with the gate looked up before. Inlined, with its
    /// own copy of the rule, into the npm package's fastest call (built for
    /// size, it would otherwise keep each step a call).
    #[inline(always)]
    pub fn is_enabled_at(&self, gate: Gate, targeting_key: &str) -> bool {
        let Some((prepared, env)) = self.prepared(gate.place) else {
            return false;
        };
        let flag = gate.flag as usize;
        let on = match decide(prepared, env, &KeyOnly(targeting_key)) {
            Ok(Decision {
                stage: Some(stage),
                in_rollout: true,
                ..
            }) => prepared.stages[stage].on.get(flag),
            _ => prepared.fallback_on.get(flag),
        };
        on.copied().unwrap_or(false)
    }

    #[inline(always)]
    fn prepared(&self, place: Place) -> Option<(&PreparedRollout, &PreparedEnvironment)> {
        let prepared = self.rollouts.get(place.rollout as usize)?;
        let env = prepared.environments.get(place.environment as usize)?;
        Some((prepared, env))
    }

    fn rollout(&self, key: &str) -> Option<&PreparedRollout> {
        self.rollouts.iter().find(|prepared| prepared.key == key)
    }
}

impl PreparedRollout {
    fn environment(&self, name: &str) -> Option<&PreparedEnvironment> {
        self.environments.iter().find(|env| env.name == name)
    }

    /// A flag's index and type.
    fn flag(&self, name: &str) -> Option<(usize, FlagType)> {
        self.flags
            .iter()
            .position(|(flag, _)| flag == name)
            .map(|i| (i, self.flags[i].1))
    }
}

/// Evaluates against a plan given as JSON text, for callers without a prepared
/// evaluator: a plan that cannot be read is a `PARSE_ERROR` answer, one that breaks
/// the rules a `GENERAL` one.
pub fn evaluate_once(
    plan: &str,
    rollout: &str,
    environment: &str,
    context: &Context,
) -> Evaluation<'static> {
    let evaluator = match read_plan(plan) {
        Err(invalid) => return Evaluation::error(ErrorCode::ParseError, invalid.to_string(), 0),
        Ok(plan) => Evaluator::from_plan(plan),
    };
    match evaluator {
        Ok(evaluator) => evaluator
            .evaluate(rollout, environment, context)
            .into_owned(),
        Err(invalid) => Evaluation::error(ErrorCode::General, invalid.to_string(), 0),
    }
}

/// [`decide`] as one function for every path but `is_enabled_at`, which gets
/// its own copy (the npm package is built for size, and the fast path is worth
/// the bytes of a second copy).
#[inline(never)]
fn decide_any(
    rollout: &PreparedRollout,
    env: &PreparedEnvironment,
    context: &dyn Attributes,
) -> Result<Decision, Failure> {
    decide(rollout, env, context)
}

/// The rule, in order: kill switch, active stage, targeting key, exclude, include,
/// constraints, bucket.
#[inline(always)]
fn decide(
    rollout: &PreparedRollout,
    env: &PreparedEnvironment,
    context: &dyn Attributes,
) -> Result<Decision, Failure> {
    let undecided = |reason| Decision {
        stage: None,
        in_rollout: false,
        bucket: None,
        reason,
    };
    if env.kill_switch {
        return Ok(undecided(Reason::Disabled));
    }
    let Some(stage) = env.active_stage else {
        return Ok(undecided(Reason::Default));
    };
    let Some(key) = context.targeting_key() else {
        return Err(Failure {
            code: ErrorCode::TargetingKeyMissing,
            message: "the context has no targetingKey, and the active stage needs one to bucket by"
                .into(),
        });
    };
    let bucket = rollout.salt.bucket(key);
    let decided = |in_rollout, reason| {
        Ok(Decision {
            stage: Some(stage),
            in_rollout,
            bucket: Some(bucket),
            reason,
        })
    };
    if env.listed && env.exclude.contains(key) {
        return decided(false, Reason::TargetingMatch);
    }
    if env.listed && env.include.contains(key) {
        return decided(true, Reason::TargetingMatch);
    }
    for constraint in &env.constraints {
        match holds(constraint, context) {
            Ok(true) => {}
            Ok(false) => return decided(false, Reason::TargetingMatch),
            Err(message) => {
                return Err(Failure {
                    code: ErrorCode::InvalidContext,
                    message,
                });
            }
        }
    }
    decided(bucket < rollout.stages[stage].points, Reason::Split)
}

fn holds(constraint: &PreparedConstraint, context: &dyn Attributes) -> Result<bool, String> {
    let name = constraint.attribute();
    let attribute = context.get(name);
    let text: Option<&str> = match attribute {
        None => None,
        Some(Attribute::Text(text)) => Some(text),
        Some(Attribute::Structure) => {
            return Err(format!(
                "attribute '{name}' must be a string, number or boolean"
            ));
        }
    };
    match constraint {
        PreparedConstraint::In { values, negate, .. } => {
            Ok(text.is_some_and(|text| values.contains(text)) != *negate)
        }
        PreparedConstraint::Semver {
            operator, version, ..
        } => {
            let Some(text) = text else { return Ok(false) };
            let Some(actual) = Version::parse(text) else {
                return Err(format!(
                    "attribute '{name}' is '{text}', which is not a version such as 3.4.1"
                ));
            };
            let order = actual.cmp(&version.as_version());
            Ok(match operator {
                Operator::SemverEq => order.is_eq(),
                Operator::SemverGt => order.is_gt(),
                Operator::SemverGte => order.is_ge(),
                Operator::SemverLt => order.is_lt(),
                Operator::SemverLte => order.is_le(),
                Operator::In | Operator::NotIn => false,
            })
        }
    }
}

impl PreparedConstraint {
    fn attribute(&self) -> &str {
        match self {
            PreparedConstraint::In { attribute, .. }
            | PreparedConstraint::Semver { attribute, .. } => attribute,
        }
    }
}

fn prepare_constraint(constraint: &Constraint) -> Option<PreparedConstraint> {
    let attribute = constraint.attribute.clone();
    Some(match constraint.operator {
        Operator::In | Operator::NotIn => PreparedConstraint::In {
            attribute,
            values: SortedSet::new(&constraint.values),
            negate: constraint.operator == Operator::NotIn,
        },
        operator => PreparedConstraint::Semver {
            attribute,
            operator,
            version: OwnedVersion::parse(constraint.value.as_deref()?)?,
        },
    })
}
