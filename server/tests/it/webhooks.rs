//! Alerts by webhook, through the real router, delivered over real sockets to a
//! local receiver that checks each signature with its own HMAC-SHA256 (RFC 2104
//! written out here over SHA-256, not the server's `hmac` crate).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use stagegate_server::alerts::{AlertEvent, Alerts, RetryPolicy};
use stagegate_server::app;
use stagegate_server::serve::open_state;

use crate::common::*;

/// Retries in milliseconds rather than seconds.
fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 5,
        first_delay: Duration::from_millis(20),
        timeout: Duration::from_secs(2),
    }
}

async fn with_policy(mut server: Server, policy: RetryPolicy) -> Server {
    let storage = server.state.store.storage().clone();
    server.state.alerts = Alerts::open_with(storage, policy).await.unwrap();
    server.router = app(server.state.clone());
    server
}

async fn fast_server() -> Server {
    with_policy(Server::new().await, fast()).await
}

/// The webhooks as stored (in the data directory's file, or the database).
async fn stored_hooks(server: &Server) -> Option<String> {
    let storage = server.state.store.storage();
    let document = storage.document("webhooks.json").await.unwrap();
    document.map(|(text, _)| text)
}

/// The same data directory opened anew, as after a restart.
async fn restart(server: Server) -> Server {
    let Server {
        dir,
        admin,
        location,
        ..
    } = server;
    let (state, notes) = open_state(&location, None).await.unwrap();
    assert!(notes.is_empty(), "a restart seeds nothing: {notes:?}");
    let router = app(state.clone());
    with_policy(
        Server {
            dir,
            location,
            state,
            router,
            admin,
        },
        fast(),
    )
    .await
}

