//! OFREP, the OpenFeature Remote Evaluation Protocol (open-feature/protocol,
//! `service/openapi.yaml` 0.3.0), so that any language's OFREP provider
//! evaluates here: `POST /ofrep/v1/evaluate/flags/{key}` (one flag, for server
//! SDKs) and `POST /ofrep/v1/evaluate/flags` (all of them, for web SDKs, with
//! an ETag and the environment's event stream). The caller's environment is its
//! SDK key's (`Authorization: Bearer sgk_…` or `X-API-Key: sgk_…`); a flag key
//! names a rollout's flag by `evaluator::flag_key`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use evaluator::digest::hex;
use evaluator::flag_key::{find, flags_in, full_key};
use evaluator::json::Value;
use evaluator::{Context, ErrorCode, Evaluation, Reason, Resolution};
use sha2::{Digest, Sha256};
use stagegate_api::{
    OfrepBulk, OfrepBulkFailure, OfrepBulkMetadata, OfrepErrorCode, OfrepEventStream,
    OfrepEventStreamEndpoint, OfrepFailure, OfrepFlagMetadata, OfrepItem, OfrepReason,
    OfrepSuccess,
};
use tower_http::cors::CorsLayer;

use super::layers::open_cors;

use super::client::none_match;
use super::layers::NoBody;
use crate::AppState;
use crate::app_keys::{KeyKind, Lookup};
use crate::error::ApiError;

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Browsers evaluate from the app's own origin (the web provider): the
/// preflight names the headers, and the bulk answer's ETag is readable.
pub(super) fn cors() -> CorsLayer {
    open_cors(
        &[Method::POST],
        &[AUTHORIZATION, X_API_KEY, IF_NONE_MATCH, CONTENT_TYPE],
        &[ETAG],
    )
}

