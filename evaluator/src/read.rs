//! Reading a plan from JSON in two steps. First its shape is checked against a
//! table (every unknown field, missing field and wrong JSON type, each with its
//! path); then the model is built from a value known to fit, with no error paths
//! left. The shape as data rather than code keeps the npm package small, and
//! reads like the document it describes; a test holds it to plan.schema.json.

use crate::json::{Map, Number, Value};
use crate::model::{
    ChecklistItem, Constraint, Environment, Flag, FlagType, Operator, Plan, Rollout, Signoff, Stage,
};
#[cfg(not(feature = "wasm"))]
use crate::model::{Compare, RollbackTrigger, ThresholdUnit, TriggerAction};
use crate::problem::{Problem, escape, listed};

/// What a JSON value must look like.
enum Shape {
    Any,
    String,
    /// A string, or null (a required field that may be empty).
    StringOrNull,
    Number,
    /// A whole number of 0 or more.
    Count,
    Boolean,
    /// One of some names: what they name, and the names.
    OneOf(&'static str, &'static [&'static str]),
    List(&'static Shape),
    /// An object whose keys are names, each value of one shape.
    Named(&'static Shape),
    Object(&'static [Field]),
    /// An object with the named key in the first shape, otherwise the second (a
    /// shape that changed: the older one is told apart by a field of its own).
    #[cfg(not(feature = "wasm"))]
    Either(&'static str, &'static Shape, &'static Shape),
}

struct Field {
    name: &'static str,
    shape: Shape,
    required: bool,
}

const fn required(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: true,
    }
}

/// Absent and null are the same: not given.
const fn optional(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: false,
    }
}

const STRINGS: Shape = Shape::List(&Shape::String);

static PLAN: Shape = Shape::Object(&[
    required("schemaVersion", Shape::Count),
    optional("revision", Shape::Count),
    required("rollouts", Shape::Named(&ROLLOUT)),
    optional("signoffs", Shape::List(&SIGNOFF)),
]);

static ROLLOUT: Shape = Shape::Object(&[
    optional("description", Shape::String),
    optional("salt", Shape::String),
    required("flags", Shape::Named(&FLAG)),
    required("stages", Shape::List(&STAGE)),
    required("environments", Shape::Named(&ENVIRONMENT)),
    optional("rollbackTriggers", TRIGGERS),
    optional("checklist", Shape::List(&CHECKLIST_ITEM)),
]);

static FLAG: Shape = Shape::Object(&[
    required("type", Shape::OneOf("flag type", FlagType::NAMES)),
    required("fallback", Shape::Any),
    optional("description", Shape::String),
]);

static STAGE: Shape = Shape::Object(&[
    required("id", Shape::String),
    required("name", Shape::String),
    required("percentage", Shape::Number),
    optional("plannedFor", Shape::String),
    required("values", Shape::Named(&Shape::Any)),
    optional("requiredSignoffs", STRINGS),
    optional("monitoring", STRINGS),
    optional("soakHours", Shape::Number),
    optional("autoAdvance", Shape::Boolean),
]);

static ENVIRONMENT: Shape = Shape::Object(&[
    required("activeStage", Shape::StringOrNull),
    optional("killSwitch", Shape::Boolean),
    optional("include", STRINGS),
    optional("exclude", STRINGS),
    optional("constraints", Shape::List(&CONSTRAINT)),
    optional("rolledBackAt", Shape::Count),
]);

static CONSTRAINT: Shape = Shape::Object(&[
    required("attribute", Shape::String),
    required("operator", Shape::OneOf("operator", Operator::NAMES)),
    optional("values", STRINGS),
    optional("value", Shape::String),
]);

/// Rollback triggers are the server's: the npm package (feature `wasm`), which
/// evaluates client documents (they carry none), takes any list and drops it,
/// so its 40 KB budget does not pay for their rules (SPEC.md, "Triggers").
#[cfg(not(feature = "wasm"))]
const TRIGGERS: Shape = Shape::List(&Shape::Either("above", &TRIGGER_V1, &TRIGGER));
#[cfg(feature = "wasm")]
const TRIGGERS: Shape = Shape::List(&Shape::Any);

#[cfg(not(feature = "wasm"))]
static TRIGGER: Shape = Shape::Object(&[
    required("metric", Shape::String),
    required("event", Shape::String),
    optional("per", Shape::String),
    optional("compare", Shape::OneOf("compare", Compare::NAMES)),
    required("threshold", Shape::Number),
    optional("unit", Shape::OneOf("unit", ThresholdUnit::NAMES)),
    optional("minSample", Shape::Count),
    required("action", Shape::OneOf("action", TriggerAction::NAMES)),
    optional("description", Shape::String),
]);

/// The first version's trigger, upgraded when read (`upgraded_trigger`).
#[cfg(not(feature = "wasm"))]
static TRIGGER_V1: Shape = Shape::Object(&[
    required("metric", Shape::String),
    required("above", Shape::Number),
    optional("description", Shape::String),
]);

static CHECKLIST_ITEM: Shape = Shape::Object(&[
    required("phase", Shape::String),
    optional("group", Shape::String),
    required("item", Shape::String),
    optional("done", Shape::Boolean),
    optional("doneBy", Shape::String),
    optional("doneAt", Shape::String),
]);

static SIGNOFF: Shape = Shape::Object(&[
    required("id", Shape::String),
    required("rollout", Shape::String),
    required("stage", Shape::String),
    required("role", Shape::String),
    required("by", Shape::String),
    required("at", Shape::String),
    required("stageDigest", Shape::String),
    optional("revision", Shape::Count),
    optional("comment", Shape::String),
]);

/// Reads a plan from a JSON value, or every problem with its shape.
pub fn plan(value: Value) -> Result<Plan, Vec<Problem>> {
    let mut problems = Vec::new();
    check(&value, &PLAN, &mut String::new(), &mut problems);
    if problems.is_empty() {
        Ok(build_plan(value))
    } else {
        Err(problems)
    }
}

/// Reads one sign-off from a JSON value (as the server answers a new one), or
/// every problem with its shape.
#[cfg(feature = "serde")]
pub fn signoff_from(value: Value) -> Result<Signoff, Vec<Problem>> {
    let mut problems = Vec::new();
    check(&value, &SIGNOFF, &mut String::new(), &mut problems);
    if problems.is_empty() {
        Ok(signoff(value))
    } else {
        Err(problems)
    }
}

/// Reports where `value` does not fit `shape`; `path` is its JSON Pointer.
fn check(value: &Value, shape: &Shape, path: &mut String, problems: &mut Vec<Problem>) {
    let expected = match (shape, value) {
        (Shape::Any, _)
        | (Shape::String, Value::String(_))
        | (Shape::StringOrNull, Value::String(_) | Value::Null)
        | (Shape::Number, Value::Number(_))
        | (Shape::Boolean, Value::Bool(_)) => return,
        (Shape::Count, Value::Number(number)) if number.as_u64().is_some() => return,
        #[cfg(not(feature = "wasm"))]
        (Shape::Either(key, with, without), Value::Object(map)) => {
            let shape = if map.contains_key(key) { with } else { without };
            return check(value, shape, path, problems);
        }
        (Shape::OneOf(what, names), Value::String(name)) => {
            if !names.contains(&name.as_str()) {
                let message = format!(
                    "{what} '{name}' must be one of: {}",
                    listed(names.iter().copied())
                );
                report(problems, path, message);
            }
            return;
        }
        (Shape::List(item), Value::Array(items)) => {
            for (i, value) in items.iter().enumerate() {
                let end = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                check(value, item, path, problems);
                path.truncate(end);
            }
            return;
        }
        (Shape::Named(item), Value::Object(map)) => {
            for (key, value) in map {
                let end = path.len();
                path.push('/');
                path.push_str(&escape(key));
                check(value, item, path, problems);
                path.truncate(end);
            }
            return;
        }
        (Shape::Object(fields), Value::Object(map)) => {
            for field in *fields {
                match map.get(field.name) {
                    None if field.required => {
                        report(problems, path, format!("missing field '{}'", field.name));
                    }
                    None => {}
                    Some(Value::Null) if !field.required => {}
                    Some(value) => {
                        let end = path.len();
                        path.push('/');
                        path.push_str(field.name);
                        check(value, &field.shape, path, problems);
                        path.truncate(end);
                    }
                }
            }
            for key in map.keys() {
                if !fields.iter().any(|field| field.name == key) {
                    let known = listed(fields.iter().map(|field| field.name));
                    let message = format!("unknown field '{key}'; expected one of: {known}");
                    report(problems, &format!("{path}/{}", escape(key)), message);
                }
            }
            return;
        }
        (Shape::String | Shape::StringOrNull | Shape::OneOf(..), _) => "a string",
        (Shape::Number, _) => "a number",
        (Shape::Count, _) => "a whole number of 0 or more",
        (Shape::Boolean, _) => "true or false",
        (Shape::List(_), _) => "an array",
        (Shape::Named(_) | Shape::Object(_), _) => "an object",
        #[cfg(not(feature = "wasm"))]
        (Shape::Either(..), _) => "an object",
    };
    report(
        problems,
        path,
        format!("must be {expected}, not {}", value.kind()),
    );
}

fn report(problems: &mut Vec<Problem>, path: &str, message: String) {
    problems.push(Problem {
        path: path.to_string(),
        message,
        line: None,
        column: None,
    });
}

/// Fields taken out of an object that `check` passed, so every take finds what
/// the table promised; the fallbacks below are never reached.
struct Fields(Map);

impl Fields {
    fn of(value: Value) -> Self {
        match value {
            Value::Object(map) => Fields(map),
            _ => Fields(Map::new()),
        }
    }

    fn take(&mut self, key: &str) -> Value {
        self.0.remove(key).unwrap_or_default()
    }

    fn string(&mut self, key: &str) -> String {
        self.optional_string(key).unwrap_or_default()
    }

    fn optional_string(&mut self, key: &str) -> Option<String> {
        match self.take(key) {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    fn number(&mut self, key: &str) -> Number {
        match self.take(key) {
            Value::Number(number) => number,
            _ => Number::from(0),
        }
    }

    fn count(&mut self, key: &str) -> u64 {
        self.take(key).as_u64().unwrap_or(0)
    }

    fn boolean(&mut self, key: &str) -> bool {
        self.take(key).as_bool().unwrap_or(false)
    }

    fn object(&mut self, key: &str) -> Map {
        match self.take(key) {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn list<T>(&mut self, key: &str, item: fn(Value) -> T) -> Vec<T> {
        match self.take(key) {
            Value::Array(items) => items.into_iter().map(item).collect(),
            _ => Vec::new(),
        }
    }

    fn strings(&mut self, key: &str) -> Vec<String> {
        self.list(key, |value| match value {
            Value::String(text) => text,
            _ => String::new(),
        })
    }

    fn named<T>(&mut self, key: &str, item: fn(Value) -> T) -> Map<T> {
        // Keys are unique already (a Map's always are): no need to check again.
        let entries = self.object(key).entries.into_iter();
        Map {
            entries: entries.map(|(key, value)| (key, item(value))).collect(),
        }
    }
}

fn build_plan(value: Value) -> Plan {
    let mut f = Fields::of(value);
    Plan {
        schema_version: u32::try_from(f.count("schemaVersion")).unwrap_or(u32::MAX),
        revision: f.count("revision"),
        rollouts: f.named("rollouts", rollout),
        signoffs: f.list("signoffs", signoff),
    }
}

fn rollout(value: Value) -> Rollout {
    let mut f = Fields::of(value);
    Rollout {
        description: f.optional_string("description"),
        salt: f.optional_string("salt"),
        flags: f.named("flags", flag),
        stages: f.list("stages", stage),
        environments: f.named("environments", environment),
        #[cfg(not(feature = "wasm"))]
        rollback_triggers: f.list("rollbackTriggers", trigger),
        #[cfg(feature = "wasm")]
        rollback_triggers: Vec::new(),
        checklist: f.list("checklist", checklist_item),
    }
}

fn flag(value: Value) -> Flag {
    let mut f = Fields::of(value);
    Flag {
        kind: FlagType::from_name(&f.string("type")).unwrap_or(FlagType::Json),
        fallback: f.take("fallback"),
        description: f.optional_string("description"),
    }
}

fn stage(value: Value) -> Stage {
    let mut f = Fields::of(value);
    Stage {
        id: f.string("id"),
        name: f.string("name"),
        percentage: f.number("percentage"),
        planned_for: f.optional_string("plannedFor"),
        values: f.object("values"),
        required_signoffs: f.strings("requiredSignoffs"),
        monitoring: f.strings("monitoring"),
        soak_hours: match f.take("soakHours") {
            Value::Number(number) => Some(number),
            _ => None,
        },
        auto_advance: f.boolean("autoAdvance"),
    }
}

fn environment(value: Value) -> Environment {
    let mut f = Fields::of(value);
    Environment {
        active_stage: f.optional_string("activeStage"),
        kill_switch: f.boolean("killSwitch"),
        include: f.strings("include"),
        exclude: f.strings("exclude"),
        constraints: f.list("constraints", constraint),
        rolled_back_at: f.take("rolledBackAt").as_u64(),
    }
}

fn constraint(value: Value) -> Constraint {
    let mut f = Fields::of(value);
    Constraint {
        attribute: f.string("attribute"),
        operator: Operator::from_name(&f.string("operator")).unwrap_or(Operator::In),
        values: f.strings("values"),
        value: f.optional_string("value"),
    }
}

#[cfg(not(feature = "wasm"))]
fn trigger(value: Value) -> RollbackTrigger {
    let mut f = Fields::of(value);
    if f.0.contains_key("above") {
        return upgraded_trigger(
            f.string("metric"),
            f.number("above"),
            f.optional_string("description"),
        );
    }
    RollbackTrigger {
        metric: f.string("metric"),
        event: f.string("event"),
        per: f.optional_string("per"),
        compare: f
            .optional_string("compare")
            .and_then(|name| Compare::from_name(&name)),
        threshold: f.number("threshold"),
        unit: f
            .optional_string("unit")
            .and_then(|name| ThresholdUnit::from_name(&name)),
        min_sample: f.count("minSample"),
        action: TriggerAction::from_name(&f.string("action")).unwrap_or(TriggerAction::Hold),
        description: f.optional_string("description"),
    }
}

/// A first-version trigger (`metric`, `above`) in today's shape (SPEC.md,
/// "Triggers"): the seed's four names as what they meant, any other name as a
/// count that holds, so an upgrade never rolls back on a guess.
#[cfg(not(feature = "wasm"))]
fn upgraded_trigger(metric: String, above: Number, description: Option<String>) -> RollbackTrigger {
    let rate = |event: &'static str, per: &'static str, compare| {
        (event, Some(per), Some(compare), TriggerAction::Rollback)
    };
    let (event, per, compare, action) = match metric.as_str() {
        "crashRateIncreasePct" => rate("crash", "session", Compare::Control),
        "syncFailurePct" => rate("syncFailure", "syncOperation", Compare::Ceiling),
        "dataCorruptionReports" => ("dataCorruption", None, None, TriggerAction::Rollback),
        "criticalUserFacingBugs" => ("criticalBug", None, None, TriggerAction::Rollback),
        _ => ("", None, None, TriggerAction::Hold),
    };
    // Any other name becomes the event's, in the characters event names allow.
    let event: String = if event.is_empty() {
        metric
            .bytes()
            .take(64)
            .map(|b| match b {
                b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'-' | b'.' => char::from(b),
                _ => '_',
            })
            .collect()
    } else {
        event.to_string()
    };
    RollbackTrigger {
        event,
        per: per.map(str::to_string),
        compare,
        threshold: above,
        unit: per.map(|_| ThresholdUnit::Points),
        min_sample: if per.is_some() { 1000 } else { 0 },
        action,
        description,
        metric,
    }
}

fn checklist_item(value: Value) -> ChecklistItem {
    let mut f = Fields::of(value);
    ChecklistItem {
        phase: f.string("phase"),
        group: f.optional_string("group"),
        item: f.string("item"),
        done: f.boolean("done"),
        done_by: f.optional_string("doneBy"),
        done_at: f.optional_string("doneAt"),
    }
}

fn signoff(value: Value) -> Signoff {
    let mut f = Fields::of(value);
    Signoff {
        id: f.string("id"),
        rollout: f.string("rollout"),
        stage: f.string("stage"),
        role: f.string("role"),
        by: f.string("by"),
        at: f.string("at"),
        stage_digest: f.string("stageDigest"),
        revision: f.count("revision"),
        comment: f.optional_string("comment"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first-version trigger keeps its name, threshold and description, and
    /// means what the seed meant; an unknown one only holds.
    #[test]
    fn first_version_triggers_are_upgraded_when_read() {
        let read = |text: &str| trigger(crate::json::parse(text).unwrap());
        let crash =
            read(r#"{"metric": "crashRateIncreasePct", "above": 2, "description": "Crash rate"}"#);
        assert_eq!(
            (
                crash.metric.as_str(),
                crash.event.as_str(),
                crash.per.as_deref()
            ),
            ("crashRateIncreasePct", "crash", Some("session"))
        );
        assert_eq!(crash.compare, Some(Compare::Control));
        assert_eq!(crash.unit, Some(ThresholdUnit::Points));
        assert_eq!((crash.threshold.as_str(), crash.min_sample), ("2", 1000));
        assert_eq!(crash.action, TriggerAction::Rollback);
        assert_eq!(crash.description.as_deref(), Some("Crash rate"));
        let sync = read(r#"{"metric": "syncFailurePct", "above": 5}"#);
        assert_eq!(sync.compare, Some(Compare::Ceiling));
        assert_eq!(sync.per.as_deref(), Some("syncOperation"));
        let bugs = read(r#"{"metric": "criticalUserFacingBugs", "above": 0}"#);
        assert_eq!(
            (bugs.event.as_str(), bugs.per, bugs.compare),
            ("criticalBug", None, None)
        );
        let other = read(r#"{"metric": "p95 latency (ms)", "above": 800}"#);
        assert_eq!(other.metric, "p95 latency (ms)");
        assert_eq!(other.event, "p95_latency__ms_");
        assert_eq!(
            (other.threshold.as_str(), other.action),
            ("800", TriggerAction::Hold)
        );
    }

    /// The table and the JSON Schema generated from the model describe the same
    /// document: the same fields, the same required ones, the same types.
    #[test]
    fn the_table_agrees_with_plan_schema_json() {
        let schema = crate::json::parse(include_str!("../plan.schema.json")).unwrap();
        agree(&PLAN, &schema, &schema, "");
    }

    fn agree(shape: &Shape, node: &Value, root: &Value, at: &str) {
        // An optional enum is "anyOf: [its $ref, null]".
        let node = match node
            .get("anyOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([first, null]) if null["type"].as_str() == Some("null") => first,
            _ => node,
        };
        let node = match node.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.trim_start_matches("#/$defs/");
                &root["$defs"][name]
            }
            None => node,
        };
        let kind = |node: &Value| node["type"].to_json();
        match shape {
            Shape::Any => assert!(
                *node == Value::Bool(true) || node.get("type").is_none(),
                "{at}: any"
            ),
            Shape::String => assert!(
                ["\"string\"", "[\"string\",\"null\"]"].contains(&kind(node).as_str()),
                "{at}: string"
            ),
            Shape::StringOrNull => assert_eq!(kind(node), "[\"string\",\"null\"]", "{at}"),
            Shape::Number => assert!(
                ["\"number\"", "[\"number\",\"null\"]"].contains(&kind(node).as_str()),
                "{at}: number"
            ),
            Shape::Count => assert_eq!(kind(node), "\"integer\"", "{at}"),
            Shape::Boolean => assert_eq!(kind(node), "\"boolean\"", "{at}"),
            Shape::OneOf(_, names) => {
                let listed: Vec<&str> = node["enum"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert_eq!(listed, *names, "{at}");
            }
            Shape::List(item) => {
                assert_eq!(kind(node), "\"array\"", "{at}");
                agree(item, &node["items"], root, &format!("{at}/items"));
            }
            Shape::Named(item) => {
                assert_eq!(kind(node), "\"object\"", "{at}");
                agree(
                    item,
                    &node["additionalProperties"],
                    root,
                    &format!("{at}/*"),
                );
            }
            Shape::Either(_, with, without) => {
                let shapes = node["anyOf"].as_array().unwrap();
                agree(without, &shapes[0], root, &format!("{at}/anyOf/0"));
                agree(with, &shapes[1], root, &format!("{at}/anyOf/1"));
            }
            Shape::Object(fields) => {
                let properties = node["properties"].as_object().unwrap();
                let names: Vec<&str> = fields.iter().map(|field| field.name).collect();
                let listed: Vec<&str> = properties.keys().map(String::as_str).collect();
                assert_eq!(names, listed, "{at}: fields");
                let required: Vec<&str> = fields
                    .iter()
                    .filter(|field| field.required)
                    .map(|field| field.name)
                    .collect();
                let listed: Vec<&str> = node["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert_eq!(required, listed, "{at}: required");
                for field in *fields {
                    let at = format!("{at}/{}", field.name);
                    agree(&field.shape, &properties[field.name], root, &at);
                }
            }
        }
    }
}
