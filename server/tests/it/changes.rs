//! `GET /api/changes`, the console's long poll: a waiting poll answers when
//! anyone writes, with who wrote what.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_waiting_poll_answers_when_someone_else_writes() {
    let server = Arc::new(Server::new().await);
    let viewer = server.user("vera", "viewer").await;
    let start = server.get("/api/changes", &viewer).await;
    assert_eq!(start.status, StatusCode::OK);
    assert_eq!(start.json, json!({ "revision": 1, "entries": [] }));

    let poll = {
        let (server, viewer) = (server.clone(), viewer.clone());
        tokio::spawn(async move { server.get("/api/changes?after=1", &viewer).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!poll.is_finished(), "a poll with nothing new must wait");

    let reply = server
        .post(
            PRODUCTION_KILL,
            &server.admin,
            json!({ "on": true, "comment": "crash rate up" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    // Bounded only so that a broken feed fails the test rather than hanging it.
    let answer = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("the poll did not answer after a write")
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["revision"], 2);
    let entries = answer.json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["author"], "admin");
    assert_eq!(entries[0]["comment"], "crash rate up");
    assert_eq!(
        entries[0]["summary"],
        json!(["domain-migration/production: kill switch off → on"])
    );
}

#[tokio::test]
async fn a_poll_that_is_behind_answers_at_once_with_what_it_missed() {
    let server = Server::new().await;
    sign_all(&server, "stage-1").await;
    let current = server.revision();
    assert_eq!(current, 5);
    // Nothing could wake this poll: it must answer because it is behind.
    let reply = server.get("/api/changes?after=2", &server.admin).await;
    assert_eq!(reply.json["revision"], current);
    let revisions: Vec<u64> = reply.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revisions, [3, 4, 5], "oldest first, after 2 only");
    // So does one ahead of the store (restored from a backup): it must reload.
    let reply = server.get("/api/changes?after=99", &server.admin).await;
    assert_eq!(reply.json, json!({ "revision": current, "entries": [] }));
}

#[tokio::test]
async fn a_poll_with_nothing_new_answers_the_same_revision_when_its_wait_ends() {
    let server = Server::new().await;
    let reply = server
        .get("/api/changes?after=1&wait=1", &server.admin)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, json!({ "revision": 1, "entries": [] }));
}

#[tokio::test]
async fn a_stopping_server_answers_its_waiting_polls() {
    let server = Arc::new(Server::new().await);
    let poll = {
        let server = server.clone();
        tokio::spawn(async move { server.get("/api/changes?after=1", &server.admin).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!poll.is_finished());
    server.state.store.close();
    let answer = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("a closing store must release its polls")
        .unwrap();
    assert_eq!(answer.json, json!({ "revision": 1, "entries": [] }));
}

#[tokio::test]
async fn a_bad_query_names_its_parameter() {
    let server = Server::new().await;
    for (query, field) in [("after=soon", "after"), ("wait=60", "wait"), ("x=1", "x")] {
        let reply = server
            .get(&format!("/api/changes?{query}"), &server.admin)
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(reply.json["details"]["field"], field, "{query}");
    }
}
