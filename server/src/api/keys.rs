//! The apps' keys over the API, one set of handlers for both kinds:
//! `/api/ingest-keys` and `/api/sdk-keys` (list, create, revoke), chosen by a
//! marker type in the route table (`keys::list::<Sdk>`).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use stagegate_api::{IngestKeyCreated, IngestKeyInfo, IngestKeyRequest};

use super::{JsonBody, read_body};
use crate::AppState;
use crate::app_keys::{KeyError, Keys};
use crate::auth::Caller;
use crate::error::ApiError;

/// Which of the state's key sets a route manages.
pub(super) trait Kind {
    fn keys(state: &AppState) -> &Arc<Keys>;
}

pub(super) struct Ingest;
pub(super) struct Sdk;

impl Kind for Ingest {
    fn keys(state: &AppState) -> &Arc<Keys> {
        &state.ingest_keys
    }
}

impl Kind for Sdk {
    fn keys(state: &AppState) -> &Arc<Keys> {
        &state.sdk_keys
    }
}

pub(super) async fn list<K: Kind>(State(state): State<AppState>) -> Json<Vec<IngestKeyInfo>> {
    Json(K::keys(&state).list().as_ref().clone())
}

pub(super) async fn create<K: Kind>(
    caller: Caller,
    State(state): State<AppState>,
    request: Result<JsonBody<IngestKeyRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let request = read_body(request)?;
    let known = state
        .store
        .current()
        .plan()
        .rollouts
        .values()
        .any(|r| r.environments.contains_key(&request.environment));
    if !known {
        return Err(ApiError::bad_field(
            "environment",
            format!("no rollout has an environment '{}'", request.environment),
        ));
    }
    let (info, key) = K::keys(&state)
        .create(&request.environment, &request.name, &caller.name)
        .await
        .map_err(key_error)?;
    Ok((StatusCode::CREATED, Json(IngestKeyCreated { info, key })).into_response())
}

pub(super) async fn revoke<K: Kind>(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<IngestKeyInfo>, ApiError> {
    let Path(id) = id?;
    K::keys(&state)
        .revoke(&id)
        .await
        .map(Json)
        .map_err(key_error)
}

fn key_error(error: KeyError) -> ApiError {
    match error {
        KeyError::BadField(field, message) => ApiError::bad_field(field, message),
        KeyError::Missing(..) => ApiError::NotFound(error.to_string()),
        KeyError::Unavailable(message) => ApiError::Unavailable(message),
        KeyError::Io(error) => ApiError::Internal(format!("{error:#}")),
    }
}
