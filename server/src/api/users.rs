//! Users over the API (admin only); tokens are shown once, on creation.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use stagegate_api::{UserCreated, UserEvent, UserInfo, UserRequest, UserRoleRequest};

use super::{AppState, JsonBody, read_body, role, write};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::Change;
use crate::users::{User, UserError};

/// A user as the API shows one: without the token's hash.
fn info(state: &AppState, user: &User) -> UserInfo {
    UserInfo {
        name: user.name.clone(),
        role: user.role,
        created: user.created.clone(),
        last_used: state.users.last_used(&user.name),
    }
}

pub(super) async fn list_users(State(state): State<AppState>) -> Json<Vec<UserInfo>> {
    let users = state.users.list();
    Json(users.iter().map(|user| info(&state, user)).collect())
}

pub(super) async fn add_user(
    caller: Caller,
    State(state): State<AppState>,
    request: Result<JsonBody<UserRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let request = read_body(request)?;
    let role = role(&request.role)?;
    let users = state.users.clone();
    let (user, token) =
        tokio::task::spawn_blocking(move || users.add(&request.name, role, &caller.name))
            .await
            .map_err(ApiError::internal)?
            .map_err(user_error)?;
    let body = UserCreated {
        name: user.name,
        role: user.role,
        created: user.created,
        token,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(super) async fn remove_user(
    caller: Caller,
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(name) = name?;
    let (users, by) = (state.users.clone(), caller.name.clone());
    let removed = tokio::task::spawn_blocking(move || users.remove(&name, &by))
        .await
        .map_err(ApiError::internal)?
        .map_err(user_error)?;
    withdraw_signoffs_of_former_signers(&state, &caller, &format!("user {} removed", removed.name))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn set_user_role(
    caller: Caller,
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    request: Result<JsonBody<UserRoleRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let Path(name) = name?;
    let role = role(&read_body(request)?.role)?;
    let (users, by) = (state.users.clone(), caller.name.clone());
    let user = tokio::task::spawn_blocking(move || users.set_role(&name, role, &by))
        .await
        .map_err(ApiError::internal)?
        .map_err(user_error)?;
    let why = format!("user {} is now {}", user.name, user.role);
    withdraw_signoffs_of_former_signers(&state, &caller, &why).await?;
    Ok(Json(info(&state, &user)).into_response())
}

/// Sign-offs count only while their signer holds the role they signed in: after
/// a user change, a write drops those that no longer do (nothing is written if
/// there are none). Every other write drops them too, so the gate never counts one.
pub(crate) async fn withdraw_signoffs_of_former_signers(
    state: &AppState,
    caller: &Caller,
    why: &str,
) -> Result<(), ApiError> {
    let change = Change {
        author: caller.name.clone(),
        role: caller.role,
        action: "withdraw-signoff",
        comment: format!("{why}: their sign-offs no longer count"),
        base: None,
    };
    write(state, change, |old| Ok(old.clone())).await?;
    Ok(())
}

fn user_error(error: UserError) -> ApiError {
    match &error {
        UserError::BadName(_) => ApiError::bad_field("name", error.to_string()),
        UserError::Exists(_) | UserError::LastAdmin(_) => ApiError::Conflict(error.to_string()),
        UserError::Missing(_) => ApiError::NotFound(error.to_string()),
        UserError::Io(_) => ApiError::internal(error),
    }
}

pub(super) async fn user_log(State(state): State<AppState>) -> Response {
    let log = state.users.log();
    let newest_first: Vec<&UserEvent> = log.iter().rev().collect();
    Json(newest_first).into_response()
}

/// Keeps the server's users current when another process (the CLI) changes the
/// file, and drops the sign-offs that stopped counting.
pub fn watch_users(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
        loop {
            tick.tick().await;
            let users = state.users.clone();
            let changed = tokio::task::spawn_blocking(move || users.reload())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(false);
            if changed {
                let system = Caller {
                    name: "stagegate".into(),
                    role: evaluator::model::Role::Admin,
                };
                let _ = withdraw_signoffs_of_former_signers(&state, &system, "users changed").await;
            }
        }
    });
}
