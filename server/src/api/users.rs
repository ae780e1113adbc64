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
    let (user, token) = (state.users)
        .add(&request.name, role, &caller.name)
        .await
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
    let removed = (state.users)
        .remove(&name, &caller.name)
        .await
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
    let user = (state.users)
        .set_role(&name, role, &caller.name)
        .await
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
        UserError::Unavailable(message) => ApiError::Unavailable(message.clone()),
        UserError::Io(_) => ApiError::internal(error),
    }
}

pub(super) async fn user_log(State(state): State<AppState>) -> Response {
    let log = state.users.log();
    let newest_first: Vec<&UserEvent> = log.iter().rev().collect();
    Json(newest_first).into_response()
}

/// Keeps the server's users current when another process (the CLI) or another
/// server changes them, and drops the sign-offs that stopped counting. A data
/// directory is polled four times a second. On PostgreSQL the store's notices
/// wake it at once, and a check each second retries a reload that failed
/// (the database away) or a notice that was lost.
pub fn watch_users(state: AppState) {
    tokio::spawn(async move {
        let mut notices = state.store.storage().notices();
        let every = match notices {
            Some(_) => std::time::Duration::from_secs(1),
            None => std::time::Duration::from_millis(250),
        };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            match notices.as_mut() {
                Some(receiver) => tokio::select! {
                    _ = tick.tick() => {}
                    sent = receiver.changed() => if sent.is_err() {
                        notices = None; // the store stopped sending: the tick alone
                    },
                },
                None => {
                    tick.tick().await;
                }
            }
            if state.users.reload().await.unwrap_or(false) {
                let system = Caller {
                    name: "stagegate".into(),
                    role: evaluator::model::Role::Admin,
                };
                let _ = withdraw_signoffs_of_former_signers(&state, &system, "users changed").await;
            }
        }
    });
}
