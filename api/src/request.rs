//! Request bodies. Unknown fields are refused; a missing `comment` is empty.
//! The server reads them through its JSON body rule (`server/src/api/json_body.rs`),
//! which turns a refusal into a 422 naming what does not fit.

use serde::{Deserialize, Deserializer, Serialize};

#[cfg(feature = "schema")]
use evaluator::model::Role;

/// `POST /api/revert`: write a new revision equal to an old one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RevertRequest {
    pub revision: u64,
    #[serde(default)]
    pub comment: String,
    /// Also bring back each environment's active stage and kill switch as they
    /// were at `revision`. Off by default: a revert made to undo an edit must not
    /// turn a kill switch off or move production in the middle of an incident.
    /// When on, the gate rules on the move like on any other.
    #[serde(default, rename = "restoreLiveState")]
    pub restore_live_state: bool,
}

/// `POST /api/rollouts/{rollout}/environments/{env}/stage`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StageRequest {
    /// A stage id of the rollout, or `null` for no active stage. Required.
    #[serde(deserialize_with = "required_nullable")]
    pub stage: Option<String>,
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/rollouts/{rollout}/environments/{env}/kill-switch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KillSwitchRequest {
    pub on: bool,
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/signoffs`: sign off a stage in the caller's own sign-off role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SignoffRequest {
    pub rollout: String,
    pub stage: String,
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/users`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    pub name: String,
    /// Read as text so that an unknown role is a 400 naming the field.
    #[cfg_attr(feature = "schema", schemars(with = "Role"))]
    pub role: String,
}

/// `PATCH /api/users/{name}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UserRoleRequest {
    /// Read as text so that an unknown role is a 400 naming the field.
    #[cfg_attr(feature = "schema", schemars(with = "Role"))]
    pub role: String,
}

/// A field that must be present but may be `null` (plain `Option` would read a
/// missing field as `null`).
fn required_nullable<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    Option::deserialize(de)
}

/// `POST /api/rollouts/{rollout}/checklist/{index}`: tick or untick one item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TickRequest {
    pub done: bool,
    #[serde(default)]
    pub comment: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn a_stage_move_names_its_stage_or_null() {
        let to_none: StageRequest = serde_json::from_str(r#"{"stage":null}"#).unwrap();
        assert_eq!(to_none.stage, None);
        let error = serde_json::from_str::<StageRequest>("{}").unwrap_err();
        assert!(
            error.to_string().contains("missing field `stage`"),
            "{error}"
        );
        let request = StageRequest {
            stage: Some("stage-2".into()),
            comment: "go".into(),
        };
        let wire = serde_json::to_string(&request).unwrap();
        assert_eq!(wire, r#"{"stage":"stage-2","comment":"go"}"#);
        assert_eq!(
            serde_json::from_str::<StageRequest>(&wire).unwrap(),
            request
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error =
            serde_json::from_str::<KillSwitchRequest>(r#"{"on":true,"of":false}"#).unwrap_err();
        assert!(error.to_string().contains("unknown field `of`"), "{error}");
        let read: RevertRequest = serde_json::from_str(r#"{"revision":3}"#).unwrap();
        assert_eq!(read.comment, "");
    }
}
