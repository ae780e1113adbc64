//! The digest a sign-off pins its stage with.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::Stage;

/// SHA-256 (hex) of the stage's canonical JSON: object keys sorted, no spaces, so
/// that reordering keys in the document does not make sign-offs stale.
pub fn stage_digest(stage: &Stage) -> String {
    let value = serde_json::to_value(stage).unwrap_or(Value::Null);
    let mut canonical = String::new();
    write_canonical(&value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
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
