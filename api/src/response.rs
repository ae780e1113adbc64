//! Response bodies (besides the plan and the evaluation answer, which are the
//! evaluator's types).

use evaluator::model::{Role, Signoff};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The current revision.
    pub revision: u64,
}

/// One revision in `GET /api/revisions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RevisionSummary {
    pub revision: u64,
    pub author: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// What kind of write (as in `AuditEntry`).
    pub action: String,
    pub comment: String,
}

/// Who changed the plan, when, from which revision, how, and why
/// (`GET /api/audit`; the store keeps one beside each revision).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The revision this write created.
    pub revision: u64,
    /// The revision it was based on (`null` for the seed).
    pub base_revision: Option<u64>,
    pub author: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// What kind of write: seed, put-plan, revert, stage, kill-switch, signoff, withdraw-signoff.
    pub action: String,
    /// One line per change, such as `domain-migration/production: activeStage stage-1 → stage-2`.
    pub summary: Vec<String>,
    pub comment: String,
}

/// `GET /api/changes`: the current revision, and what was written after the
/// revision the caller asked about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Changes {
    pub revision: u64,
    /// The audit entries of the revisions after `after`, oldest first: at most
    /// the newest [`Changes::MAX_ENTRIES`] (the full list is `GET /api/audit`).
    pub entries: Vec<AuditEntry>,
}

impl Changes {
    pub const MAX_ENTRIES: usize = 20;
}

/// `POST /api/signoffs`: the sign-off as stored (201), or the caller's own
/// sign-off that already approves the stage as it is (200, nothing written).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SignoffCreated {
    /// The current revision after the call.
    pub revision: u64,
    pub signoff: Signoff,
}

/// A write whose answer is just the revision it led to (`DELETE /api/signoffs/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Written {
    pub revision: u64,
}

/// A user as the API shows one: never their token's hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    /// RFC 3339, UTC.
    pub created: String,
    /// When their token last authenticated a request, RFC 3339, UTC; absent if
    /// not since the server started.
    #[serde(default, rename = "lastUsed", skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
}

/// `POST /api/users`: the new user and their token, shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UserCreated {
    pub name: String,
    pub role: Role,
    /// RFC 3339, UTC.
    pub created: String,
    pub token: String,
}

/// One change to the users, for the audit trail (`GET /api/users/log`; also how
/// the users file keeps its log).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserEvent {
    /// RFC 3339, UTC.
    pub at: String,
    /// Who made the change (`cli` from the command line).
    pub by: String,
    /// `user-add`, `user-remove` or `user-role`.
    pub action: String,
    pub name: String,
    /// The role after the change (none for a removal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The role before the change (none for an addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_role: Option<Role>,
}

/// The JSON body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// A stable machine-readable code, such as `stale_revision`.
    pub error: String,
    pub message: String,
    /// Code-specific: validation problems, missing roles, the current revision, …
    pub details: Value,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;

    const SIGNOFF: &str = r#"{"id":"so_1","rollout":"domain-migration","stage":"stage-1","role":"qa-lead","by":"quinn","at":"2026-11-24T10:00:00Z","stageDigest":"abc","revision":4}"#;

    #[test]
    fn a_created_signoff_reads_back_as_written() {
        let text = format!(r#"{{"revision":4,"signoff":{SIGNOFF}}}"#);
        let created: SignoffCreated = serde_json::from_str(&text).unwrap();
        assert_eq!(created.signoff.role, "qa-lead");
        assert_eq!(created.signoff.revision, 4);
        assert_eq!(serde_json::to_string(&created).unwrap(), text);
    }

    #[test]
    fn a_signoff_of_the_wrong_shape_is_refused_with_its_field() {
        let text = SIGNOFF.replace(r#""stageDigest":"abc","#, "");
        let error = serde_json::from_str::<Signoff>(&text).unwrap_err();
        assert!(error.to_string().contains("stageDigest"), "{error}");
    }

    #[test]
    fn a_user_event_leaves_out_roles_it_has_not() {
        let event = UserEvent {
            at: "2026-11-24T10:00:00Z".into(),
            by: "cli".into(),
            action: "user-add".into(),
            name: "quinn".into(),
            role: Some(Role::QaLead),
            previous_role: None,
        };
        let wire = serde_json::to_string(&event).unwrap();
        assert_eq!(
            wire,
            r#"{"at":"2026-11-24T10:00:00Z","by":"cli","action":"user-add","name":"quinn","role":"qa-lead"}"#
        );
        assert_eq!(serde_json::from_str::<UserEvent>(&wire).unwrap(), event);
    }
}
