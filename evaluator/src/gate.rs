//! The gate on production (SPEC.md, "The gate"): which writes need sign-offs, and
//! which only an admin may make. One pure function, called by the server on every
//! write and by the console before it offers one.

use crate::digest::{fallback_answers, stage_digest};
use crate::model::{Environment, GATED_ENVIRONMENT, Plan, Role, Rollout, Signoff, Stage};

/// Why a write may not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub rollout: String,
    /// The stage production would serve (sign-offs), or the stage whose
    /// requirements would drop (admin only).
    pub stage: Option<String>,
    /// The roles with no sign-off that counts.
    pub missing: Vec<Role>,
    /// Sign-offs must have been recorded after this revision (the last rollback or kill switch).
    pub after_revision: Option<u64>,
    /// The whole reason, in words.
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// The write changes what production answers: these roles must sign first.
    SignoffsMissing,
    /// The write lowers what the gate requires: an admin's call.
    AdminOnly,
}

/// What production answers for a rollout.
#[derive(PartialEq)]
enum Answers {
    /// No such rollout, or no production environment in it.
    Absent,
    /// No live stage (none active, or the kill switch on): every flag's fallback.
    Fallbacks(String),
    /// A live stage: the digest of everything that decides its answers.
    Live(String),
}

fn production(rollout: Option<&Rollout>) -> Option<&Environment> {
    rollout?.environments.get(GATED_ENVIRONMENT)
}

/// The stage production serves: the active one, unless the kill switch is on.
fn live_stage(rollout: Option<&Rollout>) -> Option<&Stage> {
    let env = production(rollout).filter(|env| !env.kill_switch)?;
    rollout?.stage(env.active_stage.as_deref()?)
}

fn answers(key: &str, rollout: Option<&Rollout>) -> Answers {
    match (rollout, live_stage(rollout)) {
        (Some(rollout), Some(stage)) => Answers::Live(stage_digest(key, rollout, stage)),
        (Some(rollout), None) if production(Some(rollout)).is_some() => {
            Answers::Fallbacks(fallback_answers(rollout))
        }
        _ => Answers::Absent,
    }
}

/// Whether `signoff` counts for production serving `stage` of rollout `key` as it
/// is in `plan`: it approves exactly these answers, in this role, and was recorded
/// after production's last rollback.
pub fn counts(plan: &Plan, key: &str, stage: &Stage, role: Role, signoff: &Signoff) -> bool {
    let Some(rollout) = plan.rollouts.get(key) else {
        return false;
    };
    let after = production(Some(rollout)).and_then(|env| env.rolled_back_at);
    signoff.rollout == key
        && signoff.stage == stage.id
        && signoff.role == role.name()
        && after.is_none_or(|revision| signoff.revision > revision)
        && signoff.stage_digest == stage_digest(key, rollout, stage)
}

/// The roles `stage` requires (in `plan`) that have no sign-off that counts.
pub fn missing_signoffs(plan: &Plan, key: &str, stage: &Stage) -> Vec<Role> {
    required(stage, None)
        .into_iter()
        .filter(|role| {
            !plan
                .signoffs
                .iter()
                .any(|signoff| counts(plan, key, stage, *role, signoff))
        })
        .collect()
}

