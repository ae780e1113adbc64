//! Every refusal writes nothing: one row per refused request, with the status
//! and error code it must get.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::common::*;

/// Who sends a request in the table below.
#[derive(Clone, Copy)]
enum Who {
    Anonymous,
    Viewer,
    Editor,
    Qa,
    Pm,
    Admin,
}

/// One refused request and the error it must get.
struct Row<'a> {
    method: &'a str,
    path: &'a str,
    who: Who,
    headers: &'a [(&'a str, &'a str)],
    body: &'a str,
    status: u16,
    code: &'a str,
}

/// Every refusal of every write route: the status, the error shape, and that
/// nothing changed in memory or on disk.
#[tokio::test]
async fn every_refusal_writes_nothing() {
    use Who::*;
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let viewer = server.user("vera", "viewer").await;
    let qa = server.user("quinn", "qa-lead").await;
    let pm = server.user("pat", "product-manager").await;
    // A sign-off by qa, so that withdrawing it can be refused to pm.
    let signed = server
        .post(
            "/api/signoffs",
            &qa,
            json!({ "rollout": ROLLOUT, "stage": "stage-1" }),
        )
        .await;
    let signoff = signed.json["signoff"]["id"].as_str().unwrap().to_string();
    let plan = server.plan();
    let good = plan.to_string();
    let mut invalid = plan.clone();
    invalid["rollouts"][ROLLOUT]["stages"][0]["percentage"] = json!(101);
    invalid["rollouts"][ROLLOUT]["stages"][1]["values"]["nope"] = json!(true);
    invalid["rollouts"][ROLLOUT]["environments"]["staging"]["activeStage"] = json!("stage-9");
    let mut forward = plan.clone();
    forward["rollouts"][ROLLOUT]["environments"]["production"]["activeStage"] = json!("stage-2");
    let huge = format!(
        "{{\"pad\": \"{}\"}}",
        "x".repeat(stagegate_server::api::BODY_LIMIT)
    );
    let (stage, kill) = (PRODUCTION_STAGE, PRODUCTION_KILL);

    let (invalid, forward) = (invalid.to_string(), forward.to_string());
    let tokens = |who: Who| match who {
        Anonymous => None,
        Viewer => Some(viewer.as_str()),
        Editor => Some(editor.as_str()),
        Qa => Some(qa.as_str()),
        Pm => Some(pm.as_str()),
        Admin => Some(server.admin.as_str()),
    };
    const JSON: (&str, &str) = ("content-type", "application/json");
    const CURRENT: (&str, &str) = ("if-match", "\"2\"");
    #[rustfmt::skip]
    let rows = [
        // PUT /api/plan
        Row { method: "PUT", path: "/api/plan", who: Anonymous, headers: &[JSON, CURRENT], body: &good, status: 401, code: "unauthorized" },
        Row { method: "PUT", path: "/api/plan", who: Viewer, headers: &[JSON, CURRENT], body: &good, status: 403, code: "forbidden" },
        Row { method: "PUT", path: "/api/plan", who: Editor, headers: &[JSON], body: &good, status: 428, code: "if_match_required" },
        Row { method: "PUT", path: "/api/plan", who: Editor, headers: &[JSON, ("if-match", "\"1\"")], body: &good, status: 412, code: "stale_revision" },
        Row { method: "PUT", path: "/api/plan", who: Editor, headers: &[JSON, ("if-match", "W/\"x\"")], body: &good, status: 400, code: "bad_request" },
        Row { method: "PUT", path: "/api/plan", who: Editor, headers: &[JSON, CURRENT], body: &invalid, status: 422, code: "invalid_plan" },
        Row { method: "PUT", path: "/api/plan", who: Editor, headers: &[JSON, CURRENT], body: &forward, status: 409, code: "signoffs_missing" },
        Row { method: "PUT", path: "/api/plan", who: Editor, headers: &[JSON, CURRENT], body: "{\"schemaVersion\":", status: 400, code: "bad_request" },
        Row { method: "PUT", path: "/api/plan", who: Editor, headers: &[("content-type", "text/plain"), CURRENT], body: &good, status: 415, code: "unsupported_media_type" },
        Row { method: "PUT", path: "/api/plan", who: Editor, headers: &[JSON, CURRENT], body: &huge, status: 413, code: "payload_too_large" },
        Row { method: "PATCH", path: "/api/plan", who: Editor, headers: &[JSON, CURRENT], body: &good, status: 405, code: "method_not_allowed" },
        // POST /api/revert
        Row { method: "POST", path: "/api/revert", who: Viewer, headers: &[JSON], body: "{\"revision\":1}", status: 403, code: "forbidden" },
        Row { method: "POST", path: "/api/revert", who: Editor, headers: &[JSON], body: "{\"revision\":9}", status: 400, code: "bad_request" },
        Row { method: "POST", path: "/api/revert", who: Editor, headers: &[JSON, ("if-match", "\"1\"")], body: "{\"revision\":1}", status: 412, code: "stale_revision" },
        Row { method: "POST", path: "/api/revert", who: Editor, headers: &[JSON], body: "{\"revision\":", status: 400, code: "bad_request" },
        Row { method: "POST", path: "/api/revert", who: Editor, headers: &[JSON], body: "{\"revision\":\"1\"}", status: 422, code: "invalid_body" },
        Row { method: "POST", path: "/api/revert", who: Editor, headers: &[], body: "{\"revision\":1}", status: 415, code: "unsupported_media_type" },
        Row { method: "POST", path: "/api/revert", who: Editor, headers: &[JSON], body: &huge, status: 413, code: "payload_too_large" },
        // POST …/stage
        Row { method: "POST", path: stage, who: Viewer, headers: &[JSON], body: "{\"stage\":null}", status: 403, code: "forbidden" },
        Row { method: "POST", path: stage, who: Editor, headers: &[JSON], body: "{\"stage\":\"stage-1\"}", status: 409, code: "signoffs_missing" },
        Row { method: "POST", path: stage, who: Editor, headers: &[JSON], body: "{\"stage\":\"stage-9\"}", status: 400, code: "bad_request" },
        Row { method: "POST", path: "/api/rollouts/nope/environments/production/stage", who: Editor, headers: &[JSON], body: "{\"stage\":null}", status: 404, code: "not_found" },
        Row { method: "POST", path: stage, who: Editor, headers: &[JSON, ("if-match", "\"1\"")], body: "{\"stage\":null}", status: 412, code: "stale_revision" },
        Row { method: "POST", path: stage, who: Editor, headers: &[JSON], body: "{\"stage\":", status: 400, code: "bad_request" },
        Row { method: "POST", path: stage, who: Editor, headers: &[JSON], body: "{}", status: 422, code: "invalid_body" },
        Row { method: "POST", path: stage, who: Editor, headers: &[("content-type", "application/xml")], body: "{\"stage\":null}", status: 415, code: "unsupported_media_type" },
        Row { method: "POST", path: stage, who: Editor, headers: &[JSON], body: &huge, status: 413, code: "payload_too_large" },
        Row { method: "PUT", path: stage, who: Editor, headers: &[JSON], body: "{\"stage\":null}", status: 405, code: "method_not_allowed" },
        // POST …/kill-switch
        Row { method: "POST", path: kill, who: Anonymous, headers: &[JSON], body: "{\"on\":true}", status: 401, code: "unauthorized" },
        Row { method: "POST", path: kill, who: Qa, headers: &[JSON], body: "{\"on\":true}", status: 403, code: "forbidden" },
        Row { method: "POST", path: "/api/rollouts/domain-migration/environments/moon/kill-switch", who: Editor, headers: &[JSON], body: "{\"on\":true}", status: 404, code: "not_found" },
        Row { method: "POST", path: kill, who: Editor, headers: &[JSON], body: "{\"on\":1}", status: 422, code: "invalid_body" },
        Row { method: "POST", path: kill, who: Editor, headers: &[JSON], body: "[", status: 400, code: "bad_request" },
        Row { method: "POST", path: kill, who: Editor, headers: &[JSON, ("if-match", "\"1\"")], body: "{\"on\":true}", status: 412, code: "stale_revision" },
        // POST /api/signoffs and DELETE /api/signoffs/{id}
        Row { method: "POST", path: "/api/signoffs", who: Editor, headers: &[JSON], body: "{\"rollout\":\"domain-migration\",\"stage\":\"stage-1\"}", status: 403, code: "forbidden" },
        Row { method: "POST", path: "/api/signoffs", who: Qa, headers: &[JSON], body: "{\"rollout\":\"domain-migration\",\"stage\":\"stage-9\"}", status: 400, code: "bad_request" },
        Row { method: "POST", path: "/api/signoffs", who: Qa, headers: &[JSON], body: "{\"rollout\":\"domain-migration\"}", status: 422, code: "invalid_body" },
        Row { method: "POST", path: "/api/signoffs", who: Qa, headers: &[JSON], body: "nope", status: 400, code: "bad_request" },
        Row { method: "POST", path: "/api/signoffs", who: Qa, headers: &[("content-type", "text/json")], body: "{}", status: 415, code: "unsupported_media_type" },
        Row { method: "DELETE", path: "/api/signoffs/so_nope", who: Qa, headers: &[], body: "", status: 404, code: "not_found" },
        Row { method: "DELETE", path: "/api/signoffs/{signoff}", who: Pm, headers: &[], body: "", status: 403, code: "forbidden" },
        Row { method: "DELETE", path: "/api/signoffs/{signoff}", who: Editor, headers: &[], body: "", status: 403, code: "forbidden" },
        // users
        Row { method: "POST", path: "/api/users", who: Editor, headers: &[JSON], body: "{\"name\":\"x\",\"role\":\"viewer\"}", status: 403, code: "forbidden" },
        Row { method: "POST", path: "/api/users", who: Admin, headers: &[JSON], body: "{\"name\":\"eddie\",\"role\":\"viewer\"}", status: 409, code: "conflict" },
        Row { method: "POST", path: "/api/users", who: Admin, headers: &[JSON], body: "{\"name\":\"x\",\"role\":\"king\"}", status: 400, code: "bad_request" },
        Row { method: "DELETE", path: "/api/users/nobody", who: Admin, headers: &[], body: "", status: 404, code: "not_found" },
        Row { method: "DELETE", path: "/api/users/eddie", who: Viewer, headers: &[], body: "", status: 403, code: "forbidden" },
        // unknown routes and methods
        Row { method: "POST", path: "/api/plans", who: Editor, headers: &[JSON], body: "{}", status: 404, code: "no_route" },
        Row { method: "DELETE", path: "/client/production.json", who: Anonymous, headers: &[], body: "", status: 405, code: "method_not_allowed" },
    ];
    assert_eq!(server.revision(), 2);
    let before = snapshot(&server).await;
    for case in rows {
        let path = case.path.replace("{signoff}", &signoff);
        let mut builder = Request::builder().method(case.method).uri(&path);
        if let Some(token) = tokens(case.who) {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in case.headers {
            builder = builder.header(*name, *value);
        }
        let reply = server
            .send(builder.body(Body::from(case.body.to_string())).unwrap())
            .await;
        let status = StatusCode::from_u16(case.status).unwrap();
        let what = format!("{} {path} ({})", case.method, case.code);
        assert_eq!(reply.status, status, "{what}: {}", reply.json);
        assert_error(&reply, status, case.code);
        assert_eq!(snapshot(&server).await, before, "{what} wrote on refusal");
        match case.code {
            "stale_revision" => {
                assert_eq!(reply.json["details"]["currentRevision"], 2, "{what}");
                assert_eq!(reply.headers["etag"], "\"2\"", "{what}");
            }
            "signoffs_missing" => assert!(!missing_roles(&reply).is_empty(), "{what}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn invalid_plan_reports_every_problem() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let mut plan = server.plan();
    let rollout = &mut plan["rollouts"][ROLLOUT];
    rollout["stages"][0]["percentage"] = json!(101); // out of range …
    rollout["stages"][1]["percentage"] = json!(2.555); // … more than two decimals
    rollout["stages"][2]["values"]["nope"] = json!(true); // unknown flag
    rollout["stages"][3]["values"]["enableMigration"] = json!("yes"); // wrong type
    rollout["stages"][3]["id"] = json!("stage-3"); // duplicate id
    rollout["environments"]["staging"]["activeStage"] = json!("stage-9"); // missing stage
    let reply = server
        .put_plan(&editor, Some("\"1\""), &plan.to_string())
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_plan");
    let problems = reply.json["details"].as_array().unwrap();
    let paths: Vec<&str> = problems
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    for expected in [
        "/rollouts/domain-migration/stages/0/percentage",
        "/rollouts/domain-migration/stages/1/percentage",
        "/rollouts/domain-migration/stages/2/values/nope",
        "/rollouts/domain-migration/stages/3/values/enableMigration",
        "/rollouts/domain-migration/stages/3/id",
        "/rollouts/domain-migration/environments/staging/activeStage",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
    for problem in problems {
        assert!(!problem["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(server.revision(), 1);
}
