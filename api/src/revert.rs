//! What a revert writes, shared so the console shows the exact diff the server
//! will write (`POST /api/revert`).

use evaluator::model::{Plan, Signoff};

/// The plan a revert of `now` to `target` writes: `target`'s content, with the
/// sign-offs of `now` that still name a stage of it, the checklist ticks of
/// `now` (ticks, like sign-offs, are records of what people did, not content to
/// undo), and (unless `restore_live_state`) each environment serving what it
/// serves `now`.
pub fn reverted(now: &Plan, target: Plan, restore_live_state: bool) -> Plan {
    let mut plan = Plan {
        signoffs: surviving_signoffs(now, &target),
        ..target
    };
    keep_ticks(now, &mut plan);
    if !restore_live_state {
        keep_live_state(now, &mut plan);
    }
    plan
}

/// The sign-offs of `now` that still refer to a stage of `plan`.
pub fn surviving_signoffs(now: &Plan, plan: &Plan) -> Vec<Signoff> {
    now.signoffs
        .iter()
        .filter(|s| {
            plan.rollouts
                .get(&s.rollout)
                .is_some_and(|r| r.stage(&s.stage).is_some())
        })
        .cloned()
        .collect()
}

/// Each checklist item that is in the same place with the same words now keeps
/// its tick and who gave it.
fn keep_ticks(now: &Plan, plan: &mut Plan) {
    for (key, rollout) in &mut plan.rollouts {
        let Some(current) = now.rollouts.get(key) else {
            continue;
        };
        for (item, was) in rollout.checklist.iter_mut().zip(&current.checklist) {
            if item.phase == was.phase && item.item == was.item {
                item.done = was.done;
                item.done_by.clone_from(&was.done_by);
                item.done_at.clone_from(&was.done_at);
            }
        }
    }
}

/// Each environment that exists both now and in `plan` keeps what it serves now:
/// its active stage, its kill switch and when it was last rolled back. A rollout
/// or environment the revert brings back takes its old state, which the gate
/// then rules on.
fn keep_live_state(now: &Plan, plan: &mut Plan) {
    for (key, rollout) in &mut plan.rollouts {
        let Some(current) = now.rollouts.get(key) else {
            continue;
        };
        for (name, environment) in &mut rollout.environments {
            if let Some(live) = current.environments.get(name) {
                environment.active_stage.clone_from(&live.active_stage);
                environment.kill_switch = live.kill_switch;
                environment.rolled_back_at = live.rolled_back_at;
            }
        }
    }
}
