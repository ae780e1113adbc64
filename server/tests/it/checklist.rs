//! Checklist ticks: the leads tick, the store records who and when, and a
//! revert leaves the ticks as they are.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::json;

const FIRST_ITEM: &str = "/api/rollouts/domain-migration/checklist/0";

fn first_item(server: &Server) -> serde_json::Value {
    server.plan()["rollouts"][ROLLOUT]["checklist"][0].clone()
}

#[tokio::test]
async fn a_lead_ticks_and_the_store_records_who_and_when() {
    let server = Server::new().await;
    let qa = server.user("quinn", "qa-lead").await;
    let reply = server
        .post(
            FIRST_ITEM,
            &qa,
            json!({ "done": true, "comment": "reviewed" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let item = first_item(&server);
    assert_eq!(item["done"], true);
    assert_eq!(item["doneBy"], "quinn");
    assert!(item["doneAt"].as_str().unwrap().ends_with('Z'));
    let entry = &server.get("/api/audit", &qa).await.json[0];
    assert_eq!(entry["action"], "checklist");
    assert_eq!(entry["author"], "quinn");
    assert_eq!(entry["comment"], "reviewed");

    // A viewer may not; an item that is not there is named.
    let viewer = server.user("vera", "viewer").await;
    let reply = server
        .post(FIRST_ITEM, &viewer, json!({ "done": false }))
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
    let reply = server
        .post(
            "/api/rollouts/domain-migration/checklist/99",
            &qa,
            json!({ "done": true }),
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert!(
        reply.json["message"]
            .as_str()
            .unwrap()
            .contains("no checklist item 99")
    );
    let reply = server
        .post(
            "/api/rollouts/domain-migration/checklist/first",
            &qa,
            json!({ "done": true }),
        )
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(reply.json["details"]["field"], "n");
}

#[tokio::test]
async fn who_ticked_is_the_stores_to_say() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    // A whole-plan write that claims someone else ticked: the store says who did.
    let mut plan = server.plan();
    let item = &mut plan["rollouts"][ROLLOUT]["checklist"][0];
    item["done"] = json!(true);
    item["doneBy"] = json!("the-ceo");
    item["doneAt"] = json!("2020-01-01T00:00:00Z");
    assert_eq!(put(&server, &editor, &plan).await.status, StatusCode::OK);
    let item = first_item(&server);
    assert_eq!(item["doneBy"], "eddie");
    assert_ne!(item["doneAt"], "2020-01-01T00:00:00Z");
    // An unrelated write keeps them.
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["description"] = json!("elsewhere");
    plan["rollouts"][ROLLOUT]["checklist"][0]["doneBy"] = json!("someone");
    assert_eq!(put(&server, &editor, &plan).await.status, StatusCode::OK);
    assert_eq!(first_item(&server)["doneBy"], "eddie");
}

#[tokio::test]
async fn a_revert_leaves_the_ticks_as_they_are() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["description"] = json!("a mistake");
    assert_eq!(put(&server, &editor, &plan).await.status, StatusCode::OK);
    let qa = server.user("quinn", "qa-lead").await;
    let reply = server.post(FIRST_ITEM, &qa, json!({ "done": true })).await;
    assert_eq!(reply.status, StatusCode::OK);

    let reply = server
        .post(
            "/api/revert",
            &editor,
            json!({ "revision": 1, "comment": "undo the mistake" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let plan = server.plan();
    assert_ne!(plan["rollouts"][ROLLOUT]["description"], "a mistake");
    assert_eq!(plan["rollouts"][ROLLOUT]["checklist"][0]["done"], true);
    assert_eq!(plan["rollouts"][ROLLOUT]["checklist"][0]["doneBy"], "quinn");
}
