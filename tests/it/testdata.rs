//! Runs every file under tests/testdata against the native evaluator. The
//! JavaScript tests (tests/js) run the same files against the npm package.

use evaluator::json::WriteJson;
use evaluator::model::FlagType;
use evaluator::{Context, Evaluator, bucket, evaluate_once, parse_plan};
use serde_json::{Value, json};
use stagegate_tests::{case_files, case_plan, read_json, testdata};

#[test]
fn bucket_vectors() {
    let file = read_json(&testdata("bucket-vectors.json"));
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() >= 1000, "only {} bucket vectors", cases.len());
    for case in cases {
        let (salt, unit) = (
            case["salt"].as_str().unwrap(),
            case["unit"].as_str().unwrap(),
        );
        assert_eq!(
            u64::from(evaluator::bucket::hash(salt, unit)),
            case["hash"],
            "hash of {salt:?} + {unit:.40?}"
        );
        assert_eq!(
            u64::from(bucket(salt, unit)),
            case["bucket"],
            "bucket of {salt:?} + {unit:.40?}"
        );
    }
}

#[test]
fn evaluation_cases() {
    let mut ran = 0;
    for path in case_files("evaluation") {
        let file = read_json(&path);
        for case in file["cases"].as_array().unwrap() {
            let name = format!(
                "{}: {}",
                path.file_name().unwrap().to_string_lossy(),
                case["name"]
            );
            let actual = run_case(&file, case);
            for (field, want) in case["expect"].as_object().unwrap() {
                assert_eq!(
                    actual.get(field),
                    Some(want),
                    "{name}: field {field}\nwhole answer: {actual}"
                );
            }
            ran += 1;
        }
    }
    assert!(ran >= 40, "only {ran} evaluation cases");
}

fn run_case(file: &Value, case: &Value) -> Value {
    let (rollout, environment) = (
        case["rollout"].as_str().unwrap(),
        case["environment"].as_str().unwrap(),
    );
    let context = ours(&case["context"]);
    if let Some(text) = case["planText"].as_str() {
        let context = Context::from_value(context).unwrap();
        return both_ways(&evaluate_once(text, rollout, environment, &context));
    }
    let plan = case_plan(file, case).expect("case has a plan");
    let evaluator =
        Evaluator::from_value(ours(&plan)).unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
    match case.get("flag") {
        None => both_ways(&evaluator.evaluate_value(rollout, environment, context)),
        Some(flag) => {
            let expected = case
                .get("type")
                .map(|t| FlagType::from_name(t.as_str().unwrap()).unwrap());
            let context = Context::from_value(context).unwrap();
            let resolution = evaluator.resolve(
                rollout,
                flag.as_str().unwrap(),
                environment,
                &context,
                expected,
            );
            both_ways(&resolution)
        }
    }
}

/// A test file's JSON as the evaluator's own value, read by its own parser.
fn ours(value: &Value) -> evaluator::json::Value {
    evaluator::json::parse(&value.to_string()).unwrap()
}

/// An answer as JSON, written by serde (server, CLI) and by the evaluator's own
/// writer (npm package); the two must agree.
fn both_ways(answer: &(impl serde::Serialize + WriteJson)) -> Value {
    let by_serde = serde_json::to_value(answer).unwrap();
    let mut text = String::new();
    answer.write_json(&mut text);
    let by_writer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(by_serde, by_writer, "serde and the JSON writer disagree");
    by_serde
}

#[test]
fn validation_cases() {
    for path in case_files("validation") {
        let file = read_json(&path);
        for case in file["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let text = match case.get("planText") {
                Some(text) => text.as_str().unwrap().to_string(),
                None => serde_json::to_string_pretty(&case["plan"]).unwrap(),
            };
            let problems = match parse_plan(&text) {
                Ok(_) => vec![],
                Err(invalid) => invalid.0,
            };
            let mut problems = problems;
            problems.sort_by(|a, b| a.path.cmp(&b.path));
            let mut want = case["problems"].as_array().unwrap().clone();
            want.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
            let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
            let want_paths: Vec<&str> = want.iter().map(|p| p["path"].as_str().unwrap()).collect();
            assert_eq!(paths, want_paths, "{name}: paths\n{problems:#?}");
            for (problem, want) in problems.iter().zip(&want) {
                if let Some(fragment) = want.get("messageContains") {
                    let fragment = fragment.as_str().unwrap();
                    assert!(
                        problem.message.contains(fragment),
                        "{name}: {:?} lacks {fragment:?}",
                        problem.message
                    );
                }
                for field in ["line", "column"] {
                    if let Some(expected) = want.get(field) {
                        let actual = if field == "line" {
                            problem.line
                        } else {
                            problem.column
                        };
                        assert_eq!(json!(actual), *expected, "{name}: {field}");
                    }
                }
            }
        }
    }
}

