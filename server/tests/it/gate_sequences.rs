//! The gate holds over any sequence of writes, not only between two revisions:
//! random sequences of writes by an editor go through the real store, and after
//! every accepted one, what production serves is checked against the sign-offs
//! with a rule written here independently of the gate.

use evaluator::json::Value;
use evaluator::model::{GATED_ENVIRONMENT, Plan, Role, SIGNOFF_ROLES, Signoff};
use stagegate_server::storage::Storage;
use stagegate_server::store::{Change, Store, StoreError};

use crate::common::ROLLOUT;

/// A small deterministic generator (xorshift64*), so a failure names its seed.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// One write an editor might try, as an edit of the current plan.
fn random_write(dice: &mut Dice, plan: &Plan, history: &[Plan]) -> (&'static str, Plan) {
    let mut new = plan.clone();
    let stage_ids = [
        "stage-1", "stage-2", "stage-3", "stage-4", "stage-4b", "extra",
    ];
    let pick = |dice: &mut Dice| stage_ids[dice.below(stage_ids.len())].to_string();
    let what = dice.below(14);
    let Some(rollout) = new.rollouts.get_mut(ROLLOUT) else {
        // Gone: put back a weaker copy of it, live at a stage.
        let mut rollout = history[0].rollouts[ROLLOUT].clone();
        for stage in &mut rollout.stages {
            stage.required_signoffs.clear();
        }
        let production = rollout.environments.get_mut(GATED_ENVIRONMENT).unwrap();
        production.active_stage = Some("stage-4".into());
        new.rollouts.insert(ROLLOUT.into(), rollout);
        return ("re-add weaker and live", new);
    };
    let stages = rollout.stages.len();
    let production = rollout.environments.get_mut(GATED_ENVIRONMENT);
    match (what, production) {
        (0 | 1, Some(env)) => {
            env.active_stage = (dice.below(5) > 0).then(|| pick(dice));
            ("move production", new)
        }
        (2, Some(env)) => {
            env.kill_switch = !env.kill_switch;
            ("flip the kill switch", new)
        }
        (3, Some(env)) => {
            env.include = if env.include.is_empty() {
                vec!["vip".into()]
            } else {
                Vec::new()
            };
            ("change include", new)
        }
        (4, _) => {
            let i = dice.below(stages);
            rollout.stages[i].percentage = [5, 25, 50, 100][dice.below(4)].into();
            ("change a percentage", new)
        }
        (5, _) => {
            rollout.salt = Some(["a", "b"][dice.below(2)].into());
            ("change the salt", new)
        }
        (6, _) => {
            let flag = rollout.flags.get_mut("enableDualProviders").unwrap();
            flag.fallback = Value::Bool(dice.below(2) == 0);
            ("change a fallback", new)
        }
        (7, _) => {
            new.rollouts.remove(ROLLOUT);
            ("remove the rollout", new)
        }
        (8, _) => {
            let i = dice.below(stages);
            rollout.stages[i].required_signoffs.truncate(dice.below(4));
            ("drop required roles", new)
        }
        (9, _) => {
            let i = dice.below(stages);
            rollout.stages[i].id = pick(dice);
            ("rename a stage", new)
        }
        (10, _) => {
            let mut extra = rollout.stages[stages - 1].clone();
            extra.id = "extra".into();
            extra.required_signoffs.clear();
            rollout.stages.push(extra);
            ("add a stage", new)
        }
        (11, _) => {
            let mut target = history[dice.below(history.len())].clone();
            target.signoffs = plan.signoffs.clone();
            ("revert", target)
        }
        _ => {
            // Someone signs a stage as it is now.
            let i = dice.below(stages);
            let stage = rollout.stages[i].clone();
            let digest = evaluator::stage_digest(ROLLOUT, &plan.rollouts[ROLLOUT], &stage);
            let role = SIGNOFF_ROLES[dice.below(4)];
            new.signoffs
                .retain(|s| !(s.stage == stage.id && s.role == role));
            new.signoffs.push(Signoff {
                id: format!("s{}", dice.below(1 << 30)),
                rollout: ROLLOUT.into(),
                stage: stage.id,
                role: role.into(),
                by: "someone".into(),
                at: "2026-12-01T00:00:00Z".into(),
                stage_digest: digest,
                revision: 0,
                comment: None,
            });
            ("sign", new)
        }
    }
}

