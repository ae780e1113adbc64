//! What apps read: the public client documents, and evaluation on the server.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, CACHE_CONTROL, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use evaluator::Context;
use serde_json::Value;

use super::{AppState, CLIENT_MAX_AGE, JSON_TYPE};
use crate::auth::{Action, Caller};
use crate::error::ApiError;

pub(super) async fn evaluate(
    caller: Caller,
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let Query(pairs) = query?;
    let (mut rollout, mut env, mut context) = (None, None, Context::default());
    for (name, value) in pairs {
        match name.as_str() {
            "rollout" => rollout = Some(value),
            "env" => env = Some(value),
            "targetingKey" => context.targeting_key = Some(value),
            _ => {
                context.attributes.insert(name, Value::String(value));
            }
        }
    }
    let rollout = rollout
        .ok_or_else(|| ApiError::bad_field("rollout", "query parameter 'rollout' is required"))?;
    let env = env.ok_or_else(|| ApiError::bad_field("env", "query parameter 'env' is required"))?;
    let current = state.store.current();
    Ok(Json(current.evaluator.evaluate(&rollout, &env, &context)).into_response())
}

/// The hot path: a lookup and a clone of prepared bytes.
pub(super) async fn client_document(
    State(state): State<AppState>,
    file: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(file)) = file else {
        return ApiError::NoRoute.into_response();
    };
    let Some(env) = file.strip_suffix(".json") else {
        return ApiError::NoRoute.into_response();
    };
    let current = state.store.current();
    let Some(document) = current.clients.get(env) else {
        let mut response =
            ApiError::NotFound(format!("no rollout has an environment '{env}'")).into_response();
        response
            .headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        return response;
    };
    let cors = [
        (ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        (
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("ETag"),
        ),
        (CACHE_CONTROL, HeaderValue::from_static(CLIENT_MAX_AGE)),
        (ETAG, document.etag.clone()),
    ];
    if none_match(&headers, &document.etag) {
        return (StatusCode::NOT_MODIFIED, cors).into_response();
    }
    (cors, [(CONTENT_TYPE, JSON_TYPE)], document.body.clone()).into_response()
}

/// Whether If-None-Match lists `etag` (or is `*`); weak tags compare equal.
fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(value) = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let etag = etag.to_str().unwrap_or("");
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

pub(super) async fn client_preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
            (
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            ),
            (
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("If-None-Match"),
            ),
            (ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400")),
        ],
    )
        .into_response()
}
