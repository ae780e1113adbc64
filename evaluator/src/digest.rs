//! The digest a sign-off pins: everything that decides what production answers
//! while a stage is live there.

use sha2::{Digest, Sha256};

use crate::json::{Map, Object, Value, WriteJson, write_string};
use crate::model::{Constraint, GATED_ENVIRONMENT, Operator, Rollout, Stage};

/// SHA-256 (hex) of what production answers with `stage` of rollout `key` live:
/// the stage's id, percentage and values, the rollout's salt and flags (types and
/// fallbacks), and production's include and exclude lists and constraints. Not
/// which stage is active, nor the kill switch: the gate rules on those.
///
/// Canonical JSON (object keys sorted, no spaces, numbers in their one canonical
/// form, lists of ids sorted), so rewriting `5.0` as `5` or reordering keys does
/// not make a sign-off stale, while any change to production's answers does.
pub fn stage_digest(key: &str, rollout: &Rollout, stage: &Stage) -> String {
    let mut canonical = String::new();
    write_answers(key, rollout, stage, &mut canonical);
    hex(&Sha256::digest(canonical.as_bytes()))
}

/// Bytes as lowercase hex (the server's tokens and ETags use it too).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|byte| {
            [
                DIGITS[usize::from(byte >> 4)],
                DIGITS[usize::from(byte & 0xF)],
            ]
        })
        .map(char::from)
        .collect()
}

/// The canonical text `stage_digest` hashes (field names in sorted order).
fn write_answers(key: &str, rollout: &Rollout, stage: &Stage, out: &mut String) {
    let production = rollout.environments.get(GATED_ENVIRONMENT);
    let mut object = Object::open(out);
    object.field(
        "constraints",
        &production.map_or(&[][..], |env| &env.constraints[..]),
    );
    object.field(
        "exclude",
        &sorted(production.map_or(&[][..], |env| &env.exclude[..])),
    );
    object.field("flags", &Fallbacks(rollout));
    object.field(
        "include",
        &sorted(production.map_or(&[][..], |env| &env.include[..])),
    );
    object.field("salt", &rollout.salt(key));
    object.field("stage", &StageAnswers(stage));
    object.field("v", &2u32);
    object.close();
}

/// What production answers with no stage live (none active, or the kill switch
/// on): every flag's fallback, by type. Two rollouts with the same text answer
/// the same.
pub fn fallback_answers(rollout: &Rollout) -> String {
    let mut out = String::new();
    Fallbacks(rollout).write_json(&mut out);
    out
}

fn sorted(ids: &[String]) -> Vec<&String> {
    let mut ids: Vec<&String> = ids.iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// `{"flag": {"fallback": …, "type": "…"}, …}`, keys sorted.
struct Fallbacks<'a>(&'a Rollout);

impl WriteJson for Fallbacks<'_> {
    fn write_json(&self, out: &mut String) {
        let mut flags: Vec<_> = self.0.flags.iter().collect();
        flags.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out.push('{');
        for (i, (name, flag)) in flags.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_string(name, out);
            out.push(':');
            let mut object = Object::open(out);
            object.field("fallback", &Sorted(&flag.fallback));
            object.field("type", &flag.kind.name());
            object.close();
        }
        out.push('}');
    }
}

struct StageAnswers<'a>(&'a Stage);

impl WriteJson for StageAnswers<'_> {
    fn write_json(&self, out: &mut String) {
        let stage = self.0;
        let mut object = Object::open(out);
        object.field("id", &stage.id);
        object.field("percentage", &Value::Number(stage.percentage.clone()));
        object.field("values", &SortedMap(&stage.values));
        object.close();
    }
}

impl WriteJson for Constraint {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::open(out);
        object.field("attribute", &self.attribute);
        object.field("operator", &Operator::NAMES[self.operator as usize]);
        if let Some(value) = &self.value {
            object.field("value", value);
        }
        if !self.values.is_empty() {
            object.field("values", &self.values);
        }
        object.close();
    }
}

/// A value written with every object's keys sorted.
struct Sorted<'a>(&'a Value);
struct SortedMap<'a>(&'a Map);

