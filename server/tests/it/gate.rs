//! The stage gate's edge cases through the API: laundering a move by renaming
//! or editing, dropping required roles, reverts, the kill switch, and lowering
//! required sign-offs.

use axum::http::StatusCode;
use evaluator::model::SIGNOFF_ROLES as SIGNERS;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn renaming_or_editing_a_stage_cannot_launder_a_move() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    sign_all(&server, "stage-1").await;
    sign_all(&server, "stage-2").await;
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-2" }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);

    // Rename the live stage and widen it in one write: a new stage, not approved.
    let mut plan = server.plan();
    for stage in 1..4 {
        plan["rollouts"][ROLLOUT]["stages"][stage]["percentage"] = json!(100);
    }
    plan["rollouts"][ROLLOUT]["stages"][1]["id"] = json!("stage-2b");
    plan["rollouts"][ROLLOUT]["environments"]["production"]["activeStage"] = json!("stage-2b");
    let before = server.revision();
    let reply = put(&server, &editor, &plan).await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(reply.json["details"]["stage"], "stage-2b");
    assert_eq!(server.revision(), before);

    // "Going back" to stage 1 while changing stage 1 in the same write is not a
    // plain step back: the content going live was never approved.
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["stages"][0]["values"]["useDomainEntities"] = json!(true);
    plan["rollouts"][ROLLOUT]["environments"]["production"]["activeStage"] = json!("stage-1");
    let reply = put(&server, &editor, &plan).await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(reply.json["details"]["stage"], "stage-1");
    assert_eq!(server.revision(), before);

    // A plain step back never waits, even with stage 1's sign-offs withdrawn.
    let plan = server.plan();
    for signoff in plan["signoffs"].as_array().unwrap() {
        if signoff["stage"] == "stage-1" {
            let id = signoff["id"].as_str().unwrap();
            let reply = server.withdraw(id, &server.admin).await;
            assert_eq!(reply.status, StatusCode::OK);
        }
    }
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-1" }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    // The step back was a rollback: going forward again needs sign-offs given
    // after it, even where stage 2's older ones still match.
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-2" }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(missing_roles(&reply).len(), 4);
    sign_all(&server, "stage-2").await;
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-2" }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-3" }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    // Other environments are not gated.
    let reply = server
        .post(
            "/api/rollouts/domain-migration/environments/staging/stage",
            &editor,
            json!({ "stage": "stage-3" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

#[tokio::test]
async fn dropping_required_roles_in_the_moving_write_does_not_waive_them() {
    // Even an admin, who may lower requirements, cannot lower them and move in one write.
    let server = Server::new().await;
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["stages"][3]["requiredSignoffs"] = json!(["qa-lead"]);
    plan["rollouts"][ROLLOUT]["environments"]["production"]["activeStage"] = json!("stage-4");
    let reply = put(&server, &server.admin, &plan).await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(
        reply.json["details"]["missingRoles"],
        json!([
            "qa-lead",
            "engineering-lead",
            "product-manager",
            "devops-lead"
        ])
    );
    assert_eq!(server.revision(), 1);
}

#[tokio::test]
async fn a_revert_is_gated_like_any_write() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    sign_all(&server, "stage-1").await; // revisions 2..=5
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-1" }))
        .await;
    assert_eq!(reply.status, StatusCode::OK); // revision 6
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": null }))
        .await;
    assert_eq!(reply.status, StatusCode::OK); // revision 7
    // Reverting to revision 6 (stage 1 live) is a forward move, and going to no
    // stage at revision 7 was a rollback: every sign-off from before it is void.
    let id = server.plan()["signoffs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    server.withdraw(&id, &server.admin).await;
    let before = server.revision();
    let reply = server
        .post(
            "/api/revert",
            &editor,
            json!({ "revision": 6, "restoreLiveState": true }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(missing_roles(&reply).len(), 4);
    assert_eq!(reply.json["details"]["afterRevision"], 7);
    assert_eq!(server.revision(), before);
    // With fresh sign-offs, the same revert goes through.
    sign_all(&server, "stage-1").await;
    let reply = server
        .post(
            "/api/revert",
            &editor,
            json!({ "revision": 6, "restoreLiveState": true }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

/// A revert made to undo an edit during an incident keeps the kill switch on
/// and production where it is; bringing the old live state back is asked for
/// explicitly, and the gate rules on it.
#[tokio::test]
async fn a_revert_keeps_the_live_state_unless_asked() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    go_live(&server, &editor, "stage-1").await;
    let before_edit = server.revision();
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["description"] = json!("a mistake");
    assert_eq!(put(&server, &editor, &plan).await.status, StatusCode::OK);
    let reply = server
        .post(PRODUCTION_KILL, &editor, json!({ "on": true }))
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    // Undo the edit: the edit goes, the incident's state stays.
    let reply = server
        .post("/api/revert", &editor, json!({ "revision": before_edit }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let rollout = &reply.json["rollouts"][ROLLOUT];
    assert_ne!(rollout["description"], "a mistake");
    let production = &rollout["environments"]["production"];
    assert_eq!(production["killSwitch"], true);
    assert_eq!(production["activeStage"], "stage-1");

    // Asked to restore the live state too, it would turn the kill switch off:
    // the gate wants sign-offs given after the switch went on.
    let before = server.revision();
    let reply = server
        .post(
            "/api/revert",
            &editor,
            json!({ "revision": before_edit, "restoreLiveState": true }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(server.revision(), before);
}

/// An incident voids earlier approvals: turning the kill switch off needs a
/// sign-off from each role the live stage requires, given after it went on.
#[tokio::test]
async fn kill_switch_off_needs_signoffs_given_after_it_went_on() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    go_live(&server, &editor, "stage-1").await;
    let reply = server
        .post(PRODUCTION_KILL, &editor, json!({ "on": true }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let killed_at = server.revision();
    let reply = server
        .post(PRODUCTION_KILL, &editor, json!({ "on": false }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(reply.json["details"]["afterRevision"], killed_at);
    assert_eq!(server.revision(), killed_at);
    sign_all(&server, "stage-1").await;
    let reply = server
        .post(PRODUCTION_KILL, &editor, json!({ "on": false }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

#[tokio::test]
async fn only_an_admin_lowers_the_signoffs_a_stage_requires() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;

    // An editor may not drop a role from a stage...
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["stages"][1]["requiredSignoffs"] = json!(["qa-lead"]);
    let reply = put(&server, &editor, &plan).await;
    assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
    let message = reply.json["message"].as_str().unwrap();
    assert!(
        message.contains("stage-2") && message.contains("engineering-lead"),
        "{message}"
    );
    assert_eq!(server.revision(), 1);

    // ...nor add a stage that requires fewer roles than the rollout's stages did...
    let mut plan = server.plan();
    let mut extra = plan["rollouts"][ROLLOUT]["stages"][3].clone();
    extra["id"] = json!("stage-5");
    extra["requiredSignoffs"] = json!([]);
    plan["rollouts"][ROLLOUT]["stages"]
        .as_array_mut()
        .unwrap()
        .push(extra.clone());
    assert_error(
        &put(&server, &editor, &plan).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(server.revision(), 1);

    // ...but may add one that requires them all, and may add roles.
    extra["requiredSignoffs"] = json!(SIGNERS);
    *plan["rollouts"][ROLLOUT]["stages"]
        .as_array_mut()
        .unwrap()
        .last_mut()
        .unwrap() = extra;
    assert_eq!(put(&server, &editor, &plan).await.status, StatusCode::OK);
    assert_eq!(server.revision(), 2);

    // An admin may lower them (audited like any write); an editor may not revert to that.
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["stages"][1]["requiredSignoffs"] = json!(["qa-lead"]);
    assert_eq!(
        put(&server, &server.admin, &plan).await.status,
        StatusCode::OK
    );
    assert_eq!(server.revision(), 3);
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["stages"][1]["requiredSignoffs"] = json!(SIGNERS);
    assert_eq!(put(&server, &editor, &plan).await.status, StatusCode::OK); // raising: fine
    assert_eq!(server.revision(), 4);
    let reply = server
        .post(
            "/api/revert",
            &editor,
            json!({ "revision": 3, "comment": "undo" }),
        )
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(server.revision(), 4);
}
