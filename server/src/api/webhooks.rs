//! Alert webhooks over the API (admin only); a hook's secret is shown once, on
//! creation. Delivery itself is `crate::alerts`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use stagegate_api::{WebhookCreated, WebhookInfo, WebhookRequest, WebhookTestQueued};

use super::{AppState, JsonBody, read_body};
use crate::alerts::WebhookError;
use crate::auth::Caller;
use crate::error::ApiError;

pub(super) async fn list_webhooks(State(state): State<AppState>) -> Json<Vec<WebhookInfo>> {
    Json(state.alerts.list())
}

pub(super) async fn add_webhook(
    caller: Caller,
    State(state): State<AppState>,
    request: Result<JsonBody<WebhookRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let request = read_body(request)?;
    let hook = (state.alerts.add(request, &caller.name).await).map_err(webhook_error)?;
    let body = WebhookCreated {
        id: hook.id,
        url: hook.url,
        events: hook.events,
        description: hook.description,
        created: hook.created,
        secret: hook.secret,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(super) async fn remove_webhook(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id?;
    state.alerts.remove(&id).await.map_err(webhook_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn test_webhook(
    caller: Caller,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id?;
    let delivery = state
        .alerts
        .send_test(&id, &caller.name)
        .map_err(webhook_error)?;
    Ok((StatusCode::ACCEPTED, Json(WebhookTestQueued { delivery })).into_response())
}

fn webhook_error(error: WebhookError) -> ApiError {
    match error {
        WebhookError::BadField(field, _) => ApiError::bad_field(field, error.to_string()),
        WebhookError::TooMany => ApiError::bad_request(error.to_string()),
        WebhookError::Missing(_) => ApiError::NotFound(error.to_string()),
        WebhookError::Unavailable(message) => ApiError::Unavailable(message),
        WebhookError::Io(_) => ApiError::internal(error),
    }
}
