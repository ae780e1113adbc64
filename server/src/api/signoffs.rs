//! Sign-offs: given in one's own sign-off role, withdrawn by oneself or an admin.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::ETAG;
use axum::response::{IntoResponse, Response};
use evaluator::model::Signoff;
use serde_json::json;

use super::{AppState, JsonBody, SignoffRequest, body};
use crate::auth::{Action, Caller, is_signoff_role};
use crate::error::ApiError;
use crate::store::Change;
use crate::util::{now_rfc3339, random_hex};

pub(super) async fn add_signoff(
    caller: Caller,
    State(state): State<AppState>,
    request: Result<JsonBody<SignoffRequest>, ApiError>,
) -> Result<Response, ApiError> {
    if !is_signoff_role(&caller.role) {
        return Err(ApiError::Forbidden(format!(
            "role '{}' cannot sign off; sign-offs come from {}",
            caller.role,
            evaluator::model::SIGNOFF_ROLES.join(", ")
        )));
    }
    let request = body(request)?;
    let id = format!("so_{}", random_hex(8).map_err(ApiError::internal)?);
    let comment = request.comment.clone();
    let change = Change {
        author: caller.name.clone(),
        action: "signoff",
        comment: comment.clone(),
        base: None,
    };
    let mut created = None;
    let current = state
        .store
        .write(change, |old| {
            let stage = old
                .rollouts
                .get(&request.rollout)
                .ok_or_else(|| {
                    ApiError::bad_field(
                        "rollout",
                        format!("rollout '{}' does not exist", request.rollout),
                    )
                })?
                .stage(&request.stage)
                .ok_or_else(|| {
                    ApiError::bad_field(
                        "stage",
                        format!(
                            "stage '{}' does not exist in '{}'",
                            request.stage, request.rollout
                        ),
                    )
                })?;
            let signoff = Signoff {
                id: id.clone(),
                rollout: request.rollout.clone(),
                stage: request.stage.clone(),
                role: caller.role.clone(),
                by: caller.name.clone(),
                at: now_rfc3339(),
                stage_digest: evaluator::stage_digest(stage),
                comment: (!comment.is_empty()).then(|| comment.clone()),
            };
            let mut plan = old.clone();
            // One sign-off per role and stage: signing again replaces the old one.
            plan.signoffs.retain(|s| {
                !(s.rollout == signoff.rollout
                    && s.stage == signoff.stage
                    && s.role == signoff.role)
            });
            plan.signoffs.push(signoff.clone());
            created = Some(signoff);
            Ok(plan)
        })
        .await?;
    let body = json!({ "revision": current.revision(), "signoff": created });
    Ok((
        StatusCode::CREATED,
        [(ETAG, current.etag.clone())],
        Json(body),
    )
        .into_response())
}

pub(super) async fn withdraw_signoff(
    caller: Caller,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id?;
    let admin = caller.role == "admin";
    if !admin {
        caller.require(Action::Sign)?;
    }
    let change = Change {
        author: caller.name.clone(),
        action: "withdraw-signoff",
        comment: String::new(),
        base: None,
    };
    let current = state
        .store
        .write(change, |old| {
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
        Json(json!({ "revision": current.revision() })),
    )
        .into_response())
}
