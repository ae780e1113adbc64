//! tests/testdata/gate/cases.json, each case built into the plan as it is and
//! the plan a write proposes (the file's description says how to read it).
//! Run natively against the evaluator (tests/it/testdata.rs) and against what
//! the console's editor asks before it offers a save (console/src/gate.rs).

use evaluator::Plan;
use evaluator::model::{Role, SIGNOFF_ROLES, Signoff};
use serde_json::Value;

use crate::{default_plan, read_json, testdata};

const ROLLOUT: &str = "domain-migration";

/// One case: who writes, the two plans, and what the gate must answer.
pub struct GateCase {
    pub name: String,
    pub role: Role,
    pub old: Plan,
    pub new: Plan,
    /// `"allowed"`, or the refusal: `refused`, `stage`, `missingRoles`, `afterRevision`.
    pub expect: Value,
}

pub fn gate_cases() -> Vec<GateCase> {
    let file = read_json(&testdata("gate/cases.json"));
    let cases = file["cases"].as_array().expect("cases is an array");
    cases.iter().map(gate_case).collect()
}

fn gate_case(case: &Value) -> GateCase {
    let name = case["name"]
        .as_str()
        .expect("a case has a name")
        .to_string();
    let mut before = default_plan();
    edit(&mut before, &case["before"], &case["beforeRemove"]);
    let mut after = before.clone();
    edit(&mut after, &case["after"], &case["remove"]);
    let (mut old, mut new) = (plan(&before, &name), plan(&after, &name));
    for (i, (stage, role, on, revision)) in signoffs(&case["signoffs"]).into_iter().enumerate() {
        let pinned = if on == "after" { &new } else { &old };
        let rollout = &pinned.rollouts[ROLLOUT];
        let digest = evaluator::stage_digest(
            ROLLOUT,
            rollout,
            rollout
                .stage(&stage)
                .unwrap_or_else(|| panic!("{name}: no stage {stage}")),
        );
        let signoff = Signoff {
            id: format!("s{i}"),
            rollout: ROLLOUT.into(),
            stage,
            role,
            by: format!("person-{i}"),
            at: "2026-11-24T10:00:00Z".into(),
            stage_digest: digest,
            revision,
            comment: None,
        };
        old.signoffs.push(signoff.clone());
        new.signoffs.push(signoff);
    }
    let role = case["role"].as_str().and_then(Role::from_name);
    GateCase {
        role: role.unwrap_or_else(|| panic!("{name}: role is not a role")),
        name,
        old,
        new,
        expect: case["expect"].clone(),
    }
}

/// Applies `set` (pointer → value; a new key or index one past the end adds)
/// and `remove` (pointers) to a plan.
fn edit(plan: &mut Value, set: &Value, remove: &Value) {
    for (pointer, value) in set.as_object().into_iter().flatten() {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer has a parent");
        match plan.pointer_mut(parent) {
            Some(Value::Object(map)) => {
                map.insert(key.to_string(), value.clone());
            }
            Some(Value::Array(items)) => {
                let i: usize = key.parse().expect("an array index");
                if i == items.len() {
                    items.push(value.clone());
                } else {
                    items[i] = value.clone();
                }
            }
            other => panic!("{pointer}: parent is {other:?}"),
        }
    }
    for pointer in remove.as_array().into_iter().flatten() {
        let pointer = pointer.as_str().expect("a pointer is a string");
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer has a parent");
        let removed = plan
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .and_then(|map| map.remove(key));
        assert!(removed.is_some(), "remove: nothing at {pointer}");
    }
}

/// A case's plan, which must be valid (the gate only ever sees valid plans).
fn plan(value: &Value, name: &str) -> Plan {
    evaluator::parse_plan(&value.to_string()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `(stage, role, on, revision)` of each sign-off a case lists.
fn signoffs(list: &Value) -> Vec<(String, String, String, u64)> {
    if let Some(short) = list.as_str() {
        // `all STAGE` or `all STAGE at REVISION`
        let words: Vec<&str> = short.split(' ').collect();
        let revision = words
            .get(3)
            .map_or(1, |r| r.parse().expect("a revision number"));
        return SIGNOFF_ROLES
            .iter()
            .map(|role| {
                (
                    words[1].to_string(),
                    role.to_string(),
                    "before".into(),
                    revision,
                )
            })
            .collect();
    }
    let text = |s: &Value, key: &str| s[key].as_str().map(str::to_string);
    list.as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                text(s, "stage").expect("a sign-off names its stage"),
                text(s, "role").expect("a sign-off names its role"),
                text(s, "on").unwrap_or_else(|| "before".into()),
                s["revision"].as_u64().unwrap_or(1),
            )
        })
        .collect()
}
