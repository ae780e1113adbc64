//! Arbitrary plans and contexts: reading, validating and evaluating never panic,
//! and an evaluation always answers with a reason (and an error code exactly when
//! the reason is ERROR).

use evaluator::{Context, Evaluator, Reason, evaluate_once, parse_plan};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e3f64..1e3).prop_map(|f| json!(f)),
        "[a-z0-9.-]{0,8}".prop_map(Value::String),
        prop::sample::select(vec![
            "stage-1",
            "boolean",
            "semverGte",
            "in",
            "3.4.1",
            "web",
            "x"
        ])
        .prop_map(|s| json!(s)),
    ]
}

/// Any JSON, biased towards the plan's own field names so that deep paths are reached.
fn any_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "schemaVersion",
        "rollouts",
        "r",
        "flags",
        "f",
        "type",
        "fallback",
        "stages",
        "id",
        "name",
        "percentage",
        "values",
        "environments",
        "e",
        "activeStage",
        "killSwitch",
        "include",
        "exclude",
        "constraints",
        "attribute",
        "operator",
        "value",
        "signoffs",
        "role",
        "stage",
        "zzz",
    ]);
    scalar().prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|entries| Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect()
            )),
        ]
    })
}

/// Plans of the right shape with arbitrary content: percentages, references,
/// constraints and values that may or may not make sense.
fn shaped_plan() -> impl Strategy<Value = Value> {
    let percentage = prop_oneof![
        4 => (0u32..=10_000).prop_map(|points| json!(f64::from(points) / 100.0)),
        1 => (-5.0f64..110.0).prop_map(|pct| json!(pct)),
    ];
    let on = prop_oneof![4 => any::<bool>().prop_map(Some), 1 => Just(None)];
    let stage = (0u8..4, scalar(), on, percentage).prop_map(|(id, value, on, percentage)| {
        let mut values = Map::new();
        values.insert("f".into(), on.map_or(value, Value::Bool));
        json!({ "id": format!("s{id}"), "name": "S", "percentage": percentage, "values": values })
    });
    let constraint = (
        prop::sample::select(vec!["platform", "appVersion", "targetingKey", ""]),
        prop::sample::select(vec![
            "in",
            "notIn",
            "semverEq",
            "semverGt",
            "semverGte",
            "semverLt",
            "semverLte",
        ]),
        prop::collection::vec("[a-z0-9.]{0,5}", 0..3),
        prop::option::of(prop::sample::select(vec!["3.4.1", "1", "x", "2.0.0-rc.1"])),
    )
        .prop_map(|(attribute, operator, values, value)| {
            let mut c = json!({ "attribute": attribute, "operator": operator, "values": values });
            if let Some(value) = value {
                c["value"] = json!(value);
            }
            c
        });
    let env = (
        prop::option::of(0u8..5),
        any::<bool>(),
        prop::collection::vec("u[0-9]", 0..3),
        prop::collection::vec("u[0-9]", 0..3),
        prop::collection::vec(constraint, 0..3),
    )
        .prop_map(|(active, kill, include, exclude, constraints)| {
            json!({ "activeStage": active.map(|i| format!("s{i}")), "killSwitch": kill,
                    "include": include, "exclude": exclude, "constraints": constraints })
        });
    let flag = prop_oneof![
        4 => any::<bool>().prop_map(|on| ("boolean", Value::Bool(on))),
        1 => (prop::sample::select(vec!["boolean", "string", "number", "json"]), scalar()),
    ];
    (
        prop::collection::vec(stage, 0..5),
        prop::collection::vec(env, 1..3),
        flag,
        any::<bool>(),
    )
        .prop_map(|(mut stages, envs, (kind, fallback), tidy)| {
            if tidy {
                // Mostly valid: unique ids in order of rising percentage.
                stages.sort_by(|a, b| {
                    a["percentage"]
                        .as_f64()
                        .partial_cmp(&b["percentage"].as_f64())
                        .unwrap()
                });
                for (i, stage) in stages.iter_mut().enumerate() {
                    stage["id"] = json!(format!("s{i}"));
                }
            }
            let environments: Map<String, Value> = envs
                .into_iter()
                .enumerate()
                .map(|(i, e)| (format!("e{i}"), e))
                .collect();
            json!({ "schemaVersion": 1, "rollouts": { "r": {
                "flags": { "f": { "type": kind, "fallback": fallback } },
                "stages": stages, "environments": environments } } })
        })
}

fn any_context() -> impl Strategy<Value = Value> {
    prop_oneof![
        any_json(),
        (
            prop::option::of(".{0,12}"),
            prop::option::of(scalar()),
            prop::option::of(scalar())
        )
            .prop_map(|(key, platform, version)| {
                let mut c = json!({});
                if let Some(key) = key {
                    c["targetingKey"] = json!(key);
                }
                if let Some(p) = platform {
                    c["platform"] = p;
                }
                if let Some(v) = version {
                    c["appVersion"] = v;
                }
                c
            }),
    ]
}

fn check(evaluator: &Evaluator, environment: &str, context: Value) {
    let key = context
        .get("targetingKey")
        .and_then(Value::as_str)
        .map(str::to_string);
    let answer = evaluator.evaluate_value("r", environment, ours(&context));
    assert_eq!(
        answer.reason == Reason::Error,
        answer.error_code.is_some(),
        "{answer:?}"
    );
    if let Some(bucket) = answer.bucket {
        assert!(bucket < 10_000);
    }
    if let Some(key) = key {
        evaluator.is_enabled("r", "f", environment, &key);
    }
}

/// The same JSON as the evaluator's own value, through its own parser; and what
/// that parser reads, its writer writes back the same.
fn ours(value: &Value) -> evaluator::json::Value {
    let ours = evaluator::json::parse(&value.to_string()).unwrap();
    assert_eq!(evaluator::json::parse(&ours.to_json()).unwrap(), ours);
    ours
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_reads_without_panicking(text in ".{0,200}") {
        let _ = parse_plan(&text);
        let _ = evaluate_once(&text, "r", "e", &Context::new("u"));
    }

    #[test]
    fn any_json_reads_without_panicking(value in any_json(), context in any_context()) {
        if let Ok(evaluator) = Evaluator::from_value(ours(&value)) {
            check(&evaluator, "e", context);
        }
    }

    #[test]
    fn shaped_plans_validate_or_evaluate(plan in shaped_plan(), context in any_context(), env in 0u8..3) {
        match Evaluator::from_value(ours(&plan)) {
            Ok(evaluator) => check(&evaluator, &format!("e{env}"), context),
            Err(invalid) => prop_assert!(!invalid.0.is_empty()),
        }
    }
}
