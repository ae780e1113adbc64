//! The digest a sign-off pins its stage with.

use sha2::{Digest, Sha256};

use crate::json::{Map, Object, Value, WriteJson, write_string};
use crate::model::Stage;

/// SHA-256 (hex) of the stage's canonical JSON: object keys sorted, no spaces,
/// numbers in their one canonical form, fields at their defaults left out; so
/// reordering keys or rewriting `5.0` as `5` does not make sign-offs stale.
pub fn stage_digest(stage: &Stage) -> String {
    let mut canonical = String::new();
    // Field names in sorted order.
    let mut object = Object::open(&mut canonical);
    object.field("id", &stage.id);
    if !stage.monitoring.is_empty() {
        object.field("monitoring", &stage.monitoring);
    }
    object.field("name", &stage.name);
    object.field("percentage", &Value::Number(stage.percentage.clone()));
    if let Some(planned_for) = &stage.planned_for {
        object.field("plannedFor", planned_for);
    }
    if !stage.required_signoffs.is_empty() {
        object.field("requiredSignoffs", &stage.required_signoffs);
    }
    object.field("values", &SortedMap(&stage.values));
    object.close();
    let digest = Sha256::digest(canonical.as_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    digest
        .iter()
        .flat_map(|byte| [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xF)]])
        .map(char::from)
        .collect()
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

    fn stage(json: &str) -> Stage {
        let plan = format!(
            r#"{{"schemaVersion":1,"rollouts":{{"r":{{"flags":{{"a":{{"type":"boolean","fallback":false}},"b":{{"type":"boolean","fallback":false}}}},"stages":[{json}],"environments":{{"e":{{"activeStage":null}}}}}}}}}}"#
        );
        crate::parse_plan(&plan).unwrap().rollouts["r"].stages[0].clone()
    }

    #[test]
    fn key_order_does_not_matter_but_content_does() {
        let a = stage(r#"{"id":"s","name":"S","percentage":5,"values":{"a":true,"b":false}}"#);
        let b = stage(r#"{"values":{"b":false,"a":true},"percentage":5,"name":"S","id":"s"}"#);
        let c = stage(r#"{"id":"s","name":"S","percentage":6,"values":{"a":true,"b":false}}"#);
        assert_eq!(stage_digest(&a), stage_digest(&b));
        assert_ne!(stage_digest(&a), stage_digest(&c));
        assert_eq!(stage_digest(&a).len(), 64);
    }
}
