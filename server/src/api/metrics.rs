//! The guardrails' routes: the apps' reports (`POST /api/metrics`, by ingest
//! key; the keys themselves are `keys.rs`), a person's incident report, and
//! what the server makes of the counts (`GET /api/guardrails/{rollout}/{env}`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use stagegate_api::{
    AcknowledgeRequest, Acknowledgement, GuardrailReport, IncidentReport, MetricsAccepted,
};
use tower_http::cors::CorsLayer;

use super::layers::open_cors;

use super::{JsonBody, read_body};
use crate::app_keys::PREFIX;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::metrics::{Count, Refused, minute_of};
use crate::{AppState, guard};

/// Items in one batch.
pub const MAX_COUNTS: usize = 1000;

/// One item as it arrives; names borrowed from the body when they hold no escapes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Item<'a> {
    #[serde(borrow)]
    rollout: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    environment: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    stage: std::borrow::Cow<'a, str>,
    in_rollout: bool,
    #[serde(borrow)]
    event: std::borrow::Cow<'a, str>,
    count: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch<'a> {
    #[serde(borrow)]
    counts: Vec<Item<'a>>,
}

/// Browsers report from the app's own origin: the preflight names the headers.
pub(super) fn cors() -> CorsLayer {
    open_cors(&[Method::POST], &[AUTHORIZATION, CONTENT_TYPE], &[])
}

/// `POST /api/metrics`: all of a batch, or (with a 400 naming the item's field)
/// none of it.
pub(super) async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let environment = ingest_environment(&state, &headers)?;
    super::json_body::require_json_content_type(&headers)?;
    let batch: Batch = serde_json::from_slice(&body).map_err(|error| shape_error(&body, &error))?;
    if batch.counts.len() > MAX_COUNTS {
        return Err(ApiError::bad_field(
            "/counts",
            format!(
                "a batch holds at most {MAX_COUNTS} counts, not {}",
                batch.counts.len()
            ),
        ));
    }
    let current = state.store.current();
    let plan = current.plan();
    let mut counts = Vec::with_capacity(batch.counts.len());
    for (i, item) in batch.counts.iter().enumerate() {
        let at = |field: &str| format!("/counts/{i}/{field}");
        let Some(rollout) = plan.rollouts.get(item.rollout.as_ref()) else {
            return Err(ApiError::bad_field(
                &at("rollout"),
                format!("no rollout '{}'", item.rollout),
            ));
        };
        if item.environment != environment {
            return Err(ApiError::bad_field(
                &at("environment"),
                format!(
                    "this ingest key reports for '{environment}', not '{}'",
                    item.environment
                ),
            ));
        }
        if !rollout.environments.contains_key(environment.as_str()) {
            return Err(ApiError::bad_field(
                &at("environment"),
                format!(
                    "rollout '{}' has no environment '{environment}'",
                    item.rollout
                ),
            ));
        }
        if rollout.stage(&item.stage).is_none() {
            return Err(ApiError::bad_field(
                &at("stage"),
                format!("rollout '{}' has no stage '{}'", item.rollout, item.stage),
            ));
        }
        if !event_name(&item.event) {
            return Err(ApiError::bad_field(
                &at("event"),
                format!(
                    "event '{}' must be 1 to 64 letters, digits, '_', '-' or '.'",
                    item.event
                ),
            ));
        }
        if item.count > u64::from(u32::MAX) {
            return Err(ApiError::bad_field(
                &at("count"),
                format!("count {} is over 4294967295", item.count),
            ));
        }
        counts.push(Count {
            rollout: &item.rollout,
            environment: &item.environment,
            stage: &item.stage,
            in_rollout: item.in_rollout,
            event: &item.event,
            count: item.count,
        });
    }
    let minute = minute_of(state.clock.now());
    state
        .metrics
        .add(minute, &counts)
        .map_err(|Refused::TooManyEvents(i)| {
            ApiError::bad_field(
                &format!("/counts/{i}/event"),
                format!(
                    "stage '{}' already counts {} event names: report fewer distinct events",
                    counts[i].stage,
                    crate::metrics::MAX_EVENTS
                ),
            )
        })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MetricsAccepted {
            accepted: counts.len(),
        }),
    )
        .into_response())
}

fn event_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The environment of the request's ingest key; a user's token is not one.
fn ingest_environment(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|key| key.starts_with(PREFIX));
    key.and_then(|key| state.ingest_keys.environment(key))
        .ok_or(ApiError::Unauthorized)
}

