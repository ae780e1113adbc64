//! Who is calling, and what their role lets them do.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use evaluator::model::Role;

use crate::error::ApiError;
use crate::users::Users;

/// The actions and the role table are part of the API contract: the console
/// reads them from `GET /api/me`.
pub use stagegate_api::{Action, allows};

/// An authenticated caller. Extracting one answers 401 for a missing or unknown token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// The route table's check (see `api::ROUTES`): handlers do not repeat it.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if allows(self.role, action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "role '{}' may not {}",
                self.role,
                action.name()
            )))
        }
    }
}

/// Any state that holds the users authenticates callers: auth knows the users,
/// not the router's state.
impl<S> FromRequestParts<S> for Caller
where
    Arc<Users>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // One Authorization header: with two, which one speaks for the caller is ambiguous.
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let (value, extra) = (values.next(), values.next());
        if extra.is_some() {
            return Err(ApiError::bad_request(
                "more than one Authorization header; send exactly one: Authorization: Bearer <token>",
            ));
        }
        // `Bearer <token>`; the scheme is case-insensitive (RFC 7235).
        let token = value
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let user = Arc::<Users>::from_ref(state)
            .authenticate(token)
            .ok_or(ApiError::Unauthorized)?;
        Ok(Caller {
            name: user.name,
            role: user.role,
        })
    }
}
