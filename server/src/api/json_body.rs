//! The one rule for JSON request bodies, on every route:
//!
//! 1. `Content-Type: application/json` (or `application/*+json`), with no charset
//!    or `charset=utf-8`: anything else is 415.
//! 2. At most `BODY_LIMIT` bytes (413), UTF-8 (400).
//! 3. JSON by the evaluator's parser: a syntax error, a duplicate key or nesting
//!    deeper than 128 is 400 with line and column.
//! 4. No lone surrogate escape (`"\ud800"`): 400 with line and column, not a
//!    silent U+FFFD.
//! 5. No control character in any string or key except tab and line feed (so NUL
//!    never reaches a name, an id, a salt or a comment): 400 naming the field by
//!    its JSON Pointer.
//! 6. Only then the route's shape: an unknown or missing field or a wrong type is
//!    422 `invalid_body` (the plan: 422 `invalid_plan` with every problem).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use evaluator::Problem;
use evaluator::json::Value;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::ApiError;

/// A request body of type `T`, read by the rule above.
pub struct JsonBody<T>(pub T);

/// A request body as the evaluator's JSON value (numbers stay exact decimals),
/// read by the same rule: the plan.
pub struct JsonValue(pub Value);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (text, _) = read(request, state).await?;
        // The text is known good JSON by now: what serde refuses is the shape.
        serde_json::from_str(&text)
            .map(JsonBody)
            .map_err(|error| ApiError::Rejected {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: format!("the body does not fit this route: {error}"),
            })
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonValue {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(JsonValue(read(request, state).await?.1))
    }
}

/// Steps 1 to 5: the body's text and its value.
async fn read<S: Send + Sync>(request: Request, state: &S) -> Result<(String, Value), ApiError> {
    require_json_content_type(request.headers())?;
    let bytes = Bytes::from_request(request, state).await?;
    let text = String::from_utf8(bytes.into()).map_err(|error| {
        let at = error.utf8_error().valid_up_to();
        malformed(
            format!("the body is not UTF-8 (byte {at} starts an invalid sequence)"),
            Problem {
                path: String::new(),
                message: "not UTF-8".into(),
                line: None,
                column: None,
            },
        )
    })?;
    let value = evaluator::json::parse(&text).map_err(|error| {
        malformed(
            format!("the body is not JSON: {error}"),
            Problem {
                path: String::new(),
                message: error.message.clone(),
                line: Some(error.line),
                column: Some(error.column),
            },
        )
    })?;
    if let Some((line, column)) = lone_surrogate(&text) {
        return Err(malformed(
            format!(
                "the body has a lone surrogate escape at line {line} column {column}: \
                 \\ud800-\\udfff must come in pairs that make one character"
            ),
            Problem {
                path: String::new(),
                message: "lone surrogate escape".into(),
                line: Some(line),
                column: Some(column),
            },
        ));
    }
    if let Some((path, control)) = control_character(&value) {
        let message = format!(
            "contains the control character U+{:04X}; text may hold tab and line feed but no other control characters",
            u32::from(control)
        );
        let shown = if path.is_empty() { "the body" } else { &path };
        return Err(malformed(
            format!("{shown} {message}"),
            Problem {
                path,
                message,
                line: None,
                column: None,
            },
        ));
    }
    Ok((text, value))
}

fn malformed(message: String, problem: Problem) -> ApiError {
    ApiError::BadRequest {
        message,
        details: json!([problem]),
    }
}

