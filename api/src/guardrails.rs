//! Guardrails' bodies: ingest keys, the apps' reports, and what the server
//! makes of them for each rollout and environment (SPEC.md, "Guardrails").

use evaluator::stats::Cohort;
use serde::{Deserialize, Serialize};

/// `POST /api/ingest-keys` and `POST /api/sdk-keys` (the same shape).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IngestKeyRequest {
    /// The environment the key is for (it works for no other).
    pub environment: String,
    /// What the key is for, e.g. "web app".
    #[serde(default)]
    pub name: String,
}

/// An ingest or SDK key as listed: never the key itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct IngestKeyInfo {
    pub id: String,
    pub environment: String,
    pub name: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub created_by: String,
}

/// `POST /api/ingest-keys` or `POST /api/sdk-keys` (201): the key, shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct IngestKeyCreated {
    #[serde(flatten)]
    pub info: IngestKeyInfo,
    /// `sgi_…` (ingest): send as `Authorization: Bearer …` to `POST /api/metrics`.
    /// `sgk_…` (SDK): send as `Authorization: Bearer …` or `X-API-Key` to `/ofrep/v1/…`.
    pub key: String,
}

/// `POST /api/metrics`: counts, never personal data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MetricsBatch {
    /// At most 1,000.
    pub counts: Vec<MetricCount>,
}

/// One count of one event in one cohort of one stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricCount {
    pub rollout: String,
    /// The ingest key's environment.
    pub environment: String,
    /// A stage of the rollout, live or not (late reports count for their stage).
    pub stage: String,
    /// The cohort: in the rollout, or the control.
    pub in_rollout: bool,
    /// `exposure` (units that evaluated the rollout) or a named event.
    pub event: String,
    /// 0 to 4,294,967,295.
    pub count: u64,
}

/// `POST /api/metrics` (202).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MetricsAccepted {
    /// How many counts were taken.
    pub accepted: usize,
}

/// `POST /api/rollouts/{rollout}/environments/{env}/reports`: a person reports
/// an event (the plan's "critical user-facing bug") against the live stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IncidentReport {
    /// The event counted, `criticalBug` unless named.
    #[serde(default = "critical_bug")]
    pub event: String,
    /// What was seen: kept in the audit entry of any rollback it causes.
    pub comment: String,
}

fn critical_bug() -> String {
    "criticalBug".into()
}

/// `GET /api/guardrails/{rollout}/{env}`: the counts behind every trigger of
/// the stage live in that environment, and what the server makes of them. The
/// console judges the same counts with the same functions (`evaluator::stats`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct GuardrailReport {
    pub rollout: String,
    pub environment: String,
    /// The active stage, if any.
    pub stage: Option<String>,
    /// The stage's percentage in basis points (0..=10,000).
    pub basis_points: u16,
    /// A stage is active and the kill switch off.
    pub live: bool,
    /// When the stage last became live here (RFC 3339): counts are taken from then.
    pub live_since: Option<String>,
    /// Exposures in the rollout and in the control since then.
    pub exposures: [u64; 2],
    pub triggers: Vec<TriggerReport>,
    /// The schedule: what the next automatic step waits for.
    pub schedule: ScheduleReport,
    /// The last write the server made by itself to this environment.
    pub last_action: Option<AutomaticAction>,
}

/// One trigger's counts and verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TriggerReport {
    pub metric: String,
    /// `notEnoughData`, `healthy`, `holding` or `breached`.
    pub state: String,
    /// One sentence with the figures.
    pub explanation: String,
    /// The in-rollout cohort's counts, then the control's.
    pub cohorts: [Cohort; 2],
    /// Per-minute counts of the trigger's event and `per` in each cohort, for
    /// the chart: `[minute since the epoch, event in, per in, event out, per out]`.
    pub minutes: Vec<[u64; 5]>,
}

/// The schedule of an environment's live stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScheduleReport {
    /// The stage's planned day, as the plan writes it.
    pub planned_for: Option<String>,
    /// When the soak ends (RFC 3339), if the stage has one.
    pub soak_ends: Option<String>,
    pub auto_advance: bool,
    /// The stage the next step goes to.
    pub next: Option<String>,
    /// What the next step waits for, one plain line each; empty when it is due.
    pub waiting_for: Vec<String>,
}

/// A write the server made by itself: an automatic rollback or advance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AutomaticAction {
    pub revision: u64,
    /// RFC 3339, UTC.
    pub at: String,
    /// `auto-rollback` or `auto-advance`.
    pub action: String,
    pub comment: String,
    /// Who took it in hand, if anyone has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
}

/// A person saying they have seen an automatic action and own what comes next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Acknowledgement {
    pub by: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub comment: String,
}

/// `POST /api/rollouts/{rollout}/environments/{env}/acknowledge`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// The revision of the automatic action acknowledged.
    pub revision: u64,
    /// What happens next, e.g. "investigating the crash; staying rolled back".
    pub comment: String,
}