/// HMAC-SHA256 by its definition: H((K ^ opad) || H((K ^ ipad) || message)).
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_receivers_hmac_matches_rfc_4231() {
    assert_eq!(
        hmac_sha256(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // Test case 6: a key longer than a block is hashed first.
    assert_eq!(
        hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        ),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[derive(Clone)]
struct Seen {
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
    signed: bool,
}

#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    secret: Arc<Mutex<String>>,
    /// The status of the n-th request; the last one repeats.
    answers: Arc<Vec<u16>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    /// A receiver on 127.0.0.1 answering `answers` in turn; a request whose
    /// signature does not verify gets 401 (which the server does not retry).
    async fn start(answers: &[u16]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            addr: listener.local_addr().unwrap(),
            secret: Arc::default(),
            answers: Arc::new(answers.to_vec()),
            seen: Arc::default(),
        };
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        receiver
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn trust(&self, secret: &str) {
        *self.secret.lock().unwrap() = secret.to_string();
    }

    /// What it received so far (a copy: no lock is held across an await).
    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let expected = format!(
        "sha256={}",
        hmac_sha256(receiver.secret.lock().unwrap().as_bytes(), &body)
    );
    let signed = headers
        .get("x-stagegate-signature")
        .is_some_and(|value| value.as_bytes() == expected.as_bytes());
    let mut seen = receiver.seen.lock().unwrap();
    let n = seen.len().min(receiver.answers.len() - 1);
    seen.push(Seen {
        headers,
        body: body.to_vec(),
        at: Instant::now(),
        signed,
    });
    if !signed {
        return (StatusCode::UNAUTHORIZED, "bad signature");
    }
    let status = StatusCode::from_u16(receiver.answers[n]).unwrap();
    (
        status,
        if status.is_success() {
            "ok"
        } else {
            "receiver trouble"
        },
    )
}

async fn add_hook(server: &Server, body: Value) -> Value {
    let reply = server.post("/api/webhooks", &server.admin, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    reply.json
}

async fn list(server: &Server) -> Vec<Value> {
    let reply = server.get("/api/webhooks", &server.admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json.as_array().unwrap().clone()
}

/// The delivery's record once it is no longer pending, as GET /api/webhooks shows it.
async fn finished(server: &Server, hook: &str, delivery: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hooks = list(server).await;
        let record = hooks
            .iter()
            .find(|h| h["id"] == hook)
            .and_then(|h| h["deliveries"].as_array())
            .and_then(|all| all.iter().find(|d| d["id"] == delivery))
            .cloned();
        if let Some(record) = &record
            && record["status"] != "pending"
        {
            return record.clone();
        }
        assert!(
            Instant::now() < deadline,
            "delivery {delivery} unfinished: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn statuses(record: &Value) -> Vec<Value> {
    record["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| attempt["status"].clone())
        .collect()
}

#[tokio::test]
async fn an_alert_is_delivered_signed_with_its_payload() {
    let server = fast_server().await;
    let receiver = Receiver::start(&[200]).await;
    let created = add_hook(
        &server,
        json!({ "url": receiver.url(), "events": ["rollback", "advance"], "description": "#releases" }),
    )
    .await;
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    assert!(
        id.starts_with("wh_") && secret.starts_with("whsec_"),
        "{created}"
    );
    assert_eq!(created["events"], json!(["rollback", "advance"]));
    receiver.trust(secret);

    // An event the hook does not list goes nowhere.
    let none = server.state.alerts.send(
        AlertEvent::TriggerWarning,
        "Close to the threshold.",
        json!({}),
    );
    assert!(none.is_empty());

    let text = "domain-migration rolled back in production: crash rate 4.1% in rollout vs 1.0% outside (+3.1 points, 95% interval +2.2 to +4.0).";
    let details =
        json!({ "rollout": "domain-migration", "environment": "production", "revision": 7 });
    let started = Instant::now();
    let ids = server
        .state
        .alerts
        .send(AlertEvent::Rollback, text, details.clone());
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "send must not wait on the network"
    );
    assert_eq!(ids.len(), 1);
    let record = finished(&server, id, &ids[0]).await;
    assert_eq!(record["status"], "delivered", "{record}");
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["responseStatus"], 200);
    assert_eq!(record["event"], "rollback");
    assert_eq!(record["text"], text);
    assert!(record.get("lastError").is_none(), "{record}");
    assert!(record["finished"].is_string());

    let seen = receiver.requests();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert!(
        request.signed,
        "the signature verifies with the receiver's own HMAC"
    );
    let header = |name: &str| request.headers.get(name).unwrap().to_str().unwrap();
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("x-stagegate-event"), "rollback");
    assert_eq!(header("x-stagegate-delivery"), ids[0]);
    assert_eq!(
        header("x-stagegate-signature"),
        format!("sha256={}", hmac_sha256(secret.as_bytes(), &request.body))
    );
    assert!(header("user-agent").starts_with("stagegate/"));
    let payload: Value = serde_json::from_slice(&request.body).unwrap();
    let keys: Vec<&str> = payload
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["event", "text", "at", "details", "delivery"]);
    assert_eq!(payload["event"], "rollback");
    assert_eq!(payload["text"], text);
    assert_eq!(payload["details"], details);
    assert_eq!(payload["delivery"], ids[0]);
    assert_eq!(payload["at"], record["created"]);
    let at = payload["at"].as_str().unwrap();
    assert!(
        at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "RFC 3339: {at}"
    );

    // The test route reaches this hook alone, with event `test`.
    let other = Receiver::start(&[200]).await;
    add_hook(
        &server,
        json!({ "url": other.url(), "events": ["advance"] }),
    )
    .await;
    let reply = server
        .request(
            Method::POST,
            &format!("/api/webhooks/{id}/test"),
            Some(&server.admin),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.json);
    let delivery = reply.json["delivery"].as_str().unwrap();
    let record = finished(&server, id, delivery).await;
    assert_eq!(record["status"], "delivered", "{record}");
    assert_eq!(record["event"], "test");
    assert_eq!(receiver.count(), 2);
    assert_eq!(other.count(), 0);
    let seen = receiver.requests();
    assert_eq!(seen[1].headers["x-stagegate-event"], "test");
    assert!(seen[1].signed);

    // The list never shows a secret; deliveries come newest first.
    let reply = server.get("/api/webhooks", &server.admin).await;
    assert!(!String::from_utf8_lossy(&reply.body).contains(secret));
    let hooks = reply.json.as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    assert!(hooks.iter().all(|hook| hook.get("secret").is_none()));
    assert_eq!(hooks[0]["description"], "#releases");
    assert_eq!(hooks[0]["createdBy"], "admin");
    let deliveries = hooks[0]["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(deliveries[0]["id"], delivery);
    assert_eq!(deliveries[1]["id"], ids[0]);
}

#[tokio::test]
async fn a_receiver_that_fails_twice_then_succeeds_gets_it_on_the_third_attempt() {
    let server = fast_server().await;
    let receiver = Receiver::start(&[500, 503, 200]).await;
    receiver.trust("a-secret-of-our-own-choosing");
    let created = add_hook(
        &server,
        json!({ "url": receiver.url(), "events": ["advance"], "secret": "a-secret-of-our-own-choosing" }),
    )
    .await;
    assert_eq!(created["secret"], "a-secret-of-our-own-choosing");
    let hook = created["id"].as_str().unwrap();
    let ids = server.state.alerts.send(
        AlertEvent::Advance,
        "domain-migration advanced to stage-2 in production.",
        json!({ "stage": "stage-2" }),
    );
    let record = finished(&server, hook, &ids[0]).await;
    assert_eq!(record["status"], "delivered", "{record}");
    assert_eq!(record["attempts"], 3);
    assert_eq!(statuses(&record), [json!(500), json!(503), json!(200)]);
    assert_eq!(record["responseStatus"], 200);
    assert!(
        record.get("lastError").is_none(),
        "cleared once delivered: {record}"
    );
    let errors: Vec<&Value> = record["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| &attempt["error"])
        .collect();
    assert_eq!(
        errors[0],
        "HTTP 500 Internal Server Error: receiver trouble"
    );
    assert!(errors[2].is_null());

    // Every attempt sends the very same signed bytes, after a doubling delay.
    let seen = receiver.requests();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|request| request.signed && request.body == seen[0].body)
    );
    assert!(
        seen.iter()
            .all(|request| request.headers["x-stagegate-delivery"] == ids[0].as_str())
    );
    let first_delay = fast().first_delay;
    assert!(seen[1].at - seen[0].at >= first_delay);
    assert!(seen[2].at - seen[1].at >= first_delay * 2);
}

#[tokio::test]
async fn a_receiver_that_always_fails_exhausts_the_attempts_and_the_failure_is_listed() {
    let server = fast_server().await;
    let failing = Receiver::start(&[500]).await;
    failing.trust("failing-receiver-secret");
    let refusing = Receiver::start(&[410]).await;
    refusing.trust("refusing-receiver-secret");
    let failing_hook = add_hook(
        &server,
        json!({ "url": failing.url(), "events": ["rollback"], "secret": "failing-receiver-secret" }),
    )
    .await;
    let refusing_hook = add_hook(
        &server,
        json!({ "url": refusing.url(), "events": ["rollback"], "secret": "refusing-receiver-secret" }),
    )
    .await;
    let ids = server
        .state
        .alerts
        .send(AlertEvent::Rollback, "Rolled back.", json!({}));
    assert_eq!(ids.len(), 2);

    let record = finished(&server, failing_hook["id"].as_str().unwrap(), &ids[0]).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["attempts"], fast().attempts);
    assert_eq!(statuses(&record), vec![json!(500); 5]);
    assert_eq!(record["responseStatus"], 500);
    assert_eq!(
        record["lastError"],
        "HTTP 500 Internal Server Error: receiver trouble"
    );
    assert_eq!(failing.count(), 5);

    // A 4xx other than 408 and 429 is the receiver refusing: not retried.
    let record = finished(&server, refusing_hook["id"].as_str().unwrap(), &ids[1]).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["attempts"], 1);
    let error = record["lastError"].as_str().unwrap();
    assert!(
        error.starts_with("HTTP 410 Gone") && error.contains("not retried"),
        "{error}"
    );
    assert_eq!(refusing.count(), 1);

    // The record survives a restart as it was.
    server.state.alerts.flush().await;
    let listed_before = list(&server).await;
    let server = restart(server).await;
    assert_eq!(list(&server).await, listed_before);
}

