//! What may happen, and why not: roles, stage gates and sign-offs, computed from the
//! plan with the evaluator's own types so the console and the server agree.

use evaluator::Plan;
use evaluator::model::{Environment, GATED_ENVIRONMENT, Role, Rollout, Signoff, Stage};
use stagegate_api::{Action, Me};

/// `Ok` if the server lets the user make this change to the plan (edit it, move
/// a stage, flip a kill switch), else why not.
pub fn may_change(me: &Me, action: Action) -> Result<(), String> {
    if me.may(action) {
        Ok(())
    } else {
        Err(format!(
            "Your role ({}) may not change the plan; ask an editor or admin.",
            me.role
        ))
    }
}

/// Sign-offs of one stage in one role, newest last.
pub fn signoffs_for<'a>(
    plan: &'a Plan,
    rollout: &'a str,
    stage: &'a str,
    role: &'a str,
) -> impl Iterator<Item = &'a Signoff> {
    plan.signoffs
        .iter()
        .filter(move |s| s.rollout == rollout && s.stage == stage && s.role == role)
}

/// Index of the environment's active stage, if any.
pub fn active_index(rollout: &Rollout, environment: &str) -> Option<usize> {
    let active = rollout
        .environments
        .get(environment)?
        .active_stage
        .as_deref()?;
    rollout.stages.iter().position(|stage| stage.id == active)
}

/// The stage after the active one (the first one when none is active).
pub fn next_stage<'a>(rollout: &'a Rollout, environment: &str) -> Option<&'a Stage> {
    match active_index(rollout, environment) {
        Some(i) => rollout.stages.get(i + 1),
        None => rollout.stages.first(),
    }
}

/// Why the server would refuse a write that turns `old` into `new` by someone
/// in `role`: the server's own rule (`evaluator::gate::check`), before saving.
pub fn refused(role: Role, old: &Plan, new: &Plan) -> Option<String> {
    evaluator::gate::check(old, new, role)
        .err()
        .map(|refusal| refusal.message)
}

/// Why moving `environment` forward to `stage` must wait, if it must: the gate
/// asked about the plan with that move made.
pub fn advance_blocked(
    plan: &Plan,
    rollout: &str,
    environment: &str,
    stage: &Stage,
) -> Option<String> {
    let what = stage.name.clone();
    blocked(plan, rollout, environment, &what, |env| {
        env.active_stage = Some(stage.id.clone())
    })
}

/// Why turning the kill switch off in `environment` must wait, if it must: an
/// incident voids earlier sign-offs of the live stage.
pub fn kill_off_blocked(plan: &Plan, rollout: &str, environment: &str) -> Option<String> {
    blocked(
        plan,
        rollout,
        environment,
        "Turning the kill switch off",
        |env| env.kill_switch = false,
    )
}

