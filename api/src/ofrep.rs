//! OFREP, the OpenFeature Remote Evaluation Protocol (open-feature/protocol,
//! `service/openapi.yaml` 0.3.0): the bodies of `POST /ofrep/v1/evaluate/flags/{key}`
//! and `POST /ofrep/v1/evaluate/flags`. Flag keys are `ROLLOUT.FLAG` (or a bare
//! flag name that only one rollout has: `evaluator::flag_key`); the environment
//! is the SDK key's.

use evaluator::json::{Map, Value};
use serde::{Deserialize, Serialize};

/// Both routes' request: the evaluation context.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfrepRequest {
    /// An object: `targetingKey` (a string; needed when a stage is live) and
    /// any attributes the environment's constraints read.
    pub context: Map,
}

/// Why a flag has its value, as OFREP names it: no active stage (everyone
/// gets the fallbacks, OpenFeature's DEFAULT) is `STATIC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OfrepReason {
    Static,
    TargetingMatch,
    Split,
    Disabled,
    Unknown,
}

/// OFREP's error codes (OpenFeature's, less TYPE_MISMATCH, which the caller's
/// provider decides: it knows the type it asked for).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OfrepErrorCode {
    ParseError,
    TargetingKeyMissing,
    InvalidContext,
    General,
    /// Only in the 404 of the one-flag route, and in a bulk answer never.
    FlagNotFound,
}

/// A flag's metadata (OpenFeature's `flagMetadata`): never a null value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OfrepFlagMetadata {
    /// The rollout the flag belongs to.
    pub rollout: String,
    /// The environment's active stage, when one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The unit's bucket (0..=9999), when there is an active stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<u16>,
    /// The plan revision this was computed from.
    pub revision: u64,
}

/// One flag's value (OFREP `evaluationSuccess`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfrepSuccess {
    /// As asked for (one flag), or `ROLLOUT.FLAG` (bulk).
    pub key: String,
    pub value: Value,
    pub reason: OfrepReason,
    /// `on`: the active stage's values; `off`: the fallback.
    pub variant: String,
    pub metadata: OfrepFlagMetadata,
}

/// A flag that could not be evaluated (OFREP `evaluationFailure`, and
/// `flagNotFound` with FLAG_NOT_FOUND): the caller uses its default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OfrepFailure {
    pub key: String,
    pub error_code: OfrepErrorCode,
    pub error_details: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<OfrepFlagMetadata>,
}

/// One item of a bulk answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum OfrepItem {
    Success(OfrepSuccess),
    Failure(OfrepFailure),
}

/// Where a provider hears of changes (OFREP `eventStream`): our
/// `GET /client/{env}/events`, on the OFREP base URL's origin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfrepEventStream {
    /// Always `sse`.
    #[serde(rename = "type")]
    pub kind: String,
    pub endpoint: OfrepEventStreamEndpoint,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OfrepEventStreamEndpoint {
    /// Path (and query) on the OFREP base URL's origin: `/client/{env}/events`.
    pub request_uri: String,
}

/// The flag set's metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfrepBulkMetadata {
    /// The plan revision the answer was computed from.
    pub revision: u64,
}

/// `POST /ofrep/v1/evaluate/flags` (OFREP `bulkEvaluationSuccess`): every flag
/// of every rollout that has the key's environment, keyed `ROLLOUT.FLAG`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OfrepBulk {
    pub flags: Vec<OfrepItem>,
    pub metadata: OfrepBulkMetadata,
    pub event_streams: Vec<OfrepEventStream>,
}

/// A bulk request that could not be evaluated at all (OFREP `bulkEvaluationFailure`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct OfrepBulkFailure {
    pub error_code: OfrepErrorCode,
    pub error_details: String,
}
