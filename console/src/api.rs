//! The `stagegate serve` API as the console uses it: one request function, one
//! error type that every view knows how to show. Every body is a type of the
//! API contract (`stagegate_api`) or of the evaluator: the console keeps no copy.
//! Answers are parsed by the evaluator's JSON parser; the plan is read by the
//! evaluator, everything else by hand in `read` (no derived serde reader).

use std::fmt;

use evaluator::Plan;
use gloo_net::http::{Method, RequestBuilder};
use serde::Serialize;
use serde_json::Value;
use stagegate_api::{
    AcknowledgeRequest, AuditEntry, Changes, ErrorBody, IncidentReport, IngestKeyCreated,
    IngestKeyRequest, KillSwitchRequest, Me, RevertRequest, SignoffRequest, StageRequest,
    TickRequest, UserCreated, UserRequest, UserRoleRequest, WebhookCreated, WebhookRequest,
};

use crate::{read, session};

/// Why a request did not give the console what it asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// The server could not be reached at all.
    Network(String),
    /// The server answered with an error status and its JSON error body.
    Status {
        status: u16,
        code: String,
        message: String,
        details: Value,
    },
    /// The server answered 2xx with something the console cannot read.
    Unreadable(String),
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Validation problems (422) or missing roles (409), as `(path or role, message)`.
    pub fn detail_lines(&self) -> Vec<(String, String)> {
        let ApiError::Status { details, .. } = self else {
            return Vec::new();
        };
        let items = details.get("missingRoles").unwrap_or(details);
        let Some(items) = items.as_array() else {
            return Vec::new();
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(text) => (text.clone(), String::new()),
                other => (
                    other
                        .get("path")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    other
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                ),
            })
            .collect()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Network(why) => write!(
                f,
                "Cannot reach the server ({why}). Check the connection and retry."
            ),
            ApiError::Unreadable(why) => write!(f, "The server's answer could not be read: {why}"),
            ApiError::Status {
                status, message, ..
            } => {
                let meaning = match status {
                    401 => "Not signed in or the token is not valid",
                    403 => "Your role may not do this",
                    404 => "Not found",
                    409 => "Refused",
                    412 => "Someone else changed the plan first",
                    422 => "The plan is not valid",
                    428 => "The write did not say which revision it was based on",
                    _ => "The server refused",
                };
                write!(f, "{meaning} ({status}): {message}")
            }
        }
    }
}

impl std::error::Error for ApiError {}

/// A successful answer: its body and, for the plan, the ETag it came with.
pub struct Answer<T> {
    pub body: T,
    pub etag: Option<String>,
}

/// Sends one request with the session's token and reads a JSON answer as a
/// value (`read` picks the fields; the plan goes through [`plan_request`]).
async fn request(
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Result<Value, ApiError> {
    let (text, _) = send(method, path, body, headers).await?;
    // 204 and empty bodies read as JSON null.
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    parse_json(&text)
}

/// JSON text as a `serde_json::Value`, parsed by the evaluator's own parser
/// (linked anyway for plans): serde_json's parser is not compiled into the
/// console at all.
pub fn parse_json(text: &str) -> Result<Value, ApiError> {
    evaluator::json::parse(text)
        .map(from_evaluator)
        .map_err(|error| ApiError::Unreadable(error.to_string()))
}

fn from_evaluator(value: evaluator::json::Value) -> Value {
    use evaluator::json::Value as Json;
    match value {
        Json::Null => Value::Null,
        Json::Bool(flag) => Value::Bool(flag),
        Json::Number(number) => match (number.as_u64(), number.as_i64()) {
            (Some(whole), _) => Value::from(whole),
            (None, Some(negative)) => Value::from(negative),
            _ => number.as_f64().map_or(Value::Null, Value::from),
        },
        Json::String(text) => Value::String(text),
        Json::Array(items) => Value::Array(items.into_iter().map(from_evaluator).collect()),
        Json::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key, from_evaluator(value)))
                .collect(),
        ),
    }
}

