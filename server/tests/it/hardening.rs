//! The server against hostile or broken clients: connections that trickle or
//! stall, oversized heads, malformed If-Match, Authorization and Content-Type
//! headers, bodies that break the one JSON input rule, and internal errors that
//! must not show the server's files. Connection behaviour runs on a real socket
//! (short timeouts, bounded connection counts and times); the rest goes through
//! `oneshot`.

use crate::common;

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::common::{Server, assert_error};
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use stagegate_server::app;
use stagegate_server::serve::{ConnectionLimits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const STAGE: &str = "/api/rollouts/domain-migration/environments/staging/stage";
/// Generous slack for a loaded 2-core machine: what is measured is "closed by
/// the server", the slack only keeps a slow runner from failing.
const SLACK: Duration = Duration::from_secs(4);

// ---- connections (real sockets) ----

/// `server` served on a loopback port with `limits`, until the returned sender drops.
async fn listen(
    server: &Server,
    limits: ConnectionLimits,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = app(server.state.clone());
    tokio::spawn(serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

fn short(header_read: u64, write: u64) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(header_read),
        write_timeout: Duration::from_secs(write),
        ..ConnectionLimits::default()
    }
}

/// One request on a fresh connection (`Connection: close`); the raw response.
async fn exchange(addr: SocketAddr, head: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(SLACK, stream.read_to_end(&mut response))
        .await
        .expect("the server answers")
        .unwrap();
    response
}

fn status_line(response: &[u8]) -> String {
    let text = String::from_utf8_lossy(response);
    text.lines().next().unwrap_or("").to_string()
}

/// Whether the server closed `stream` (end of stream or reset) within `within`;
/// anything it sends before closing is read and dropped.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Opens a connection and sends a request head one byte every 100 ms, never
/// finishing it. Returns how long the server kept it open (`give_up` at most).
async fn trickle(addr: SocketAddr, give_up: Duration) -> Duration {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Trickle: ")
        .await
        .is_err()
    {
        return start.elapsed();
    }
    while start.elapsed() < give_up {
        if stream.write_all(b"a").await.is_err()
            || closed_within(&mut stream, Duration::from_millis(100)).await
        {
            break;
        }
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_headers_do_not_hold_the_server() {
    let server = Server::new().await;
    let limits = short(1, 30);
    let (addr, _stop) = listen(&server, limits).await;
    let give_up = limits.header_read_timeout + SLACK;
    let trickles: Vec<_> = (0..50)
        .map(|_| tokio::spawn(trickle(addr, give_up)))
        .collect();
    // While 50 connections trickle, ordinary requests are answered.
    for _ in 0..3 {
        let response = exchange(
            addr,
            "GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for trickle in trickles {
        let held = trickle.await.unwrap();
        assert!(
            held < give_up,
            "a trickling connection was held open for {held:?} (header-read timeout {:?})",
            limits.header_read_timeout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let server = Server::new().await;
    let limits = short(1, 30);
    let (addr, _stop) = listen(&server, limits).await;
    // One that never sends a byte.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // One that makes a request and then keeps the connection idle.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
    let within = limits.header_read_timeout + SLACK;
    assert!(
        closed_within(&mut silent, within).await,
        "silent connection"
    );
    assert!(closed_within(&mut idle, within).await, "idle keep-alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_let_go() {
    let console = tempfile::tempdir().unwrap();
    std::fs::write(console.path().join("index.html"), "<!doctype html>").unwrap();
    // Far more than the kernel buffers between server and client (4 MiB + a little).
    let size = 24 * 1024 * 1024;
    std::fs::write(console.path().join("big.bin"), vec![b'x'; size]).unwrap();
    let server = Server::with_console(Some(console.path().to_path_buf())).await;
    let limits = short(10, 1);
    let (addr, _stop) = listen(&server, limits).await;

    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // Read nothing for longer than the write timeout, then everything there is.
    tokio::time::sleep(limits.write_timeout + Duration::from_secs(2)).await;
    let mut received = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + SLACK * 2;
    while Instant::now() < deadline {
        match tokio::time::timeout(SLACK, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => received += n,
            Err(_) => panic!("the connection is still open after {received} bytes"),
        }
    }
    assert!(
        received < size,
        "the server waited for a client that stopped reading ({received} bytes arrived)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_or_unparsable_heads_are_refused_by_hyper() {
    let server = Server::new().await;
    let (addr, _stop) = listen(&server, ConnectionLimits::default()).await;
    let many: String = (0..101).map(|i| format!("X-H{i}: 1\r\n")).collect();
    let response = exchange(
        addr,
        &format!("GET /healthz HTTP/1.1\r\nHost: t\r\n{many}\r\n"),
    )
    .await;
    assert_eq!(
        status_line(&response),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    let big = "a".repeat(ConnectionLimits::default().max_header_bytes);
    let response = exchange(
        addr,
        &format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n"),
    )
    .await;
    assert_eq!(
        status_line(&response),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    let response = exchange(addr, "GARBAGE\r\n\r\n").await;
    assert_eq!(status_line(&response), "HTTP/1.1 400 Bad Request");
    // Just under the limits is fine.
    let many: String = (0..90).map(|i| format!("X-H{i}: 1\r\n")).collect();
    let response = exchange(
        addr,
        &format!("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{many}\r\n"),
    )
    .await;
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
}

// ---- the per-request deadline ----

/// A body that sends its first bytes and then nothing, ever.
struct Stalled(bool);

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.0 {
            return Poll::Pending;
        }
        self.0 = true;
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
            b"{\"revision\":",
        )))))
    }
}

#[tokio::test]
async fn a_body_sent_too_slowly_gets_a_json_408() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    // Paused only now: opening a PostgreSQL store waits on the network.
    tokio::time::pause();
    let request = Request::post("/api/revert")
        .header("authorization", format!("Bearer {editor}"))
        .header("content-type", "application/json")
        .body(Body::new(Stalled(false)))
        .unwrap();
    // The clock is paused: tokio moves it on whenever everything waits.
    let reply = tokio::time::timeout(
        stagegate_server::api::REQUEST_TIMEOUT * 2,
        server.send(request),
    )
    .await
    .expect("the server gives up on the request first");
    assert_error(&reply, StatusCode::REQUEST_TIMEOUT, "request_timeout");
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(server.revision(), 1);
}

// ---- internal errors ----

#[tokio::test]
async fn internal_errors_do_not_show_paths_or_os_errors() {
    // Removes a revision file: a data directory's damage. The 500's shape is
    // the same code on PostgreSQL (`StoreError::Io`).
    if crate::common::on_postgres() {
        return;
    }
    let server = Server::new().await;
    let file = server.dir.path().join("revisions").join("000001.json");
    std::fs::remove_file(&file).unwrap();
    let reply = server.get("/api/revisions/1", &server.admin).await;
    assert_error(&reply, StatusCode::INTERNAL_SERVER_ERROR, "internal");
    let text = String::from_utf8_lossy(&reply.body);
    for secret in [
        server.dir.path().to_str().unwrap(),
        "000001.json",
        "os error",
        "No such file",
    ] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
    let incident = reply.json["details"]["incident"].as_str().unwrap();
    assert!(
        reply.json["message"].as_str().unwrap().contains(incident),
        "{text}"
    );
}

// ---- If-Match ----

/// A PUT that changes something (a write that changes nothing writes nothing).
async fn put_with_if_match(server: &Server, token: &str, tag: &str) -> common::Reply {
    let mut plan = server.plan();
    plan["rollouts"]["domain-migration"]["description"] = json!(format!("edit {tag}"));
    server.put_plan(token, Some(tag), &plan.to_string()).await
}

#[tokio::test]
async fn malformed_if_match_is_a_400_that_shows_a_valid_one() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    for tag in [
        "abc",
        "\"-1\"",
        "W/\"1\"",
        "",
        "\"\"",
        "\"18446744073709551616\"",
        "1",
        "\"01\"",
        "\"1\", \"2\"",
        "\"1",
        "\"1 \"",
    ] {
        let reply = put_with_if_match(&server, &editor, tag).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        let message = reply.json["message"].as_str().unwrap();
        assert!(message.contains("If-Match: \"12\""), "{tag}: {message}");
        assert_eq!(reply.json["details"]["field"], "If-Match", "{tag}");
    }
    // The same rule on the writes where If-Match is optional.
    let request = Request::post(STAGE)
        .header("authorization", format!("Bearer {editor}"))
        .header("content-type", "application/json")
        .header("if-match", "W/\"1\"")
        .body(Body::from(json!({ "stage": null }).to_string()))
        .unwrap();
    assert_error(
        &server.send(request).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    // Two If-Match headers are as ambiguous as a list.
    let request = Request::put("/api/plan")
        .header("authorization", format!("Bearer {editor}"))
        .header("content-type", "application/json")
        .header("if-match", "\"1\"")
        .header("if-match", "\"1\"")
        .body(Body::from(server.plan().to_string()))
        .unwrap();
    assert_error(
        &server.send(request).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_eq!(server.revision(), 1, "nothing was written");

    // `*` is still a blind overwrite (428); a well-formed old one is still 412.
    let reply = put_with_if_match(&server, &editor, "*").await;
    assert_error(
        &reply,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );
    let reply = put_with_if_match(&server, &editor, "\"1\"").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let reply = put_with_if_match(&server, &editor, "\"1\"").await;
    assert_error(&reply, StatusCode::PRECONDITION_FAILED, "stale_revision");
    assert_eq!(reply.json["details"]["currentRevision"], 2);
}

// ---- Authorization ----

async fn get_me(server: &Server, authorization: &[&str]) -> common::Reply {
    let mut request = Request::get("/api/me");
    for value in authorization {
        request = request.header("authorization", *value);
    }
    server.send(request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn bearer_is_case_insensitive_401_says_bearer_and_one_header_only() {
    let server = Server::new().await;
    let viewer = server.user("vera", "viewer").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let reply = get_me(&server, &[&format!("{scheme} {viewer}")]).await;
        assert_eq!(reply.status, StatusCode::OK, "{scheme}: {}", reply.json);
        assert_eq!(reply.json["name"], "vera");
    }
    for value in [
        None,
        Some("Basic dmVyYTp4".to_string()),
        Some("Bearer".to_string()),
        Some("Bearer ".to_string()),
        Some(format!("Bearer{viewer}")),
        Some("Bearer sg_nobody".to_string()),
    ] {
        let values: Vec<&str> = value.iter().map(String::as_str).collect();
        let reply = get_me(&server, &values).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(reply.headers["www-authenticate"], "Bearer", "{value:?}");
    }
    let admin = format!("Bearer {}", server.admin);
    let viewer = format!("Bearer {viewer}");
    for pair in [[&viewer, &admin], [&admin, &viewer], [&viewer, &viewer]] {
        let reply = get_me(&server, &[pair[0], pair[1]]).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    }
}

// ---- the one JSON input rule ----

async fn send_body(
    server: &Server,
    method: Method,
    path: &str,
    token: &str,
    content_type: &str,
    body: String,
) -> common::Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type);
    if path == "/api/plan" {
        request = request.header("if-match", format!("\"{}\"", server.revision()));
    }
    server.send(request.body(Body::from(body)).unwrap()).await
}

/// Every JSON route, a caller who may use it, and a body that fits it.
async fn json_routes(server: &Server) -> Vec<(Method, &'static str, String, String)> {
    let editor = server.user("eddie", "editor").await;
    let qa = server.user("quinn", "qa-lead").await;
    vec![
        (
            Method::PUT,
            "/api/plan",
            editor.clone(),
            server.plan().to_string(),
        ),
        (
            Method::POST,
            "/api/revert",
            editor.clone(),
            json!({ "revision": 1, "comment": "c" }).to_string(),
        ),
        (
            Method::POST,
            STAGE,
            editor.clone(),
            json!({ "stage": null, "comment": "c" }).to_string(),
        ),
        (
            Method::POST,
            "/api/rollouts/domain-migration/environments/staging/kill-switch",
            editor,
            json!({ "on": true, "comment": "c" }).to_string(),
        ),
        (
            Method::POST,
            "/api/signoffs",
            qa,
            json!({ "rollout": "domain-migration", "stage": "stage-1", "comment": "c" })
                .to_string(),
        ),
        (
            Method::POST,
            "/api/users",
            server.admin.clone(),
            json!({ "name": "newcomer", "role": "viewer" }).to_string(),
        ),
    ]
}

#[tokio::test]
async fn every_json_route_reads_bodies_by_one_rule() {
    let server = Server::new().await;
    for (method, path, token, good) in json_routes(&server).await {
        let send = |content_type: &'static str, body: String| {
            send_body(&server, method.clone(), path, &token, content_type, body)
        };
        let json_type = "application/json";
        let before = server.revision();

        // Truncated, a duplicate key, a trailing comma: 400 malformed, with line and column.
        for bad in ["{\"a\":", "{\"comment\":\"x\",\"comment\":\"y\"}", "[1,]"] {
            let reply = send(json_type, bad.into()).await;
            assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
            let problem = &reply.json["details"][0];
            assert!(
                problem["line"].is_u64() && problem["column"].is_u64(),
                "{path} {bad}: {}",
                reply.json
            );
        }
        // A lone surrogate is refused everywhere (never turned into U+FFFD).
        let lone = good.replacen("\":\"", "\":\"\\ud800", 1);
        assert_ne!(lone, good);
        let reply = send(json_type, lone).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            reply.json["message"]
                .as_str()
                .unwrap()
                .contains("surrogate"),
            "{path}: {}",
            reply.json
        );

        // Charset: UTF-8 or none; any other is 415. Not JSON at all is 415.
        for refused in [
            "application/json; charset=latin1",
            "application/json;charset=\"iso-8859-1\"",
            "text/plain",
        ] {
            let reply = send(refused, good.clone()).await;
            assert_error(
                &reply,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            );
        }
        assert_eq!(server.revision(), before, "{path}: nothing was written");

        // The same body with `charset=utf-8` is fine.
        let reply = send("application/json; charset=UTF-8", good.clone()).await;
        assert!(reply.status.is_success(), "{path}: {}", reply.json);
    }
}

