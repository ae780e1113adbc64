//! Sign-offs: given in one's own sign-off role, withdrawn by oneself or an admin.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::ETAG;
use axum::response::{IntoResponse, Response};
use evaluator::model::Signoff;

use stagegate_api::{SignoffCreated, SignoffRequest, Written};

use super::{AppState, JsonBody, read_body, write};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::Change;
use crate::util::{now_rfc3339, random_hex};
use evaluator::model::Role;

pub(super) async fn add_signoff(
    caller: Caller,
    State(state): State<AppState>,
    request: Result<JsonBody<SignoffRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let request = read_body(request)?;
    let id = format!("so_{}", random_hex(8).map_err(ApiError::internal)?);
    let comment = request.comment.clone();
    let change = Change {
        author: caller.name.clone(),
        role: caller.role,
        action: "signoff",
        comment: comment.clone(),
        base: None,
    };
    let mut created = None;
    let mut status = StatusCode::CREATED;
    let current = write(&state, change, |old| {
        let rollout = old.rollouts.get(&request.rollout).ok_or_else(|| {
            ApiError::bad_field(
                "rollout",
                format!("rollout '{}' does not exist", request.rollout),
            )
        })?;
        let stage = rollout.stage(&request.stage).ok_or_else(|| {
            ApiError::bad_field(
                "stage",
                format!(
                    "stage '{}' does not exist in '{}'",
                    request.stage, request.rollout
                ),
            )
        })?;
        // Signing what one's own sign-off already approves changes nothing.
        if let Some(same) = old.signoffs.iter().find(|s| {
            s.by == caller.name
                && evaluator::gate::counts(old, &request.rollout, stage, caller.role, s)
        }) {
            created = Some(same.clone());
            status = StatusCode::OK;
            return Ok(old.clone());
        }
        let signoff = Signoff {
            id: id.clone(),
            rollout: request.rollout.clone(),
            stage: request.stage.clone(),
            role: caller.role.name().into(),
            by: caller.name.clone(),
            at: now_rfc3339(),
            stage_digest: evaluator::stage_digest(&request.rollout, rollout, stage),
            revision: 0, // the store's
            comment: (!comment.is_empty()).then(|| comment.clone()),
        };
        let mut plan = old.clone();
        // One sign-off per role and stage: signing again replaces the old one.
        plan.signoffs.retain(|s| {
            !(s.rollout == signoff.rollout && s.stage == signoff.stage && s.role == signoff.role)
        });
        plan.signoffs.push(signoff.clone());
        created = Some(signoff);
        Ok(plan)
    })
    .await?;
    // The stored sign-off, with the revision the store gave it.
    let made = created.ok_or_else(|| ApiError::internal("a sign-off write made no sign-off"))?;
    let signoff = current
        .plan()
        .signoffs
        .iter()
        .find(|s| s.id == made.id)
        .cloned()
        .unwrap_or(made);
    let body = SignoffCreated {
        revision: current.revision(),
        signoff,
    };
    Ok((status, [(ETAG, current.etag.clone())], Json(body)).into_response())
}

pub(super) async fn withdraw_signoff(
    caller: Caller,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id?;
    let admin = caller.role == Role::Admin;
    let change = Change {
        author: caller.name.clone(),
        role: caller.role,
        action: "withdraw-signoff",
        comment: String::new(),
        base: None,
    };
    let current = write(&state, change, |old| {
        let signoff = old
            .signoffs
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| ApiError::NotFound(format!("sign-off '{id}' does not exist")))?;
        if !admin && signoff.by != caller.name {
            return Err(ApiError::Forbidden(format!(
                "sign-off '{id}' is {}'s; only they or an admin may withdraw it",
                signoff.by
            )));
        }
        let mut plan = old.clone();
        plan.signoffs.retain(|s| s.id != id);
        Ok(plan)
    })
    .await?;
    Ok((
        [(ETAG, current.etag.clone())],
        Json(Written {
            revision: current.revision(),
        }),
    )
        .into_response())
}