/// A request that answers with the plan (read and validated by the evaluator,
/// as the server wrote it) and the ETag a write must send back.
async fn plan_request(
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Result<Answer<Plan>, ApiError> {
    let (text, etag) = send(method, path, body, headers).await?;
    let body =
        evaluator::parse_plan(&text).map_err(|error| ApiError::Unreadable(error.to_string()))?;
    Ok(Answer { body, etag })
}

/// The request itself, apart from the answer's type (so it is compiled once):
/// the answer's text and ETag, or the error.
async fn send(
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Result<(String, Option<String>), ApiError> {
    let mut builder = RequestBuilder::new(path).method(method);
    if let Some(token) = session::stored_token() {
        builder = builder.header("Authorization", &format!("Bearer {token}"));
    }
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let request = match body {
        Some(body) => builder.json(&body),
        None => builder.build(),
    }
    .map_err(|error| ApiError::Network(error.to_string()))?;
    let response = request
        .send()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    let status = response.status();
    let etag = response.headers().get("ETag");
    let text = response
        .text()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    if !(200..300).contains(&status) {
        return Err(status_error(status, &text));
    }
    Ok((text, etag))
}

/// An error answer: the API's error body, or the text of whatever answered
/// instead (a proxy's page, say).
fn status_error(status: u16, text: &str) -> ApiError {
    // Read by hand, as every answer but the plan is (see `read`).
    let mut found = parse_json(text).unwrap_or_default();
    let mut take = |key: &str| found.get_mut(key).map(Value::take).unwrap_or_default();
    let (code, message, details) = (take("error"), take("message"), take("details"));
    let text_of = |value: Value| match value {
        Value::String(text) => text,
        _ => String::new(),
    };
    let body = ErrorBody {
        error: text_of(code),
        message: text_of(message),
        details,
    };
    let message = if body.message.is_empty() {
        text.trim().to_string()
    } else {
        body.message
    };
    ApiError::Status {
        status,
        code: body.error,
        message,
        details: body.details,
    }
}

fn to_value(body: &impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(body).map_err(|error| ApiError::Unreadable(error.to_string()))
}

async fn get(path: &str) -> Result<Value, ApiError> {
    request(Method::GET, path, None, &[]).await
}

async fn post(path: &str, body: &impl Serialize) -> Result<Value, ApiError> {
    request(Method::POST, path, Some(to_value(body)?), &[]).await
}

/// The plan as the store has it, with the ETag a write must send back.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub plan: Plan,
    pub etag: String,
}

impl Loaded {
    fn from_answer(answer: Answer<Plan>) -> Self {
        let etag = answer
            .etag
            .unwrap_or_else(|| format!("\"{}\"", answer.body.revision));
        Loaded {
            plan: answer.body,
            etag,
        }
    }
}

pub async fn load_plan() -> Result<Loaded, ApiError> {
    plan_request(Method::GET, "/api/plan", None, &[])
        .await
        .map(Loaded::from_answer)
}

/// Writes the whole plan, based on the revision `etag` names; the comment goes to
/// the history.
pub async fn save_plan(plan: &Plan, etag: &str, comment: &str) -> Result<Loaded, ApiError> {
    let body = to_value(plan)?;
    // Header values must be Latin-1 for fetch; the server reads ASCII.
    let comment: String = comment
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    let headers = [("If-Match", etag), ("X-Comment", comment.as_str())];
    plan_request(Method::PUT, "/api/plan", Some(body), &headers)
        .await
        .map(Loaded::from_answer)
}

/// Who the token belongs to and what their role allows.
pub async fn me() -> Result<Me, ApiError> {
    read::me(&get("/api/me").await?)
}

/// Every revision's audit entry, newest first.
pub async fn revisions() -> Result<Vec<AuditEntry>, ApiError> {
    read::audit(&get("/api/audit").await?)
}

/// The long poll (see `live`): waits until the plan is past `after`, then says
/// what was written; without `after`, or with `at_once`, answers at once.
pub async fn changes(after: Option<u64>, at_once: bool) -> Result<Changes, ApiError> {
    let path = match after {
        Some(after) if at_once => format!("/api/changes?after={after}&wait=0"),
        Some(after) => format!("/api/changes?after={after}"),
        None => "/api/changes".to_string(),
    };
    read::changes(&get(&path).await?)
}

/// One stored revision of the plan.
pub async fn revision(number: u64) -> Result<Plan, ApiError> {
    let path = format!("/api/revisions/{number}");
    Ok(plan_request(Method::GET, &path, None, &[]).await?.body)
}

/// A write that answers with the plan as it now is, and its ETag.
async fn write_plan(path: &str, body: &impl Serialize) -> Result<Loaded, ApiError> {
    plan_request(Method::POST, path, Some(to_value(body)?), &[])
        .await
        .map(Loaded::from_answer)
}

pub async fn revert(request: &RevertRequest) -> Result<Loaded, ApiError> {
    write_plan("/api/revert", request).await
}

pub async fn set_stage(
    rollout: &str,
    environment: &str,
    request: &StageRequest,
) -> Result<Loaded, ApiError> {
    let path = format!("/api/rollouts/{rollout}/environments/{environment}/stage");
    write_plan(&path, request).await
}

/// Ticks or unticks checklist item `index` of `rollout`.
pub async fn tick(rollout: &str, index: usize, request: &TickRequest) -> Result<Loaded, ApiError> {
    write_plan(
        &format!("/api/rollouts/{rollout}/checklist/{index}"),
        request,
    )
    .await
}

pub async fn set_kill_switch(
    rollout: &str,
    environment: &str,
    request: &KillSwitchRequest,
) -> Result<Loaded, ApiError> {
    let path = format!("/api/rollouts/{rollout}/environments/{environment}/kill-switch");
    write_plan(&path, request).await
}

// The answers to signing (`SignoffCreated`) and withdrawing (`Written`) are
// checked to be JSON but not read: the page reloads the plan either way.

pub async fn sign(request: &SignoffRequest) -> Result<(), ApiError> {
    post("/api/signoffs", request).await?;
    Ok(())
}

pub async fn withdraw_signoff(id: &str) -> Result<(), ApiError> {
    let path = format!("/api/signoffs/{id}");
    request(Method::DELETE, &path, None, &[]).await?;
    Ok(())
}

/// Every user (admins only), without tokens: read with [`read::users`].
pub async fn users() -> Result<Value, ApiError> {
    get("/api/users").await
}

/// Every change to the users, newest first: read with [`read::user_log`].
pub async fn user_log() -> Result<Value, ApiError> {
    get("/api/users/log").await
}

/// Creates a user; the answer holds their token, shown this once.
pub async fn add_user(request: &UserRequest) -> Result<UserCreated, ApiError> {
    read::user_created(&post("/api/users", request).await?)
}

pub async fn remove_user(name: &str) -> Result<(), ApiError> {
    let path = format!("/api/users/{name}");
    request(Method::DELETE, &path, None, &[]).await?;
    Ok(())
}

pub async fn set_user_role(name: &str, change: &UserRoleRequest) -> Result<(), ApiError> {
    let path = format!("/api/users/{name}");
    request(Method::PATCH, &path, Some(to_value(change)?), &[]).await?;
    Ok(())
}

/// The server's own answer for one unit (`query` as built by the preview): an
/// `evaluator::Evaluation`, read as JSON because the preview compares it field by
/// field with the browser's answer written the same way (a typed reader costs the
/// wasm about 2.5 KB gzip).
pub async fn evaluate(query: &str) -> Result<Value, ApiError> {
    get(&format!("/api/evaluate?{query}")).await
}

// The guardrails' answers arrive as JSON values and are read by hand (`read`):
// the lists and reports stay `Value`s in the pages' signals, which share one
// copy of the reactive code; a derived reader per type cost far more wasm.

/// The counts behind every trigger of the stage live in `environment`, the
/// server's verdicts, the schedule and the last automatic action: a
/// `GuardrailReport`, read with [`read::guardrail_report`].
pub async fn guardrails(rollout: &str, environment: &str) -> Result<Value, ApiError> {
    get(&format!("/api/guardrails/{rollout}/{environment}")).await
}

/// A person's report of an incident against the live stage: one event in the
/// rollout's cohort; the answer is the report after the decisions it caused.
pub async fn report_incident(
    rollout: &str,
    environment: &str,
    report: &IncidentReport,
) -> Result<Value, ApiError> {
    let path = format!("/api/rollouts/{rollout}/environments/{environment}/reports");
    post(&path, report).await
}

/// Takes the last automatic action in hand; the answer is the report with
/// `lastAction.acknowledged` set.
pub async fn acknowledge(
    rollout: &str,
    environment: &str,
    request: &AcknowledgeRequest,
) -> Result<Value, ApiError> {
    let path = format!("/api/rollouts/{rollout}/environments/{environment}/acknowledge");
    post(&path, request).await
}

/// Every key of a kind (never the key itself), read with [`read::ingest_keys`]:
/// `collection` is `/api/ingest-keys` or `/api/sdk-keys` (the same shapes).
pub async fn app_keys(collection: &str) -> Result<Value, ApiError> {
    get(collection).await
}

/// Creates a key; the answer holds the key, shown this once.
pub async fn create_app_key(
    collection: &str,
    request: &IngestKeyRequest,
) -> Result<IngestKeyCreated, ApiError> {
    read::ingest_key_created(&post(collection, request).await?)
}

pub async fn revoke_app_key(collection: &str, id: &str) -> Result<(), ApiError> {
    let path = format!("{collection}/{id}");
    request(Method::DELETE, &path, None, &[]).await?;
    Ok(())
}

/// Every alert webhook with its recent deliveries (no secrets), read with
/// [`read::webhooks`].
pub async fn webhooks() -> Result<Value, ApiError> {
    get("/api/webhooks").await
}

/// Adds a webhook; the answer holds its signing secret, shown this once.
pub async fn add_webhook(request: &WebhookRequest) -> Result<WebhookCreated, ApiError> {
    read::webhook_created(&post("/api/webhooks", request).await?)
}

pub async fn remove_webhook(id: &str) -> Result<(), ApiError> {
    let path = format!("/api/webhooks/{id}");
    request(Method::DELETE, &path, None, &[]).await?;
    Ok(())
}

/// Queues a `test` alert to one webhook; its delivery shows in [`webhooks`].
pub async fn test_webhook(id: &str) -> Result<(), ApiError> {
    let path = format!("/api/webhooks/{id}/test");
    request(Method::POST, &path, None, &[]).await?;
    Ok(())
}
