//! The one error shape of the API: `{"error": "<code>", "message": "…", "details": …}`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::http::header::{ETAG, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use evaluator::Problem;
use serde_json::{Value, json};
pub use stagegate_api::ErrorBody;

#[derive(Debug)]
pub enum ApiError {
    /// 401: no token, or one nobody has.
    Unauthorized,
    /// 403: the caller's role may not do this.
    Forbidden(String),
    /// 404 from a handler: the thing named does not exist.
    NotFound(String),
    /// 404 from the router: no such route.
    NoRoute,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 400: the request is malformed (a field, a parameter, the JSON itself).
    BadRequest { message: String, details: Value },
    /// 409: the stage gate: moving production forward needs these sign-offs.
    SignoffsMissing { message: String, details: Value },
    /// 409: the request conflicts with what exists (e.g. a user name taken).
    Conflict(String),
    /// 412: If-Match names a revision that is no longer current.
    Stale { current: u64 },
    /// 428: a write to the plan must say which revision it is based on.
    PreconditionRequired,
    /// 422: the plan (as it would be after the write) breaks the rules.
    InvalidPlan(Vec<Problem>),
    /// 4xx that an extractor or a layer detected (body too large, wrong content
    /// type, a request that took too long, …).
    Rejected { status: StatusCode, message: String },
    /// 503: the store (the database) cannot be reached now; nothing was
    /// written. The reads served from memory go on working.
    Unavailable(String),
    /// 500: the disk failed us (or a bug). Nothing was written. The text goes to the
    /// log only: it can hold file paths and OS errors, which are no client's business.
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            details: Value::Null,
        }
    }

    /// A bad field in a request body; `details.field` names it.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            details: json!({ "field": field }),
        }
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        ApiError::Internal(error.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::SignoffsMissing { .. } | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Stale { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::InvalidPlan(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Rejected { status, .. } => *status,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::NoRoute => "no_route",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::SignoffsMissing { .. } => "signoffs_missing",
            ApiError::Conflict(_) => "conflict",
            ApiError::Stale { .. } => "stale_revision",
            ApiError::PreconditionRequired => "if_match_required",
            ApiError::InvalidPlan(_) => "invalid_plan",
            ApiError::Rejected { status, .. } => match status.as_u16() {
                408 => "request_timeout",
                413 => "payload_too_large",
                415 => "unsupported_media_type",
                422 => "invalid_body",
                500..=599 => "internal",
                _ => "bad_request",
            },
            ApiError::Unavailable(_) => "store_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Unauthorized => {
                "missing or unknown token: send Authorization: Bearer <token> (see `stagegate user add`)".into()
            }
            ApiError::Forbidden(message)
            | ApiError::NotFound(message)
            | ApiError::Conflict(message)
            | ApiError::BadRequest { message, .. }
            | ApiError::SignoffsMissing { message, .. }
            | ApiError::Rejected { message, .. } => message.clone(),
            ApiError::NoRoute => "no such route".into(),
            ApiError::MethodNotAllowed => "this route does not take that method".into(),
            ApiError::Stale { current } => {
                format!("the plan has changed: If-Match does not name the current revision, which is {current}")
            }
            ApiError::PreconditionRequired => {
                "a write needs If-Match: \"<revision>\" (the ETag of the plan it is based on)".into()
            }
            ApiError::InvalidPlan(problems) => {
                let count = problems.len();
                format!("the plan is invalid: {count} problem{}", if count == 1 { "" } else { "s" })
            }
            ApiError::Unavailable(_) => {
                "the store cannot be reached now, nothing was written: try again shortly".into()
            }
            ApiError::Internal(_) => "internal error, nothing was written".into(),
        }
    }

    fn details(&self) -> Value {
        match self {
            ApiError::BadRequest { details, .. } | ApiError::SignoffsMissing { details, .. } => {
                details.clone()
            }
            ApiError::Stale { current } => json!({ "currentRevision": current }),
            ApiError::InvalidPlan(problems) => json!(problems),
            _ => Value::Null,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code().into(),
            message: self.message(),
            details: self.details(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.body();
        if let ApiError::Unavailable(cause) = &self {
            tracing::warn!("store unavailable: {cause}");
        }
        if let ApiError::Internal(cause) = &self {
            // The client gets an id to quote; the log gets the cause under the same id.
            let id = incident_id();
            tracing::error!(incident = %id, "internal error: {cause}");
            body.message = format!("{} (see the server log, incident {id})", body.message);
            body.details = json!({ "incident": id });
        }
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Stale { current } => {
                if let Ok(etag) = format!("\"{current}\"").parse() {
                    headers.insert(ETAG, etag);
                }
            }
            // RFC 7235: a 401 names the scheme that would work.
            ApiError::Unauthorized => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// A short random id tying an internal error's answer to its log line.
fn incident_id() -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(1);
    crate::util::random_hex(6)
        .unwrap_or_else(|_| format!("n{}", FALLBACK.fetch_add(1, Ordering::Relaxed)))
}

impl From<evaluator::Invalid> for ApiError {
    fn from(invalid: evaluator::Invalid) -> Self {
        ApiError::InvalidPlan(invalid.0)
    }
}

/// Extractor failures keep their 4xx status but speak our shape.
macro_rules! from_rejection {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> Self {
                ApiError::Rejected { status: rejection.status(), message: rejection.body_text() }
            }
        }
    )*};
}

from_rejection!(
    axum::extract::rejection::JsonRejection,
    axum::extract::rejection::BytesRejection,
    axum::extract::rejection::PathRejection,
    axum::extract::rejection::QueryRejection
);

impl From<crate::storage::StorageError> for ApiError {
    fn from(error: crate::storage::StorageError) -> Self {
        crate::store::StoreError::from(error).into()
    }
}

/// The store's errors as responses: the one place they meet HTTP.
impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        use evaluator::gate::RefusalKind;
        match error {
            StoreError::Stale { current } => ApiError::Stale { current },
            StoreError::Invalid(problems) => ApiError::InvalidPlan(problems),
            StoreError::NoRevision(number) => {
                ApiError::NotFound(format!("revision {number} does not exist"))
            }
            StoreError::Gate(refusal) => match refusal.kind {
                RefusalKind::AdminOnly => ApiError::Forbidden(refusal.message),
                RefusalKind::SignoffsMissing => ApiError::SignoffsMissing {
                    details: json!({
                        "rollout": refusal.rollout,
                        "environment": evaluator::model::GATED_ENVIRONMENT,
                        "stage": refusal.stage,
                        "missingRoles": refusal.missing,
                        "afterRevision": refusal.after_revision,
                    }),
                    message: refusal.message,
                },
            },
            StoreError::Io(message) => ApiError::Internal(message),
            StoreError::Unavailable(message) => ApiError::Unavailable(message),
        }
    }
}
