//! Alerts by webhook: the events, what an admin sends to configure a hook, and
//! what the server shows of hooks and their deliveries (`/api/webhooks`).

use serde::{Deserialize, Deserializer, Serialize};

/// What an alert is about; a hook lists the events it wants. Written in
/// camelCase, as in the payload's `event` and the `X-Stagegate-Event` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum AlertEvent {
    /// A roll-back trigger breached: the kill switch was turned on.
    Rollback,
    /// A trigger is holding progression, or close to its threshold.
    TriggerWarning,
    /// Exposures in and out of the rollout do not match the stage's percentage.
    SampleRatioMismatch,
    /// The schedule moved an environment to its next stage.
    Advance,
    /// A due advance waits for sign-offs.
    WaitingOnSignoffs,
    /// Sent by `POST /api/webhooks/{id}/test` to that hook alone, whatever it lists.
    Test,
}

impl AlertEvent {
    pub const ALL: [AlertEvent; 6] = [
        AlertEvent::Rollback,
        AlertEvent::TriggerWarning,
        AlertEvent::SampleRatioMismatch,
        AlertEvent::Advance,
        AlertEvent::WaitingOnSignoffs,
        AlertEvent::Test,
    ];

    /// The events a hook may subscribe to (`test` reaches a hook only on request).
    pub const SUBSCRIBABLE: [AlertEvent; 5] = [
        AlertEvent::Rollback,
        AlertEvent::TriggerWarning,
        AlertEvent::SampleRatioMismatch,
        AlertEvent::Advance,
        AlertEvent::WaitingOnSignoffs,
    ];

    /// As written on the wire: `triggerWarning`.
    pub fn name(self) -> &'static str {
        [
            "rollback",
            "triggerWarning",
            "sampleRatioMismatch",
            "advance",
            "waitingOnSignoffs",
            "test",
        ][self as usize]
    }

    pub fn from_name(name: &str) -> Option<AlertEvent> {
        AlertEvent::ALL
            .into_iter()
            .find(|event| event.name() == name)
    }
}

impl std::fmt::Display for AlertEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Read by name (as `Serialize` writes it): far less wasm than a derived enum.
impl<'de> Deserialize<'de> for AlertEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        evaluator::json::deserialize_named(deserializer, &AlertEvent::ALL, AlertEvent::name)
    }
}

/// `POST /api/webhooks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where deliveries are POSTed: `http` or `https`, with a host.
    pub url: String,
    /// At least one of `rollback`, `triggerWarning`, `sampleRatioMismatch`,
    /// `advance`, `waitingOnSignoffs`. Read as text so that an unknown event is
    /// a 400 naming the field.
    #[cfg_attr(feature = "schema", schemars(with = "Vec<AlertEvent>"))]
    pub events: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// The signing secret (16 to 256 printable ASCII characters); the server
    /// makes one when absent. Either way the answer shows it this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A hook as `GET /api/webhooks` shows it: never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookInfo {
    pub id: String,
    pub url: String,
    pub events: Vec<AlertEvent>,
    pub description: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub created_by: String,
    /// Its most recent deliveries, newest first (the server keeps the last 50).
    pub deliveries: Vec<WebhookDelivery>,
}

/// `POST /api/webhooks` (201): the new hook and its secret, shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookCreated {
    pub id: String,
    pub url: String,
    pub events: Vec<AlertEvent>,
    pub description: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// The HMAC-SHA256 key of `X-Stagegate-Signature`.
    pub secret: String,
}

/// `POST /api/webhooks/{id}/test` (202): the delivery that was queued; follow it
/// in `GET /api/webhooks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WebhookTestQueued {
    pub delivery: String,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum DeliveryStatus {
    /// Queued, being tried, or waiting to retry.
    Pending,
    /// A 2xx answer.
    Delivered,
    /// Attempts exhausted, a 4xx that retrying cannot fix, or the server stopped
    /// before it finished (`lastError` says which).
    Failed,
}

/// One alert sent to one hook, with every attempt (`GET /api/webhooks`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// Also the payload's `delivery` and the `X-Stagegate-Delivery` header.
    pub id: String,
    pub event: AlertEvent,
    /// The payload's sentence.
    pub text: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The HTTP status of the last attempt that got an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    /// Why the last attempt failed (absent once delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the alert was raised, RFC 3339, UTC (the payload's `at`).
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<String>,
    /// When it was delivered or given up on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// Every attempt, oldest first.
    pub history: Vec<DeliveryAttempt>,
}

/// One HTTP attempt of a delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeliveryAttempt {
    /// RFC 3339, UTC.
    pub at: String,
    /// The answer's HTTP status, absent when there was none (refused, timed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub ms: u64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn events_are_written_in_camel_case_and_read_back() {
        let names: Vec<&str> = AlertEvent::ALL.into_iter().map(AlertEvent::name).collect();
        assert_eq!(
            names,
            [
                "rollback",
                "triggerWarning",
                "sampleRatioMismatch",
                "advance",
                "waitingOnSignoffs",
                "test"
            ]
        );
        for event in AlertEvent::ALL {
            let written = serde_json::to_value(event).unwrap();
            assert_eq!(written, event.name());
            assert_eq!(
                serde_json::from_value::<AlertEvent>(written).unwrap(),
                event
            );
            assert_eq!(AlertEvent::from_name(event.name()), Some(event));
        }
        assert!(!AlertEvent::SUBSCRIBABLE.contains(&AlertEvent::Test));
        let error = serde_json::from_str::<AlertEvent>("\"trigger_warning\"").unwrap_err();
        assert!(error.to_string().contains("not one of rollback"), "{error}");
    }

    #[test]
    fn a_delivery_leaves_out_what_it_has_not() {
        let delivery = WebhookDelivery {
            id: "dlv_1".into(),
            event: AlertEvent::Test,
            text: "Test.".into(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            response_status: None,
            last_error: None,
            created: "2026-11-24T10:00:00Z".into(),
            last_attempt: None,
            finished: None,
            history: vec![],
        };
        let wire = serde_json::to_string(&delivery).unwrap();
        assert_eq!(
            wire,
            r#"{"id":"dlv_1","event":"test","text":"Test.","status":"pending","attempts":0,"created":"2026-11-24T10:00:00Z","history":[]}"#
        );
        assert_eq!(
            serde_json::from_str::<WebhookDelivery>(&wire).unwrap(),
            delivery
        );
    }
}
