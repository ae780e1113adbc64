//! `GET /api/changes`: how an open console hears of every write within a round
//! trip. A long poll rather than Server-Sent Events: `EventSource` cannot send
//! the Authorization header, and a token in the URL would end up in logs.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use stagegate_api::{AuditEntry, Changes};

use super::AppState;
use super::client::parse_query;
use crate::error::ApiError;

/// How long a poll waits for a write before answering "nothing new": under the
/// request deadline (`REQUEST_TIMEOUT`) and under the idle timeouts of common
/// proxies (30 to 60 s).
pub const LONG_POLL: Duration = Duration::from_secs(25);

/// `?after=N` waits until the current revision is not N (at once if it is
/// already another), then answers with it and the entries written after N.
/// Without `after` it answers at once: that is how a console learns where to
/// start. `wait` (seconds, at most 25) shortens the wait.
pub(super) async fn changes(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<Changes>, ApiError> {
    let (after, wait) = read_query(uri.query().unwrap_or(""))?;
    let mut feed = state.store.subscribe();
    if let Some(after) = after {
        // A revision behind `after` (a store restored from a backup) answers too:
        // the console must reload either way.
        let changed = feed.wait_for(|feed| feed.revision != after || feed.closing);
        // Timing out is the ordinary "nothing new" answer.
        let _ = tokio::time::timeout(wait, async { changed.await.map(|_| ()) }).await;
    }
    let revision = state.store.current().revision();
    let entries = match after {
        Some(after) => state
            .store
            .audit_after(after, Changes::MAX_ENTRIES)
            .iter()
            .map(|entry| AuditEntry::clone(entry))
            .collect(),
        None => Vec::new(),
    };
    Ok(Json(Changes { revision, entries }))
}

/// `after` and `wait`, each at most once; anything else is named in a 400.
fn read_query(query: &str) -> Result<(Option<u64>, Duration), ApiError> {
    let (mut after, mut wait) = (None, None);
    for (name, value) in parse_query(query)? {
        let slot = match name.as_str() {
            "after" => &mut after,
            "wait" => &mut wait,
            _ => {
                return Err(ApiError::bad_field(
                    &name,
                    format!("unknown query parameter '{name}' (known: after, wait)"),
                ));
            }
        };
        let number = value.parse::<u64>().map_err(|_| {
            ApiError::bad_field(
                &name,
                format!("'{name}' must be a whole number, not '{value}'"),
            )
        })?;
        if slot.replace(number).is_some() {
            return Err(ApiError::bad_field(
                &name,
                format!("query parameter '{name}' is given more than once"),
            ));
        }
    }
    let wait = match wait {
        None => LONG_POLL,
        Some(seconds) if seconds <= LONG_POLL.as_secs() => Duration::from_secs(seconds),
        Some(seconds) => {
            return Err(ApiError::bad_field(
                "wait",
                format!(
                    "'wait' is at most {} seconds, not {seconds}",
                    LONG_POLL.as_secs()
                ),
            ));
        }
    };
    Ok((after, wait))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_names_what_is_wrong() {
        assert_eq!(read_query("").unwrap(), (None, LONG_POLL));
        assert_eq!(
            read_query("after=7&wait=0").unwrap(),
            (Some(7), Duration::ZERO)
        );
        for (bad, field) in [
            ("after=x", "after"),
            ("after=-1", "after"),
            ("after=1&after=2", "after"),
            ("wait=26", "wait"),
            ("since=3", "since"),
        ] {
            let Err(ApiError::BadRequest { details, .. }) = read_query(bad) else {
                panic!("{bad} was accepted");
            };
            assert_eq!(details["field"], field, "{bad}");
        }
    }
}
