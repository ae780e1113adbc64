//! Who is calling, and what their role lets them do.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use evaluator::model::SIGNOFF_ROLES;
use serde::Serialize;

use crate::api::AppState;
use crate::error::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Read the plan, revisions, audit; evaluate.
    Read,
    /// PUT the plan, revert.
    EditPlan,
    /// Set an environment's active stage.
    MoveStage,
    /// Turn a kill switch on or off.
    KillSwitch,
    /// Sign off a stage in one's own sign-off role.
    Sign,
    /// Add, list and remove users.
    ManageUsers,
}

pub const ACTIONS: [Action; 6] = [
    Action::Read,
    Action::EditPlan,
    Action::MoveStage,
    Action::KillSwitch,
    Action::Sign,
    Action::ManageUsers,
];

/// The role table: viewer reads; editor also edits the plan and moves stages; the
/// sign-off roles read and sign; admin does everything but sign (a sign-off is a
/// person in that role approving, which admin cannot stand in for).
pub fn allows(role: &str, action: Action) -> bool {
    match action {
        Action::Read => true,
        Action::EditPlan | Action::MoveStage | Action::KillSwitch => {
            matches!(role, "admin" | "editor")
        }
        Action::Sign => is_signoff_role(role),
        Action::ManageUsers => role == "admin",
    }
}

pub fn is_signoff_role(role: &str) -> bool {
    SIGNOFF_ROLES.contains(&role)
}

/// An authenticated caller. Extracting one answers 401 for a missing or unknown token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    pub role: String,
}

impl Caller {
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if allows(&self.role, action) {
            Ok(())
        } else {
            let action = serde_json::to_value(action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            Err(ApiError::Forbidden(format!(
                "role '{}' may not {}",
                self.role,
                action.as_deref().unwrap_or("do this")
            )))
        }
    }

    pub fn actions(&self) -> Vec<Action> {
        ACTIONS
            .into_iter()
            .filter(|action| allows(&self.role, *action))
            .collect()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
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
        let user = state
            .users
            .authenticate(token)
            .ok_or(ApiError::Unauthorized)?;
        Ok(Caller {
            name: user.name,
            role: user.role,
        })
    }
}