/// The roles a stage requires, as sign-off roles; with `before`, also those it
/// required before this write (dropping a role in the write that needs it does
/// not waive it).
fn required(stage: &Stage, before: Option<&Stage>) -> Vec<Role> {
    let mut roles: Vec<Role> = Vec::new();
    let names = stage
        .required_signoffs
        .iter()
        .chain(before.into_iter().flat_map(|s| &s.required_signoffs));
    for role in names.filter_map(|name| Role::from_name(name)) {
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    roles
}

/// Checks a write that turns `old` into `new`, made by someone in `role`.
///
/// - Anything that changes what production answers for anyone needs a sign-off
///   that counts (see [`counts`]) from each role the stage production serves
///   after the write requires, except what only reduces exposure: turning the
///   kill switch on, going to no stage, or going back to an earlier stage, each
///   with nothing else that decides production's answers changed.
/// - Only an admin lowers what the gate requires: drops a role from a stage's
///   `requiredSignoffs`, adds a stage that requires less than the rollout's stages
///   did, removes a rollout whose stages require sign-offs, or adds a rollout that
///   is already live in production.
///
/// Both hold for any sequence of writes: each compares states, not intentions,
/// and the only way around a requirement is one an admin is asked for.
pub fn check(old: &Plan, new: &Plan, role: Role) -> Result<(), Refusal> {
    if role != Role::Admin {
        keeps_requirements(old, new)?;
    }
    for (key, rollout) in &new.rollouts {
        production_answers(key, old.rollouts.get(key), rollout, new)?;
    }
    Ok(())
}

fn production_answers(
    key: &str,
    old: Option<&Rollout>,
    new: &Rollout,
    plan: &Plan,
) -> Result<(), Refusal> {
    if answers(key, old) == answers(key, Some(new)) {
        return Ok(());
    }
    let Some(stage) = live_stage(Some(new)) else {
        // No stage live after the write: nobody gets more than the fallbacks, and
        // every sign-off pins the fallbacks, so going live again needs new ones.
        return Ok(());
    };
    let (old_env, new_env) = (production(old), production(Some(new)));
    // A step back starts from a live stage, so turning the kill switch off is
    // never one.
    if steps_back(key, old, new, stage) {
        return Ok(());
    }
    let unkilled = old_env.is_some_and(|env| env.kill_switch);
    let old_stage = old.and_then(|rollout| rollout.stage(&stage.id));
    let missing: Vec<Role> = required(stage, old_stage)
        .into_iter()
        .filter(|role| {
            !plan
                .signoffs
                .iter()
                .any(|signoff| counts(plan, key, stage, *role, signoff))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let after_revision = new_env.and_then(|env| env.rolled_back_at);
    let what = match old_env.and_then(|env| env.active_stage.as_deref()) {
        _ if unkilled => format!("turning the kill switch off with {} live", stage.id),
        Some(from) if from == stage.id => format!("changing what {} answers", stage.id),
        Some(from) => format!("moving from {from} to {}", stage.id),
        None => format!("starting at {}", stage.id),
    };
    let names: Vec<&str> = missing.iter().map(|role| role.name()).collect();
    let mut message = format!(
        "{what} changes what {key}/{GATED_ENVIRONMENT} answers; it needs a current sign-off of {} from: {}",
        stage.id,
        names.join(", ")
    );
    if let Some(revision) = after_revision {
        message +=
            &format!(" (recorded after revision {revision}, the last rollback or kill switch)");
    }
    Err(Refusal {
        kind: RefusalKind::SignoffsMissing,
        rollout: key.into(),
        stage: Some(stage.id.clone()),
        missing,
        after_revision,
        message,
    })
}

/// Whether production goes back to `stage`, a stage earlier in the old plan than
/// the one it served, with nothing that decides its answers changed.
fn steps_back(key: &str, old: Option<&Rollout>, new: &Rollout, stage: &Stage) -> bool {
    let (Some(old), Some(from)) = (old, live_stage(old)) else {
        return false;
    };
    let position = |id: &str| old.stages.iter().position(|s| s.id == id);
    let (Some(from), Some(to)) = (position(&from.id), position(&stage.id)) else {
        return false;
    };
    to < from && stage_digest(key, old, &old.stages[to]) == stage_digest(key, new, stage)
}

/// Editors may raise the sign-offs the gate requires, never lower them.
fn keeps_requirements(old: &Plan, new: &Plan) -> Result<(), Refusal> {
    let admin_only = |key: &str, stage: Option<&str>, message: String| Refusal {
        kind: RefusalKind::AdminOnly,
        rollout: key.into(),
        stage: stage.map(str::to_string),
        missing: Vec::new(),
        after_revision: None,
        message: format!("only an admin may {message}"),
    };
    for (key, before) in &old.rollouts {
        let floor = floor(before);
        let Some(rollout) = new.rollouts.get(key) else {
            if floor.is_empty() {
                continue;
            }
            return Err(admin_only(
                key,
                None,
                format!("remove rollout {key}: its stages require sign-offs"),
            ));
        };
        for stage in &rollout.stages {
            let needed = match before.stage(&stage.id) {
                Some(old_stage) => required(old_stage, None),
                None => floor.clone(),
            };
            let dropped: Vec<&str> = needed
                .iter()
                .filter(|role| !stage.required_signoffs.iter().any(|r| r == role.name()))
                .map(|role| role.name())
                .collect();
            if !dropped.is_empty() {
                return Err(admin_only(
                    key,
                    Some(&stage.id),
                    format!(
                        "lower the sign-offs a stage requires: {key}/{} would no longer require {}",
                        stage.id,
                        dropped.join(", ")
                    ),
                ));
            }
        }
    }
    for (key, rollout) in &new.rollouts {
        if old.rollouts.contains_key(key) {
            continue;
        }
        if let Some(stage) = production(Some(rollout)).and_then(|env| env.active_stage.as_deref()) {
            return Err(admin_only(
                key,
                Some(stage),
                format!("add rollout {key} already live in {GATED_ENVIRONMENT} (at {stage})"),
            ));
        }
    }
    Ok(())
}

/// Every role any stage of the rollout requires: what a new stage must require.
fn floor(rollout: &Rollout) -> Vec<Role> {
    let mut roles = Vec::new();
    for stage in &rollout.stages {
        for role in required(stage, None) {
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    roles
}
