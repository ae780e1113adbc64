//! Reading a plan from JSON: every shape problem (unknown field, missing field,
//! wrong JSON type) with its path, not just the first. Written by hand rather
//! than derived: it reports everything at once, and needs no serde in the wasm
//! package.

use crate::json::{Map, Number, Value};

use crate::model::{
    ChecklistItem, Constraint, Environment, Flag, FlagType, Operator, Plan, RollbackTrigger,
    Rollout, Signoff, Stage,
};
use crate::validate::{Problem, escape};

/// Reads a plan from a JSON value, or every problem with its shape.
pub fn plan(value: Value) -> Result<Plan, Vec<Problem>> {
    let mut reader = Reader {
        problems: Vec::new(),
    };
    let plan = reader.plan(value);
    match plan {
        Some(plan) if reader.problems.is_empty() => Ok(plan),
        _ => Err(reader.problems),
    }
}

struct Reader {
    problems: Vec<Problem>,
}

/// An object being read: fields are taken out one by one; what is left is unknown.
struct Fields {
    path: String,
    map: Map,
}

impl Reader {
    fn report(&mut self, path: String, message: String) {
        self.problems.push(Problem {
            path,
            message,
            line: None,
            column: None,
        });
    }

    /// Opens an object; reports it if the value is something else.
    fn open(&mut self, value: Value, path: &str) -> Option<Fields> {
        match value {
            Value::Object(map) => Some(Fields {
                path: path.to_string(),
                map,
            }),
            other => {
                self.report(
                    path.to_string(),
                    format!("must be an object, not {}", other.kind()),
                );
                None
            }
        }
    }

    /// Closes an object, reporting each field that was not taken.
    fn close(&mut self, fields: Fields, known: &[&str]) {
        for key in fields.map.keys() {
            let message = format!(
                "unknown field '{key}'; expected one of: {}",
                known.join(", ")
            );
            self.report(format!("{}/{}", fields.path, escape(key)), message);
        }
    }

    fn required(&mut self, fields: &mut Fields, key: &str) -> Option<(Value, String)> {
        let path = format!("{}/{key}", fields.path);
        match fields.map.remove(key) {
            Some(value) => Some((value, path)),
            None => {
                self.report(fields.path.clone(), format!("missing field '{key}'"));
                None
            }
        }
    }

    fn optional(&mut self, fields: &mut Fields, key: &str) -> Option<(Value, String)> {
        let path = format!("{}/{key}", fields.path);
        fields
            .map
            .remove(key)
            .filter(|value| !value.is_null())
            .map(|value| (value, path))
    }

    fn string(&mut self, field: Option<(Value, String)>) -> Option<String> {
        match field? {
            (Value::String(text), _) => Some(text),
            (other, path) => self.wrong(path, "a string", &other),
        }
    }

    fn number(&mut self, field: Option<(Value, String)>) -> Option<Number> {
        match field? {
            (Value::Number(number), _) => Some(number),
            (other, path) => self.wrong(path, "a number", &other),
        }
    }

    fn unsigned(&mut self, field: Option<(Value, String)>) -> Option<u64> {
        match field? {
            (Value::Number(number), _) if number.as_u64().is_some() => number.as_u64(),
            (other, path) => self.wrong(path, "a whole number of 0 or more", &other),
        }
    }

    fn boolean(&mut self, field: Option<(Value, String)>) -> Option<bool> {
        match field? {
            (Value::Bool(on), _) => Some(on),
            (other, path) => self.wrong(path, "true or false", &other),
        }
    }

