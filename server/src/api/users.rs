//! Users over the API (admin only); tokens are shown once, on creation.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::{AppState, JsonBody, UserRequest, body};
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::users::UserError;

#[derive(Serialize)]
struct UserInfo<'a> {
    name: &'a str,
    role: &'a str,
    created: &'a str,
}

pub(super) async fn list_users(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageUsers)?;
    let users = state
        .users
        .list()
        .map_err(|error| ApiError::internal(format!("{error:#}")))?;
    let list: Vec<UserInfo> = users
        .iter()
        .map(|u| UserInfo {
            name: &u.name,
            role: &u.role,
            created: &u.created,
        })
        .collect();
    Ok(Json(list).into_response())
}

pub(super) async fn add_user(
    caller: Caller,
    State(state): State<AppState>,
    request: Result<JsonBody<UserRequest>, ApiError>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageUsers)?;
    let request = body(request)?;
    let users = state.users.clone();
    let (user, token) =
        tokio::task::spawn_blocking(move || users.add(&request.name, &request.role))
            .await
            .map_err(ApiError::internal)?
            .map_err(user_error)?;
    let body =
        json!({ "name": user.name, "role": user.role, "created": user.created, "token": token });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(super) async fn remove_user(
    caller: Caller,
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageUsers)?;
    let Path(name) = name?;
    let users = state.users.clone();
    tokio::task::spawn_blocking(move || users.remove(&name))
        .await
        .map_err(ApiError::internal)?
        .map_err(user_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn user_error(error: UserError) -> ApiError {
    match &error {
        UserError::BadName(_) => ApiError::bad_field("name", error.to_string()),
        UserError::BadRole(_) => ApiError::bad_field("role", error.to_string()),
        UserError::Exists(_) => ApiError::Conflict(error.to_string()),
        UserError::Missing(_) => ApiError::NotFound(error.to_string()),
        UserError::Io(_) => ApiError::internal(error),
    }
}