#[tokio::test]
async fn control_characters_are_refused_by_field() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let qa = server.user("quinn", "qa-lead").await;
    let cases: Vec<(Method, &str, &str, Value, &str)> = vec![
        (
            Method::POST,
            STAGE,
            &editor,
            json!({ "stage": null, "comment": "a\u{0}b" }),
            "/comment",
        ),
        (
            Method::POST,
            "/api/signoffs",
            &qa,
            json!({ "rollout": "domain-migration", "stage": "stage-1", "comment": "x\u{1b}[31m" }),
            "/comment",
        ),
        (
            Method::POST,
            "/api/signoffs",
            &qa,
            json!({ "rollout": "domain-migration\u{0}", "stage": "stage-1" }),
            "/rollout",
        ),
        (
            Method::POST,
            "/api/users",
            &server.admin,
            json!({ "name": "nul\u{0}", "role": "viewer" }),
            "/name",
        ),
        (
            Method::POST,
            "/api/revert",
            &editor,
            json!({ "revision": 1, "comment": "\r" }),
            "/comment",
        ),
    ];
    for (method, path, token, body, field) in cases {
        let reply = send_body(
            &server,
            method,
            path,
            token,
            "application/json",
            body.to_string(),
        )
        .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(reply.json["details"][0]["path"], field, "{}", reply.json);
        assert!(
            reply.json["message"].as_str().unwrap().starts_with(field),
            "{}",
            reply.json
        );
    }
    // Inside the plan: the salt and a description.
    for (key, text) in [("salt", "salt\u{0}"), ("description", "bell\u{7}")] {
        let pointer = format!("/rollouts/domain-migration/{key}");
        let mut plan = server.plan();
        plan["rollouts"]["domain-migration"][key] = json!(text);
        let reply = server
            .put_plan(&editor, Some("\"1\""), &plan.to_string())
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(reply.json["details"][0]["path"], pointer, "{}", reply.json);
    }
    assert_eq!(server.revision(), 1, "nothing was written");
    // Tab and line feed are text, in comments and descriptions alike.
    let reply = send_body(
        &server,
        Method::POST,
        STAGE,
        &editor,
        "application/json",
        json!({ "stage": null, "comment": "line one\n\tline two" }).to_string(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let mut plan = server.plan();
    plan["rollouts"]["domain-migration"]["description"] = json!("first\n\tsecond");
    let reply = server
        .put_plan(&editor, Some("\"2\""), &plan.to_string())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}
