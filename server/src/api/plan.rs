//! The plan and its history: read, replace, revert, audit, stages, kill switches.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use evaluator::model::{Environment, Plan};

use stagegate_api::revert::{self, surviving_signoffs};
use stagegate_api::{
    AuditEntry, KillSwitchRequest, RevertRequest, RevisionSummary, StageRequest, TickRequest,
};

use super::{
    AppState, JsonBody, JsonValue, if_match, optional_if_match, plan_response, read_body, write,
};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::Change;

pub(super) async fn get_plan(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(plan_response(&state.store.current()))
}

pub(super) async fn put_plan(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<JsonValue, ApiError>,
) -> Result<Response, ApiError> {
    let base = if_match(&headers)?;
    // The evaluator's own parser (in `JsonValue`): numbers stay exact decimals.
    let JsonValue(mut value) = body?;
    // Sign-offs are records of people approving; they change only through
    // /api/signoffs, never by editing the plan.
    if let evaluator::json::Value::Object(map) = &mut value {
        map.remove("signoffs");
        map.remove("revision");
    }
    let plan = evaluator::plan_from_value(value)?;
    // The comment rides in a header (the body is the plan); raw UTF-8 is accepted.
    let comment = headers
        .get("x-comment")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_string())
        .unwrap_or_default();
    let change = Change {
        author: caller.name,
        role: caller.role,
        action: "put-plan",
        comment,
        base: Some(base),
    };
    let current = write(&state, change, |old| {
        Ok(Plan {
            signoffs: surviving_signoffs(old, &plan),
            ..plan.clone()
        })
    })
    .await?;
    Ok(plan_response(&current))
}

pub(super) async fn list_revisions(
    State(state): State<AppState>,
) -> Result<Json<Vec<RevisionSummary>>, ApiError> {
    let list = state
        .store
        .audit()
        .iter()
        .rev()
        .map(|entry| RevisionSummary {
            revision: entry.revision,
            author: entry.author.clone(),
            at: entry.at.clone(),
            action: entry.action.clone(),
            comment: entry.comment.clone(),
        })
        .collect();
    Ok(Json(list))
}

pub(super) async fn get_revision(
    State(state): State<AppState>,
    number: Result<Path<String>, PathRejection>,
) -> Result<Json<Plan>, ApiError> {
    let Path(number) = number?;
    let number: u64 = number
        .parse()
        .map_err(|_| ApiError::bad_field("n", format!("revision '{number}' is not a number")))?;
    Ok(Json(
        state.store.revision(number).await.map_err(ApiError::from)?,
    ))
}

pub(super) async fn revert(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Result<JsonBody<RevertRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let request = read_body(request)?;
    let base = optional_if_match(&headers)?;
    let target =
        state
            .store
            .revision(request.revision)
            .await
            .map_err(|error| match ApiError::from(error) {
                ApiError::NotFound(message) => ApiError::bad_field("revision", message),
                other => other,
            })?;
    let comment = if request.comment.is_empty() {
        format!("revert to revision {}", request.revision)
    } else {
        request.comment
    };
    let change = Change {
        author: caller.name,
        role: caller.role,
        action: "revert",
        comment,
        base,
    };
    let restore_live_state = request.restore_live_state;
    let current = write(&state, change, |old| {
        Ok(revert::reverted(old, target.clone(), restore_live_state))
    })
    .await?;
    Ok(plan_response(&current))
}

pub(super) async fn audit(State(state): State<AppState>) -> Response {
    let entries = state.store.audit();
    let newest_first: Vec<&AuditEntry> = entries.iter().rev().map(AsRef::as_ref).collect();
    Json(newest_first).into_response()
}

/// Ticks or unticks one checklist item; the store records who and when on it.
pub(super) async fn tick_checklist(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    names: Result<Path<(String, String)>, PathRejection>,
    request: Result<JsonBody<TickRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let Path((rollout, number)) = names?;
    let request = read_body(request)?;
    let index: usize = number.parse().map_err(|_| {
        ApiError::bad_field("n", format!("checklist item '{number}' is not a number"))
    })?;
    let change = Change {
        author: caller.name,
        role: caller.role,
        action: "checklist",
        comment: request.comment,
        base: optional_if_match(&headers)?,
    };
    let current = write(&state, change, |old| {
        let mut plan = old.clone();
        let checklist = &mut plan
            .rollouts
            .get_mut(&rollout)
            .ok_or_else(|| ApiError::NotFound(format!("no rollout '{rollout}'")))?
            .checklist;
        let count = checklist.len();
        let item = checklist.get_mut(index).ok_or_else(|| {
            ApiError::NotFound(format!(
                "rollout '{rollout}' has no checklist item {index} (it has {count}, numbered from 0)"
            ))
        })?;
        item.done = request.done;
        Ok(plan)
    })
    .await?;
    Ok(plan_response(&current))
}

pub(super) async fn set_stage(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    names: Result<Path<(String, String)>, PathRejection>,
    request: Result<JsonBody<StageRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let Path((rollout, env)) = names?;
    let request = read_body(request)?;
    let change = Change {
        author: caller.name,
        role: caller.role,
        action: "stage",
        comment: request.comment,
        base: optional_if_match(&headers)?,
    };
    write_environment(&state, change, &rollout, &env, |old, target| {
        if let Some(stage) = &request.stage
            && old.rollouts[&rollout].stage(stage).is_none()
        {
            return Err(ApiError::bad_field(
                "stage",
                format!("stage '{stage}' does not exist in rollout '{rollout}'"),
            ));
        }
        target.active_stage = request.stage.clone();
        Ok(())
    })
    .await
}

pub(super) async fn set_kill_switch(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    names: Result<Path<(String, String)>, PathRejection>,
    request: Result<JsonBody<KillSwitchRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let Path((rollout, env)) = names?;
    let request = read_body(request)?;
    let change = Change {
        author: caller.name,
        role: caller.role,
        action: "kill-switch",
        comment: request.comment,
        base: optional_if_match(&headers)?,
    };
    write_environment(&state, change, &rollout, &env, |_, target| {
        target.kill_switch = request.on;
        Ok(())
    })
    .await
}

/// A write that changes one environment of one rollout (stage moves, kill switches).
async fn write_environment(
    state: &AppState,
    change: Change,
    rollout: &str,
    env: &str,
    mut edit: impl FnMut(&Plan, &mut Environment) -> Result<(), ApiError>,
) -> Result<Response, ApiError> {
    let current = write(state, change, |old| {
        let mut plan = old.clone();
        edit(old, environment(&mut plan, rollout, env)?)?;
        Ok(plan)
    })
    .await?;
    Ok(plan_response(&current))
}

fn environment<'a>(
    plan: &'a mut Plan,
    rollout: &str,
    env: &str,
) -> Result<&'a mut Environment, ApiError> {
    plan.rollouts
        .get_mut(rollout)
        .ok_or_else(|| ApiError::NotFound(format!("rollout '{rollout}' does not exist")))?
        .environments
        .get_mut(env)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "environment '{env}' does not exist in rollout '{rollout}'"
            ))
        })
}