/// `POST /ofrep/v1/evaluate/flags/{key}`: 200 with the value, 404 for a key
/// that names no flag, 400 for a bad body or a flag that cannot be evaluated.
pub(super) async fn evaluate_flag(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let environment = match environment(&state, &headers) {
        Ok(environment) => environment,
        Err(status) => return Ok(bare(status)),
    };
    let key = match key {
        Ok(Path(key)) => key,
        // A key that does not decode (`%FF`) names no flag.
        Err(rejection) => {
            let failure = OfrepFailure {
                key: String::new(),
                error_code: OfrepErrorCode::FlagNotFound,
                error_details: rejection.body_text(),
                metadata: None,
            };
            return Ok((StatusCode::NOT_FOUND, Json(failure)).into_response());
        }
    };
    let context = match read_context(&body) {
        Ok(context) => context,
        Err((error_code, error_details)) => {
            let failure = OfrepFailure {
                key,
                error_code,
                error_details,
                metadata: None,
            };
            return Ok((StatusCode::BAD_REQUEST, Json(failure)).into_response());
        }
    };
    let current = state.store.current();
    let evaluator = &current.evaluator;
    let Some((rollout, flag)) = find(evaluator, &environment, &key) else {
        let failure = OfrepFailure {
            error_code: OfrepErrorCode::FlagNotFound,
            error_details: format!(
                "no flag '{key}' in environment '{environment}': name a flag ROLLOUT.FLAG, \
                 or by a flag name that only one rollout has"
            ),
            key,
            metadata: None,
        };
        return Ok((StatusCode::NOT_FOUND, Json(failure)).into_response());
    };
    let resolution = evaluator.resolve(rollout, flag, &environment, &context, None);
    Ok(
        match Outcome::of_resolution(&resolution).into_item(key, rollout) {
            OfrepItem::Success(success) => (
                [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
                Json(success),
            )
                .into_response(),
            OfrepItem::Failure(failure) => (StatusCode::BAD_REQUEST, Json(failure)).into_response(),
        },
    )
}

/// `POST /ofrep/v1/evaluate/flags`: every flag of every rollout that has the
/// key's environment, keyed `ROLLOUT.FLAG`; a flag that cannot be evaluated is
/// a failure item. The ETag is the answer's digest: 304 when If-None-Match has it.
pub(super) async fn evaluate_flags(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let environment = match environment(&state, &headers) {
        Ok(environment) => environment,
        Err(status) => return bare(status),
    };
    let context = match read_context(&body) {
        Ok(context) => context,
        Err((error_code, error_details)) => {
            let failure = OfrepBulkFailure {
                error_code,
                error_details,
            };
            return (StatusCode::BAD_REQUEST, Json(failure)).into_response();
        }
    };
    let current = state.store.current();
    let evaluator = &current.evaluator;
    let mut flags = Vec::new();
    // A rollout's flags come together: one evaluation serves them all.
    let mut last: Option<(&str, Evaluation)> = None;
    for (rollout, flag) in flags_in(evaluator, &environment) {
        if last
            .as_ref()
            .is_none_or(|(evaluated, _)| *evaluated != rollout)
        {
            last = Some((rollout, evaluator.evaluate(rollout, &environment, &context)));
        }
        if let Some((_, evaluation)) = &last {
            let item =
                Outcome::of_flag(evaluation, flag).into_item(full_key(rollout, flag), rollout);
            flags.push(item);
        }
    }
    let answer = OfrepBulk {
        flags,
        metadata: OfrepBulkMetadata {
            revision: current.revision(),
        },
        event_streams: vec![OfrepEventStream {
            kind: "sse".into(),
            endpoint: OfrepEventStreamEndpoint {
                request_uri: format!("/client/{}/events", path_segment(&environment)),
            },
        }],
    };
    let body = match serde_json::to_vec(&answer) {
        Ok(body) => body,
        Err(error) => return server_error(&error.to_string()),
    };
    let tag = format!("\"{}\"", hex(&Sha256::digest(&body)[..12]));
    let Ok(etag) = HeaderValue::from_str(&tag) else {
        return server_error("an ETag that is not a header value");
    };
    let caching = [
        (CACHE_CONTROL, HeaderValue::from_static("private, no-cache")),
        (ETAG, etag.clone()),
    ];
    if none_match(&headers, &etag) {
        return (StatusCode::NOT_MODIFIED, caching).into_response();
    }
    (
        caching,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// The SDK key's environment, or the refusal: 401 for no key, a malformed or
/// unknown one, 403 for a revoked one (OFREP refuses by status alone: `bare`).
fn environment(state: &AppState, headers: &HeaderMap) -> Result<String, StatusCode> {
    let header = |name: &HeaderName| headers.get(name).and_then(|value| value.to_str().ok());
    let bearer = header(&AUTHORIZATION)
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    let api_key = header(&X_API_KEY).map(str::trim);
    let key = [bearer, api_key]
        .into_iter()
        .flatten()
        .find(|key| key.starts_with(KeyKind::Sdk.prefix()));
    match key.map(|key| state.sdk_keys.lookup(key)) {
        Some(Lookup::Valid(environment)) => Ok(environment),
        Some(Lookup::Revoked) => Err(StatusCode::FORBIDDEN),
        Some(Lookup::Unknown) | None => Err(StatusCode::UNAUTHORIZED),
    }
}

/// OFREP's `generalErrorResponse`.
fn server_error(details: &str) -> Response {
    let body = serde_json::json!({ "errorDetails": details });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

fn bare(status: StatusCode) -> Response {
    let mut response = status.into_response();
    response.extensions_mut().insert(NoBody);
    response
}

/// The body's `context`, or the error code and what is wrong.
fn read_context(body: &[u8]) -> Result<Context, (OfrepErrorCode, String)> {
    let text = std::str::from_utf8(body).map_err(|error| {
        let at = error.valid_up_to();
        let message = format!("the body is not UTF-8 (byte {at} starts an invalid sequence)");
        (OfrepErrorCode::ParseError, message)
    })?;
    let value = evaluator::json::parse(text).map_err(|error| {
        let message = format!("the body is not JSON: {error}");
        (OfrepErrorCode::ParseError, message)
    })?;
    let shape = "the body must be {\"context\": {\"targetingKey\": \"…\", …}}";
    let invalid = |message: String| (OfrepErrorCode::InvalidContext, message);
    let Value::Object(mut fields) = value else {
        return Err(invalid(format!("{shape}, not {}", value.kind())));
    };
    let context = fields
        .remove("context")
        .ok_or_else(|| invalid(format!("{shape}: 'context' is missing")))?;
    Context::from_value(context).map_err(invalid)
}

/// What OFREP says of one flag, read from either kind of the evaluator's answer.
struct Outcome<'a> {
    value: Option<&'a Value>,
    stage: Option<&'a str>,
    bucket: Option<u16>,
    in_rollout: bool,
    reason: Reason,
    error: Option<(ErrorCode, &'a str)>,
    revision: u64,
}

impl<'a> Outcome<'a> {
    fn of_resolution(resolution: &'a Resolution) -> Self {
        Outcome {
            value: resolution.value.as_deref(),
            stage: resolution.stage.as_deref(),
            bucket: resolution.bucket,
            in_rollout: resolution.in_rollout,
            reason: resolution.reason,
            error: error_of(resolution.error_code, &resolution.error_message),
            revision: resolution.revision,
        }
    }

    fn of_flag(evaluation: &'a Evaluation, flag: &str) -> Self {
        let error = error_of(evaluation.error_code, &evaluation.error_message);
        Outcome {
            value: evaluation.values.get(flag).filter(|_| error.is_none()),
            stage: evaluation.stage.as_deref(),
            bucket: evaluation.bucket,
            in_rollout: evaluation.in_rollout,
            reason: evaluation.reason,
            error,
            revision: evaluation.revision,
        }
    }

    fn into_item(self, key: String, rollout: &str) -> OfrepItem {
        let metadata = OfrepFlagMetadata {
            rollout: rollout.into(),
            stage: self.stage.map(str::to_string),
            bucket: self.bucket,
            revision: self.revision,
        };
        let failure = |error_code, error_details: &str| {
            OfrepItem::Failure(OfrepFailure {
                key: key.clone(),
                error_code,
                error_details: error_details.into(),
                metadata: Some(metadata.clone()),
            })
        };
        match (self.error, self.value) {
            (Some((code, message)), _) => failure(error_code(code), message),
            (None, None) => failure(OfrepErrorCode::General, "the flag has no value"),
            (None, Some(value)) => OfrepItem::Success(OfrepSuccess {
                key,
                value: value.clone(),
                reason: reason(self.reason),
                variant: if self.in_rollout { "on" } else { "off" }.into(),
                metadata,
            }),
        }
    }
}

fn error_of(code: Option<ErrorCode>, message: &Option<String>) -> Option<(ErrorCode, &str)> {
    code.map(|code| (code, message.as_deref().unwrap_or(code.name())))
}

/// OFREP lists no DEFAULT: no active stage is a `STATIC` answer.
fn reason(reason: Reason) -> OfrepReason {
    match reason {
        Reason::Split => OfrepReason::Split,
        Reason::TargetingMatch => OfrepReason::TargetingMatch,
        Reason::Disabled => OfrepReason::Disabled,
        Reason::Default => OfrepReason::Static,
        Reason::Error => OfrepReason::Unknown,
    }
}

/// OFREP's codes; a type mismatch cannot arise here (no type is asked for).
fn error_code(code: ErrorCode) -> OfrepErrorCode {
    match code {
        ErrorCode::FlagNotFound => OfrepErrorCode::FlagNotFound,
        ErrorCode::ParseError => OfrepErrorCode::ParseError,
        ErrorCode::TargetingKeyMissing => OfrepErrorCode::TargetingKeyMissing,
        ErrorCode::InvalidContext => OfrepErrorCode::InvalidContext,
        ErrorCode::TypeMismatch | ErrorCode::General => OfrepErrorCode::General,
    }
}

/// An environment name as one URL path segment.
fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