#[tokio::test]
async fn an_unreachable_or_silent_receiver_is_retried_then_recorded() {
    let policy = RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_millis(10),
        timeout: Duration::from_millis(300),
    };
    let server = with_policy(Server::new().await, policy).await;
    // A port that was just free: nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    // A receiver that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let unreachable = add_hook(
        &server,
        json!({ "url": format!("http://{closed}/hook"), "events": ["sampleRatioMismatch"] }),
    )
    .await;
    let mute = add_hook(
        &server,
        json!({ "url": format!("http://{silent_addr}/hook"), "events": ["sampleRatioMismatch"] }),
    )
    .await;
    let ids = server.state.alerts.send(
        AlertEvent::SampleRatioMismatch,
        "Sample ratio mismatch.",
        json!({}),
    );

    let record = finished(&server, unreachable["id"].as_str().unwrap(), &ids[0]).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["attempts"], 3);
    assert!(record.get("responseStatus").is_none(), "{record}");
    assert_eq!(statuses(&record), vec![Value::Null; 3]);
    let error = record["lastError"].as_str().unwrap();
    assert!(error.to_ascii_lowercase().contains("refused"), "{error}");

    let record = finished(&server, mute["id"].as_str().unwrap(), &ids[1]).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["attempts"], 3);
    assert_eq!(record["lastError"], "no answer within 300 ms");
    for attempt in record["history"].as_array().unwrap() {
        let ms = attempt["ms"].as_u64().unwrap();
        assert!(
            (300..2000).contains(&ms),
            "each attempt is cut at the timeout: {ms} ms"
        );
    }
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_stored() {
    let server = fast_server().await;
    let cases = [
        (
            json!({ "url": "ftp://example.com/", "events": ["rollback"] }),
            "url",
        ),
        (
            json!({ "url": "example.com/hook", "events": ["rollback"] }),
            "url",
        ),
        (json!({ "url": "https://", "events": ["rollback"] }), "url"),
        (
            json!({ "url": "https://u:p@example.com/", "events": ["rollback"] }),
            "url",
        ),
        (
            json!({ "url": "https://example.com/", "events": [] }),
            "events",
        ),
        (
            json!({ "url": "https://example.com/", "events": ["crash"] }),
            "events",
        ),
        (
            json!({ "url": "https://example.com/", "events": ["test"] }),
            "events",
        ),
        (
            json!({ "url": "https://example.com/", "events": ["rollback"], "secret": "short" }),
            "secret",
        ),
        (
            json!({ "url": "https://example.com/", "events": ["rollback"], "secret": "sixteen chars with spaces" }),
            "secret",
        ),
        (
            json!({ "url": "https://example.com/", "events": ["rollback"], "description": "d".repeat(201) }),
            "description",
        ),
    ];
    for (body, field) in cases {
        let reply = server
            .post("/api/webhooks", &server.admin, body.clone())
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(
            reply.json["details"]["field"], field,
            "{body}: {}",
            reply.json
        );
    }
    // The body's shape is the JSON body rule's: 422 naming what does not fit.
    for body in [
        json!({ "events": ["rollback"] }),
        json!({ "url": "https://example.com/", "events": ["rollback"], "secrets": "x" }),
        json!({ "url": "https://example.com/", "events": "rollback" }),
    ] {
        let reply = server
            .post("/api/webhooks", &server.admin, body.clone())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.json
        );
    }
    assert_eq!(stored_hooks(&server).await, None);
    assert!(list(&server).await.is_empty());

    // At most 20: the 21st is refused and the file stays as it was.
    for n in 0..20 {
        add_hook(
            &server,
            json!({ "url": format!("https://example.com/{n}"), "events": ["advance"] }),
        )
        .await;
    }
    let before = stored_hooks(&server).await.unwrap();
    let reply = server
        .post(
            "/api/webhooks",
            &server.admin,
            json!({ "url": "https://example.com/21", "events": ["advance"] }),
        )
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        reply.json["message"].as_str().unwrap().contains("20"),
        "{}",
        reply.json
    );
    assert_eq!(stored_hooks(&server).await.unwrap(), before);

    // Unknown ids are 404s that change nothing.
    let missing = server
        .request(
            Method::DELETE,
            "/api/webhooks/wh_nope",
            Some(&server.admin),
            None,
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
    let missing = server
        .request(
            Method::POST,
            "/api/webhooks/wh_nope/test",
            Some(&server.admin),
            None,
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(stored_hooks(&server).await.unwrap(), before);
}

#[tokio::test]
async fn only_admins_manage_webhooks() {
    let server = fast_server().await;
    let receiver = Receiver::start(&[200]).await;
    let hook = add_hook(
        &server,
        json!({ "url": receiver.url(), "events": ["rollback"] }),
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    let before = stored_hooks(&server).await.unwrap();
    for role in ["editor", "viewer", "qa-lead", "devops-lead"] {
        let token = server.user(&format!("not-admin-{role}"), role).await;
        let body = json!({ "url": receiver.url(), "events": ["rollback"] });
        let replies = [
            server.get("/api/webhooks", &token).await,
            server.post("/api/webhooks", &token, body).await,
            server
                .request(
                    Method::DELETE,
                    &format!("/api/webhooks/{id}"),
                    Some(&token),
                    None,
                )
                .await,
            server
                .request(
                    Method::POST,
                    &format!("/api/webhooks/{id}/test"),
                    Some(&token),
                    None,
                )
                .await,
        ];
        for reply in replies {
            assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
            assert!(
                reply.json["message"]
                    .as_str()
                    .unwrap()
                    .contains("manage-webhooks")
            );
        }
    }
    assert_eq!(stored_hooks(&server).await.unwrap(), before);
    let hooks = list(&server).await;
    assert_eq!(hooks.len(), 1);
    assert!(hooks[0]["deliveries"].as_array().unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(receiver.count(), 0);

    // The admin removes it: gone from the list and the file, and alerts stop.
    let reply = server
        .request(
            Method::DELETE,
            &format!("/api/webhooks/{id}"),
            Some(&server.admin),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.json);
    assert!(list(&server).await.is_empty());
    let stored = stored_hooks(&server).await.unwrap();
    assert!(!stored.contains(id));
    assert!(
        server
            .state
            .alerts
            .send(AlertEvent::Rollback, "x", json!({}))
            .is_empty()
    );
}

#[tokio::test]
async fn hooks_and_their_secrets_survive_a_restart() {
    let server = fast_server().await;
    let receiver = Receiver::start(&[200]).await;
    let created = add_hook(
        &server,
        json!({ "url": receiver.url(), "events": ["waitingOnSignoffs"], "description": "on call" }),
    )
    .await;
    receiver.trust(created["secret"].as_str().unwrap());
    let id = created["id"].as_str().unwrap().to_string();
    let ids = server.state.alerts.send(
        AlertEvent::WaitingOnSignoffs,
        "stage-3 is due in production and waits for the QA lead's sign-off.",
        json!({}),
    );
    assert_eq!(finished(&server, &id, &ids[0]).await["status"], "delivered");
    server.state.alerts.flush().await;

    // A file's mode is the data directory's matter (a database has its own
    // access control); the restart below covers both backends.
    #[cfg(unix)]
    if !on_postgres() {
        let file = server.dir.path().join("webhooks.json");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the secrets' file is the owner's alone"
        );
    }

    let server = restart(server).await;
    let hooks = list(&server).await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["id"], id.as_str());
    assert_eq!(hooks[0]["url"], receiver.url());
    assert_eq!(hooks[0]["events"], json!(["waitingOnSignoffs"]));
    assert_eq!(hooks[0]["description"], "on call");
    assert_eq!(hooks[0]["deliveries"][0]["id"], ids[0].as_str());
    assert_eq!(hooks[0]["deliveries"][0]["status"], "delivered");

    // The restarted server signs with the same secret.
    let again =
        server
            .state
            .alerts
            .send(AlertEvent::WaitingOnSignoffs, "Still waiting.", json!({}));
    let record = finished(&server, &id, &again[0]).await;
    assert_eq!(record["status"], "delivered", "{record}");
    assert!(receiver.requests().iter().all(|seen| seen.signed));
    assert_eq!(receiver.count(), 2);
}

/// Two servers on one database share the delivery record: each lists the
/// other's deliveries, and neither's write drops the other's. (A data
/// directory has one server.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_on_one_database_share_the_delivery_record() {
    if !on_postgres() {
        return;
    }
    let receiver = Receiver::start(&[200]).await;
    let a = fast_server().await;
    let created = add_hook(&a, json!({ "url": receiver.url(), "events": ["rollback"] })).await;
    receiver.trust(created["secret"].as_str().unwrap());
    let hook = created["id"].as_str().unwrap();
    let b = with_policy(a.another().await, fast()).await;

    let from_a = a
        .state
        .alerts
        .send(AlertEvent::Rollback, "From A.", json!({}));
    let from_b = b
        .state
        .alerts
        .send(AlertEvent::Rollback, "From B.", json!({}));
    assert_eq!((from_a.len(), from_b.len()), (1, 1));
    finished(&a, hook, &from_a[0]).await;
    finished(&b, hook, &from_b[0]).await;
    // Each writes its record (a scheduled write may already have), A first.
    a.state.alerts.flush().await;
    b.state.alerts.flush().await;
    for server in [&a, &b] {
        server.state.alerts.reload().await.unwrap();
        let hooks = list(server).await;
        let deliveries = hooks[0]["deliveries"].as_array().unwrap();
        let ids: Vec<&str> = deliveries
            .iter()
            .map(|d| d["id"].as_str().unwrap())
            .collect();
        assert!(
            ids.contains(&from_a[0].as_str()) && ids.contains(&from_b[0].as_str()),
            "{ids:?}"
        );
        assert!(
            deliveries.iter().all(|d| d["status"] == "delivered"),
            "{deliveries:?}"
        );
    }
    assert_eq!(receiver.count(), 2);
}
