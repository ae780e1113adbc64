//! The API's answers (all but the plan) read by hand from JSON (`serde_json::Value`, whose
//! reader the console links anyway) into the contract's own types. A derived
//! `Deserialize` per answer type cost the wasm about 68 KB before compression;
//! these readers share a handful of field functions. Pages keep the answers as
//! `Value` in their signals (one copy of the reactive code for all of them) and
//! read them where they show them. A missing field or one of the wrong type is
//! an `Unreadable` error that names it.

use evaluator::model::Role;
use evaluator::stats::Cohort;
use serde_json::Value;
use stagegate_api::{
    Acknowledgement, Action, AlertEvent, AuditEntry, AutomaticAction, Changes, DeliveryAttempt,
    DeliveryStatus, GuardrailReport, IngestKeyCreated, IngestKeyInfo, Me, ScheduleReport,
    TriggerReport, UserCreated, UserEvent, UserInfo, WebhookCreated, WebhookDelivery, WebhookInfo,
};

use crate::api::ApiError;

type Read<T> = Result<T, ApiError>;

fn wrong(key: &str, kind: &str) -> ApiError {
    ApiError::Unreadable(format!("`{key}` is missing or not {kind}"))
}

/// A field that may be absent or null.
fn optional<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn text(object: &Value, key: &str) -> Read<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| wrong(key, "text"))
}

fn optional_text(object: &Value, key: &str) -> Read<Option<String>> {
    optional(object, key)
        .map(|value| {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| wrong(key, "text"))
        })
        .transpose()
}

fn number(value: Option<&Value>, key: &str) -> Read<u64> {
    value
        .and_then(Value::as_u64)
        .ok_or_else(|| wrong(key, "a whole number"))
}

fn optional_status(object: &Value, key: &str) -> Read<Option<u16>> {
    optional(object, key)
        .map(|value| {
            number(Some(value), key)
                .and_then(|n| u16::try_from(n).map_err(|_| wrong(key, "an HTTP status")))
        })
        .transpose()
}

fn flag(object: &Value, key: &str) -> Read<bool> {
    object
        .get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| wrong(key, "true or false"))
}

fn list<'a>(value: &'a Value, key: &str) -> Read<&'a [Value]> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| wrong(key, "a list"))
}

fn texts(value: &Value, key: &str) -> Read<Vec<String>> {
    list(value, key)?
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| wrong(key, "a list of text"))
        })
        .collect()
}

/// Exactly `N` whole numbers.
fn numbers<const N: usize>(value: &Value, key: &str) -> Read<[u64; N]> {
    let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut numbers = [0; N];
    if items.len() != N {
        return Err(wrong(key, "a list of the right length"));
    }
    for (slot, item) in numbers.iter_mut().zip(items) {
        *slot = number(Some(item), key)?;
    }
    Ok(numbers)
}

fn events(value: &Value) -> Read<Vec<AlertEvent>> {
    list(value, "events")?
        .iter()
        .map(|item| {
            item.as_str()
                .and_then(AlertEvent::from_name)
                .ok_or_else(|| wrong("events", "a list of alert events"))
        })
        .collect()
}

fn optional_role(object: &Value, key: &str) -> Read<Option<Role>> {
    optional(object, key)
        .map(|value| {
            value
                .as_str()
                .and_then(Role::from_name)
                .ok_or_else(|| wrong(key, "a role"))
        })
        .transpose()
}

fn role(object: &Value, key: &str) -> Read<Role> {
    optional_role(object, key)?.ok_or_else(|| wrong(key, "a role"))
}

/// Each item of a list answer read with `read`.
fn each<T>(list: &Value, what: &str, read: fn(&Value) -> Read<T>) -> Read<Vec<T>> {
    let items = list.as_array().ok_or_else(|| wrong(what, "a list"))?;
    let mut all = Vec::with_capacity(items.len());
    for item in items {
        all.push(read(item)?);
    }
    Ok(all)
}

