//! The current plan in other systems' formats: `GET /api/export/flagd/{env}`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::ETAG;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::ApiError;
use crate::export::flagd::{ExportError, flagd};

pub(super) async fn flagd_export(
    State(state): State<AppState>,
    env: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(env) = env?;
    let current = state.store.current();
    let export = flagd(current.plan(), &env).map_err(|error| match error {
        ExportError::UnknownEnvironment(_) => ApiError::NotFound(error.to_string()),
        // The plan is valid but flagd cannot hold it as it is.
        _ => ApiError::Conflict(error.to_string()),
    })?;
    // The plan's revision, as GET /api/plan tags it.
    Ok(([(ETAG, current.etag.clone())], Json(export)).into_response())
}
