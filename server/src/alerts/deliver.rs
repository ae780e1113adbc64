//! One delivery: sign the body, POST it, retry with exponential backoff, record
//! every attempt.
//!
//! The client is hyper-util's pooled client over hyper-rustls (ring, with the
//! Mozilla roots compiled in): the server already builds hyper, so this adds only
//! the TLS crates, and it needs neither OpenSSL nor the system's certificate store.

use std::time::Instant;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use sha2::Sha256;
use stagegate_api::{DeliveryAttempt, DeliveryStatus};

use super::{AlertEvent, Alerts, Hook};
use crate::util::now_rfc3339;

pub(super) use crate::http_client::{Client, client};

/// Of an error answer's body, this much is kept in the record (Slack says why
/// in the body: `invalid_token`, `no_service`).
const ERROR_BODY_CHARS: usize = 200;
const USER_AGENT_VALUE: &str = concat!("stagegate/", env!("CARGO_PKG_VERSION"));

/// `sha256=<hex>`: HMAC-SHA256 of `body`, keyed with the hook's secret (its
/// bytes as written), as sent in `X-Stagegate-Signature`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    format!(
        "sha256={}",
        evaluator::digest::hex(&mac.finalize().into_bytes())
    )
}

/// What one attempt came to.
enum Outcome {
    Delivered(u16),
    /// Worth trying again: no answer, a timeout, 408, 429, 5xx (or 3xx: no
    /// redirect is followed, and it may be a receiver's passing misconfiguration).
    Retry(Option<u16>, String),
    /// Retrying cannot help: any other 4xx (the receiver refused the request).
    GiveUp(u16, String),
}

pub(super) async fn run(
    alerts: Alerts,
    hook: Hook,
    delivery: String,
    event: AlertEvent,
    body: Bytes,
) {
    let policy = alerts.policy();
    let client = alerts.inner.client.get_or_init(client).clone();
    let signature = signature(&hook.secret, &body);
    for attempt in 1..=policy.attempts.max(1) {
        // A hook removed meanwhile gets nothing more.
        if !alerts.has_hook(&hook.id) {
            return;
        }
        let at = now_rfc3339();
        let started = Instant::now();
        let outcome = match &client {
            Ok(client) => {
                let _permit = alerts.inner.in_flight.acquire().await;
                let post = post(client, &hook, &delivery, event, &signature, body.clone());
                match tokio::time::timeout(policy.timeout, post).await {
                    Ok(outcome) => outcome,
                    Err(_) => Outcome::Retry(
                        None,
                        format!("no answer within {} ms", policy.timeout.as_millis()),
                    ),
                }
            }
            Err(error) => Outcome::GiveUp(0, error.clone()),
        };
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = attempt >= policy.attempts;
        let (status, error, verdict) = match outcome {
            Outcome::Delivered(status) => (Some(status), None, DeliveryStatus::Delivered),
            Outcome::Retry(status, error) if !last => {
                (status, Some(error), DeliveryStatus::Pending)
            }
            Outcome::Retry(status, error) => (status, Some(error), DeliveryStatus::Failed),
            Outcome::GiveUp(status, error) => (
                (status != 0).then_some(status),
                Some(error),
                DeliveryStatus::Failed,
            ),
        };
        alerts.update(&hook.id, &delivery, |record| {
            record.attempts = attempt;
            record.status = verdict;
            if status.is_some() {
                record.response_status = status;
            }
            record.last_error = error.clone();
            record.last_attempt = Some(at.clone());
            if verdict != DeliveryStatus::Pending {
                record.finished = Some(now_rfc3339());
            }
            record.history.push(DeliveryAttempt {
                at,
                status,
                error: error.clone(),
                ms,
            });
        });
        if verdict != DeliveryStatus::Pending {
            if verdict == DeliveryStatus::Failed {
                tracing::warn!(
                    webhook = %hook.id,
                    %delivery,
                    %event,
                    attempts = attempt,
                    "webhook delivery failed: {}",
                    error.unwrap_or_default()
                );
            }
            return;
        }
        // 1, 2, 4, 8 … times the first delay (the shift is capped: no overflow).
        let delay = policy
            .first_delay
            .saturating_mul(1 << (attempt - 1).min(16));
        tokio::time::sleep(delay).await;
    }
}

async fn post(
    client: &Client,
    hook: &Hook,
    delivery: &str,
    event: AlertEvent,
    signature: &str,
    body: Bytes,
) -> Outcome {
    let request = Request::post(hook.url.as_str())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header("x-stagegate-event", event.name())
        .header("x-stagegate-delivery", delivery)
        .header("x-stagegate-signature", signature)
        .body(Full::new(body));
    let request = match request {
        Ok(request) => request,
        Err(error) => return Outcome::GiveUp(0, format!("cannot make the request: {error}")),
    };
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(error) => return Outcome::Retry(None, crate::util::with_causes(&error)),
    };
    let status = response.status();
    let code = status.as_u16();
    if status.is_success() {
        // The body is not needed; dropping it closes or recycles the connection.
        return Outcome::Delivered(code);
    }
    let text = match Limited::new(response.into_body(), 4096).collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            let text = String::from_utf8_lossy(&bytes);
            text.trim()
                .chars()
                .take(ERROR_BODY_CHARS)
                .collect::<String>()
        }
        Err(_) => String::new(),
    };
    let error = if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    };
    if status.is_client_error() && code != 408 && code != 429 {
        Outcome::GiveUp(
            code,
            format!("{error} (not retried: the receiver refused it)"),
        )
    } else {
        Outcome::Retry(Some(code), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test cases 1 and 2.
    #[test]
    fn signatures_match_the_published_hmac_sha256_vectors() {
        let key = String::from_utf8(vec![0x0b; 20]).unwrap();
        assert_eq!(
            signature(&key, b"Hi There"),
            "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