/// `GET /api/me`.
pub fn me(value: &Value) -> Read<Me> {
    Ok(Me {
        name: text(value, "name")?,
        role: role(value, "role")?,
        actions: list(value, "actions")?
            .iter()
            .map(|item| {
                let name = item.as_str().unwrap_or_default();
                Action::ALL.into_iter().find(|action| action.name() == name)
            })
            .collect::<Option<_>>()
            .ok_or_else(|| wrong("actions", "a list of actions"))?,
    })
}

/// `GET /api/audit`.
pub fn audit(value: &Value) -> Read<Vec<AuditEntry>> {
    each(value, "audit", audit_entry)
}

fn audit_entry(value: &Value) -> Read<AuditEntry> {
    Ok(AuditEntry {
        revision: number(value.get("revision"), "revision")?,
        base_revision: optional(value, "baseRevision")
            .map(|base| number(Some(base), "baseRevision"))
            .transpose()?,
        author: text(value, "author")?,
        at: text(value, "at")?,
        action: text(value, "action")?,
        summary: texts(value, "summary")?,
        comment: text(value, "comment")?,
    })
}

/// `GET /api/changes`.
pub fn changes(value: &Value) -> Read<Changes> {
    Ok(Changes {
        revision: number(value.get("revision"), "revision")?,
        entries: each(
            value.get("entries").unwrap_or(&Value::Null),
            "entries",
            audit_entry,
        )?,
    })
}

/// `GET /api/users`.
pub fn users(value: &Value) -> Read<Vec<UserInfo>> {
    each(value, "users", |user| {
        Ok(UserInfo {
            name: text(user, "name")?,
            role: role(user, "role")?,
            created: text(user, "created")?,
            last_used: optional_text(user, "lastUsed")?,
        })
    })
}

/// `GET /api/users/log`.
pub fn user_log(value: &Value) -> Read<Vec<UserEvent>> {
    each(value, "user log", |event| {
        Ok(UserEvent {
            at: text(event, "at")?,
            by: text(event, "by")?,
            action: text(event, "action")?,
            name: text(event, "name")?,
            role: optional_role(event, "role")?,
            previous_role: optional_role(event, "previousRole")?,
        })
    })
}

/// `POST /api/users`.
pub fn user_created(value: &Value) -> Read<UserCreated> {
    Ok(UserCreated {
        name: text(value, "name")?,
        role: role(value, "role")?,
        created: text(value, "created")?,
        token: text(value, "token")?,
    })
}

/// `GET /api/guardrails/{rollout}/{env}` and the writes that answer with it.
pub fn guardrail_report(value: &Value) -> Read<GuardrailReport> {
    let exposures = numbers(value.get("exposures").unwrap_or(&Value::Null), "exposures")?;
    let basis_points = number(value.get("basisPoints"), "basisPoints")?;
    let schedule = value
        .get("schedule")
        .ok_or_else(|| wrong("schedule", "an object"))?;
    Ok(GuardrailReport {
        rollout: text(value, "rollout")?,
        environment: text(value, "environment")?,
        stage: optional_text(value, "stage")?,
        basis_points: u16::try_from(basis_points)
            .map_err(|_| wrong("basisPoints", "at most 10,000"))?,
        live: flag(value, "live")?,
        live_since: optional_text(value, "liveSince")?,
        exposures,
        triggers: each(
            value.get("triggers").unwrap_or(&Value::Null),
            "triggers",
            trigger_report,
        )?,
        schedule: ScheduleReport {
            planned_for: optional_text(schedule, "plannedFor")?,
            soak_ends: optional_text(schedule, "soakEnds")?,
            auto_advance: flag(schedule, "autoAdvance")?,
            next: optional_text(schedule, "next")?,
            waiting_for: texts(schedule, "waitingFor")?,
        },
        last_action: optional(value, "lastAction")
            .map(automatic_action)
            .transpose()?,
    })
}

/// What the next automatic step waits for, alone (the overview's line).
pub fn waiting_for(report: &Value) -> Read<Vec<String>> {
    texts(report.get("schedule").unwrap_or(&Value::Null), "waitingFor")
}

