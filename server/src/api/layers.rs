//! What wraps every route: request logs, compression of larger JSON answers, a
//! deadline per request, a JSON answer for a panic, the API's error shape on
//! whatever a layer answers itself, and `X-Content-Type-Options: nosniff`.

use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{
    Extensions, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version,
};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{Predicate as _, SizeAbove};
use tower_http::cors::{Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::ApiError;

/// From the request's head to the response's head, body reading included: a
/// client that trickles its body gets a 408 after this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// JSON answers from this size on are compressed (br or gzip, as the client
/// accepts); below it the encoding's overhead outweighs the bytes saved.
pub const COMPRESS_FROM_BYTES: u16 = 1024;

pub fn wrap<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(
        ServiceBuilder::new()
            .layer(
                // One line per request at debug (`RUST_LOG=info,tower_http=debug`),
                // 5xx at error. The span (at info, so an error logged inside a
                // handler says which request) has the path, not the query:
                // /api/evaluate's query holds the users' keys.
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<Body>| {
                        tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
                    })
                    .on_request(())
                    .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                    .on_failure(DefaultOnFailure::new().level(Level::ERROR)),
            )
            // JSON only: the console's files come precompressed from disk (and
            // a response with Content-Encoding is never compressed again).
            .layer(
                CompressionLayer::new()
                    .compress_when(SizeAbove::new(COMPRESS_FROM_BYTES).and(is_json)),
            )
            .map_response(|mut response: Response| {
                response
                    .headers_mut()
                    .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
                response
            })
            .map_response(json_for_bare_errors)
            .layer(CatchPanicLayer::custom(|panic: Box<dyn std::any::Any + Send>| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                ApiError::internal(format!("a handler panicked: {what}")).into_response()
            }))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                REQUEST_TIMEOUT,
            )),
    )
}

fn is_json(_: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"))
}

/// Marks an error answer that has no body on purpose (OFREP's 401 and 403):
/// `json_for_bare_errors` leaves it as it is.
#[derive(Clone, Copy, Debug)]
pub struct NoBody;

/// An error status without a body type was answered by a layer (the timeout, or
/// one added later); give it the API's error shape, keeping its other headers.
fn json_for_bare_errors<B>(response: axum::http::Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let response = response.map(Body::new);
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(CONTENT_TYPE)
        || response.extensions().get::<NoBody>().is_some()
    {
        return response;
    }
    let message = match status {
        StatusCode::REQUEST_TIMEOUT => format!(
            "the request was not complete within {} s (a body sent too slowly, or a slow server); \
             a write it carried may still have happened: read the plan before trying again",
            REQUEST_TIMEOUT.as_secs()
        ),
        other => other.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let (mut parts, _) = response.into_parts();
    let answer = ApiError::Rejected { status, message }.into_response();
    parts.headers.remove(CONTENT_LENGTH);
    let (answer_parts, body) = answer.into_parts();
    parts.headers.extend(answer_parts.headers);
    Response::from_parts(parts, body)
}

/// CORS for the routes apps call from any origin (client documents, their
/// event stream, reports, OFREP): no credentials, so `*` is safe; the layer
/// answers every preflight itself (kept a day); no `Vary: Origin`, since the
/// answer is the same for every origin.
pub(super) fn open_cors(
    methods: &[Method],
    request_headers: &[HeaderName],
    exposed: &[HeaderName],
) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(methods.to_vec())
        .allow_headers(request_headers.to_vec())
        .expose_headers(exposed.to_vec())
        .max_age(Duration::from_secs(86_400))
        .vary([])
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use tower::ServiceExt as _;

    use super::*;

    async fn answer(router: &Router, path: &str) -> (StatusCode, Value) {
        let request = Request::get(path).body(Body::empty()).unwrap_or_default();
        let Ok(response) = router.clone().oneshot(request).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    async fn panics() -> StatusCode {
        panic!("reading /srv/secret failed")
    }

    #[tokio::test]
    async fn what_a_layer_answers_is_json_too() {
        // Fallbacks, not routes: routes are mounted from the route table only.
        let panicking = wrap(Router::new().fallback(panics));
        let bare = wrap(Router::new().fallback(|| async { StatusCode::IM_A_TEAPOT }));
        let fine = wrap(Router::new().fallback(|| async { StatusCode::NO_CONTENT }));
        let (status, body) = answer(&panicking, "/").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "internal");
        assert!(!body.to_string().contains("/srv/secret"), "{body}");
        let (status, body) = answer(&bare, "/").await;
        assert_eq!(status, StatusCode::IM_A_TEAPOT);
        assert_eq!(body["message"], "i'm a teapot");
        assert_eq!(answer(&fine, "/").await.0, StatusCode::NO_CONTENT);
    }
}
