//! What apps read: the public client documents, and evaluation on the server.

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use evaluator::json::Value;
use evaluator::{Context, Evaluation};
use tower_http::cors::CorsLayer;

use super::layers::open_cors;

use super::{AppState, CLIENT_MAX_AGE, JSON_TYPE};
use crate::error::ApiError;
use crate::util::{PercentError, percent_decode};

pub(super) async fn evaluate(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let pairs = parse_query(uri.query().unwrap_or(""))?;
    let (mut rollout, mut env, mut context) = (None, None, Context::default());
    // A set beside the attributes: a long query must not cost a scan per name.
    let (mut names, mut attributes) = (HashSet::new(), Vec::new());
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "rollout" => &mut rollout,
            "env" => &mut env,
            "targetingKey" => &mut context.targeting_key,
            _ => {
                if !names.insert(name.clone()) {
                    return Err(repeated(&name));
                }
                attributes.push((name, Value::String(value)));
                continue;
            }
        };
        if slot.replace(value).is_some() {
            return Err(repeated(&name));
        }
    }
    context.attributes = attributes.into_iter().collect();
    let rollout = rollout
        .ok_or_else(|| ApiError::bad_field("rollout", "query parameter 'rollout' is required"))?;
    let env = env.ok_or_else(|| ApiError::bad_field("env", "query parameter 'env' is required"))?;
    let current = state.store.current();
    // Written straight from the borrowed answer: no copy of the values.
    let answer: Evaluation = current.evaluator.evaluate(&rollout, &env, &context);
    Ok(Json(answer).into_response())
}

fn repeated(name: &str) -> ApiError {
    ApiError::bad_field(
        name,
        format!(
            "query parameter '{name}' is given more than once; which one is meant is ambiguous"
        ),
    )
}

/// `application/x-www-form-urlencoded` pairs, strictly: a `%` must start a valid
/// escape and the decoded bytes must be UTF-8. A lenient decoder would turn a
/// malformed id into U+FFFD or a literal `%` and answer for a user nobody asked
/// about; a 400 is clearer. Empty segments (`a=1&&b=2`) are skipped; a name
/// without `=` has the empty value.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for segment in query.split('&').filter(|segment| !segment.is_empty()) {
        let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
        let name = decode_component(name)?;
        if name.is_empty() {
            return Err(ApiError::bad_request(format!(
                "query segment '{segment}' has no parameter name"
            )));
        }
        let value = decode_component(value)?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// A form-encoded component: `+` is a space, `%2B` a plus.
fn decode_component(text: &str) -> Result<String, ApiError> {
    percent_decode(&text.replace('+', " ")).map_err(|error| {
        ApiError::bad_request(match error {
            PercentError::Malformed => format!(
                "malformed percent-escape in query component '{text}': '%' must be followed by two hex digits"
            ),
            PercentError::NotUtf8 => {
                format!("query component '{text}' does not decode to UTF-8 text")
            }
        })
    })
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
        return ApiError::NotFound(format!("no rollout has an environment '{env}'"))
            .into_response();
    };
    let caching = [
        (CACHE_CONTROL, HeaderValue::from_static(CLIENT_MAX_AGE)),
        (ETAG, document.etag.clone()),
    ];
    if none_match(&headers, &document.etag) {
        return (StatusCode::NOT_MODIFIED, caching).into_response();
    }
    (caching, [(CONTENT_TYPE, JSON_TYPE)], document.body.clone()).into_response()
}

/// The client documents are public: any origin may read them and their ETag,
/// and revalidate with If-None-Match.
pub(super) fn cors() -> CorsLayer {
    open_cors(&[Method::GET, Method::HEAD], &[IF_NONE_MATCH], &[ETAG])
}

/// Whether If-None-Match lists `etag` (or is `*`); weak tags compare equal.
pub(super) fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(value) = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let etag = etag.to_str().unwrap_or("");
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Never reached: `cors()` answers every OPTIONS request itself. The route is
/// in the table so that the OpenAPI document lists the preflight.
pub(super) async fn preflight() -> StatusCode {
    StatusCode::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        parse_query(query).unwrap()
    }

    #[test]
    fn queries_decode_strictly() {
        assert_eq!(
            pairs("a=1&&b=x+y%2B%E3%83%A6&c&d="),
            [("a", "1"), ("b", "x y+ユ"), ("c", ""), ("d", "")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        assert_eq!(pairs(""), []);
        for bad in [
            "k=%", "k=%4", "k=%zz", "k=%FF%FE", "k=%C3", "%FF=1", "=v", "k=%%41",
        ] {
            assert!(
                matches!(parse_query(bad), Err(ApiError::BadRequest { .. })),
                "{bad}"
            );
        }
    }
}