fn trigger_report(value: &Value) -> Read<TriggerReport> {
    let cohorts = list(value, "cohorts")?;
    let cohort = |i: usize| -> Read<Cohort> {
        let found = cohorts
            .get(i)
            .ok_or_else(|| wrong("cohorts", "two cohorts"))?;
        Ok(Cohort {
            events: number(found.get("events"), "events")?,
            per: number(found.get("per"), "per")?,
            exposures: number(found.get("exposures"), "exposures")?,
        })
    };
    Ok(TriggerReport {
        metric: text(value, "metric")?,
        state: text(value, "state")?,
        explanation: text(value, "explanation")?,
        cohorts: [cohort(0)?, cohort(1)?],
        minutes: each(
            value.get("minutes").unwrap_or(&Value::Null),
            "minutes",
            |minute| numbers(minute, "minutes"),
        )?,
    })
}

fn automatic_action(value: &Value) -> Read<AutomaticAction> {
    Ok(AutomaticAction {
        revision: number(value.get("revision"), "revision")?,
        at: text(value, "at")?,
        action: text(value, "action")?,
        comment: text(value, "comment")?,
        acknowledged: optional(value, "acknowledged")
            .map(|ack| -> Read<Acknowledgement> {
                Ok(Acknowledgement {
                    by: text(ack, "by")?,
                    at: text(ack, "at")?,
                    comment: text(ack, "comment")?,
                })
            })
            .transpose()?,
    })
}

/// `GET /api/ingest-keys`.
pub fn ingest_keys(value: &Value) -> Read<Vec<IngestKeyInfo>> {
    each(value, "ingest keys", ingest_key)
}

fn ingest_key(value: &Value) -> Read<IngestKeyInfo> {
    Ok(IngestKeyInfo {
        id: text(value, "id")?,
        environment: text(value, "environment")?,
        name: text(value, "name")?,
        created: text(value, "created")?,
        created_by: text(value, "createdBy")?,
    })
}

/// `POST /api/ingest-keys` (the key's fields and the key itself, side by side).
pub fn ingest_key_created(value: &Value) -> Read<IngestKeyCreated> {
    Ok(IngestKeyCreated {
        info: ingest_key(value)?,
        key: text(value, "key")?,
    })
}

/// `GET /api/webhooks`.
pub fn webhooks(value: &Value) -> Read<Vec<WebhookInfo>> {
    each(value, "webhooks", webhook)
}

fn webhook(value: &Value) -> Read<WebhookInfo> {
    Ok(WebhookInfo {
        id: text(value, "id")?,
        url: text(value, "url")?,
        events: events(value)?,
        description: text(value, "description")?,
        created: text(value, "created")?,
        created_by: text(value, "createdBy")?,
        deliveries: each(
            value.get("deliveries").unwrap_or(&Value::Null),
            "deliveries",
            delivery,
        )?,
    })
}

fn delivery(value: &Value) -> Read<WebhookDelivery> {
    let event = value
        .get("event")
        .and_then(Value::as_str)
        .and_then(AlertEvent::from_name)
        .ok_or_else(|| wrong("event", "an alert event"))?;
    let status = match value.get("status").and_then(Value::as_str) {
        Some("pending") => DeliveryStatus::Pending,
        Some("delivered") => DeliveryStatus::Delivered,
        Some("failed") => DeliveryStatus::Failed,
        _ => return Err(wrong("status", "pending, delivered or failed")),
    };
    let attempts = number(value.get("attempts"), "attempts")?;
    Ok(WebhookDelivery {
        id: text(value, "id")?,
        event,
        text: text(value, "text")?,
        status,
        attempts: u32::try_from(attempts).map_err(|_| wrong("attempts", "a count"))?,
        response_status: optional_status(value, "responseStatus")?,
        last_error: optional_text(value, "lastError")?,
        created: text(value, "created")?,
        last_attempt: optional_text(value, "lastAttempt")?,
        finished: optional_text(value, "finished")?,
        history: each(
            value.get("history").unwrap_or(&Value::Null),
            "history",
            |attempt| {
                Ok(DeliveryAttempt {
                    at: text(attempt, "at")?,
                    status: optional_status(attempt, "status")?,
                    error: optional_text(attempt, "error")?,
                    ms: number(attempt.get("ms"), "ms")?,
                })
            },
        )?,
    })
}

