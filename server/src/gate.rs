//! The stage gate: production only moves forward with every required sign-off.

use evaluator::model::Plan;
use serde_json::json;

use crate::error::ApiError;

/// The environment the gate guards (other environments, staging, move freely);
/// the console reads the same constant.
pub use evaluator::model::GATED_ENVIRONMENT;

/// Refuses a write that moves production forward in any rollout unless the new
/// live stage has a current sign-off for each of its `requiredSignoffs`.
///
/// The rule compares production's live stage before and after the write:
/// - no live stage after the write (production switched off): never waits;
/// - the same stage id with the same content (digest): not a move, never waits
///   (this is every write that does not touch production's stage, including
///   turning the kill switch on *or off*: see below);
/// - a stage that existed before the write, with unchanged content, and that came
///   earlier in the old plan than the old live stage: going back, never waits;
/// - anything else is moving forward and needs the sign-offs: from no stage to
///   one, to a later stage, to the live stage with changed content, to a stage
///   that is new or renamed in this write, or to an earlier stage whose content
///   this same write changes (a rename or edit cannot launder a move).
///
/// The kill switch is not gated either way. Turning it on is the emergency stop.
/// Turning it off resumes the live stage as it stands; the gate already
/// guarantees that stage's content is what was approved when it went live
/// (its content cannot change while live), so there is nothing new to approve.
/// Withdrawing a sign-off later does not pull production back; it only blocks
/// the next forward move.
///
/// Every write goes through this, so neither `PUT /api/plan` nor a revert can
/// bypass it.
pub fn check(old: &Plan, new: &Plan) -> Result<(), ApiError> {
    for (key, rollout) in &new.rollouts {
        let Some(env) = rollout.environments.get(GATED_ENVIRONMENT) else {
            continue;
        };
        let Some(target) = &env.active_stage else {
            continue;
        };
        let Some(target_index) = rollout.stages.iter().position(|stage| &stage.id == target) else {
            continue; // validation reports it
        };
        let target_digest = evaluator::stage_digest(&rollout.stages[target_index]);
        let old_rollout = old.rollouts.get(key);
        let from = old_rollout
            .and_then(|r| r.environments.get(GATED_ENVIRONMENT))
            .and_then(|env| env.active_stage.as_deref());
        // Where a stage id stood in the old plan, if its content is unchanged.
        let unchanged_old_index = |id: &str| {
            let old_rollout = old_rollout?;
            let index = old_rollout.stages.iter().position(|stage| stage.id == id)?;
            (evaluator::stage_digest(&old_rollout.stages[index]) == target_digest).then_some(index)
        };
        let moves_forward = match (from, unchanged_old_index(target)) {
            (None, _) | (_, None) => true,
            (Some(from), Some(target_old)) => {
                let from_old =
                    old_rollout.and_then(|r| r.stages.iter().position(|stage| stage.id == from));
                // Same id and content: no move; earlier: back; later: forward.
                from_old.is_none_or(|from_old| target_old > from_old)
            }
        };
        if !moves_forward {
            continue;
        }
        let stage = &rollout.stages[target_index];
        // The roles the stage requires now and those it required before this
        // write: dropping a role from `requiredSignoffs` in the very write that
        // moves production forward does not waive it.
        let mut required: Vec<&String> = stage.required_signoffs.iter().collect();
        if let Some(before) = old_rollout.and_then(|r| r.stage(&stage.id)) {
            for role in &before.required_signoffs {
                if !required.contains(&role) {
                    required.push(role);
                }
            }
        }
        let missing: Vec<&str> = required
            .into_iter()
            .filter(|role| {
                !new.signoffs.iter().any(|signoff| {
                    signoff.rollout == *key
                        && signoff.stage == stage.id
                        && &signoff.role == *role
                        && new.is_current(signoff)
                })
            })
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::SignoffsMissing {
                message: format!(
                    "moving {key}/{GATED_ENVIRONMENT} forward to {} needs a current sign-off from: {}",
                    stage.id,
                    missing.join(", ")
                ),
                details: json!({
                    "rollout": key,
                    "environment": GATED_ENVIRONMENT,
                    "stage": stage.id,
                    "missingRoles": missing,
                }),
            });
        }
    }
    Ok(())
}

/// Editors may raise the sign-offs a stage requires but not lower them: a write by
/// anyone but an admin is refused if it drops a role from an existing stage's
/// `requiredSignoffs`, or adds a stage to a rollout that requires fewer roles than
/// the rollout's stages required before. Otherwise an editor could weaken a stage
/// in one write and move production onto it in the next.
pub fn keeps_requirements(old: &Plan, new: &Plan) -> Result<(), ApiError> {
    for (key, rollout) in &new.rollouts {
        let Some(before) = old.rollouts.get(key) else {
            continue; // a new rollout sets its own requirements
        };
        for stage in &rollout.stages {
            let required: Vec<&String> = match before.stage(&stage.id) {
                Some(old_stage) => old_stage.required_signoffs.iter().collect(),
                None => {
                    let mut all: Vec<&String> = Vec::new();
                    for role in before.stages.iter().flat_map(|s| &s.required_signoffs) {
                        if !all.contains(&role) {
                            all.push(role);
                        }
                    }
                    all
                }
            };
            let dropped: Vec<&str> = required
                .into_iter()
                .filter(|role| !stage.required_signoffs.contains(role))
                .map(String::as_str)
                .collect();
            if !dropped.is_empty() {
                return Err(ApiError::Forbidden(format!(
                    "only an admin may lower the sign-offs a stage requires: {key}/{} would no longer require {}",
                    stage.id,
                    dropped.join(", ")
                )));
            }
        }
    }
    Ok(())
}
