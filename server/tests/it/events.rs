//! `GET /client/{env}/events`, the live-update stream, read over a real socket
//! from a served app (the keep-alive's timing on a paused clock through
//! `oneshot`, shutdown with the real binary): the first event, one event per
//! change of that environment's document and none otherwise, Last-Event-ID,
//! 404, CORS, and the end of every stream when the server stops.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use stagegate_server::api::{KEEP_ALIVE, REQUEST_TIMEOUT};
use stagegate_server::app;
use stagegate_server::serve::{ConnectionLimits, serve};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

use crate::common::{PRODUCTION_KILL, ROLLOUT, Server, assert_error};
use crate::durability::Served;

/// How long "nothing arrives" is watched for. Events come within milliseconds;
/// this only has to be long enough that a wrong one would have shown.
const QUIET: Duration = Duration::from_millis(400);
/// Generous for a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(5);
const STAGING_KILL: &str = "/api/rollouts/domain-migration/environments/staging/kill-switch";

/// `server` on a loopback port (short header-read timeout: an idle stream must
/// outlive it), until the sender drops.
async fn listen(server: &Server) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        ..ConnectionLimits::default()
    };
    tokio::spawn(serve(listener, app(server.state.clone()), limits, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// One open event stream, read block by block (a block ends with a blank line).
struct Stream {
    status: StatusCode,
    headers: HeaderMap,
    body: Incoming,
    text: String,
}

#[derive(Debug, PartialEq)]
enum Next {
    Block(String),
    Quiet,
    End,
}

impl Stream {
    async fn open(addr: SocketAddr, env: &str, headers: &[(&str, &str)]) -> Stream {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut request = Request::get(format!("/client/{env}/events")).header("host", "test");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = sender
            .send_request(request.body(Empty::new()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        Stream {
            status: parts.status,
            headers: parts.headers,
            body,
            text: String::new(),
        }
    }

    /// The next block within `within`, or that none came, or that the stream ended.
    async fn next(&mut self, within: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block = self.text[..end].to_string();
                self.text.drain(..end + 2);
                return Next::Block(block);
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return Next::Quiet,
                Ok(None) => return Next::End,
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        self.text.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
            }
        }
    }

    /// The next block, which must be an event: its id and data.
    async fn event(&mut self) -> (Option<String>, Value) {
        match self.next(SLACK).await {
            Next::Block(block) => parse(&block),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Reads past `retry:` and the first event.
    async fn opened(addr: SocketAddr, env: &str) -> (Stream, Option<String>) {
        let mut stream = Stream::open(addr, env, &[]).await;
        assert_eq!(stream.next(SLACK).await, Next::Block("retry: 1000".into()));
        let (id, _) = stream.event().await;
        (stream, id)
    }
}

/// An event's `id` and `data` (JSON); no other field may appear.
fn parse(block: &str) -> (Option<String>, Value) {
    let (mut id, mut data) = (None, None);
    for line in block.lines() {
        match line.split_once(": ") {
            Some(("id", value)) => id = Some(value.to_string()),
            Some(("data", value)) => data = Some(serde_json::from_str(value).unwrap()),
            _ => panic!("unexpected line {line:?} in event {block:?}"),
        }
    }
    (id, data.expect("an event has data"))
}

/// The client document's ETag and revision, as `GET /client/{env}.json` gives them.
async fn document(server: &Server, env: &str) -> (String, u64) {
    let reply = server
        .request(Method::GET, &format!("/client/{env}.json"), None, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let etag = reply.headers["etag"].to_str().unwrap().to_string();
    (etag, reply.json["revision"].as_u64().unwrap())
}

fn expected(etag: &str, revision: u64) -> (Option<String>, Value) {
    let data = json!({ "type": "refetchEvaluation", "etag": etag, "revision": revision });
    (Some(etag.to_string()), data)
}

async fn kill_switch(server: &Server, path: &str, on: bool) {
    let reply = server.post(path, &server.admin, json!({ "on": on })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

#[tokio::test]
async fn a_stream_starts_with_retry_and_the_current_document() {
    let server = Server::new().await;
    let (addr, _stop) = listen(&server).await;
    let mut stream = Stream::open(addr, "production", &[]).await;
    assert_eq!(stream.status, StatusCode::OK);
    for (name, value) in [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
        ("x-accel-buffering", "no"),
    ] {
        assert_eq!(stream.headers[name], value, "{name}");
    }
    assert_eq!(stream.next(SLACK).await, Next::Block("retry: 1000".into()));
    let (etag, revision) = document(&server, "production").await;
    assert_eq!(stream.event().await, expected(&etag, revision));
    assert_eq!(stream.next(QUIET).await, Next::Quiet);
}

#[tokio::test]
async fn a_kill_switch_sends_one_event_to_its_environment_only() {
    let server = Server::new().await;
    let (addr, _stop) = listen(&server).await;
    let (mut production, _) = Stream::opened(addr, "production").await;
    let (mut staging, _) = Stream::opened(addr, "staging").await;
    kill_switch(&server, PRODUCTION_KILL, true).await;
    let (etag, revision) = document(&server, "production").await;
    assert_eq!(revision, server.revision());
    assert_eq!(production.event().await, expected(&etag, revision));
    assert_eq!(production.next(QUIET).await, Next::Quiet);
    assert_eq!(staging.next(Duration::ZERO).await, Next::Quiet);
    // And back: one more event, with the document's new ETag.
    kill_switch(&server, PRODUCTION_KILL, false).await;
    let (back, revision) = document(&server, "production").await;
    assert_ne!(back, etag);
    assert_eq!(production.event().await, expected(&back, revision));
    assert_eq!(staging.next(QUIET).await, Next::Quiet);
}

#[tokio::test]
async fn a_write_that_leaves_the_document_as_it_was_sends_nothing() {
    let server = Server::new().await;
    let (addr, _stop) = listen(&server).await;
    let (mut production, _) = Stream::opened(addr, "production").await;
    let (mut staging, _) = Stream::opened(addr, "staging").await;
    let before = server.revision();
    // The checklist is not in the client documents.
    let path = format!("/api/rollouts/{ROLLOUT}/checklist/0");
    let reply = server
        .post(&path, &server.admin, json!({ "done": true }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert!(server.revision() > before);
    assert_eq!(production.next(QUIET).await, Next::Quiet);
    assert_eq!(staging.next(Duration::ZERO).await, Next::Quiet);
}

#[tokio::test]
async fn last_event_id_decides_whether_the_first_event_is_sent() {
    let server = Server::new().await;
    let (addr, _stop) = listen(&server).await;
    let (old, _) = document(&server, "production").await;
    // Up to date: nothing until the document changes, then the change.
    let mut current = Stream::open(addr, "production", &[("last-event-id", &old)]).await;
    assert_eq!(current.next(SLACK).await, Next::Block("retry: 1000".into()));
    assert_eq!(current.next(QUIET).await, Next::Quiet);
    kill_switch(&server, PRODUCTION_KILL, true).await;
    let (etag, revision) = document(&server, "production").await;
    assert_eq!(current.event().await, expected(&etag, revision));
    // Behind (it missed that change while away): the current state at once.
    let mut behind = Stream::open(addr, "production", &[("last-event-id", &old)]).await;
    assert_eq!(behind.next(SLACK).await, Next::Block("retry: 1000".into()));
    assert_eq!(behind.event().await, expected(&etag, revision));
    assert_eq!(behind.next(QUIET).await, Next::Quiet);
}

#[tokio::test]
async fn an_idle_stream_outlives_the_header_read_timeout() {
    let server = Server::new().await;
    let (addr, _stop) = listen(&server).await;
    let (mut stream, _) = Stream::opened(addr, "staging").await;
    // `listen` closes connections that send no request head for 1 s.
    assert_eq!(stream.next(Duration::from_millis(2500)).await, Next::Quiet);
    kill_switch(&server, STAGING_KILL, true).await;
    let (etag, revision) = document(&server, "staging").await;
    assert_eq!(stream.event().await, expected(&etag, revision));
}

#[tokio::test]
async fn an_environment_that_disappears_ends_its_stream() {
    let server = Server::new().await;
    let mut plan = server.plan();
    let staging = plan["rollouts"][ROLLOUT]["environments"]["staging"].clone();
    plan["rollouts"][ROLLOUT]["environments"]["preview"] = staging;
    assert_eq!(
        crate::common::put(&server, &server.admin, &plan)
            .await
            .status,
        StatusCode::OK
    );
    let (addr, _stop) = listen(&server).await;
    let (mut preview, _) = Stream::opened(addr, "preview").await;
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["environments"]
        .as_object_mut()
        .unwrap()
        .remove("preview");
    let reply = crate::common::put(&server, &server.admin, &plan).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let data = json!({ "type": "refetchEvaluation", "etag": null, "revision": server.revision() });
    assert_eq!(preview.event().await, (None, data));
    assert_eq!(preview.next(SLACK).await, Next::End);
}

#[tokio::test]
async fn an_unknown_environment_is_a_json_404() {
    let server = Server::new().await;
    let reply = server
        .request(Method::GET, "/client/nowhere/events", None, None)
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert!(
        reply.json["message"].as_str().unwrap().contains("nowhere"),
        "{}",
        reply.json
    );
}

#[tokio::test]
async fn any_origin_may_listen_and_resume() {
    let server = Server::new().await;
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/client/production/events")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .header(
            "access-control-request-headers",
            "last-event-id,cache-control",
        )
        .body(Body::empty())
        .unwrap();
    let reply = server.send(preflight).await;
    assert!(reply.status.is_success(), "{}", reply.status);
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    let allowed = reply.headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("last-event-id") && allowed.contains("cache-control"),
        "{allowed}"
    );
    assert!(
        reply.headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    // The stream itself: its head only (its body never ends).
    let get = Request::get("/client/production/events")
        .header("origin", "https://app.example")
        .body(Body::empty())
        .unwrap();
    let response = server.router.clone().oneshot(get).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
}

/// On a paused clock: the stream's keep-alive comes every `KEEP_ALIVE`, and the
/// per-request deadline (`REQUEST_TIMEOUT`) does not cut the stream.
#[tokio::test]
async fn an_idle_stream_sends_keep_alives() {
    let server = Server::new().await;
    // Paused only now: on PostgreSQL, opening the store waits on the network,
    // and a paused clock would jump past its timeouts while it does.
    tokio::time::pause();
    let request = Request::get("/client/staging/events")
        .body(Body::empty())
        .unwrap();
    let response = server.router.clone().oneshot(request).await.unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(first.starts_with(b"retry: 1000\n\nid: "), "{first:?}");
    let started = tokio::time::Instant::now();
    let beats = REQUEST_TIMEOUT.as_secs() / KEEP_ALIVE.as_secs() + 2;
    for beat in 1..=beats {
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&frame[..], b": keep-alive\n\n");
        // Paused mid-millisecond, the timer rounds each deadline up by < 1 ms.
        let late = started.elapsed() - KEEP_ALIVE * beat as u32;
        assert!(
            late < std::time::Duration::from_millis(2),
            "beat {beat}: {late:?} late"
        );
    }
}

/// The real binary: SIGTERM ends open streams at once, so a clean stop is not
/// held up for the shutdown grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_when_the_server_stops() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path());
    let mut streams = Vec::new();
    for env in ["production", "staging", "production"] {
        streams.push(Stream::opened(served.addr, env).await.0);
    }
    let started = std::time::Instant::now();
    let stopped = tokio::task::spawn_blocking(move || served.sigterm());
    for stream in &mut streams {
        assert_eq!(stream.next(SLACK).await, Next::End);
    }
    assert!(stopped.await.unwrap().success());
    let grace = ConnectionLimits::default().shutdown_grace;
    assert!(
        started.elapsed() < grace / 2,
        "the server took {:?} to stop with streams open",
        started.elapsed()
    );
}