#[test]
fn default_plan_encodes_the_rollout_plan() {
    let text =
        std::fs::read_to_string(stagegate_tests::root().join("static/default-plan.json")).unwrap();
    let plan = parse_plan(&text).unwrap_or_else(|e| panic!("{e}"));
    let rollout = &plan.rollouts["domain-migration"];
    let stages: Vec<(String, String, Option<String>)> = rollout
        .stages
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                s.percentage.to_string(),
                s.planned_for.clone(),
            )
        })
        .collect();
    let expected: Vec<(String, String, Option<String>)> = [
        ("stage-1", "5", "Day 4"),
        ("stage-2", "25", "Day 5"),
        ("stage-3", "50", "Day 6"),
        ("stage-4", "100", "Day 7"),
    ]
    .into_iter()
    .map(|(id, pct, day)| (id.to_string(), pct.to_string(), Some(day.to_string())))
    .collect();
    assert_eq!(stages, expected);
    // The seed's MigrationConfig per stage: enableMigration, useDomainEntities, enableDualProviders.
    let seed = [
        (true, false, true),
        (true, true, true),
        (true, true, true),
        (true, true, false),
    ];
    for (stage, (migration, entities, dual)) in rollout.stages.iter().zip(seed) {
        assert_eq!(stage.values["enableMigration"], migration, "{}", stage.id);
        assert_eq!(stage.values["useDomainEntities"], entities, "{}", stage.id);
        assert_eq!(stage.values["enableDualProviders"], dual, "{}", stage.id);
        assert_eq!(stage.required_signoffs, evaluator::model::SIGNOFF_ROLES);
    }
    assert_eq!(
        rollout.environments.keys().collect::<Vec<_>>(),
        ["staging", "production"]
    );
    assert_eq!(rollout.environments["production"].active_stage, None);
    // The plan's four "Immediate Rollback Trigger Conditions", as triggers.
    let triggers: Vec<String> = rollout
        .rollback_triggers
        .iter()
        .map(|t| {
            let per = t
                .per
                .as_deref()
                .map(|per| format!(" per {per}"))
                .unwrap_or_default();
            let compare = t
                .compare
                .map(|c| format!(" {}", c.name()))
                .unwrap_or_default();
            let action = t.action.name();
            format!(
                "{}: {}{per}{compare} > {} {action}",
                t.metric, t.event, t.threshold
            )
        })
        .collect();
    assert_eq!(
        triggers,
        [
            "crashRate: crash per session control > 2 rollback",
            "dataCorruption: dataCorruption > 0 rollback",
            "syncFailureRate: syncFailure per syncOperation ceiling > 5 rollback",
            "criticalBugs: criticalBug > 0 rollback",
        ]
    );
    // Day 4 → 5 → 6 → 7: a day's soak on each stage but the last.
    let soak: Vec<Option<String>> = rollout
        .stages
        .iter()
        .map(|s| s.soak_hours.as_ref().map(|h| h.to_string()))
        .collect();
    assert_eq!(
        soak,
        [
            Some("24".into()),
            Some("24".into()),
            Some("24".into()),
            None
        ]
    );
    // 11 + 8 checkbox items in the two validation phases, 5 success criteria.
    let per_phase = |prefix: &str| {
        rollout
            .checklist
            .iter()
            .filter(|i| i.phase.starts_with(prefix))
            .count()
    };
    assert_eq!(
        (
            per_phase("Phase 1"),
            per_phase("Phase 2"),
            per_phase("Success")
        ),
        (11, 8, 5)
    );
}

/// The gate's cases (tests/testdata/gate): a write from one plan to another, by
/// one role, allowed or refused exactly as the file says.
#[test]
fn gate_cases() {
    use evaluator::gate::RefusalKind;
    let cases = stagegate_tests::gate_cases();
    for case in &cases {
        let name = &case.name;
        let result = evaluator::gate::check(&case.old, &case.new, case.role);
        let expect = &case.expect;
        if expect == "allowed" {
            assert!(result.is_ok(), "{name}: refused: {result:?}");
            continue;
        }
        let refusal = result.err().unwrap_or_else(|| panic!("{name}: allowed"));
        let kind = match refusal.kind {
            RefusalKind::SignoffsMissing => "signoffs-missing",
            RefusalKind::AdminOnly => "admin-only",
        };
        assert_eq!(kind, expect["refused"], "{name}: {}", refusal.message);
        if let Some(stage) = expect.get("stage") {
            assert_eq!(json!(refusal.stage), *stage, "{name}");
        }
        let missing: Vec<&str> = refusal.missing.iter().map(|r| r.name()).collect();
        let want = expect.get("missingRoles").cloned().unwrap_or(json!([]));
        assert_eq!(json!(missing), want, "{name}");
        assert_eq!(
            json!(refusal.after_revision),
            expect.get("afterRevision").cloned().unwrap_or(Value::Null),
            "{name}"
        );
        assert!(!refusal.message.is_empty());
    }
    assert!(cases.len() >= 40, "only {} gate cases", cases.len());
}
