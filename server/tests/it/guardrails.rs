//! Guardrails through the real router: ingest keys, reports, the decisions
//! (automatic rollback, scheduled advance) and what `GET /api/guardrails` shows.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use stagegate_server::app_keys::{KeyKind, Keys, Lookup};
use stagegate_server::guard::{self, ManualClock};
use stagegate_server::storage::Storage;

use crate::common::*;

const ROLLOUT: &str = "domain-migration";

async fn ingest_key(server: &Server, environment: &str) -> String {
    let reply = server
        .post(
            "/api/ingest-keys",
            &server.admin,
            json!({ "environment": environment, "name": "web app" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    reply.json["key"].as_str().unwrap().to_string()
}

async fn report(server: &Server, key: &str, body: &Value) -> Reply {
    let request = Request::post("/api/metrics")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    server.send(request).await
}

/// Counts for one stage of staging: `(inRollout, event, count)`.
fn batch(stage: &str, counts: &[(bool, &str, u64)]) -> Value {
    let items: Vec<Value> = counts
        .iter()
        .map(|(in_rollout, event, count)| {
            json!({ "rollout": ROLLOUT, "environment": "staging", "stage": stage,
                    "inRollout": in_rollout, "event": event, "count": count })
        })
        .collect();
    json!({ "counts": items })
}

/// Staging moved to `stage` (ungated), as a person would.
async fn staging_at(server: &Server, stage: &str) {
    let path = format!("/api/rollouts/{ROLLOUT}/environments/staging/stage");
    let reply = server
        .post(
            &path,
            &server.admin,
            json!({ "stage": stage, "comment": "test" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

async fn guardrails(server: &Server, env: &str) -> Value {
    let reply = server
        .get(&format!("/api/guardrails/{ROLLOUT}/{env}"), &server.admin)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json
}

fn trigger<'a>(report: &'a Value, metric: &str) -> &'a Value {
    report["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["metric"] == metric)
        .unwrap()
}

/// A healthy stage at 25 %: crash and sync rates alike in both cohorts, the
/// exposures in proportion.
fn healthy(stage: &str) -> Value {
    batch(
        stage,
        &[
            (true, "exposure", 1000),
            (false, "exposure", 3000),
            (true, "session", 4000),
            (false, "session", 12000),
            (true, "crash", 80),
            (false, "crash", 240),
            (true, "syncOperation", 5000),
            (false, "syncOperation", 15000),
            (true, "syncFailure", 50),
            (false, "syncFailure", 150),
        ],
    )
}

#[tokio::test]
async fn reports_need_an_ingest_key_and_a_bad_batch_changes_nothing() {
    let server = Server::new().await;
    staging_at(&server, "stage-2").await;
    let key = ingest_key(&server, "staging").await;
    let good = batch("stage-2", &[(true, "crash", 2)]);
    for wrong in ["sgi_0000", server.admin.as_str(), ""] {
        assert_error(
            &report(&server, wrong, &good).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    }
    let production_key = ingest_key(&server, "production").await;
    let reply = server
        .post(
            "/api/ingest-keys",
            &server.admin,
            json!({ "environment": "prod" }),
        )
        .await;
    assert_eq!(
        reply.json["details"]["field"], "environment",
        "{}",
        reply.json
    );
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "counts": [{ "rollout": "nope", "environment": "staging", "stage": "stage-2", "inRollout": true, "event": "crash", "count": 1 }] }),
            "/counts/0/rollout",
        ),
        (batch("stage-9", &[(true, "crash", 1)]), "/counts/0/stage"),
        (
            batch("stage-2", &[(true, "crash", 1), (true, "bad event!", 1)]),
            "/counts/1/event",
        ),
        (
            batch("stage-2", &[(true, "crash", 1), (true, "crash", 1 << 33)]),
            "/counts/1/count",
        ),
        (
            json!({ "counts": [{ "rollout": ROLLOUT, "environment": "staging", "stage": "stage-2", "inRollout": "yes", "event": "crash", "count": 1 }] }),
            "/counts/0/inRollout",
        ),
        (
            json!({ "counts": [{ "rollout": ROLLOUT, "environment": "staging", "stage": "stage-2", "inRollout": true, "event": "crash", "count": -1 }] }),
            "/counts/0/count",
        ),
        (
            json!({ "counts": [{ "rollout": ROLLOUT, "environment": "staging", "stage": "stage-2", "inRollout": true, "event": "crash", "count": 1, "userId": "u-1" }] }),
            "/counts/0/userId",
        ),
        (json!({ "events": [] }), "/counts"),
        (
            json!({ "counts": vec![json!({ "rollout": ROLLOUT, "environment": "staging", "stage": "stage-2", "inRollout": true, "event": "crash", "count": 1 }); 1001] }),
            "/counts",
        ),
    ];
    for (body, field) in &cases {
        let reply = report(&server, &key, body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(reply.json["details"]["field"], *field, "{}", reply.json);
    }
    // A staging report with the production key names the environment.
    let reply = report(&server, &production_key, &good).await;
    assert_eq!(
        reply.json["details"]["field"], "/counts/0/environment",
        "{}",
        reply.json
    );
    assert_eq!(
        trigger(&guardrails(&server, "staging").await, "crashRate")["cohorts"][0]["events"],
        0
    );

    let reply = report(
        &server,
        &key,
        &batch(
            "stage-2",
            &[(true, "crash", 2), (false, "crash", 3), (true, "crash", 1)],
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.json);
    assert_eq!(reply.json["accepted"], 3);
    let seen = guardrails(&server, "staging").await;
    let crash = trigger(&seen, "crashRate");
    assert_eq!(
        (
            crash["cohorts"][0]["events"].as_u64(),
            crash["cohorts"][1]["events"].as_u64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(crash["state"], "notEnoughData");
    // A late report for a stage that is no longer live counts for its own stage.
    let reply = report(&server, &key, &batch("stage-1", &[(true, "crash", 5)])).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(
        trigger(&guardrails(&server, "staging").await, "crashRate")["cohorts"][0]["events"],
        3
    );
}

#[tokio::test]
async fn revoked_keys_stop_at_once_and_keys_are_listed_without_their_secret() {
    let server = Server::new().await;
    staging_at(&server, "stage-2").await;
    let key = ingest_key(&server, "staging").await;
    let listed = server.get("/api/ingest-keys", &server.admin).await;
    assert!(!listed.json.to_string().contains(&key));
    let id = listed.json[0]["id"].as_str().unwrap().to_string();
    let request = Request::delete(format!("/api/ingest-keys/{id}"))
        .header("authorization", format!("Bearer {}", server.admin))
        .body(Body::empty())
        .unwrap();
    assert_eq!(server.send(request).await.status, StatusCode::OK);
    let reply = report(&server, &key, &batch("stage-2", &[(true, "crash", 1)])).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
}

/// Two servers on one store (two `Storage`s: on PostgreSQL, two pools on one
/// database; on a data directory, as the CLI beside a server): a key made
/// through one works on the other once it re-reads, and so does a revocation.
#[tokio::test]
async fn a_key_made_on_one_server_works_on_another_after_its_reload() {
    let dir = tempfile::tempdir().unwrap();
    let location = location(dir.path()).await;
    let one = Keys::open(Storage::open(&location).await.unwrap(), KeyKind::Ingest);
    let one = one.await.unwrap();
    let two = Keys::open(Storage::open(&location).await.unwrap(), KeyKind::Ingest);
    let two = two.await.unwrap();
    let (info, key) = one.create("staging", "web app", "ada").await.unwrap();
    assert_eq!(two.lookup(&key), Lookup::Unknown, "not before it re-reads");
    assert!(two.reload().await.unwrap());
    assert_eq!(two.lookup(&key), Lookup::Valid("staging".into()));
    assert!(!two.reload().await.unwrap(), "nothing changed since");
    two.revoke(&info.id).await.unwrap();
    assert!(one.reload().await.unwrap());
    assert_eq!(one.lookup(&key), Lookup::Revoked);
    // Keys made on both at once are all kept: the changes do not overwrite.
    let (a, b) = tokio::join!(
        one.create("staging", "a", "ada"),
        two.create("production", "b", "bo")
    );
    let (a, b) = (a.unwrap().1, b.unwrap().1);
    one.reload().await.unwrap();
    assert_eq!(one.lookup(&a), Lookup::Valid("staging".into()));
    assert_eq!(one.lookup(&b), Lookup::Valid("production".into()));
    assert_eq!(one.list().len(), 2);
}

/// On PostgreSQL a server re-reads keys and webhooks when another changes
/// them, without being asked (a data directory has one server; the CLI's key
/// changes reaching it are `ofrep::sdk_keys_are_made_listed_and_revoked_on_the_command_line`).
#[tokio::test]
async fn servers_on_one_database_follow_each_others_keys_and_webhooks() {
    if !on_postgres() {
        return;
    }
    let one = Server::new().await;
    let state = one.another().await.state;
    let key = ingest_key(&one, "staging").await;
    let valid = Lookup::Valid("staging".into());
    within_5s("the key", || state.ingest_keys.lookup(&key) == valid).await;
    let hook = one
        .post(
            "/api/webhooks",
            &one.admin,
            json!({ "url": "https://example.com/hook", "events": ["rollback"] }),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.json);
    within_5s("the webhook", || state.alerts.hooks().len() == 1).await;
    assert_eq!(
        state.alerts.hooks()[0].id,
        hook.json["id"].as_str().unwrap()
    );
}

async fn within_5s(what: &str, done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: not within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_healthy_stage_stays_live_and_a_regression_rolls_back_once_with_its_figures() {
    let server = Server::new().await;
    staging_at(&server, "stage-2").await;
    let key = ingest_key(&server, "staging").await;
    assert_eq!(
        report(&server, &key, &healthy("stage-2")).await.status,
        StatusCode::ACCEPTED
    );
    guard::decide(&server.state).await;
    let seen = guardrails(&server, "staging").await;
    assert!(seen["live"].as_bool().unwrap(), "{seen}");
    for t in seen["triggers"].as_array().unwrap() {
        assert_eq!(t["state"], "healthy", "{t}");
    }
    let before = server.revision();

    // 10 % crashes in the rollout against 2 % in the control.
    let regression = batch(
        "stage-2",
        &[
            (true, "session", 4000),
            (true, "crash", 400),
            (false, "session", 12000),
            (false, "crash", 240),
        ],
    );
    assert_eq!(
        report(&server, &key, &regression).await.status,
        StatusCode::ACCEPTED
    );
    guard::decide(&server.state).await;
    let plan = server.plan();
    assert_eq!(
        plan["rollouts"][ROLLOUT]["environments"]["staging"]["killSwitch"],
        true
    );
    assert_eq!(server.revision(), before + 1);
    let audit = server.get("/api/audit", &server.admin).await.json;
    let entry = &audit[0];
    assert_eq!(
        (entry["author"].as_str(), entry["action"].as_str()),
        (Some("stagegate"), Some("auto-rollback"))
    );
    let comment = entry["comment"].as_str().unwrap();
    for figure in ["crashRate", "in the rollout", "control", "interval"] {
        assert!(comment.contains(figure), "{figure} in {comment}");
    }
    // More breaching reports make no second rollback.
    assert_eq!(
        report(&server, &key, &regression).await.status,
        StatusCode::ACCEPTED
    );
    guard::decide(&server.state).await;
    guard::decide(&server.state).await;
    assert_eq!(server.revision(), before + 1);
    let seen = guardrails(&server, "staging").await;
    assert_eq!(seen["live"], false);
    assert_eq!(seen["lastAction"]["action"], "auto-rollback");
    assert_eq!(seen["lastAction"]["revision"], before + 1);
    // The figures that caused it stay in view: the live run it ended.
    let crash = trigger(&seen, "crashRate");
    assert_eq!(
        (
            crash["state"].as_str(),
            crash["cohorts"][0]["events"].as_u64()
        ),
        (Some("breached"), Some(880))
    );
    assert_eq!(
        seen["schedule"]["waitingFor"][0],
        "a person: the kill switch is on, so nothing advances"
    );
}

#[tokio::test]
async fn a_person_reports_a_critical_bug_and_the_rollback_carries_their_comment() {
    let server = Server::new().await;
    staging_at(&server, "stage-2").await;
    let qa = server.user("quinn", "qa-lead").await;
    let path = format!("/api/rollouts/{ROLLOUT}/environments/staging/reports");
    let reply = server.post(&path, &qa, json!({ "comment": "  " })).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    let reply = server
        .post(&path, &qa, json!({ "comment": "notes vanish after sync" }))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(trigger(&reply.json, "criticalBugs")["state"], "breached");
    let plan = server.plan();
    assert_eq!(
        plan["rollouts"][ROLLOUT]["environments"]["staging"]["killSwitch"],
        true
    );
    let audit = server.get("/api/audit", &server.admin).await.json;
    let comment = audit[0]["comment"].as_str().unwrap();
    assert!(
        comment.contains("criticalBugs")
            && comment.contains("quinn")
            && comment.contains("notes vanish after sync"),
        "{comment}"
    );
    // The QA lead takes it in hand; the acknowledgement is kept.
    let ack = format!("/api/rollouts/{ROLLOUT}/environments/staging/acknowledge");
    let revision = audit[0]["revision"].as_u64().unwrap();
    let reply = server
        .post(
            &ack,
            &qa,
            json!({ "revision": revision - 1, "comment": "on it" }),
        )
        .await;
    assert_eq!(reply.json["details"]["field"], "revision", "{}", reply.json);
    let reply = server
        .post(
            &ack,
            &qa,
            json!({ "revision": revision, "comment": "on it: staying rolled back" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["lastAction"]["acknowledged"]["by"], "quinn");
    let (reopened, _) = stagegate_server::serve::open_state(&server.location, None)
        .await
        .unwrap();
    let seen = guard::report(
        &reopened,
        reopened.store.current().plan(),
        ROLLOUT,
        "staging",
    )
    .await;
    assert_eq!(
        seen.last_action
            .and_then(|a| a.acknowledged)
            .map(|a| a.comment)
            .as_deref(),
        Some("on it: staying rolled back")
    );
    // Nothing is live now: a second report has nothing to report against.
    let reply = server.post(&path, &qa, json!({ "comment": "again" })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(
        server
            .get("/api/audit", &server.admin)
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        audit.as_array().unwrap().len()
    );
}

#[tokio::test]
async fn the_schedule_advances_one_stage_once_soaked_healthy_and_sound() {
    let clock = Arc::new(ManualClock::starting_now());
    let server = Server::with_clock(clock.clone()).await;
    staging_at(&server, "stage-1").await;
    let key = ingest_key(&server, "staging").await;
    let waits = |seen: &Value| {
        seen["schedule"]["waitingFor"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let seen = guardrails(&server, "staging").await;
    let waiting = waits(&seen);
    assert!(
        waiting.iter().any(|w| w.starts_with("the soak, until")),
        "{waiting:?} {seen}"
    );
    assert!(
        waiting.iter().any(|w| w == "enough data for crashRate"),
        "{waiting:?}"
    );
    assert_eq!(seen["schedule"]["next"], "stage-2");

    // Stage 1 is 5 %: healthy counts in proportion.
    let stage1 = batch(
        "stage-1",
        &[
            (true, "exposure", 500),
            (false, "exposure", 9500),
            (true, "session", 2000),
            (false, "session", 38000),
            (true, "crash", 40),
            (false, "crash", 760),
            (true, "syncOperation", 2000),
            (false, "syncOperation", 38000),
            (true, "syncFailure", 20),
            (false, "syncFailure", 380),
        ],
    );
    assert_eq!(
        report(&server, &key, &stage1).await.status,
        StatusCode::ACCEPTED
    );
    guard::decide(&server.state).await;
    let before = server.revision();
    assert_eq!(
        waits(&guardrails(&server, "staging").await).len(),
        1,
        "only the soak"
    );

    clock.advance(Duration::from_secs(25 * 3600));
    assert!(waits(&guardrails(&server, "staging").await).is_empty());
    guard::decide(&server.state).await;
    assert_eq!(
        server.plan()["rollouts"][ROLLOUT]["environments"]["staging"]["activeStage"],
        "stage-2"
    );
    assert_eq!(server.revision(), before + 1);
    let audit = server.get("/api/audit", &server.admin).await.json;
    assert_eq!(
        (audit[0]["author"].as_str(), audit[0]["action"].as_str()),
        (Some("stagegate"), Some("auto-advance"))
    );
    // Overdue steps go one at a time: stage 2's own soak starts now.
    guard::decide(&server.state).await;
    assert_eq!(server.revision(), before + 1);
    let waiting = waits(&guardrails(&server, "staging").await);
    assert!(
        waiting.iter().any(|w| w.starts_with("the soak")),
        "{waiting:?}"
    );
}

#[tokio::test]
async fn a_sample_ratio_mismatch_holds_progression() {
    let clock = Arc::new(ManualClock::starting_now());
    let server = Server::with_clock(clock.clone()).await;
    staging_at(&server, "stage-2").await;
    let key = ingest_key(&server, "staging").await;
    let mut counts = healthy("stage-2");
    // Half the units in a 25 % stage: reporting is broken.
    counts["counts"][1]["count"] = json!(1000);
    assert_eq!(
        report(&server, &key, &counts).await.status,
        StatusCode::ACCEPTED
    );
    clock.advance(Duration::from_secs(25 * 3600));
    let waiting = guardrails(&server, "staging").await["schedule"]["waitingFor"].to_string();
    assert!(waiting.contains("sound reporting"), "{waiting}");
    let before = server.revision();
    guard::decide(&server.state).await;
    assert_eq!(server.revision(), before);
}

#[tokio::test]
async fn production_waits_for_the_next_stages_signoffs() {
    let clock = Arc::new(ManualClock::starting_now());
    let server = Server::with_clock(clock.clone()).await;
    let mut signers = Vec::new();
    for role in [
        "engineering-lead",
        "product-manager",
        "qa-lead",
        "devops-lead",
    ] {
        signers.push(server.user(&format!("{role}-1"), role).await);
    }
    let sign = async |stage: &str| {
        for token in &signers {
            let reply = server
                .post(
                    "/api/signoffs",
                    token,
                    json!({ "rollout": ROLLOUT, "stage": stage }),
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        }
    };
    sign("stage-1").await;
    let path = format!("/api/rollouts/{ROLLOUT}/environments/production/stage");
    let reply = server
        .post(
            &path,
            &server.admin,
            json!({ "stage": "stage-1", "comment": "go" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let key = ingest_key(&server, "production").await;
    let mut counts = healthy("stage-1");
    for item in counts["counts"].as_array_mut().unwrap() {
        item["environment"] = json!("production");
    }
    // 5 %: exposures in proportion.
    counts["counts"][0]["count"] = json!(500);
    counts["counts"][1]["count"] = json!(9500);
    assert_eq!(
        report(&server, &key, &counts).await.status,
        StatusCode::ACCEPTED
    );
    clock.advance(Duration::from_secs(25 * 3600));
    let waiting = guardrails(&server, "production").await["schedule"]["waitingFor"].clone();
    assert_eq!(waiting.as_array().unwrap().len(), 1, "{waiting}");
    assert!(
        waiting[0]
            .as_str()
            .unwrap()
            .starts_with("sign-offs for Stage 2"),
        "{waiting}"
    );
    let before = server.revision();
    guard::decide(&server.state).await;
    assert_eq!(server.revision(), before);
    sign("stage-2").await;
    guard::decide(&server.state).await;
    assert_eq!(
        server.plan()["rollouts"][ROLLOUT]["environments"]["production"]["activeStage"],
        "stage-2"
    );
}

#[tokio::test]
async fn counts_survive_a_restart() {
    let server = Server::new().await;
    staging_at(&server, "stage-2").await;
    let key = ingest_key(&server, "staging").await;
    assert_eq!(
        report(&server, &key, &healthy("stage-2")).await.status,
        StatusCode::ACCEPTED
    );
    server
        .state
        .metrics
        .flush(stagegate_server::metrics::minute_of(
            server.state.clock.now(),
        ))
        .await
        .unwrap();
    let (reopened, _) = stagegate_server::serve::open_state(&server.location, None)
        .await
        .unwrap();
    let at = [ROLLOUT, "staging", "stage-2"];
    assert_eq!(reopened.metrics.sum(at, true, "session", 0), 4000);
    assert_eq!(reopened.metrics.sum(at, false, "crash", 0), 240);
    assert_eq!(reopened.ingest_keys.list().len(), 1);
}

#[tokio::test]
async fn browsers_may_report_from_any_origin() {
    let server = Server::new().await;
    let request = Request::options("/api/metrics")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .body(Body::empty())
        .unwrap();
    let reply = server.send(request).await;
    assert!(reply.status.is_success(), "{}", reply.status);
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    assert_eq!(header("access-control-allow-origin"), "*");
    assert!(header("access-control-allow-headers").contains("authorization"));
    assert!(header("access-control-allow-methods").contains("post"));
}
