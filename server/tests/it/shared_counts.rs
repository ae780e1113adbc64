//! Metric counts and the guardrails' leadership across servers on one
//! PostgreSQL database: counts reported to each add up exactly on all of them,
//! none are lost while the database refuses them, and one server leads at a time.
//! (A data directory has one server: `guardrails` and `durability` cover it.)

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use stagegate_server::metrics::minute_of;

use crate::common::*;

/// Staging's live stage in the default plan.
const STAGE: &str = "stage-4";

async fn ingest_key(server: &Server) -> String {
    let reply = server
        .post(
            "/api/ingest-keys",
            &server.admin,
            json!({ "environment": "staging", "name": "web app" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    reply.json["key"].as_str().unwrap().to_string()
}

/// Reports `n` exposures in the rollout and `2 n` out of it.
async fn report(server: &Server, key: &str, n: u64) {
    send_counts(
        server,
        key,
        &[(true, "exposure", n), (false, "exposure", 2 * n)],
    )
    .await;
}

/// `POST /api/metrics` of staging's live stage: (in the rollout, event, count).
async fn send_counts(server: &Server, key: &str, counts: &[(bool, &str, u64)]) {
    let counts: Vec<Value> = counts
        .iter()
        .map(|(in_rollout, event, count)| {
            json!({ "rollout": ROLLOUT, "environment": "staging", "stage": STAGE,
                    "inRollout": in_rollout, "event": event, "count": count })
        })
        .collect();
    let body = json!({ "counts": counts });
    let request = Request::post("/api/metrics")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let reply = server.send(request).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.json);
}

async fn flush(server: &Server) -> Result<(), String> {
    let minute = minute_of(server.state.clock.now());
    server
        .state
        .metrics
        .flush(minute)
        .await
        .map_err(|error| error.to_string())
}

/// The exposures `GET /api/guardrails` shows for staging: [in, out].
async fn exposures(server: &Server) -> Value {
    let reply = server
        .get(&format!("/api/guardrails/{ROLLOUT}/staging"), &server.admin)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["exposures"].clone()
}

/// Runs SQL as the test cluster's superuser.
async fn admin_sql(sql: &str) {
    let url = std::env::var("STAGEGATE_TEST_DATABASE_URL").unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = driver.await;
}

/// The schema a test server's store lives in (`common::new_database`).
fn schema_of(server: &Server) -> String {
    let stagegate_server::storage::Location::Postgres(url) = &server.location else {
        unreachable!("on PostgreSQL only")
    };
    let (_, name) = url.split_once("search_path%3D").unwrap();
    name.split('&').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_reported_to_two_servers_add_up_exactly_on_both_and_one_leads() {
    if !on_postgres() {
        return;
    }
    let a = Server::new().await;
    let b = a.another().await;
    let (key_a, key_b) = (ingest_key(&a).await, ingest_key(&b).await);
    let mut total = 0;
    for n in 1..=5 {
        report(&a, &key_a, n).await;
        report(&b, &key_b, 10 * n).await;
        total += 11 * n;
        // Flushes interleaved with reports: the pulls overlap, nothing twice.
        flush(if n % 2 == 0 { &a } else { &b }).await.unwrap();
    }
    for server in [&a, &b, &a] {
        flush(server).await.unwrap();
    }
    for server in [&a, &b] {
        assert_eq!(exposures(server).await, json!([total, 2 * total]));
    }
    // Flushing again re-applies the same totals: still exact.
    for server in [&b, &a, &b] {
        flush(server).await.unwrap();
    }
    for server in [&a, &b] {
        assert_eq!(exposures(server).await, json!([total, 2 * total]));
    }
    // A server started now loads the same totals.
    let c = a.another().await;
    assert_eq!(exposures(&c).await, json!([total, 2 * total]));

    let servers = [&a, &b, &c];
    let ask = || async {
        let mut leads = Vec::new();
        for server in servers {
            leads.push(server.state.store.storage().leads().await);
        }
        leads
    };
    // Asked again while none leads: on a loaded test cluster a try may find
    // no connection free.
    let started = Instant::now();
    let mut leaders = ask().await;
    while !leaders.contains(&true) && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        leaders = ask().await;
    }
    assert_eq!(leaders.iter().filter(|l| **l).count(), 1, "{leaders:?}");
    assert_eq!(ask().await, leaders, "leadership stays where it is");
}

/// Asks until `server` leads (within 10 s: a loaded test machine); how long that took.
async fn until_leads(server: &Server) -> Duration {
    let started = Instant::now();
    while !server.state.store.storage().leads().await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not leading within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_takes_over_when_the_leaders_connection_dies() {
    if !on_postgres() {
        return;
    }
    let a = Server::new().await;
    let b = a.another().await;
    // Leading takes a connection of its own: on a loaded test cluster the
    // first try may find none free, so each may try again.
    until_leads(&a).await;
    assert!(!b.state.store.storage().leads().await);
    // The leader's session ends as if its process died: its lock (the
    // leader's key, scoped to this store's schema) is released.
    let schema = schema_of(&a);
    admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 2
           AND classid = (x'53544147'::integer # 2)::oid AND objid = hashtext('{schema}')::oid"
    ))
    .await;
    let took = until_leads(&b).await;
    eprintln!(
        "the follower took over {} ms after the leader's session ended",
        took.as_millis()
    );
    assert!(!a.state.store.storage().leads().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_the_database_refuses_stay_pending_and_are_sent_when_it_takes_them() {
    if !on_postgres() {
        return;
    }
    let a = Server::new().await;
    let key = ingest_key(&a).await;
    report(&a, &key, 3).await;
    flush(&a).await.unwrap();
    report(&a, &key, 4).await;
    // This store's counts table refuses every write for a while (stopping
    // PostgreSQL itself is the fault tests' part: the same path, `Unavailable`).
    let schema = schema_of(&a);
    admin_sql(&format!(
        "CREATE FUNCTION {schema}.refuse() RETURNS trigger LANGUAGE plpgsql
           AS $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON {schema}.stagegate_counts
           FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse();"
    ))
    .await;
    assert!(flush(&a).await.is_err());
    report(&a, &key, 5).await;
    assert!(flush(&a).await.is_err());
    // Served from memory meanwhile.
    assert_eq!(exposures(&a).await, json!([12, 24]));
    admin_sql(&format!("DROP TRIGGER refuse ON {schema}.stagegate_counts")).await;
    flush(&a).await.unwrap();
    assert_eq!(exposures(&a).await, json!([12, 24]));
    let b = a.another().await;
    assert_eq!(exposures(&b).await, json!([12, 24]));
}

/// A batch whose commit outlasts the store's 5 s bound: the flush reports the
/// database unavailable, the commit still lands, and the batch sent again under
/// its id is not added twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sent_again_after_a_lost_answer_counts_once() {
    if !on_postgres() {
        return;
    }
    let a = Server::new().await;
    let key = ingest_key(&a).await;
    report(&a, &key, 3).await;
    flush(&a).await.unwrap();
    // A deferred trigger runs at COMMIT: the commit takes 6 s, and succeeds.
    let schema = schema_of(&a);
    admin_sql(&format!(
        "CREATE FUNCTION {schema}.slow() RETURNS trigger LANGUAGE plpgsql
           AS $$ BEGIN PERFORM pg_sleep(6); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON {schema}.stagegate_count_batches
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {schema}.slow();"
    ))
    .await;
    report(&a, &key, 4).await;
    let error = flush(&a).await.unwrap_err();
    assert!(error.contains("unavailable"), "{error}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    admin_sql(&format!(
        "DROP TRIGGER slow ON {schema}.stagegate_count_batches"
    ))
    .await;
    flush(&a).await.unwrap();
    assert_eq!(exposures(&a).await, json!([7, 14]));
    let b = a.another().await;
    assert_eq!(exposures(&b).await, json!([7, 14]));
}

/// A breach two servers both see is acted on once. Each automatic write
/// holds only while the stage is still live at that stage, so the server that
/// comes second (behind, it catches up first) finds it done and writes
/// nothing. Here both decide at once; in service the leader's rounds and an
/// incident judged at once on the follower that took it can meet the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breach_both_servers_see_rolls_back_once() {
    if !on_postgres() {
        return;
    }
    let a = Server::new().await;
    let b = a.another().await;
    let key = ingest_key(&b).await;
    send_counts(&b, &key, &[(true, "criticalBug", 1)]).await;
    // B's counts reach the database; A takes them in.
    flush(&b).await.unwrap();
    flush(&a).await.unwrap();
    let before = a.revision();
    for server in [&a, &b] {
        let reply = server
            .get(&format!("/api/guardrails/{ROLLOUT}/staging"), &server.admin)
            .await;
        let triggers = reply.json["triggers"].as_array().unwrap().clone();
        assert!(
            triggers
                .iter()
                .any(|t| t["metric"] == "criticalBugs" && t["state"] == "breached"),
            "both see the breach: {triggers:?}"
        );
    }

    tokio::join!(
        stagegate_server::guard::decide(&a.state),
        stagegate_server::guard::decide(&b.state)
    );

    for server in [&a, &b] {
        server.state.store.catch_up().await.unwrap();
    }
    let audit = a.get("/api/audit", &a.admin).await.json;
    let rollbacks: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "auto-rollback")
        .collect();
    assert_eq!(rollbacks.len(), 1, "{rollbacks:?}");
    assert_eq!(rollbacks[0]["revision"], before + 1);
    for server in [&a, &b] {
        let staging = &server.plan()["rollouts"][ROLLOUT]["environments"]["staging"];
        assert_eq!(staging["killSwitch"], true, "{staging}");
    }
}
