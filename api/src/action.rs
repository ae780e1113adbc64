//! What a role may do: the actions the route table requires, the role table, and
//! `GET /api/me`, which tells the console what its user's role allows.

use evaluator::model::Role;
use serde::{Deserialize, Deserializer, Serialize};

/// What a route requires of the caller's role (`x-required-action` in the
/// OpenAPI document); written in kebab-case: `edit-plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// Tick or untick an item of a rollout's checklist.
    TickChecklist,
    /// Add, list, test and remove alert webhooks (their secrets sign alerts).
    ManageWebhooks,
    /// Create, list and revoke the apps' ingest keys.
    ManageIngestKeys,
    /// Create, list and revoke the SDK keys OFREP callers evaluate with.
    ManageSdkKeys,
    /// Report an incident (a critical bug) against a live stage.
    Report,
}

impl Action {
    pub const ALL: [Action; 12] = [
        Action::Read,
        Action::EditPlan,
        Action::MoveStage,
        Action::KillSwitch,
        Action::Sign,
        Action::WithdrawSignoff,
        Action::ManageUsers,
        Action::TickChecklist,
        Action::ManageWebhooks,
        Action::ManageIngestKeys,
        Action::ManageSdkKeys,
        Action::Report,
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
            "tick-checklist",
            "manage-webhooks",
            "manage-ingest-keys",
            "manage-sdk-keys",
            "report",
        ][self as usize]
    }

    /// Every action `role` allows, in `ALL`'s order.
    pub fn allowed_to(role: Role) -> Vec<Action> {
        Action::ALL
            .into_iter()
            .filter(|action| allows(role, *action))
            .collect()
    }
}

/// Read by name (as `Serialize` writes it): far less wasm than a derived enum.
impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        evaluator::json::deserialize_named(deserializer, &Action::ALL, Action::name)
    }
}

/// The role table: viewer reads; editor also edits the plan and moves stages; the
/// sign-off roles read, sign and tick the checklist (the leads do the checking);
/// admin does everything but sign (a sign-off is a person in that role
/// approving, which admin cannot stand in for).
pub fn allows(role: Role, action: Action) -> bool {
    match action {
        Action::Read => true,
        Action::EditPlan | Action::MoveStage | Action::KillSwitch => {
            matches!(role, Role::Admin | Role::Editor)
        }
        Action::Sign => role.signs(),
        Action::WithdrawSignoff => role.signs() || role == Role::Admin,
        Action::ManageUsers
        | Action::ManageWebhooks
        | Action::ManageIngestKeys
        | Action::ManageSdkKeys => role == Role::Admin,
        Action::TickChecklist | Action::Report => role != Role::Viewer,
    }
}

/// `GET /api/me`: who the token belongs to and what their role allows, so the
/// console asks the server rather than keeping its own copy of the role table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Me {
    pub name: String,
    pub role: Role,
    pub actions: Vec<Action>,
}

impl Me {
    /// The answer for a user: the actions come from the role table.
    pub fn new(name: String, role: Role) -> Me {
        Me {
            name,
            role,
            actions: Action::allowed_to(role),
        }
    }

    /// Whether the server lets this user do `action`.
    pub fn may(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn actions_are_written_in_kebab_case() {
        for action in Action::ALL {
            let written = serde_json::to_value(action).unwrap();
            assert_eq!(written, action.name(), "{action:?}");
            let read: Action = serde_json::from_value(written).unwrap();
            assert_eq!(read, action);
        }
        assert!(serde_json::from_str::<Action>("\"editPlan\"").is_err());
    }

    fn admin_only(action: Action) -> bool {
        Role::ALL
            .iter()
            .all(|role| allows(*role, action) == (*role == Role::Admin))
    }

    #[test]
    fn me_lists_what_the_role_table_allows() {
        let editor = Me::new("erin".into(), Role::Editor);
        assert_eq!(
            editor.actions,
            [
                Action::Read,
                Action::EditPlan,
                Action::MoveStage,
                Action::KillSwitch,
                Action::TickChecklist,
                Action::Report
            ]
        );
        assert!(editor.may(Action::EditPlan) && !editor.may(Action::Sign));
        let signer = Me::new("quinn".into(), Role::QaLead);
        assert!(signer.may(Action::Sign) && signer.may(Action::WithdrawSignoff));
        assert!(signer.may(Action::TickChecklist));
        assert!(!Me::new("vera".into(), Role::Viewer).may(Action::TickChecklist));
        assert!(!Me::new("vera".into(), Role::Viewer).may(Action::Report));
        assert!(admin_only(Action::ManageIngestKeys));
        assert!(admin_only(Action::ManageSdkKeys));
        assert!(!signer.may(Action::EditPlan));
        let admin = Me::new("ada".into(), Role::Admin);
        assert!(!admin.may(Action::Sign) && admin.may(Action::ManageUsers));
        assert!(admin.may(Action::ManageWebhooks) && !editor.may(Action::ManageWebhooks));
        let wire = serde_json::to_string(&admin).unwrap();
        assert_eq!(
            wire,
            r#"{"name":"ada","role":"admin","actions":["read","edit-plan","move-stage","kill-switch","withdraw-signoff","manage-users","tick-checklist","manage-webhooks","manage-ingest-keys","manage-sdk-keys","report"]}"#
        );
        assert_eq!(serde_json::from_str::<Me>(&wire).ok(), Some(admin));
    }
}