/// `POST /api/webhooks`.
pub fn webhook_created(value: &Value) -> Read<WebhookCreated> {
    Ok(WebhookCreated {
        id: text(value, "id")?,
        url: text(value, "url")?,
        events: events(value)?,
        description: text(value, "description")?,
        created: text(value, "created")?,
        secret: text(value, "secret")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server writes each answer with the contract's derived `Serialize`:
    /// that text, parsed as the console parses answers and read by hand, gives
    /// the same value.
    fn round_trip<T: serde::Serialize + PartialEq + std::fmt::Debug>(
        original: T,
        read: fn(&Value) -> Read<T>,
    ) {
        let text = serde_json::to_string(&original).unwrap_or_default();
        let parsed = crate::api::parse_json(&text);
        assert_eq!(parsed.and_then(|value| read(&value)), Ok(original));
    }

    #[test]
    fn answers_parse_to_the_values_serde_json_would_give() {
        let text = r#"{"b":[1,-2,0.25,18446744073709551615,null,true,"é\n"],"a":{}}"#;
        let expected: Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(crate::api::parse_json(text), Ok(expected));
        assert!(matches!(
            crate::api::parse_json("{\"a\":"),
            Err(ApiError::Unreadable(_))
        ));
    }

    fn report(last_action: Option<AutomaticAction>) -> GuardrailReport {
        GuardrailReport {
            rollout: "domain-migration".into(),
            environment: "production".into(),
            stage: Some("stage-2".into()),
            basis_points: 2500,
            live: true,
            live_since: Some("2026-12-02T10:00:00Z".into()),
            exposures: [1200, 3600],
            triggers: vec![TriggerReport {
                metric: "errorRate".into(),
                state: "healthy".into(),
                explanation: "Fine.".into(),
                cohorts: [
                    Cohort {
                        events: 3,
                        per: 1000,
                        exposures: 1200,
                    },
                    Cohort {
                        events: 9,
                        per: 3000,
                        exposures: 3600,
                    },
                ],
                minutes: vec![[29_000_000, 1, 2, 3, 4]],
            }],
            schedule: ScheduleReport {
                planned_for: None,
                soak_ends: Some("2026-12-03T10:00:00Z".into()),
                auto_advance: true,
                next: Some("stage-3".into()),
                waiting_for: vec!["the soak".into(), "sign-off from qa".into()],
            },
            last_action,
        }
    }

    #[test]
    fn a_guardrail_report_reads_as_written() {
        round_trip(report(None), guardrail_report);
        let action = AutomaticAction {
            revision: 7,
            at: "2026-12-02T11:00:00Z".into(),
            action: "auto-rollback".into(),
            comment: "errorRate breached".into(),
            acknowledged: Some(Acknowledgement {
                by: "ana".into(),
                at: "2026-12-02T11:05:00Z".into(),
                comment: "looking".into(),
            }),
        };
        round_trip(report(Some(action)), guardrail_report);
        let written = serde_json::to_value(report(None)).unwrap_or_default();
        assert_eq!(
            waiting_for(&written),
            Ok(vec!["the soak".into(), "sign-off from qa".into()])
        );
    }

    #[test]
    fn a_missing_or_wrong_field_is_named() {
        let mut written = serde_json::to_value(report(None)).unwrap_or_default();
        written["triggers"][0]["cohorts"][1]
            .as_object_mut()
            .map(|cohort| cohort.remove("per"));
        assert_eq!(
            guardrail_report(&written),
            Err(ApiError::Unreadable(
                "`per` is missing or not a whole number".into()
            ))
        );
        written["basisPoints"] = Value::from(70_000);
        assert!(
            matches!(guardrail_report(&written), Err(ApiError::Unreadable(why)) if why.contains("basisPoints"))
        );
        assert!(webhooks(&Value::Null).is_err());
    }

    #[test]
    fn me_audit_and_changes_read_as_written() {
        round_trip(Me::new("ana".into(), Role::Admin), me);
        round_trip(Me::new("bo".into(), Role::Viewer), me);
        let entry = |revision: u64, base_revision| AuditEntry {
            revision,
            base_revision,
            author: "ana".into(),
            at: "2026-12-02T10:00:00Z".into(),
            action: "put-plan".into(),
            summary: vec!["domain-migration: stage-2/percentage: 25 → 30".into()],
            comment: "wider".into(),
        };
        round_trip(vec![entry(2, Some(1)), entry(1, None)], audit);
        round_trip(
            Changes {
                revision: 2,
                entries: vec![entry(2, Some(1))],
            },
            changes,
        );
    }

    #[test]
    fn users_read_as_written() {
        round_trip(
            vec![UserInfo {
                name: "ana".into(),
                role: Role::Admin,
                created: "2026-12-02T10:00:00Z".into(),
                last_used: Some("2026-12-02T11:00:00Z".into()),
            }],
            users,
        );
        round_trip(
            vec![UserEvent {
                at: "2026-12-02T10:00:00Z".into(),
                by: "cli".into(),
                action: "user-role".into(),
                name: "bo".into(),
                role: Some(Role::Viewer),
                previous_role: Some(Role::Admin),
            }],
            user_log,
        );
        round_trip(
            UserCreated {
                name: "bo".into(),
                role: Role::Viewer,
                created: "2026-12-02T10:00:00Z".into(),
                token: "sg_abc".into(),
            },
            user_created,
        );
        let mut unknown = serde_json::to_value(vec![UserInfo {
            name: "bo".into(),
            role: Role::Viewer,
            created: String::new(),
            last_used: None,
        }])
        .unwrap_or_default();
        unknown[0]["role"] = Value::from("owner");
        assert_eq!(
            users(&unknown),
            Err(ApiError::Unreadable(
                "`role` is missing or not a role".into()
            ))
        );
    }

    #[test]
    fn keys_and_webhooks_read_as_written() {
        let info = IngestKeyInfo {
            id: "k1".into(),
            environment: "production".into(),
            name: "web app".into(),
            created: "2026-12-02T10:00:00Z".into(),
            created_by: "admin".into(),
        };
        round_trip(vec![info.clone()], ingest_keys);
        round_trip(
            IngestKeyCreated {
                info,
                key: "sgi_abc".into(),
            },
            ingest_key_created,
        );
        let delivery = |status, response_status, last_error: Option<&str>| WebhookDelivery {
            id: "d1".into(),
            event: AlertEvent::Rollback,
            text: "rolled back".into(),
            status,
            attempts: 2,
            response_status,
            last_error: last_error.map(str::to_string),
            created: "2026-12-02T10:00:00Z".into(),
            last_attempt: Some("2026-12-02T10:00:05Z".into()),
            finished: None,
            history: vec![DeliveryAttempt {
                at: "2026-12-02T10:00:05Z".into(),
                status: response_status,
                error: last_error.map(str::to_string),
                ms: 12,
            }],
        };
        round_trip(
            vec![WebhookInfo {
                id: "h1".into(),
                url: "https://example.test/hook".into(),
                events: vec![AlertEvent::Rollback, AlertEvent::TriggerWarning],
                description: String::new(),
                created: "2026-12-02T10:00:00Z".into(),
                created_by: "admin".into(),
                deliveries: vec![
                    delivery(DeliveryStatus::Failed, Some(500), Some("server error")),
                    delivery(DeliveryStatus::Pending, None, Some("refused")),
                    delivery(DeliveryStatus::Delivered, Some(200), None),
                ],
            }],
            webhooks,
        );
        round_trip(
            WebhookCreated {
                id: "h1".into(),
                url: "https://example.test/hook".into(),
                events: vec![AlertEvent::SampleRatioMismatch],
                description: "pager".into(),
                created: "2026-12-02T10:00:00Z".into(),
                secret: "s3cret-s3cret-s3cret".into(),
            },
            webhook_created,
        );
    }
}