/// The digest of what production serves, with the stage it serves, if a stage is live.
fn serving(plan: &Plan) -> Option<(String, String, usize)> {
    let rollout = plan.rollouts.get(ROLLOUT)?;
    let env = rollout.environments.get(GATED_ENVIRONMENT)?;
    if env.kill_switch {
        return None;
    }
    let id = env.active_stage.as_deref()?;
    let index = rollout.stages.iter().position(|s| s.id == id)?;
    let digest = evaluator::stage_digest(ROLLOUT, rollout, &rollout.stages[index]);
    Some((id.to_string(), digest, index))
}

#[tokio::test]
async fn no_sequence_of_editor_writes_serves_unapproved_answers() {
    let (mut accepted, mut tried) = (0, 0);
    for seed in 1..=30u64 {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&crate::common::location(dir.path()).await)
            .await
            .unwrap();
        let (store, _) = Store::open(storage).await.unwrap();
        let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // A second rollout, so that removing the first leaves a valid plan.
        let spare = Change {
            author: "admin".into(),
            role: Role::Admin,
            action: "test",
            comment: "a spare rollout".into(),
            base: None,
        };
        store
            .write(spare, |old| {
                let mut plan = old.clone();
                let mut rollout = old.rollouts[ROLLOUT].clone();
                rollout
                    .stages
                    .iter_mut()
                    .for_each(|s| s.required_signoffs.clear());
                plan.rollouts.insert("spare".into(), rollout);
                Ok::<_, StoreError>(plan)
            })
            .await
            .unwrap();
        let mut history = vec![store.current().plan().clone()];
        for step in 0..40 {
            let before = store.current().plan().clone();
            let (what, proposal) = random_write(&mut dice, &before, &history);
            let change = Change {
                author: "eddie".into(),
                role: Role::Editor,
                action: "test",
                comment: what.into(),
                base: None,
            };
            tried += 1;
            let written = store
                .write(change, |_| Ok::<_, StoreError>(proposal.clone()))
                .await;
            let Ok(current) = written else { continue };
            accepted += 1;
            let after = current.plan().clone();
            let context = format!("seed {seed}, step {step}: {what}");

            // The rollout production has served is never removed by an editor,
            // and none of its stages ever requires fewer than every role.
            let rollout = after
                .rollouts
                .get(ROLLOUT)
                .unwrap_or_else(|| panic!("{context}: removed"));
            for stage in &rollout.stages {
                assert_eq!(
                    stage.required_signoffs, SIGNOFF_ROLES,
                    "{context}: {}",
                    stage.id
                );
            }
            // What production serves now is what it served before, a step back
            // to answers it could serve before, or approved by every role after
            // the last rollback.
            let Some((id, digest, index)) = serving(&after) else {
                continue;
            };
            if serving(&before).is_some_and(|(_, served, _)| served == digest) {
                continue;
            }
            let stepped_back = serving(&before).is_some_and(|(_, _, from)| {
                let old = &before.rollouts[ROLLOUT];
                old.stages
                    .iter()
                    .position(|s| s.id == id)
                    .is_some_and(|was| {
                        was < from
                            && evaluator::stage_digest(ROLLOUT, old, &old.stages[was]) == digest
                    })
            }) && index < rollout.stages.len();
            if stepped_back {
                continue;
            }
            let voided = rollout.environments[GATED_ENVIRONMENT]
                .rolled_back_at
                .unwrap_or(0);
            for role in SIGNOFF_ROLES {
                assert!(
                    after.signoffs.iter().any(|s| s.stage == id
                        && s.role == role
                        && s.stage_digest == digest
                        && s.revision > voided),
                    "{context}: production serves {id} without a current {role} sign-off"
                );
            }
            history.push(after);
        }
    }
    // The sequences must reach far enough to mean something.
    assert!(
        accepted * 5 > tried,
        "{accepted} of {tried} writes accepted"
    );
}