impl WriteJson for SortedMap<'_> {
    fn write_json(&self, out: &mut String) {
        let mut entries: Vec<_> = self.0.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out.push('{');
        for (i, (key, value)) in entries.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_string(key, out);
            out.push(':');
            Sorted(value).write_json(out);
        }
        out.push('}');
    }
}

impl WriteJson for Sorted<'_> {
    fn write_json(&self, out: &mut String) {
        match self.0 {
            Value::Object(map) => SortedMap(map).write_json(out),
            Value::Array(items) => {
                let items: Vec<Sorted<'_>> = items.iter().map(Sorted).collect();
                items.write_json(out);
            }
            scalar => scalar.write_json(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(stage: &str, production: &str) -> Rollout {
        let plan = format!(
            r#"{{"schemaVersion":1,"rollouts":{{"r":{{"flags":{{"a":{{"type":"boolean","fallback":false}},"b":{{"type":"boolean","fallback":false}}}},"stages":[{stage}],"environments":{{"production":{production}}}}}}}}}"#
        );
        crate::parse_plan(&plan).unwrap().rollouts["r"].clone()
    }

    fn digest(stage: &str, production: &str) -> String {
        let rollout = rollout(stage, production);
        stage_digest("r", &rollout, &rollout.stages[0])
    }

    const STAGE: &str = r#"{"id":"s","name":"S","percentage":5,"values":{"a":true,"b":false}}"#;
    const LIVE: &str = r#"{"activeStage":"s"}"#;

    #[test]
    fn key_order_and_number_spelling_do_not_matter() {
        let reordered = r#"{"values":{"b":false,"a":true},"percentage":5.0,"name":"S","id":"s"}"#;
        assert_eq!(digest(STAGE, LIVE), digest(reordered, LIVE));
        assert_eq!(digest(STAGE, LIVE).len(), 64);
        // Neither does what the gate rules on, nor what decides no answer.
        for same in [
            r#"{"activeStage":null,"killSwitch":true}"#,
            r#"{"activeStage":"s","include":["u2","u1"]}"#,
        ] {
            let listed = r#"{"activeStage":"s","include":["u1","u2"]}"#;
            let base = if same.contains("include") {
                listed
            } else {
                LIVE
            };
            assert_eq!(digest(STAGE, base), digest(STAGE, same), "{same}");
        }
        let renamed = r#"{"id":"s","name":"Renamed","percentage":5,"plannedFor":"Day 9","values":{"a":true,"b":false},"monitoring":["x"]}"#;
        assert_eq!(digest(STAGE, LIVE), digest(renamed, LIVE));
    }

    #[test]
    fn whatever_decides_production_answers_changes_it() {
        let base = digest(STAGE, LIVE);
        let changes = [
            (
                r#"{"id":"s","name":"S","percentage":6,"values":{"a":true,"b":false}}"#,
                LIVE,
            ),
            (
                r#"{"id":"s","name":"S","percentage":5,"values":{"a":true,"b":true}}"#,
                LIVE,
            ),
            (
                r#"{"id":"t","name":"S","percentage":5,"values":{"a":true,"b":false}}"#,
                r#"{"activeStage":"t"}"#,
            ),
            (STAGE, r#"{"activeStage":"s","include":["u1"]}"#),
            (STAGE, r#"{"activeStage":"s","exclude":["u1"]}"#),
            (
                STAGE,
                r#"{"activeStage":"s","constraints":[{"attribute":"platform","operator":"in","values":["web"]}]}"#,
            ),
        ];
        for (stage, production) in changes {
            assert_ne!(base, digest(stage, production), "{stage} {production}");
        }
        let mut salted = rollout(STAGE, LIVE);
        salted.salt = Some("other".into());
        assert_ne!(base, stage_digest("r", &salted, &salted.stages[0]));
        let mut fallback = rollout(STAGE, LIVE);
        fallback.flags.get_mut("b").unwrap().fallback = Value::Bool(true);
        assert_ne!(base, stage_digest("r", &fallback, &fallback.stages[0]));
        assert_ne!(
            fallback_answers(&fallback),
            fallback_answers(&rollout(STAGE, LIVE))
        );
    }
}