/// The gate's answer to `edit` of one environment, as a sentence naming the roles
/// whose sign-off is missing.
fn blocked(
    plan: &Plan,
    rollout: &str,
    environment: &str,
    what: &str,
    edit: impl FnOnce(&mut Environment),
) -> Option<String> {
    if environment != GATED_ENVIRONMENT {
        return None;
    }
    let mut changed = plan.clone();
    edit(
        changed
            .rollouts
            .get_mut(rollout)?
            .environments
            .get_mut(environment)?,
    );
    let refusal = evaluator::gate::check(plan, &changed, Role::Editor).err()?;
    let names: Vec<&str> = refusal.missing.iter().map(|role| role.name()).collect();
    let after = match refusal.after_revision {
        Some(revision) => {
            format!(" (given after the rollback or kill switch at revision {revision})")
        }
        None => String::new(),
    };
    Some(format!(
        "{what} still needs sign-off from: {}{after}",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use evaluator::model::SIGNOFF_ROLES;

    fn plan() -> Plan {
        evaluator::parse_plan(include_str!("../../static/default-plan.json")).unwrap()
    }

    fn sign(plan: &mut Plan, role: &str) {
        let rollout = &plan.rollouts["domain-migration"];
        let digest = evaluator::stage_digest("domain-migration", rollout, &rollout.stages[0]);
        plan.signoffs.push(Signoff {
            id: format!("s-{role}"),
            rollout: "domain-migration".into(),
            stage: "stage-1".into(),
            role: role.into(),
            by: "someone".into(),
            at: "2026-11-24T10:00:00Z".into(),
            stage_digest: digest,
            revision: 1,
            comment: None,
        });
    }

    #[test]
    fn production_waits_for_every_current_signoff() {
        let mut plan = plan();
        plan.signoffs.clear();
        let stage = plan.rollouts["domain-migration"].stages[0].clone();
        assert_eq!(plan.missing_signoffs("domain-migration", &stage).len(), 4);
        for role in SIGNOFF_ROLES {
            assert!(advance_blocked(&plan, "domain-migration", "production", &stage).is_some());
            sign(&mut plan, role);
        }
        assert_eq!(
            advance_blocked(&plan, "domain-migration", "production", &stage),
            None
        );
        assert_eq!(
            advance_blocked(&plan, "domain-migration", "staging", &stage),
            None
        );
    }

    #[test]
    fn a_changed_stage_makes_its_signoffs_stale() {
        let mut plan = plan();
        plan.signoffs.clear();
        for role in SIGNOFF_ROLES {
            sign(&mut plan, role);
        }
        let rollout = plan.rollouts.get_mut("domain-migration").unwrap();
        rollout.stages[0].percentage = 6.into();
        let stage = rollout.stages[0].clone();
        assert_eq!(plan.missing_signoffs("domain-migration", &stage).len(), 4);
    }

    #[test]
    fn the_editor_sees_what_the_server_would_refuse() {
        let mut plan = plan();
        plan.signoffs.clear();
        for role in SIGNOFF_ROLES {
            sign(&mut plan, role);
        }
        let mut live = plan.clone();
        let rollout = live.rollouts.get_mut("domain-migration").unwrap();
        rollout
            .environments
            .get_mut("production")
            .unwrap()
            .active_stage = Some("stage-1".into());
        assert_eq!(refused(Role::Editor, &plan, &live), None);
        // Widening production's include list while stage 1 is live needs new sign-offs.
        let mut widened = live.clone();
        let rollout = widened.rollouts.get_mut("domain-migration").unwrap();
        rollout.environments.get_mut("production").unwrap().include = vec!["vip".into()];
        let why = refused(Role::Editor, &live, &widened).unwrap();
        assert!(why.contains("qa-lead"), "{why}");
        // An editor may not drop a role; an admin may.
        let mut lowered = plan.clone();
        let rollout = lowered.rollouts.get_mut("domain-migration").unwrap();
        rollout.stages[2].required_signoffs.truncate(1);
        assert!(
            refused(Role::Editor, &plan, &lowered)
                .unwrap()
                .contains("only an admin")
        );
        assert_eq!(refused(Role::Admin, &plan, &lowered), None);
    }

    /// The gate's data file (tests/testdata/gate) through what the editor asks
    /// before it offers a save: refused exactly when the server refuses, and
    /// the reason names every role still missing.
    #[test]
    fn the_editor_refuses_what_the_gate_cases_refuse() {
        for case in stagegate_tests::gate_cases() {
            let shown = refused(case.role, &case.old, &case.new);
            if case.expect == "allowed" {
                assert_eq!(shown, None, "{}", case.name);
                continue;
            }
            let reason = shown.unwrap_or_else(|| panic!("{}: offered", case.name));
            let missing = case.expect["missingRoles"].as_array().cloned();
            for role in missing.unwrap_or_default() {
                let role = role.as_str().unwrap();
                assert!(reason.contains(role), "{}: {reason}", case.name);
            }
        }
    }
}