/// Where a batch does not fit its shape: the JSON Pointer of the first field
/// that does not, found by walking the body as a value (only on this error path).
fn shape_error(body: &[u8], error: &serde_json::Error) -> ApiError {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return ApiError::BadRequest {
            message: format!("the body is not JSON: {error}"),
            details: json!({ "line": error.line(), "column": error.column() }),
        };
    };
    let Some(items) = value.get("counts").and_then(|c| c.as_array()) else {
        return ApiError::bad_field("/counts", "the body must be {\"counts\": [...]}");
    };
    let fields = [
        ("rollout", "a string"),
        ("environment", "a string"),
        ("stage", "a string"),
        ("inRollout", "true or false"),
        ("event", "a string"),
        ("count", "a whole number of 0 or more"),
    ];
    for (i, item) in items.iter().enumerate() {
        let Some(object) = item.as_object() else {
            return ApiError::bad_field(&format!("/counts/{i}"), "each count must be an object");
        };
        for (field, kind) in fields {
            let fits = match object.get(field) {
                Some(v) if field == "inRollout" => v.is_boolean(),
                Some(v) if field == "count" => v.is_u64(),
                Some(v) => v.is_string(),
                None => false,
            };
            if !fits {
                return ApiError::bad_field(
                    &format!("/counts/{i}/{field}"),
                    format!("{field} must be {kind}"),
                );
            }
        }
        if let Some(unknown) = object.keys().find(|k| !fields.iter().any(|(f, _)| f == k)) {
            return ApiError::bad_field(
                &format!("/counts/{i}/{unknown}"),
                format!("unknown field '{unknown}'"),
            );
        }
    }
    ApiError::BadRequest {
        message: format!("the body does not fit {{\"counts\": [...]}}: {error}"),
        details: json!({}),
    }
}

/// `GET /api/guardrails/{rollout}/{env}`.
pub(super) async fn guardrails(
    State(state): State<AppState>,
    names: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<GuardrailReport>, ApiError> {
    let Path((rollout, env)) = names?;
    let current = state.store.current();
    let known = current
        .plan()
        .rollouts
        .get(&rollout)
        .is_some_and(|r| r.environments.contains_key(&env));
    if !known {
        return Err(ApiError::NotFound(format!(
            "no environment '{env}' in rollout '{rollout}'"
        )));
    }
    Ok(Json(
        guard::report(&state, current.plan(), &rollout, &env).await,
    ))
}

/// `POST /api/rollouts/{rollout}/environments/{env}/reports`: a person's report
/// counts as one event in the rollout's cohort of the live stage, and the
/// decisions are taken at once; a rollback it causes carries the comment.
pub(super) async fn incident(
    caller: Caller,
    State(state): State<AppState>,
    names: Result<Path<(String, String)>, PathRejection>,
    request: Result<JsonBody<IncidentReport>, ApiError>,
) -> Result<Response, ApiError> {
    let Path((rollout, env)) = names?;
    let request = read_body(request)?;
    if !event_name(&request.event) {
        return Err(ApiError::bad_field(
            "event",
            "event must be 1 to 64 letters, digits, '_', '-' or '.'",
        ));
    }
    if request.comment.trim().is_empty() {
        return Err(ApiError::bad_field(
            "comment",
            "say what was seen: the comment must not be empty",
        ));
    }
    let current = state.store.current();
    let stage = current
        .plan()
        .rollouts
        .get(&rollout)
        .and_then(|r| r.environments.get(&env))
        .and_then(|e| e.active_stage.clone())
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "rollout '{rollout}' has no active stage in '{env}' to report against"
            ))
        })?;
    let count = Count {
        rollout: &rollout,
        environment: &env,
        stage: &stage,
        in_rollout: true,
        event: &request.event,
        count: 1,
    };
    state
        .metrics
        .add(minute_of(state.clock.now()), &[count])
        .map_err(|_| {
            ApiError::bad_field("event", "this stage already counts too many event names")
        })?;
    tracing::warn!(
        rollout,
        env,
        stage,
        by = caller.name,
        event = request.event,
        comment = request.comment,
        "incident reported"
    );
    let note = format!(
        "Reported by {}: {} ({}).",
        caller.name,
        request.comment.trim(),
        request.event
    );
    state.guard.note_incident(&rollout, &env, note);
    guard::decide(&state).await;
    let report = guard::report(&state, state.store.current().plan(), &rollout, &env).await;
    Ok((StatusCode::CREATED, Json(report)).into_response())
}

/// `POST /api/rollouts/{rollout}/environments/{env}/acknowledge`: a person takes
/// an automatic action in hand (it stays in the history; what comes next is
/// theirs: turning the kill switch off needs the stage's sign-offs anew).
pub(super) async fn acknowledge(
    caller: Caller,
    State(state): State<AppState>,
    names: Result<Path<(String, String)>, PathRejection>,
    request: Result<JsonBody<AcknowledgeRequest>, ApiError>,
) -> Result<Json<GuardrailReport>, ApiError> {
    let Path((rollout, env)) = names?;
    let request = read_body(request)?;
    if request.comment.trim().is_empty() {
        return Err(ApiError::bad_field(
            "comment",
            "say what happens next: the comment must not be empty",
        ));
    }
    let automatic = state.store.audit().iter().any(|e| {
        e.revision == request.revision
            && e.author == guard::SYSTEM
            && e.summary
                .iter()
                .any(|line| line.starts_with(&format!("{rollout}/{env}:")))
    });
    if !automatic {
        return Err(ApiError::bad_field(
            "revision",
            format!(
                "revision {} is not an automatic action on {rollout}/{env}",
                request.revision
            ),
        ));
    }
    let ack = Acknowledgement {
        by: caller.name,
        at: crate::util::now_rfc3339(),
        comment: request.comment.trim().to_string(),
    };
    state.guard.acknowledge(request.revision, ack).await?;
    Ok(Json(
        guard::report(&state, state.store.current().plan(), &rollout, &env).await,
    ))
}
