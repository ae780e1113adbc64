//! Every route and every error, through the router in-process (`oneshot`).

use crate::common::*;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

fn plan_text(server: &Server) -> String {
    server.plan().to_string()
}

#[tokio::test]
async fn healthz_and_openapi_need_no_token() {
    let server = Server::new().await;
    let reply = server.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, json!({ "status": "ok", "revision": 1 }));
    let reply = server
        .request(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["openapi"], "3.1.0");
}

#[tokio::test]
async fn missing_or_unknown_tokens_get_401() {
    let server = Server::new().await;
    assert_error(
        &server.request(Method::GET, "/api/plan", None, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let reply = server.get("/api/plan", "sg_0000").await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    let request = Request::get("/api/plan")
        .header("authorization", "Basic abc")
        .body(Body::empty())
        .unwrap();
    assert_error(
        &server.send(request).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
async fn me_lists_what_the_role_may_do() {
    let server = Server::new().await;
    let viewer = server.user("vera", "viewer").await;
    let reply = server.get("/api/me", &viewer).await;
    assert_eq!(
        reply.json,
        json!({ "name": "vera", "role": "viewer", "actions": ["read"] })
    );
    let reply = server.get("/api/me", &server.admin).await;
    assert_eq!(
        reply.json["actions"],
        json!([
            "read",
            "edit-plan",
            "move-stage",
            "kill-switch",
            "withdraw-signoff",
            "manage-users",
            "tick-checklist",
            "manage-webhooks",
            "manage-ingest-keys",
            "manage-sdk-keys",
            "report"
        ])
    );
    let qa = server.user("quinn", "qa-lead").await;
    assert_eq!(
        server.get("/api/me", &qa).await.json["actions"],
        json!([
            "read",
            "sign",
            "withdraw-signoff",
            "tick-checklist",
            "report"
        ])
    );
}

#[tokio::test]
async fn get_plan_has_revision_etag() {
    let server = Server::new().await;
    let viewer = server.user("vera", "viewer").await;
    let reply = server.get("/api/plan", &viewer).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["etag"], "\"1\"");
    assert_eq!(reply.json["revision"], 1);
    assert!(
        reply.json["rollouts"][ROLLOUT]["stages"]
            .as_array()
            .unwrap()
            .len()
            == 4
    );
}

#[tokio::test]
async fn put_plan_writes_a_new_revision_and_ignores_client_revision() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let mut plan = server.plan();
    plan["revision"] = json!(999);
    plan["rollouts"][ROLLOUT]["stages"][1]["percentage"] = json!(30);
    let request = Request::put("/api/plan")
        .header("authorization", format!("Bearer {editor}"))
        .header("if-match", "\"1\"")
        .header("content-type", "application/json")
        .header("x-comment", "widen stage 2")
        .body(Body::from(plan.to_string()))
        .unwrap();
    let reply = server.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.headers["etag"], "\"2\"");
    assert_eq!(reply.json["revision"], 2);
    assert_eq!(
        reply.json["rollouts"][ROLLOUT]["stages"][1]["percentage"],
        30
    );
    assert_eq!(server.get("/api/plan", &editor).await.json, reply.json);

    let audit = server.get("/api/audit", &editor).await.json;
    assert_eq!(audit[0]["revision"], 2);
    assert_eq!(audit[0]["baseRevision"], 1);
    assert_eq!(audit[0]["author"], "eddie");
    assert_eq!(audit[0]["action"], "put-plan");
    assert_eq!(audit[0]["comment"], "widen stage 2");
    assert!(audit[0]["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        audit[0]["summary"],
        json!(["domain-migration/stage-2: percentage 25 → 30"])
    );
    assert_eq!(audit[1]["action"], "seed");
}

#[tokio::test]
async fn put_plan_refuses_without_writing() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let viewer = server.user("vera", "viewer").await;
    let good = plan_text(&server);

    assert_error(
        &server.put_plan(&editor, None, &good).await,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );
    assert_error(
        &server.put_plan(&editor, Some("*"), &good).await,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );
    let stale = server.put_plan(&editor, Some("\"0\""), &good).await;
    assert_error(&stale, StatusCode::PRECONDITION_FAILED, "stale_revision");
    assert_eq!(stale.json["details"]["currentRevision"], 1);
    assert_error(
        &server.put_plan(&viewer, Some("\"1\""), &good).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    let mut invalid = server.plan();
    invalid["rollouts"][ROLLOUT]["stages"][0]["percentage"] = json!(101);
    invalid["rollouts"][ROLLOUT]["environments"]["production"]["activeStage"] = json!("stage-9");
    invalid["rollouts"][ROLLOUT]["bogus"] = json!(1);
    let reply = server
        .put_plan(&editor, Some("\"1\""), &invalid.to_string())
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_plan");
    let paths: Vec<&str> = reply.json["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/rollouts/domain-migration/bogus"],
        "unknown fields are reported first"
    );
    invalid["rollouts"][ROLLOUT]
        .as_object_mut()
        .unwrap()
        .remove("bogus");
    let reply = server
        .put_plan(&editor, Some("\"1\""), &invalid.to_string())
        .await;
    let paths: Vec<&str> = reply.json["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/rollouts/domain-migration/stages/0/percentage"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/rollouts/domain-migration/environments/production/activeStage"),
        "{paths:?}"
    );
    assert!(reply.json["details"][0]["message"].as_str().is_some());

    let reply = server
        .put_plan(&editor, Some("\"1\""), "{\"schemaVersion\": 1,")
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(reply.json["details"][0]["line"], 1);

    let request = Request::put("/api/plan")
        .header("authorization", format!("Bearer {editor}"))
        .header("if-match", "\"1\"")
        .header("content-type", "text/plain")
        .body(Body::from(good.clone()))
        .unwrap();
    assert_error(
        &server.send(request).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    assert_error(
        &server.put_plan(&editor, Some("\"1\""), &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );

    assert_eq!(server.revision(), 1, "nothing was written");
    assert_eq!(revision_files(&server).await, 1);
}

#[tokio::test]
async fn put_plan_cannot_forge_signoffs_or_skip_the_gate() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["environments"]["production"]["activeStage"] = json!("stage-1");
    plan["signoffs"] = json!([{ "id": "forged", "rollout": ROLLOUT, "stage": "stage-1", "role": "qa-lead",
        "by": "nobody", "at": "2026-01-01T00:00:00Z", "stageDigest": "x" }]);
    let reply = server
        .put_plan(&editor, Some("\"1\""), &plan.to_string())
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(missing_roles(&reply).len(), 4);
    assert_eq!(server.revision(), 1);
}

#[tokio::test]
async fn revisions_list_get_and_revert() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let viewer = server.user("vera", "viewer").await;
    let staging = "/api/rollouts/domain-migration/environments/staging/stage";
    let reply = server
        .post(
            staging,
            &editor,
            json!({ "stage": "stage-1", "comment": "back to 5%" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);

    let list = server.get("/api/revisions", &viewer).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json[0]["revision"], 2);
    assert_eq!(list.json[0]["author"], "eddie");
    assert_eq!(list.json[0]["comment"], "back to 5%");
    assert_eq!(list.json[1]["revision"], 1);

    let first = server.get("/api/revisions/1", &viewer).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json["revision"], 1);
    assert_eq!(
        first.json["rollouts"][ROLLOUT]["environments"]["staging"]["activeStage"],
        "stage-4"
    );
    assert_error(
        &server.get("/api/revisions/9", &viewer).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &server.get("/api/revisions/abc", &viewer).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );

    assert_error(
        &server
            .post("/api/revert", &viewer, json!({ "revision": 1 }))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let reply = server
        .post("/api/revert", &editor, json!({ "revision": 9 }))
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(reply.json["details"]["field"], "revision");
    assert_error(
        &server
            .post("/api/revert", &editor, json!({ "rev": 1 }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );

    // By default a revert keeps what each environment serves now: here, the
    // only difference is staging's stage, so nothing is written.
    let reply = server
        .post("/api/revert", &editor, json!({ "revision": 1 }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["revision"], 2);
    let staging_now = &reply.json["rollouts"][ROLLOUT]["environments"]["staging"];
    assert_eq!(staging_now["activeStage"], "stage-1");

    let reply = server
        .post(
            "/api/revert",
            &editor,
            json!({ "revision": 1, "comment": "undo", "restoreLiveState": true }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["revision"], 3);
    let mut expected = first.json.clone();
    expected["revision"] = json!(3);
    assert_eq!(reply.json, expected);
    let audit = server.get("/api/audit", &viewer).await.json;
    assert_eq!(audit[0]["action"], "revert");
    assert_eq!(
        audit[0]["summary"],
        json!(["domain-migration/staging: activeStage stage-1 → stage-4"])
    );
}

async fn sign(server: &Server, token: &str, stage: &str) -> Reply {
    server
        .post(
            "/api/signoffs",
            token,
            json!({ "rollout": ROLLOUT, "stage": stage, "comment": "looks good" }),
        )
        .await
}

#[tokio::test]
async fn production_moves_forward_only_with_current_signoffs() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let mut leads = Vec::new();
    for (i, role) in evaluator::model::SIGNOFF_ROLES.iter().enumerate() {
        leads.push(server.user(&format!("lead{i}"), role).await);
    }

    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-1" }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(
        reply.json["details"]["missingRoles"],
        json!([
            "engineering-lead",
            "product-manager",
            "qa-lead",
            "devops-lead"
        ])
    );

    for token in &leads[..3] {
        assert_eq!(
            sign(&server, token, "stage-1").await.status,
            StatusCode::CREATED
        );
    }
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-1" }))
        .await;
    assert_eq!(
        reply.json["details"]["missingRoles"],
        json!(["devops-lead"])
    );
    let created = sign(&server, &leads[3], "stage-1").await;
    assert_eq!(created.json["signoff"]["role"], "devops-lead");
    assert_eq!(created.json["signoff"]["by"], "lead3");
    assert_eq!(
        created.json["signoff"]["stageDigest"]
            .as_str()
            .unwrap()
            .len(),
        64
    );

    let reply = server
        .post(
            PRODUCTION_STAGE,
            &editor,
            json!({ "stage": "stage-1", "comment": "day 4" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(
        reply.json["rollouts"][ROLLOUT]["environments"]["production"]["activeStage"],
        "stage-1"
    );
    let audit = server.get("/api/audit", &editor).await.json;
    assert_eq!(
        audit[0]["summary"],
        json!(["domain-migration/production: activeStage none → stage-1"])
    );

    // The live stage's content cannot change under its sign-offs.
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["stages"][0]["percentage"] = json!(20);
    let etag = format!("\"{}\"", server.revision());
    let reply = server
        .put_plan(&editor, Some(&etag), &plan.to_string())
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(reply.json["details"]["stage"], "stage-1");
    // The kill switch, and other stages, stay editable while stage 1 is live.
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["environments"]["production"]["killSwitch"] = json!(true);
    plan["rollouts"][ROLLOUT]["stages"][1]["percentage"] = json!(30);
    assert_eq!(
        server
            .put_plan(&editor, Some(&etag), &plan.to_string())
            .await
            .status,
        StatusCode::OK
    );

    // The kill switch voids the sign-offs: turning it off needs new ones.
    let kill_switch = PRODUCTION_STAGE.replace("/stage", "/kill-switch");
    let reply = server
        .post(&kill_switch, &editor, json!({ "on": false }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(missing_roles(&reply).len(), 4);
    assert_eq!(reply.json["details"]["afterRevision"], server.revision());
    // Going to no stage never waits.
    assert_eq!(
        server
            .post(PRODUCTION_STAGE, &editor, json!({ "stage": null }))
            .await
            .status,
        StatusCode::OK
    );

    // A sign-off goes stale when its stage changes.
    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["stages"][0]["percentage"] = json!(6);
    let etag = format!("\"{}\"", server.revision());
    assert_eq!(
        server
            .put_plan(&editor, Some(&etag), &plan.to_string())
            .await
            .status,
        StatusCode::OK
    );
    // With no stage live, the kill switch goes off without sign-offs.
    let reply = server
        .post(&kill_switch, &editor, json!({ "on": false }))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-1" }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(missing_roles(&reply).len(), 4);
}

#[tokio::test]
async fn stage_route_errors() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let viewer = server.user("vera", "viewer").await;
    let staging = "/api/rollouts/domain-migration/environments/staging/stage";
    assert_error(
        &server
            .post(staging, &viewer, json!({ "stage": null }))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let reply = server
        .post(staging, &editor, json!({ "stage": "stage-9" }))
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(reply.json["details"]["field"], "stage");
    let reply = server
        .post(
            "/api/rollouts/domain-migration/environments/moon/stage",
            &editor,
            json!({ "stage": null }),
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    let reply = server
        .post(
            "/api/rollouts/nope/environments/staging/stage",
            &editor,
            json!({ "stage": null }),
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    let reply = server
        .post(staging, &editor, json!({ "comment": "no stage" }))
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert!(
        reply.json["message"].as_str().unwrap().contains("stage"),
        "{}",
        reply.json
    );
    let reply = server.post(staging, &editor, json!({ "stage": 5 })).await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let request = Request::post(staging)
        .header("authorization", format!("Bearer {editor}"))
        .header("content-type", "application/json")
        .body(Body::from("{\"stage\": "))
        .unwrap();
    assert_error(
        &server.send(request).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let request = Request::post(staging)
        .header("authorization", format!("Bearer {editor}"))
        .body(Body::from("{}"))
        .unwrap();
    assert_error(
        &server.send(request).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let request = Request::post(staging)
        .header("authorization", format!("Bearer {editor}"))
        .header("content-type", "application/json")
        .header("if-match", "\"7\"")
        .body(Body::from("{\"stage\": null}"))
        .unwrap();
    assert_error(
        &server.send(request).await,
        StatusCode::PRECONDITION_FAILED,
        "stale_revision",
    );
    assert_eq!(server.revision(), 1);
}

#[tokio::test]
async fn kill_switch_never_waits() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let qa = server.user("quinn", "qa-lead").await;
    let path = PRODUCTION_KILL;
    assert_error(
        &server.post(path, &qa, json!({ "on": true })).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &server.post(path, &editor, json!({ "on": "yes" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    let reply = server
        .post(
            path,
            &editor,
            json!({ "on": true, "comment": "crash rate +3%" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json["rollouts"][ROLLOUT]["environments"]["production"]["killSwitch"],
        true
    );
    let audit = server.get("/api/audit", &editor).await.json;
    assert_eq!(
        audit[0]["summary"],
        json!(["domain-migration/production: kill switch off → on"])
    );
    assert_eq!(audit[0]["comment"], "crash rate +3%");
    let reply = server
        .request(Method::GET, "/client/production.json", None, None)
        .await;
    assert_eq!(
        reply.json["rollouts"][ROLLOUT]["environments"]["production"]["killSwitch"],
        true
    );
}

#[tokio::test]
async fn signoffs_by_role_and_withdrawal() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let viewer = server.user("vera", "viewer").await;
    let qa = server.user("quinn", "qa-lead").await;
    let pm = server.user("pat", "product-manager").await;
    for token in [&server.admin, &editor, &viewer] {
        assert_error(
            &sign(&server, token, "stage-1").await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    let reply = sign(&server, &qa, "stage-9").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(reply.json["details"]["field"], "stage");
    let reply = server
        .post("/api/signoffs", &qa, json!({ "rollout": ROLLOUT }))
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");

    let first = sign(&server, &qa, "stage-1").await;
    assert_eq!(first.status, StatusCode::CREATED);
    // Signing again replaces one's own sign-off rather than adding a second.
    let second = sign(&server, &qa, "stage-1").await;
    let plan = server.plan();
    assert_eq!(plan["signoffs"].as_array().unwrap().len(), 1);
    let id = second.json["signoff"]["id"].as_str().unwrap().to_string();
    assert_eq!(plan["signoffs"][0]["id"], id);
    assert_eq!(plan["signoffs"][0]["comment"], "looks good");

    assert_error(
        &server.withdraw(&id, &pm).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &server.withdraw(&id, &editor).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let reply = server.withdraw(&id, &qa).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert!(server.plan().get("signoffs").is_none());
    assert_error(
        &server.withdraw(&id, &qa).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let id = sign(&server, &pm, "stage-2").await.json["signoff"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = server.withdraw(&id, &server.admin).await;
    assert_eq!(reply.status, StatusCode::OK);
    let audit = server.get("/api/audit", &viewer).await.json;
    assert_eq!(audit[0]["action"], "withdraw-signoff");
    assert_eq!(audit[0]["author"], "admin");
    assert_eq!(
        audit[0]["summary"],
        json!(["sign-off by pat (product-manager) for domain-migration/stage-2 removed"])
    );
}

#[tokio::test]
async fn evaluate_on_the_server() {
    let server = Server::new().await;
    let viewer = server.user("vera", "viewer").await;
    let reply = server
        .get(
            "/api/evaluate?rollout=domain-migration&env=staging&targetingKey=user-42&platform=web",
            &viewer,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["stage"], "stage-4");
    assert_eq!(reply.json["bucket"], 7035);
    assert_eq!(reply.json["revision"], 1);
    let reply = server
        .get(
            "/api/evaluate?rollout=domain-migration&env=production&targetingKey=user-42",
            &viewer,
        )
        .await;
    assert_eq!(reply.json["reason"], "DEFAULT");
    let reply = server
        .get(
            "/api/evaluate?rollout=nope&env=production&targetingKey=u",
            &viewer,
        )
        .await;
    assert_eq!(reply.json["errorCode"], "FLAG_NOT_FOUND");
    let reply = server.get("/api/evaluate?env=production", &viewer).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(reply.json["details"]["field"], "rollout");
    assert_error(
        &server.get("/api/evaluate?rollout=x", &viewer).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let reply = server
        .request(Method::GET, "/api/evaluate?rollout=x&env=y", None, None)
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn client_document_is_public_cacheable_and_private_free() {
    let server = Server::new().await;
    let qa = server.user("quinn", "qa-lead").await;
    sign(&server, &qa, "stage-1").await;
    let reply = server
        .request(Method::GET, "/client/production.json", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    // The ETag is a digest of the body: the sign-off changed nothing public.
    let etag = reply.headers["etag"].to_str().unwrap().to_string();
    assert!(etag.len() == 26 && etag.starts_with('"'), "{etag}");
    assert_eq!(
        etag,
        format!(
            "\"{}\"",
            &evaluator::digest::hex(&<sha2::Sha256 as sha2::Digest>::digest(&reply.body))[..24]
        )
    );
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    assert!(
        reply.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    assert_eq!(reply.headers["content-type"], "application/json");
    let text = String::from_utf8(reply.body.clone()).unwrap();
    assert!(
        !text.contains("quinn") && !text.contains("signoffs") && !text.contains("staging"),
        "{text}"
    );
    assert!(evaluator::Evaluator::from_json(&text).is_ok());

    let request = Request::get("/client/production.json")
        .header("if-none-match", &etag)
        .body(Body::empty())
        .unwrap();
    let reply = server.send(request).await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert!(reply.body.is_empty());
    assert_eq!(reply.headers["etag"], etag.as_str());
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    let request = Request::get("/client/production.json")
        .header("if-none-match", "\"2\"")
        .body(Body::empty())
        .unwrap();
    assert_eq!(server.send(request).await.status, StatusCode::OK);

    // A browser's preflight before a revalidating cross-origin GET.
    let preflight = Request::options("/client/production.json")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match")
        .body(Body::empty())
        .unwrap();
    let reply = server.send(preflight).await;
    assert!(reply.status.is_success(), "{}", reply.status);
    let header = |name: &str| reply.headers[name].to_str().unwrap().to_ascii_lowercase();
    assert_eq!(header("access-control-allow-origin"), "*");
    assert!(header("access-control-allow-methods").contains("get"));
    assert!(header("access-control-allow-headers").contains("if-none-match"));
    assert_eq!(header("access-control-max-age"), "86400");
    // The ETag is readable by a page on another origin.
    let reply = server
        .request(Method::GET, "/client/production.json", None, None)
        .await;
    assert!(
        reply.headers["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("etag")
    );

    assert_error(
        &server
            .request(Method::GET, "/client/moon.json", None, None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &server
            .request(Method::GET, "/client/production", None, None)
            .await,
        StatusCode::NOT_FOUND,
        "no_route",
    );
    // CORS is open for the client document alone.
    let reply = server.get("/api/plan", &server.admin).await;
    assert!(reply.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let server = Server::new().await;
    assert_error(
        &server.get("/api/nope", &server.admin).await,
        StatusCode::NOT_FOUND,
        "no_route",
    );
    assert_error(
        &server.request(Method::POST, "/api/nope", None, None).await,
        StatusCode::NOT_FOUND,
        "no_route",
    );
    assert_error(
        &server
            .request(Method::DELETE, "/api/plan", Some(&server.admin), None)
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert_error(
        &server.request(Method::POST, "/healthz", None, None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert_error(
        &server.request(Method::POST, "/somewhere", None, None).await,
        StatusCode::NOT_FOUND,
        "no_route",
    );
    assert_error(
        &server.request(Method::GET, "/client", None, None).await,
        StatusCode::NOT_FOUND,
        "no_route",
    );
}

#[tokio::test]
async fn the_user_list_says_when_each_token_was_last_used() {
    let server = Server::new().await;
    let viewer = server.user("vera", "viewer").await;
    let unused = |reply: &Reply, name: &str| {
        let users = reply.json.as_array().unwrap();
        let user = users.iter().find(|user| user["name"] == name).unwrap();
        user.get("lastUsed").cloned()
    };
    let before = server.get("/api/users", &server.admin).await;
    assert_eq!(unused(&before, "vera"), None, "not used yet");
    // The admin's own listing is a use of the admin's token.
    assert!(unused(&before, "admin").is_some());

    assert_eq!(
        server.get("/api/plan", &viewer).await.status,
        StatusCode::OK
    );
    let after = server.get("/api/users", &server.admin).await;
    let used = unused(&after, "vera").unwrap();
    assert!(
        used.as_str().unwrap().ends_with('Z') && used.as_str().unwrap().len() == 20,
        "RFC 3339 UTC: {used}"
    );
}

#[tokio::test]
async fn users_api_is_for_admins() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    assert_error(
        &server.get("/api/users", &editor).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let reply = server.get("/api/users", &server.admin).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json[0]["name"], "admin");
    assert!(!reply.json.to_string().contains("token"));

    let reply = server
        .post(
            "/api/users",
            &server.admin,
            json!({ "name": "dana", "role": "devops-lead" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let token = reply.json["token"].as_str().unwrap().to_string();
    assert_eq!(
        server.get("/api/me", &token).await.json["role"],
        "devops-lead"
    );
    assert_error(
        &server
            .post(
                "/api/users",
                &server.admin,
                json!({ "name": "dana", "role": "viewer" }),
            )
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    let reply = server
        .post(
            "/api/users",
            &server.admin,
            json!({ "name": "x", "role": "king" }),
        )
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(reply.json["details"]["field"], "role");
    let reply = server
        .post(
            "/api/users",
            &server.admin,
            json!({ "name": "a b", "role": "viewer" }),
        )
        .await;
    assert_eq!(reply.json["details"]["field"], "name");
    assert_error(
        &server
            .post(
                "/api/users",
                &editor,
                json!({ "name": "z", "role": "admin" }),
            )
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    let reply = server
        .request(Method::DELETE, "/api/users/dana", Some(&server.admin), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_error(
        &server.get("/api/me", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &server
            .request(Method::DELETE, "/api/users/dana", Some(&server.admin), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn console_placeholder_without_a_build() {
    let server = Server::new().await;
    for path in ["/", "/rollouts/domain-migration"] {
        let reply = server.request(Method::GET, path, None, None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&reply.body).contains("cargo xtask dist"));
    }
}

#[tokio::test]
async fn console_files_with_cache_headers_and_spa_fallback() {
    // outer/console is served; outer/stagegate-secret.txt must not be.
    let outer = tempfile::tempdir().unwrap();
    let console = outer.path().join("console");
    std::fs::create_dir(&console).unwrap();
    std::fs::write(outer.path().join("stagegate-secret.txt"), "secret").unwrap();
    std::fs::write(console.join("index.html"), "<html>console</html>").unwrap();
    std::fs::create_dir(console.join("assets")).unwrap();
    std::fs::write(console.join("assets/console-1a2b3c4d5e6f7a8b.js"), "js").unwrap();
    let server = Server::with_console(Some(console.clone())).await;

    let reply = server.request(Method::GET, "/", None, None).await;
    assert_eq!(reply.body, b"<html>console</html>");
    assert_eq!(reply.headers["cache-control"], "no-cache");
    let reply = server
        .request(
            Method::GET,
            "/assets/console-1a2b3c4d5e6f7a8b.js",
            None,
            None,
        )
        .await;
    assert_eq!(reply.body, b"js");
    assert!(
        reply.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let reply = server
        .request(
            Method::GET,
            "/rollouts/domain-migration/production",
            None,
            None,
        )
        .await;
    assert_eq!(reply.body, b"<html>console</html>");
    // A secret next to the console directory must stay out of reach, however the
    // way out is spelled: each attempt is a JSON 404, not the file, not the console.
    for path in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E/stagegate-secret.txt",
        "/..%2fstagegate-secret.txt",
        "/..%5cstagegate-secret.txt",
        "/a/%2e%2e/%2e%2e/stagegate-secret.txt",
        "/%00",
        "/%zz",
        "/%ff",
    ] {
        let reply = server.request(Method::GET, path, None, None).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
        assert!(
            !String::from_utf8_lossy(&reply.body).contains("secret"),
            "{path}"
        );
    }
    // Percent-encoded names that stay inside are found.
    std::fs::write(console.join("a b.txt"), "spaced").unwrap();
    let reply = server.request(Method::GET, "/a%20b.txt", None, None).await;
    assert_eq!(reply.body, b"spaced");
    assert_error(
        &server
            .request(Method::GET, "/api/rollouts", None, None)
            .await,
        StatusCode::NOT_FOUND,
        "no_route",
    );
}

#[tokio::test]
async fn every_revision_file_on_disk_validates() {
    // Files of a data directory; on PostgreSQL, `revisions_after` reading and
    // validating every stored revision at each open covers the same ground.
    if crate::common::on_postgres() {
        return;
    }
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    server
        .post(
            "/api/rollouts/domain-migration/environments/staging/kill-switch",
            &editor,
            json!({ "on": true }),
        )
        .await;
    let dir = server.dir.path().join("revisions");
    for n in 1..=2 {
        let file = stagegate_server::store::read_revision(&dir, n).unwrap();
        assert_eq!(file.plan.revision, n);
    }
    let _: Value =
        serde_json::from_slice(&std::fs::read(dir.join("000002.json")).unwrap()).unwrap();
}
