//! The `stagegate serve` API as the console uses it: one request function, one
//! error type that every view knows how to show.

use std::fmt;

use evaluator::Plan;
use gloo_net::http::{Method, RequestBuilder};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::session;

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

/// Sends one request with the session's token and reads a JSON answer.
pub async fn request<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Result<Answer<T>, ApiError> {
    let mut builder = RequestBuilder::new(path).method(method);
    if let Some(token) = session::stored_token() {
        builder = builder.header("Authorization", &format!("Bearer {token}"));
    }
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let request = match body {
        Some(body) => builder.json(body),
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
    // 204 and empty bodies read as JSON null.
    let text = if text.trim().is_empty() {
        "null"
    } else {
        &text
    };
    let body =
        serde_json::from_str(text).map_err(|error| ApiError::Unreadable(error.to_string()))?;
    Ok(Answer { body, etag })
}

fn status_error(status: u16, text: &str) -> ApiError {
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(default)]
        error: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        details: Value,
    }
    let body: Body = serde_json::from_str(text).unwrap_or_default();
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

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    Ok(request(Method::GET, path, None, &[]).await?.body)
}

pub async fn post<T: DeserializeOwned>(path: &str, body: &Value) -> Result<T, ApiError> {
    Ok(request(Method::POST, path, Some(body), &[]).await?.body)
}

pub async fn delete(path: &str) -> Result<Value, ApiError> {
    Ok(request(Method::DELETE, path, None, &[]).await?.body)
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
    request(Method::GET, "/api/plan", None, &[])
        .await
        .map(Loaded::from_answer)
}

/// Writes the whole plan, based on the revision `etag` names; the comment goes to
/// the history.
pub async fn save_plan(plan: &Plan, etag: &str, comment: &str) -> Result<Loaded, ApiError> {
    let body =
        serde_json::to_value(plan).map_err(|error| ApiError::Unreadable(error.to_string()))?;
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
    request(Method::PUT, "/api/plan", Some(&body), &headers)
        .await
        .map(Loaded::from_answer)
}

/// Who the token belongs to (`GET /api/me`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Me {
    pub name: String,
    pub role: String,
    /// What the server lets this role do ("edit-plan", "move-stage", "sign", …):
    /// the console asks rather than keeping its own copy of the role table.
    pub actions: Vec<String>,
}

/// One stored revision of the plan: the server's audit entry for the write that made it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionInfo {
    pub revision: u64,
    pub author: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// What kind of write: seed, put-plan, revert, stage, kill-switch, signoff, …
    #[serde(default)]
    pub action: String,
    /// One readable line per change.
    #[serde(default)]
    pub summary: Vec<String>,
    #[serde(default)]
    pub comment: String,
}

/// Every revision's audit entry, newest first.
pub async fn revisions() -> Result<Vec<RevisionInfo>, ApiError> {
    get("/api/audit").await
}

pub async fn revision(number: u64) -> Result<Value, ApiError> {
    get(&format!("/api/revisions/{number}")).await
}
