//! The HTTP API's contract: every request and response body of `stagegate serve`,
//! defined once. The server answers and reads them, the console sends and reads
//! them, and the OpenAPI document is generated from them (feature `schema`).
//! Plain serde types, the pure role table, and the JSON diff both sides show
//! changes with; validation and HTTP stay in the server.
//!
//! The plan itself (`evaluator::Plan`) and the evaluation answer
//! (`evaluator::Evaluation`) are the evaluator's types.

pub mod diff;
pub mod revert;

mod action;
mod guardrails;
mod ofrep;
mod request;
mod response;
mod webhooks;

pub use action::{Action, Me, allows};
pub use guardrails::{
    AcknowledgeRequest, Acknowledgement, AutomaticAction, GuardrailReport, IncidentReport,
    IngestKeyCreated, IngestKeyInfo, IngestKeyRequest, MetricCount, MetricsAccepted, MetricsBatch,
    ScheduleReport, TriggerReport,
};
pub use ofrep::{
    OfrepBulk, OfrepBulkFailure, OfrepBulkMetadata, OfrepErrorCode, OfrepEventStream,
    OfrepEventStreamEndpoint, OfrepFailure, OfrepFlagMetadata, OfrepItem, OfrepReason,
    OfrepRequest, OfrepSuccess,
};
pub use request::{
    KillSwitchRequest, RevertRequest, SignoffRequest, StageRequest, TickRequest, UserRequest,
    UserRoleRequest,
};
pub use response::{
    AuditEntry, Changes, ErrorBody, Health, RevisionSummary, SignoffCreated, UserCreated,
    UserEvent, UserInfo, Written,
};
pub use webhooks::{
    AlertEvent, DeliveryAttempt, DeliveryStatus, WebhookCreated, WebhookDelivery, WebhookInfo,
    WebhookRequest, WebhookTestQueued,
};