    /// Reads each element with `item`; elements that fail are left out (and reported).
    fn list<T>(
        &mut self,
        field: Option<(Value, String)>,
        mut item: impl FnMut(&mut Self, Value, String) -> Option<T>,
    ) -> Option<Vec<T>> {
        match field? {
            (Value::Array(items), path) => Some(
                items
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, value)| item(self, value, format!("{path}/{i}")))
                    .collect(),
            ),
            (other, path) => self.wrong(path, "an array", &other),
        }
    }

    fn strings(&mut self, field: Option<(Value, String)>) -> Option<Vec<String>> {
        self.list(field, |reader, value, path| {
            reader.string(Some((value, path)))
        })
    }

    /// An object whose keys are names: each value read with `item`, in order.
    fn named<T>(
        &mut self,
        field: Option<(Value, String)>,
        mut item: impl FnMut(&mut Self, Value, String) -> Option<T>,
    ) -> Option<Map<T>> {
        let (value, path) = field?;
        let fields = self.open(value, &path)?;
        Some(
            fields
                .map
                .into_iter()
                .filter_map(|(key, value)| {
                    let at = format!("{path}/{}", escape(&key));
                    item(self, value, at).map(|read| (key, read))
                })
                .collect(),
        )
    }

    fn wrong<T>(&mut self, path: String, expected: &str, actual: &Value) -> Option<T> {
        self.report(path, format!("must be {expected}, not {}", actual.kind()));
        None
    }

    fn plan(&mut self, value: Value) -> Option<Plan> {
        let mut f = self.open(value, "")?;
        let schema_version = self.required(&mut f, "schemaVersion");
        let schema_version = self.unsigned(schema_version);
        let revision = self.optional(&mut f, "revision");
        let revision = self.unsigned(revision);
        let rollouts = self.required(&mut f, "rollouts");
        let rollouts = self.named(rollouts, Self::rollout);
        let signoffs = self.optional(&mut f, "signoffs");
        let signoffs = self.list(signoffs, Self::signoff);
        self.close(f, &["schemaVersion", "revision", "rollouts", "signoffs"]);
        Some(Plan {
            schema_version: u32::try_from(schema_version?).unwrap_or(u32::MAX),
            revision: revision.unwrap_or(0),
            rollouts: rollouts?,
            signoffs: signoffs.unwrap_or_default(),
        })
    }

    fn rollout(&mut self, value: Value, path: String) -> Option<Rollout> {
        let mut f = self.open(value, &path)?;
        let description = self.optional(&mut f, "description");
        let description = self.string(description);
        let salt = self.optional(&mut f, "salt");
        let salt = self.string(salt);
        let flags = self.required(&mut f, "flags");
        let flags = self.named(flags, Self::flag);
        let stages = self.required(&mut f, "stages");
        let stages = self.list(stages, Self::stage);
        let environments = self.required(&mut f, "environments");
        let environments = self.named(environments, Self::environment);
        let triggers = self.optional(&mut f, "rollbackTriggers");
        let rollback_triggers = self.list(triggers, Self::trigger);
        let checklist = self.optional(&mut f, "checklist");
        let checklist = self.list(checklist, Self::checklist_item);
        self.close(
            f,
            &[
                "description",
                "salt",
                "flags",
                "stages",
                "environments",
                "rollbackTriggers",
                "checklist",
            ],
        );
        Some(Rollout {
            description,
            salt,
            flags: flags?,
            stages: stages?,
            environments: environments?,
            rollback_triggers: rollback_triggers.unwrap_or_default(),
            checklist: checklist.unwrap_or_default(),
        })
    }

    fn flag(&mut self, value: Value, path: String) -> Option<Flag> {
        let mut f = self.open(value, &path)?;
        let kind = self.required(&mut f, "type");
        let kind = match self.string(kind) {
            Some(name) => match FlagType::from_name(&name) {
                Some(kind) => Some(kind),
                None => {
                    let message =
                        format!("flag type '{name}' must be one of: boolean, string, number, json");
                    self.report(format!("{path}/type"), message);
                    None
                }
            },
            None => None,
        };
        let fallback = self.required(&mut f, "fallback").map(|(value, _)| value);
        let description = self.optional(&mut f, "description");
        let description = self.string(description);
        self.close(f, &["type", "fallback", "description"]);
        Some(Flag {
            kind: kind?,
            fallback: fallback?,
            description,
        })
    }

    fn stage(&mut self, value: Value, path: String) -> Option<Stage> {
        let mut f = self.open(value, &path)?;
        let id = self.required(&mut f, "id");
        let id = self.string(id);
        let name = self.required(&mut f, "name");
        let name = self.string(name);
        let percentage = self.required(&mut f, "percentage");
        let percentage = self.number(percentage);
        let planned_for = self.optional(&mut f, "plannedFor");
        let planned_for = self.string(planned_for);
        let values = match self.required(&mut f, "values") {
            Some((Value::Object(map), _)) => Some(map),
            Some((other, at)) => self.wrong(at, "an object", &other),
            None => None,
        };
        let required = self.optional(&mut f, "requiredSignoffs");
        let required_signoffs = self.strings(required);
        let monitoring = self.optional(&mut f, "monitoring");
        let monitoring = self.strings(monitoring);
        self.close(
            f,
            &[
                "id",
                "name",
                "percentage",
                "plannedFor",
                "values",
                "requiredSignoffs",
                "monitoring",
            ],
        );
        Some(Stage {
            id: id?,
            name: name?,
            percentage: percentage?,
            planned_for,
            values: values?,
            required_signoffs: required_signoffs.unwrap_or_default(),
            monitoring: monitoring.unwrap_or_default(),
        })
    }

    fn environment(&mut self, value: Value, path: String) -> Option<Environment> {
        let mut f = self.open(value, &path)?;
        // Required, but null means "no active stage".
        let active_stage = match self.required(&mut f, "activeStage") {
            Some((Value::Null, _)) => Some(None),
            Some(field) => self.string(Some(field)).map(Some),
            None => None,
        };
        let kill_switch = self.optional(&mut f, "killSwitch");
        let kill_switch = self.boolean(kill_switch);
        let include = self.optional(&mut f, "include");
        let include = self.strings(include);
        let exclude = self.optional(&mut f, "exclude");
        let exclude = self.strings(exclude);
        let constraints = self.optional(&mut f, "constraints");
        let constraints = self.list(constraints, Self::constraint);
        self.close(
            f,
            &[
                "activeStage",
                "killSwitch",
                "include",
                "exclude",
                "constraints",
            ],
        );
        Some(Environment {
            active_stage: active_stage?,
            kill_switch: kill_switch.unwrap_or(false),
            include: include.unwrap_or_default(),
            exclude: exclude.unwrap_or_default(),
            constraints: constraints.unwrap_or_default(),
        })
    }

    fn constraint(&mut self, value: Value, path: String) -> Option<Constraint> {
        let mut f = self.open(value, &path)?;
        let attribute = self.required(&mut f, "attribute");
        let attribute = self.string(attribute);
        let operator = self.required(&mut f, "operator");
        let operator = self.string(operator).and_then(|name| {
            let operator = match name.as_str() {
                "in" => Operator::In,
                "notIn" => Operator::NotIn,
                "semverEq" => Operator::SemverEq,
                "semverGt" => Operator::SemverGt,
                "semverGte" => Operator::SemverGte,
                "semverLt" => Operator::SemverLt,
                "semverLte" => Operator::SemverLte,
                _ => {
                    let message = format!(
                        "operator '{name}' must be one of: in, notIn, semverEq, semverGt, semverGte, semverLt, semverLte"
                    );
                    self.report(format!("{path}/operator"), message);
                    return None;
                }
            };
            Some(operator)
        });
        let values = self.optional(&mut f, "values");
        let values = self.strings(values);
        let version = self.optional(&mut f, "value");
        let version = self.string(version);
        self.close(f, &["attribute", "operator", "values", "value"]);
        Some(Constraint {
            attribute: attribute?,
            operator: operator?,
            values: values.unwrap_or_default(),
            value: version,
        })
    }

    fn trigger(&mut self, value: Value, path: String) -> Option<RollbackTrigger> {
        let mut f = self.open(value, &path)?;
        let metric = self.required(&mut f, "metric");
        let metric = self.string(metric);
        let above = self.required(&mut f, "above");
        let above = self.number(above);
        let description = self.optional(&mut f, "description");
        let description = self.string(description);
        self.close(f, &["metric", "above", "description"]);
        Some(RollbackTrigger {
            metric: metric?,
            above: above?,
            description,
        })
    }

    fn checklist_item(&mut self, value: Value, path: String) -> Option<ChecklistItem> {
        let mut f = self.open(value, &path)?;
        let phase = self.required(&mut f, "phase");
        let phase = self.string(phase);
        let group = self.optional(&mut f, "group");
        let group = self.string(group);
        let item = self.required(&mut f, "item");
        let item = self.string(item);
        let done = self.optional(&mut f, "done");
        let done = self.boolean(done);
        self.close(f, &["phase", "group", "item", "done"]);
        Some(ChecklistItem {
            phase: phase?,
            group,
            item: item?,
            done: done.unwrap_or(false),
        })
    }

    fn signoff(&mut self, value: Value, path: String) -> Option<Signoff> {
        let mut f = self.open(value, &path)?;
        let mut text = |reader: &mut Self, key: &str| {
            let field = reader.required(&mut f, key);
            reader.string(field)
        };
        let id = text(self, "id");
        let rollout = text(self, "rollout");
        let stage = text(self, "stage");
        let role = text(self, "role");
        let by = text(self, "by");
        let at = text(self, "at");
        let stage_digest = text(self, "stageDigest");
        let comment = self.optional(&mut f, "comment");
        let comment = self.string(comment);
        self.close(
            f,
            &[
                "id",
                "rollout",
                "stage",
                "role",
                "by",
                "at",
                "stageDigest",
                "comment",
            ],
        );
        Some(Signoff {
            id: id?,
            rollout: rollout?,
            stage: stage?,
            role: role?,
            by: by?,
            at: at?,
            stage_digest: stage_digest?,
            comment,
        })
    }
}
