//! `GET /client/{env}/events`: Server-Sent Events telling apps that their
//! environment's client document changed, so a kill switch reaches them in a
//! round trip instead of a cache period. Public like the document itself: an
//! event says only "refetch", with the new ETag and revision.
//!
//! Many idle streams must cost little: a stream is one small state on the heap
//! (no task of its own), woken by the store's one change feed; its events are
//! written straight into the connection.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use hyper::body::Frame;
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tower_http::cors::CorsLayer;

use super::layers::open_cors;

use super::AppState;
use crate::error::ApiError;
use crate::store::{ClientDocument, Feed, Store};

/// How often an idle stream sends a comment: under the idle timeouts of
/// common proxies (30 to 60 s), so they keep the connection open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// What a browser waits before reconnecting after the stream ends.
const RETRY: &[u8] = b"retry: 1000\n\n";
const KEEP_ALIVE_COMMENT: &[u8] = b": keep-alive\n\n";
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

pub(super) async fn events(
    State(state): State<AppState>,
    env: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(env)) = env else {
        return ApiError::NoRoute.into_response();
    };
    // Subscribed before reading the document: a write in between is then seen
    // as a change, never missed.
    let feed = state.store.subscribe();
    let current = state.store.current();
    let Some(document) = current.clients.get(&env) else {
        return ApiError::NotFound(format!("no rollout has an environment '{env}'"))
            .into_response();
    };
    // A reconnect that already has this document hears nothing until it changes.
    let first = if headers.get(LAST_EVENT_ID) == Some(&document.etag) {
        Bytes::from_static(RETRY)
    } else {
        Bytes::from([RETRY, &event(document)].concat())
    };
    let closing = feed.borrow().closing;
    let watch = Watch {
        store: state.store.clone(),
        env,
        feed,
        sent: document.etag.clone(),
        keep_alive: keep_alive(),
    };
    let body = EventBody {
        first: Some(first),
        next: (!closing).then(|| watch.wait()),
    };
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // nginx would otherwise hold events back in its buffer.
            (
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::new(body),
    )
        .into_response()
}

/// Any origin may listen; `EventSource` sends Last-Event-ID on reconnects and
/// some clients Cache-Control. The layer answers the preflight itself.
pub(super) fn cors() -> CorsLayer {
    open_cors(&[Method::GET], &[LAST_EVENT_ID, CACHE_CONTROL], &[])
}

/// One event: the document's ETag as its id and in its data, and the revision
/// that last changed it.
fn event(document: &ClientDocument) -> Vec<u8> {
    let etag = document.etag.to_str().unwrap_or_default();
    // The ETag is a quoted hex digest: as a JSON string only its quotes need escaping.
    let quoted = serde_json::to_string(etag).unwrap_or_default();
    format!(
        "id: {etag}\ndata: {{\"type\":\"refetchEvaluation\",\"etag\":{quoted},\"revision\":{}}}\n\n",
        document.revision
    )
    .into_bytes()
}

/// The last event of a stream whose environment no longer exists.
fn gone(revision: u64) -> Bytes {
    Bytes::from(format!(
        "data: {{\"type\":\"refetchEvaluation\",\"etag\":null,\"revision\":{revision}}}\n\n"
    ))
}

fn keep_alive() -> Interval {
    let mut interval = tokio::time::interval_at(Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// What a stream waits on between events.
struct Watch {
    store: Arc<Store>,
    env: String,
    feed: watch::Receiver<Feed>,
    /// The ETag the client now has.
    sent: HeaderValue,
    keep_alive: Interval,
}

/// What to write next, and the state to wait with after it (none: the stream ends).
type Next = Option<(Bytes, Option<Watch>)>;
type Waiting = Pin<Box<dyn Future<Output = Next> + Send>>;

impl Watch {
    fn wait(self) -> Waiting {
        Box::pin(self.next())
    }

    async fn next(mut self) -> Next {
        loop {
            tokio::select! {
                changed = self.feed.changed() => {
                    if changed.is_err() || self.feed.borrow_and_update().closing {
                        return None;
                    }
                    let current = self.store.current();
                    match current.clients.get(&self.env) {
                        // A write elsewhere in the plan.
                        Some(document) if document.etag == self.sent => continue,
                        Some(document) => {
                            self.sent = document.etag.clone();
                            self.keep_alive.reset();
                            return Some((Bytes::from(event(document)), Some(self)));
                        }
                        None => return Some((gone(current.revision()), None)),
                    }
                }
                _ = self.keep_alive.tick() => {
                    return Some((Bytes::from_static(KEEP_ALIVE_COMMENT), Some(self)));
                }
            }
        }
    }
}

/// The response body: the first bytes, then whatever the watch yields. A plain
/// body rather than a stream adaptor: no task, no channel, one box per wait.
struct EventBody {
    first: Option<Bytes>,
    next: Option<Waiting>,
}

impl HttpBody for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        let Some(next) = self.next.as_mut() else {
            return Poll::Ready(None);
        };
        let Poll::Ready(next) = next.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        let (bytes, watch) = match next {
            Some(next) => next,
            None => (Bytes::new(), None),
        };
        self.next = watch.map(Watch::wait);
        if bytes.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.next.is_none()
    }
}
