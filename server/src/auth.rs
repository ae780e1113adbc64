//! Who is calling, and what their role lets them do.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use evaluator::model::Role;
use serde::Serialize;

use crate::error::ApiError;
use crate::users::Users;

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
    /// Withdraw a sign-off: one's own (a signer), or anyone's (an admin).
    WithdrawSignoff,
    /// Add, list, change and remove users.
    ManageUsers,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Read,
        Action::EditPlan,
        Action::MoveStage,
        Action::KillSwitch,
        Action::Sign,
        Action::WithdrawSignoff,
        Action::ManageUsers,
    ];

    /// As the API writes it: `edit-plan`.
    pub fn name(self) -> &'static str {
        [
            "read",
            "edit-plan",
            "move-stage",
            "kill-switch",
            "sign",
            "withdraw-signoff",
            "manage-users",
        ][self as usize]
    }
}

/// The role table: viewer reads; editor also edits the plan and moves stages; the
/// sign-off roles read and sign; admin does everything but sign (a sign-off is a
/// person in that role approving, which admin cannot stand in for).
pub fn allows(role: Role, action: Action) -> bool {
    match action {
        Action::Read => true,
        Action::EditPlan | Action::MoveStage | Action::KillSwitch => {
            matches!(role, Role::Admin | Role::Editor)
        }
        Action::Sign => role.signs(),
        Action::WithdrawSignoff => role.signs() || role == Role::Admin,
        Action::ManageUsers => role == Role::Admin,
    }
}

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

    pub fn actions(&self) -> Vec<Action> {
        Action::ALL
            .into_iter()
            .filter(|action| allows(self.role, *action))
            .collect()
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
