//! Runs tests/testdata/flag-keys.json against `evaluator::flag_key::find`, on a
//! plan and on an evaluator prepared from it. The JavaScript providers run the
//! same file.

use evaluator::Evaluator;
use evaluator::flag_key::find;
use serde_json::{Value, json};
use stagegate_tests::{read_json, testdata};

#[test]
fn flag_key_cases() {
    let cases = read_json(&testdata("flag-keys.json"));
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 20, "only {} flag key cases", cases.len());
    for case in cases {
        let name = &case["name"];
        let evaluator = Evaluator::from_value(ours(&plan_of(case)))
            .unwrap_or_else(|e| panic!("{name}: the case's plan: {e}"));
        let (environment, key) = (
            case["environment"].as_str().unwrap(),
            case["key"].as_str().unwrap(),
        );
        let want = &case["found"];
        let by_plan = find(evaluator.plan(), environment, key);
        let by_evaluator = find(&evaluator, environment, key);
        assert_eq!(by_plan, by_evaluator, "{name}");
        let got = by_plan.map_or(Value::Null, |(rollout, flag)| json!([rollout, flag]));
        assert_eq!(&got, want, "{name}: key {key:?} in {environment}");
    }
}

/// A plan with the case's rollouts and flags (booleans, no stage): each has the
/// case's environment unless listed under `without`.
fn plan_of(case: &Value) -> Value {
    let without: Vec<&str> = case
        .get("without")
        .map(|list| {
            list.as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect()
        })
        .unwrap_or_default();
    let mut rollouts = serde_json::Map::new();
    for (rollout, flags) in case["rollouts"].as_object().unwrap() {
        let flags: serde_json::Map<String, Value> = (flags.as_array().unwrap().iter())
            .map(|flag| {
                let flag = flag.as_str().unwrap().to_string();
                (flag, json!({ "type": "boolean", "fallback": false }))
            })
            .collect();
        let environment = if without.contains(&rollout.as_str()) {
            "elsewhere"
        } else {
            case["environment"].as_str().unwrap()
        };
        rollouts.insert(
            rollout.clone(),
            json!({
                "flags": flags,
                "stages": [],
                "environments": { environment: { "activeStage": null } },
            }),
        );
    }
    json!({ "schemaVersion": 1, "rollouts": rollouts })
}

/// A test file's JSON as the evaluator's own value, read by its own parser.
fn ours(value: &Value) -> evaluator::json::Value {
    evaluator::json::parse(&value.to_string()).unwrap()
}
