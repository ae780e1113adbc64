//! Audit entries and the readable summary of what a write changed.

use evaluator::model::Plan;
use serde::Serialize;
use serde_json::Value;
use stagegate_api::diff::{self, Change};

pub use stagegate_api::AuditEntry;

/// How many changed paths to list before saying "and N more".
const MAX_LINES: usize = 40;

/// What changed from `old` to `new`, one readable line per change; the store's own
/// `revision` field is left out (it always changes).
pub fn summarize(old: &Plan, new: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    for key in new.rollouts.keys() {
        if !old.rollouts.contains_key(key) {
            lines.push(format!("rollout {key} added"));
        }
    }
    for key in old.rollouts.keys() {
        if !new.rollouts.contains_key(key) {
            lines.push(format!("rollout {key} removed"));
        }
    }
    for (key, new_rollout) in &new.rollouts {
        let Some(old_rollout) = old.rollouts.get(key) else {
            continue;
        };
        for (name, env) in &new_rollout.environments {
            let Some(before) = old_rollout.environments.get(name) else {
                lines.push(format!("{key}: environment {name} added"));
                continue;
            };
            if before.active_stage != env.active_stage {
                lines.push(format!(
                    "{key}/{name}: activeStage {} → {}",
                    stage_name(&before.active_stage),
                    stage_name(&env.active_stage)
                ));
            }
            if before.kill_switch != env.kill_switch {
                lines.push(format!(
                    "{key}/{name}: kill switch {} → {}",
                    on_off(before.kill_switch),
                    on_off(env.kill_switch)
                ));
            }
            let (old_env, new_env) = (to_value(before), to_value(env));
            for field in ["include", "exclude", "constraints"] {
                if old_env.get(field) != new_env.get(field) {
                    lines.push(format!("{key}/{name}: {field} changed"));
                }
            }
        }
        for name in old_rollout.environments.keys() {
            if !new_rollout.environments.contains_key(name) {
                lines.push(format!("{key}: environment {name} removed"));
            }
        }
        for stage in &new_rollout.stages {
            let Some(before) = old_rollout.stage(&stage.id) else {
                lines.push(format!("{key}: stage {} added", stage.id));
                continue;
            };
            if before.percentage != stage.percentage {
                lines.push(format!(
                    "{key}/{}: percentage {} → {}",
                    stage.id, before.percentage, stage.percentage
                ));
            }
            let (mut old_stage, mut new_stage) = (to_value(before), to_value(stage));
            for value in [&mut old_stage, &mut new_stage] {
                if let Value::Object(map) = value {
                    map.remove("percentage");
                }
            }
            let paths = changed_paths(&old_stage, &new_stage);
            lines.extend(
                paths
                    .into_iter()
                    .map(|path| format!("{key}/{}: {path}", stage.id)),
            );
        }
        for stage in &old_rollout.stages {
            if new_rollout.stage(&stage.id).is_none() {
                lines.push(format!("{key}: stage {} removed", stage.id));
            }
        }
        let order = |r: &evaluator::model::Rollout| {
            r.stages.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
        };
        if order(old_rollout).len() == order(new_rollout).len()
            && order(old_rollout) != order(new_rollout)
        {
            lines.push(format!("{key}: stages reordered"));
        }
        // Everything else (flags, description, checklist, triggers): changed JSON paths.
        let strip = |rollout: &evaluator::model::Rollout| {
            let mut value = to_value(rollout);
            if let Value::Object(map) = &mut value {
                map.remove("stages");
                map.remove("environments");
            }
            value
        };
        let paths = changed_paths(&strip(old_rollout), &strip(new_rollout));
        lines.extend(paths.into_iter().map(|path| format!("{key}: {path}")));
    }
    for signoff in &new.signoffs {
        if !old.signoffs.iter().any(|s| s.id == signoff.id) {
            lines.push(format!(
                "sign-off by {} ({}) for {}/{} added",
                signoff.by, signoff.role, signoff.rollout, signoff.stage
            ));
        }
    }
    for signoff in &old.signoffs {
        if !new.signoffs.iter().any(|s| s.id == signoff.id) {
            lines.push(format!(
                "sign-off by {} ({}) for {}/{} removed",
                signoff.by, signoff.role, signoff.rollout, signoff.stage
            ));
        }
    }
    if old.schema_version != new.schema_version {
        lines.push(format!(
            "schemaVersion {} → {}",
            old.schema_version, new.schema_version
        ));
    }
    if lines.len() > MAX_LINES {
        let more = lines.len() - MAX_LINES;
        lines.truncate(MAX_LINES);
        lines.push(format!("… and {more} more"));
    }
    if lines.is_empty() {
        lines.push("no change".into());
    }
    lines
}

fn stage_name(stage: &Option<String>) -> &str {
    stage.as_deref().unwrap_or("none")
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn to_value(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// JSON Pointers of the leaves that differ, with old → new for short scalars.
fn changed_paths(old: &Value, new: &Value) -> Vec<String> {
    let line = |Change {
                    path,
                    before,
                    after,
                }| match (before, after) {
        (None, _) => format!("{path} added"),
        (_, None) => format!("{path} removed"),
        (Some(a), Some(b)) if is_short_scalar(&a) && is_short_scalar(&b) => {
            format!("{path}: {a} → {b}")
        }
        _ => format!("{path} changed"),
    };
    diff::changes(old, new).into_iter().map(line).collect()
}

fn is_short_scalar(value: &Value) -> bool {
    match value {
        Value::String(text) => text.chars().count() <= 60,
        Value::Array(_) | Value::Object(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        evaluator::parse_plan(include_str!("../../static/default-plan.json")).unwrap()
    }

    #[test]
    fn names_stage_moves_percentages_and_other_paths() {
        let old = plan();
        let mut new = old.clone();
        let rollout = new.rollouts.values_mut().next().unwrap();
        rollout
            .environments
            .get_mut("production")
            .unwrap()
            .active_stage = Some("stage-1".into());
        rollout.stages[1].percentage = 30.into();
        rollout.stages[1].name = "Stage 2: 30%".into();
        rollout.checklist[0].done = !rollout.checklist[0].done;
        let lines = summarize(&old, &new);
        assert!(
            lines.contains(&"domain-migration/production: activeStage none → stage-1".into()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"domain-migration/stage-2: percentage 25 → 30".into()),
            "{lines:?}"
        );
        assert!(lines.contains(
            &"domain-migration/stage-2: /name: \"Stage 2: 25%\" → \"Stage 2: 30%\"".into()
        ));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("domain-migration: /checklist/0/done")),
            "{lines:?}"
        );
        assert_eq!(summarize(&old, &old), vec!["no change".to_string()]);
    }
}