/// 415 unless the body is declared JSON in UTF-8 (the only encoding JSON has,
/// RFC 8259): `application/json` or `application/*+json`, no charset or `utf-8`.
pub(super) fn require_json_content_type(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let refuse = |message: &str| ApiError::Rejected {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        message: message.into(),
    };
    let expected = "expected Content-Type: application/json";
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(refuse(expected));
    };
    let value = value.to_str().map_err(|_| refuse(expected))?;
    let mut parts = value.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    if !(mime == "application/json"
        || (mime.starts_with("application/") && mime.ends_with("+json")))
    {
        return Err(refuse(expected));
    }
    for parameter in parts {
        let (name, charset) = parameter.split_once('=').unwrap_or((parameter, ""));
        let charset = charset.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset") && !charset.eq_ignore_ascii_case("utf-8") {
            return Err(refuse(
                "JSON bodies are UTF-8: send Content-Type: application/json (charset=utf-8 or none)",
            ));
        }
    }
    Ok(())
}

/// Where a `\uXXXX` escape names half a surrogate pair without its other half.
/// `text` is valid JSON, so every backslash starts an escape inside a string.
fn lone_surrogate(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let unit = |at: usize| -> Option<u16> {
        let hex = bytes.get(at..at + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    };
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        match unit(i) {
            Some(0xD800..=0xDBFF) => {
                if !matches!(unit(i + 6), Some(0xDC00..=0xDFFF)) {
                    return Some(position(text, i));
                }
                i += 12;
            }
            Some(0xDC00..=0xDFFF) => return Some(position(text, i)),
            Some(_) => i += 6,
            // `\"`, `\\`, `\n`, …: skip the escaped character with the backslash.
            None => i += 2,
        }
    }
    None
}

/// 1-based line and column (in characters) of byte `at`.
fn position(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = 1 + before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (line, 1 + before[line_start..].chars().count())
}

/// The JSON Pointer of the first string or key holding a control character other
/// than tab and line feed, and that character.
fn control_character(value: &Value) -> Option<(String, char)> {
    let bad = |text: &str| {
        text.chars()
            .find(|c| c.is_control() && *c != '\t' && *c != '\n')
    };
    // A stack, not recursion: the parser allows 128 levels, and this stays flat anyway.
    let mut stack = vec![(String::new(), value)];
    while let Some((path, value)) = stack.pop() {
        match value {
            Value::String(text) => {
                if let Some(c) = bad(text) {
                    return Some((path, c));
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate().rev() {
                    stack.push((format!("{path}/{index}"), item));
                }
            }
            Value::Object(map) => {
                let mut children = Vec::with_capacity(map.len());
                for (key, item) in map.iter() {
                    let child = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                    if let Some(c) = bad(key) {
                        return Some((child, c));
                    }
                    children.push((child, item));
                }
                stack.extend(children.into_iter().rev());
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_are_found_where_they_are() {
        assert_eq!(lone_surrogate(r#"{"a":"\ud83d\ude00"}"#), None);
        assert_eq!(
            lone_surrogate(r#"{"a":"\\ud800"}"#),
            None,
            "an escaped backslash"
        );
        assert_eq!(lone_surrogate(r#"{"a":"\u00e9\n"}"#), None);
        assert_eq!(lone_surrogate(r#"{"a":"\ud800"}"#), Some((1, 7)));
        assert_eq!(lone_surrogate("{\n \"é\": \"\\udc00\"}"), Some((2, 8)));
        assert_eq!(lone_surrogate(r#"["\ud800\u0041"]"#), Some((1, 3)));
        assert_eq!(lone_surrogate(r#"["\ud800\ud800"]"#), Some((1, 3)));
    }

    #[test]
    fn control_characters_are_named_by_pointer() {
        let value = |text| evaluator::json::parse(text).unwrap();
        assert_eq!(control_character(&value(r#"{"a":"x\ty\nz"}"#)), None);
        assert_eq!(
            control_character(&value(r#"{"a":[1,{"b/c":"x\u0000"}]}"#)),
            Some(("/a/1/b~1c".into(), '\0'))
        );
        assert_eq!(
            control_character(&value(r#"{"ok":"", "k\r":1}"#)),
            Some(("/k\r".into(), '\r'))
        );
        assert_eq!(
            control_character(&value(r#""\u007f""#)),
            Some((String::new(), '\u{7f}'))
        );
    }
}
