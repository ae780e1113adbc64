//! The stage gate: production only moves forward with every required sign-off.

use evaluator::model::Plan;
use serde_json::json;

use crate::error::ApiError;

/// The environment the gate guards. Other environments (staging) move freely.
pub const GATED_ENVIRONMENT: &str = "production";

/// Refuses a write that moves production forward (to a later stage, from no
/// stage to one, or changes the content of the live stage) in any rollout unless the new stage has a current sign-off for
/// each of its `requiredSignoffs`. Going back, to no stage, or touching the kill
/// switch never waits. Every write goes through this, so neither `PUT /api/plan`
/// nor a revert can bypass it.
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
        let old_rollout = old.rollouts.get(key);
        let from = old_rollout
            .and_then(|r| r.environments.get(GATED_ENVIRONMENT))
            .and_then(|env| env.active_stage.as_deref());
        let moves_forward = match from {
            None => true,
            Some(from) => match rollout.stages.iter().position(|stage| stage.id == from) {
                // Editing the live stage (say, its percentage) is a move too: its
                // sign-offs approved the old content.
                Some(from_index) if from_index == target_index => {
                    old_rollout
                        .and_then(|r| r.stage(from))
                        .map(evaluator::stage_digest)
                        != Some(evaluator::stage_digest(&rollout.stages[target_index]))
                }
                Some(from_index) => target_index > from_index,
                // The old stage is gone from the plan: compare by position in the old plan.
                None => old_rollout
                    .and_then(|r| r.stages.iter().position(|stage| stage.id == from))
                    .is_none_or(|from_index| target_index > from_index),
            },
        };
        if !moves_forward {
            continue;
        }
        let stage = &rollout.stages[target_index];
        let missing: Vec<&str> = stage
            .required_signoffs
            .iter()
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
