//! Cross-cutting rules, each checked on every route: the role matrix, that a
//! refused request writes nothing, the stage gate's edge cases, the privacy and
//! parity of the client document, and strict query parsing.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{Reply, Server, assert_error};
use evaluator::model::{ROLES, SIGNOFF_ROLES as SIGNERS};
use serde_json::{Value, json};
use stagegate_server::api::ROUTES;

const ROLLOUT: &str = "domain-migration";

/// What is on disk and in memory, to compare before and after a refusal.
fn snapshot(server: &Server) -> (u64, usize, usize, String, Vec<u8>) {
    let files = std::fs::read_dir(server.dir.path().join("revisions"))
        .unwrap()
        .count();
    let users = std::fs::read(server.dir.path().join("users.json")).unwrap();
    (
        server.revision(),
        files,
        server.state.store.audit().len(),
        server.plan().to_string(),
        users,
    )
}

/// The role table, written out by hand (not derived from the code under test).
fn allowed_roles(method: &str, path: &str) -> &'static [&'static str] {
    match (method, path) {
        ("GET", _) if !path.starts_with("/api/users") => &ROLES,
        ("PUT", "/api/plan")
        | ("POST", "/api/revert")
        | ("POST", "/api/rollouts/{rollout}/environments/{env}/stage")
        | ("POST", "/api/rollouts/{rollout}/environments/{env}/kill-switch") => {
            &["admin", "editor"]
        }
        ("POST", "/api/signoffs") => &SIGNERS,
        ("DELETE", "/api/signoffs/{id}") => &[
            "admin",
            "engineering-lead",
            "product-manager",
            "qa-lead",
            "devops-lead",
        ],
        (_, "/api/users")
        | ("GET", "/api/users/log")
        | ("DELETE", "/api/users/{name}")
        | ("PATCH", "/api/users/{name}") => &["admin"],
        other => panic!("route {other:?} is missing from the role table of this test"),
    }
}

fn request(method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    match body {
        Some(json) => builder
            .header("content-type", "application/json")
            .body(Body::from(json.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

/// A request to `route` that succeeds for a caller allowed to make it.
async fn valid_request(
    server: &Server,
    method: &str,
    path: &str,
    token: &str,
    case: usize,
) -> Request<Body> {
    let revision = server.revision();
    let concrete = path
        .replace("{rollout}", ROLLOUT)
        .replace("{env}", "staging")
        .replace("{n}", "1");
    match (method, path) {
        ("PUT", "/api/plan") => {
            let mut plan = server.plan();
            plan["rollouts"][ROLLOUT]["description"] = json!(format!("edit {case}"));
            let mut request = request(method, path, Some(token), Some(&plan));
            request
                .headers_mut()
                .insert("if-match", format!("\"{revision}\"").parse().unwrap());
            request
        }
        ("POST", "/api/revert") => {
            request(method, path, Some(token), Some(&json!({ "revision": 1 })))
        }
        ("POST", p) if p.ends_with("/stage") => request(
            method,
            &concrete,
            Some(token),
            Some(&json!({ "stage": "stage-1" })),
        ),
        ("POST", p) if p.ends_with("/kill-switch") => {
            request(method, &concrete, Some(token), Some(&json!({ "on": true })))
        }
        ("POST", "/api/signoffs") => request(
            method,
            path,
            Some(token),
            Some(&json!({ "rollout": ROLLOUT, "stage": "stage-2" })),
        ),
        ("DELETE", "/api/signoffs/{id}") => {
            // A sign-off of the caller's own if they can sign, else someone else's.
            let me = server.get("/api/me", token).await.json;
            let role = me["role"].as_str().unwrap();
            let signer = if SIGNERS.contains(&role) {
                token.to_string()
            } else {
                server.user(&format!("signer{case}"), "qa-lead")
            };
            let created = server
                .post(
                    "/api/signoffs",
                    &signer,
                    json!({ "rollout": ROLLOUT, "stage": "stage-3" }),
                )
                .await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
            let id = created.json["signoff"]["id"].as_str().unwrap();
            request(method, &format!("/api/signoffs/{id}"), Some(token), None)
        }
        ("POST", "/api/users") => request(
            method,
            path,
            Some(token),
            Some(&json!({ "name": format!("new{case}"), "role": "viewer" })),
        ),
        ("DELETE", "/api/users/{name}") => {
            server.user(&format!("gone{case}"), "viewer");
            request(method, &format!("/api/users/gone{case}"), Some(token), None)
        }
        ("PATCH", "/api/users/{name}") => {
            server.user(&format!("moved{case}"), "viewer");
            let path = format!("/api/users/moved{case}");
            request(
                method,
                &path,
                Some(token),
                Some(&json!({ "role": "editor" })),
            )
        }
        ("GET", "/api/evaluate") => request(
            method,
            "/api/evaluate?rollout=domain-migration&env=staging&targetingKey=user-42",
            Some(token),
            None,
        ),
        ("GET", _) => request(method, &concrete, Some(token), None),
        other => panic!("no valid request for {other:?}"),
    }
}

#[tokio::test]
async fn every_role_on_every_route() {
    let mut case = 0;
    for role in ROLES {
        let server = Server::new();
        let token = if role == "admin" {
            server.admin.clone()
        } else {
            server.user("caller", role)
        };
        for route in ROUTES.iter().filter(|route| route.action.is_some()) {
            case += 1;
            let allowed = allowed_roles(route.method, route.path).contains(&role);
            let request = valid_request(&server, route.method, route.path, &token, case).await;
            let before = snapshot(&server);
            let reply = server.send(request).await;
            let what = format!("{role} {} {}", route.method, route.path);
            if allowed {
                assert!(
                    reply.status.is_success(),
                    "{what}: {} {}",
                    reply.status,
                    reply.json
                );
            } else {
                assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
                assert_eq!(snapshot(&server), before, "{what} wrote on refusal");
            }
        }
    }
}

#[tokio::test]
async fn every_authenticated_route_needs_a_known_token() {
    let server = Server::new();
    let before = snapshot(&server);
    for route in ROUTES {
        let path = route
            .path
            .replace("{rollout}", ROLLOUT)
            .replace("{env}.json", "production.json")
            .replace("{env}", "staging")
            .replace("{n}", "1")
            .replace("{id}", "so_1")
            .replace("{name}", "admin");
        let body = (route.request.is_some()).then(|| json!({}));
        for token in [None, Some("sg_unknown"), Some("")] {
            let reply = server
                .send(request(route.method, &path, token, body.as_ref()))
                .await;
            if route.action.is_some() {
                assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
            } else {
                assert!(reply.status.is_success(), "{} {path}", route.method);
            }
        }
    }
    assert_eq!(snapshot(&server), before);
}

/// Every refusal of every write route: the status, the error shape, and that
/// nothing changed in memory or on disk.
#[tokio::test]
async fn every_refusal_writes_nothing() {
    let server = Server::new();
    let editor = server.user("eddie", "editor");
    let viewer = server.user("vera", "viewer");
    let qa = server.user("quinn", "qa-lead");
    let pm = server.user("pat", "product-manager");
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
    let stage = "/api/rollouts/domain-migration/environments/production/stage";
    let kill = "/api/rollouts/domain-migration/environments/production/kill-switch";

    struct Case<'a> {
        method: &'a str,
        path: &'a str,
        token: Option<&'a str>,
        headers: Vec<(&'a str, &'a str)>,
        body: String,
        status: StatusCode,
        code: &'a str,
    }
    let case = |method,
                path,
                token,
                headers: Vec<(&'static str, &'static str)>,
                body: &str,
                status,
                code| Case {
        method,
        path,
        token,
        headers,
        body: body.to_string(),
        status,
        code,
    };
    let json_type = ("content-type", "application/json");
    let current = ("if-match", "\"2\"");
    let cases = [
        // PUT /api/plan
        case(
            "PUT",
            "/api/plan",
            None,
            vec![json_type, current],
            &good,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        case(
            "PUT",
            "/api/plan",
            Some(&viewer),
            vec![json_type, current],
            &good,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        case(
            "PUT",
            "/api/plan",
            Some(&editor),
            vec![json_type],
            &good,
            StatusCode::PRECONDITION_REQUIRED,
            "if_match_required",
        ),
        case(
            "PUT",
            "/api/plan",
            Some(&editor),
            vec![json_type, ("if-match", "\"1\"")],
            &good,
            StatusCode::PRECONDITION_FAILED,
            "stale_revision",
        ),
        case(
            "PUT",
            "/api/plan",
            Some(&editor),
            vec![json_type, ("if-match", "W/\"x\"")],
            &good,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        case(
            "PUT",
            "/api/plan",
            Some(&editor),
            vec![json_type, current],
            &invalid.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_plan",
        ),
        case(
            "PUT",
            "/api/plan",
            Some(&editor),
            vec![json_type, current],
            &forward.to_string(),
            StatusCode::CONFLICT,
            "signoffs_missing",
        ),
        case(
            "PUT",
            "/api/plan",
            Some(&editor),
            vec![json_type, current],
            "{\"schemaVersion\":",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        case(
            "PUT",
            "/api/plan",
            Some(&editor),
            vec![("content-type", "text/plain"), current],
            &good,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        case(
            "PUT",
            "/api/plan",
            Some(&editor),
            vec![json_type, current],
            &huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        case(
            "PATCH",
            "/api/plan",
            Some(&editor),
            vec![json_type, current],
            &good,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        // POST /api/revert
        case(
            "POST",
            "/api/revert",
            Some(&viewer),
            vec![json_type],
            "{\"revision\":1}",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        case(
            "POST",
            "/api/revert",
            Some(&editor),
            vec![json_type],
            "{\"revision\":9}",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        case(
            "POST",
            "/api/revert",
            Some(&editor),
            vec![json_type, ("if-match", "\"1\"")],
            "{\"revision\":1}",
            StatusCode::PRECONDITION_FAILED,
            "stale_revision",
        ),
        case(
            "POST",
            "/api/revert",
            Some(&editor),
            vec![json_type],
            "{\"revision\":",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        case(
            "POST",
            "/api/revert",
            Some(&editor),
            vec![json_type],
            "{\"revision\":\"1\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "POST",
            "/api/revert",
            Some(&editor),
            vec![],
            "{\"revision\":1}",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        case(
            "POST",
            "/api/revert",
            Some(&editor),
            vec![json_type],
            &huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        // POST …/stage
        case(
            "POST",
            stage,
            Some(&viewer),
            vec![json_type],
            "{\"stage\":null}",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        case(
            "POST",
            stage,
            Some(&editor),
            vec![json_type],
            "{\"stage\":\"stage-1\"}",
            StatusCode::CONFLICT,
            "signoffs_missing",
        ),
        case(
            "POST",
            stage,
            Some(&editor),
            vec![json_type],
            "{\"stage\":\"stage-9\"}",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        case(
            "POST",
            "/api/rollouts/nope/environments/production/stage",
            Some(&editor),
            vec![json_type],
            "{\"stage\":null}",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case(
            "POST",
            stage,
            Some(&editor),
            vec![json_type, ("if-match", "\"1\"")],
            "{\"stage\":null}",
            StatusCode::PRECONDITION_FAILED,
            "stale_revision",
        ),
        case(
            "POST",
            stage,
            Some(&editor),
            vec![json_type],
            "{\"stage\":",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        case(
            "POST",
            stage,
            Some(&editor),
            vec![json_type],
            "{}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "POST",
            stage,
            Some(&editor),
            vec![("content-type", "application/xml")],
            "{\"stage\":null}",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        case(
            "POST",
            stage,
            Some(&editor),
            vec![json_type],
            &huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        case(
            "PUT",
            stage,
            Some(&editor),
            vec![json_type],
            "{\"stage\":null}",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        // POST …/kill-switch
        case(
            "POST",
            kill,
            None,
            vec![json_type],
            "{\"on\":true}",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        case(
            "POST",
            kill,
            Some(&qa),
            vec![json_type],
            "{\"on\":true}",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        case(
            "POST",
            "/api/rollouts/domain-migration/environments/moon/kill-switch",
            Some(&editor),
            vec![json_type],
            "{\"on\":true}",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case(
            "POST",
            kill,
            Some(&editor),
            vec![json_type],
            "{\"on\":1}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "POST",
            kill,
            Some(&editor),
            vec![json_type],
            "[",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        case(
            "POST",
            kill,
            Some(&editor),
            vec![json_type, ("if-match", "\"1\"")],
            "{\"on\":true}",
            StatusCode::PRECONDITION_FAILED,
            "stale_revision",
        ),
        // POST /api/signoffs and DELETE /api/signoffs/{id}
        case(
            "POST",
            "/api/signoffs",
            Some(&editor),
            vec![json_type],
            "{\"rollout\":\"domain-migration\",\"stage\":\"stage-1\"}",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        case(
            "POST",
            "/api/signoffs",
            Some(&qa),
            vec![json_type],
            "{\"rollout\":\"domain-migration\",\"stage\":\"stage-9\"}",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        case(
            "POST",
            "/api/signoffs",
            Some(&qa),
            vec![json_type],
            "{\"rollout\":\"domain-migration\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "POST",
            "/api/signoffs",
            Some(&qa),
            vec![json_type],
            "nope",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        case(
            "POST",
            "/api/signoffs",
            Some(&qa),
            vec![("content-type", "text/json")],
            "{}",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        case(
            "DELETE",
            "/api/signoffs/so_nope",
            Some(&qa),
            vec![],
            "",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case(
            "DELETE",
            "/api/signoffs/{signoff}",
            Some(&pm),
            vec![],
            "",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        case(
            "DELETE",
            "/api/signoffs/{signoff}",
            Some(&editor),
            vec![],
            "",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        // users
        case(
            "POST",
            "/api/users",
            Some(&editor),
            vec![json_type],
            "{\"name\":\"x\",\"role\":\"viewer\"}",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        case(
            "POST",
            "/api/users",
            Some(&server.admin),
            vec![json_type],
            "{\"name\":\"eddie\",\"role\":\"viewer\"}",
            StatusCode::CONFLICT,
            "conflict",
        ),
        case(
            "POST",
            "/api/users",
            Some(&server.admin),
            vec![json_type],
            "{\"name\":\"x\",\"role\":\"king\"}",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        case(
            "DELETE",
            "/api/users/nobody",
            Some(&server.admin),
            vec![],
            "",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case(
            "DELETE",
            "/api/users/eddie",
            Some(&viewer),
            vec![],
            "",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        // unknown routes and methods
        case(
            "POST",
            "/api/plans",
            Some(&editor),
            vec![json_type],
            "{}",
            StatusCode::NOT_FOUND,
            "no_route",
        ),
        case(
            "DELETE",
            "/client/production.json",
            None,
            vec![],
            "",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    assert_eq!(server.revision(), 2);
    let before = snapshot(&server);
    for case in cases {
        let path = case.path.replace("{signoff}", &signoff);
        let mut builder = Request::builder().method(case.method).uri(&path);
        if let Some(token) = case.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in &case.headers {
            builder = builder.header(*name, *value);
        }
        let reply = server
            .send(builder.body(Body::from(case.body.clone())).unwrap())
            .await;
        let what = format!("{} {path} ({})", case.method, case.code);
        assert_eq!(reply.status, case.status, "{what}: {}", reply.json);
        assert_error(&reply, case.status, case.code);
        assert_eq!(snapshot(&server), before, "{what} wrote on refusal");
        match case.code {
            "stale_revision" => {
                assert_eq!(reply.json["details"]["currentRevision"], 2, "{what}");
                assert_eq!(reply.headers["etag"], "\"2\"", "{what}");
            }
            "signoffs_missing" => assert!(
                !reply.json["details"]["missingRoles"]
                    .as_array()
                    .unwrap()
                    .is_empty(),
                "{what}"
            ),
            _ => {}
        }
    }
}

#[tokio::test]
async fn invalid_plan_reports_every_problem() {
    let server = Server::new();
    let editor = server.user("eddie", "editor");
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

// ---- the stage gate ----

async fn sign_all(server: &Server, stage: &str) {
    for (i, role) in SIGNERS.iter().enumerate() {
        let n = server.state.users.list().len();
        let token = server.user(&format!("{role}-{stage}-{i}-{n}"), role);
        let reply = server
            .post(
                "/api/signoffs",
                &token,
                json!({ "rollout": ROLLOUT, "stage": stage }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    }
}

const PRODUCTION_STAGE: &str = "/api/rollouts/domain-migration/environments/production/stage";
const PRODUCTION_KILL: &str = "/api/rollouts/domain-migration/environments/production/kill-switch";

async fn put(server: &Server, token: &str, plan: &Value) -> Reply {
    let etag = format!("\"{}\"", server.revision());
    server.put_plan(token, Some(&etag), &plan.to_string()).await
}

#[tokio::test]
async fn renaming_or_editing_a_stage_cannot_launder_a_move() {
    let server = Server::new();
    let editor = server.user("eddie", "editor");
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
    assert_eq!(
        reply.json["details"]["missingRoles"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
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
    let server = Server::new();
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
    let server = Server::new();
    let editor = server.user("eddie", "editor");
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
        .post("/api/revert", &editor, json!({ "revision": 6 }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(
        reply.json["details"]["missingRoles"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(reply.json["details"]["afterRevision"], 7);
    assert_eq!(server.revision(), before);
    // With fresh sign-offs, the same revert goes through.
    sign_all(&server, "stage-1").await;
    let reply = server
        .post("/api/revert", &editor, json!({ "revision": 6 }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

/// An incident voids earlier approvals: turning the kill switch off needs a
/// sign-off from each role the live stage requires, given after it went on.
#[tokio::test]
async fn kill_switch_off_needs_signoffs_given_after_it_went_on() {
    let server = Server::new();
    let editor = server.user("eddie", "editor");
    sign_all(&server, "stage-1").await;
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-1" }))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
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

// ---- the client document ----

#[tokio::test]
async fn client_document_is_private_free_and_evaluates_like_the_server() {
    let server = Server::new();
    let editor = server.user("eddie", "editor");
    let viewer = server.user("vera", "viewer");
    // Give production targeting so the document must carry it (before the
    // sign-offs, which pin it).
    let mut plan = server.plan();
    let production = &mut plan["rollouts"][ROLLOUT]["environments"]["production"];
    production["include"] = json!(["tester-1"]);
    production["exclude"] = json!(["user-42"]);
    assert_eq!(put(&server, &editor, &plan).await.status, StatusCode::OK);
    sign_all(&server, "stage-1").await;
    sign_all(&server, "stage-2").await;
    for stage in ["stage-1", "stage-2"] {
        let reply = server
            .post(PRODUCTION_STAGE, &editor, json!({ "stage": stage }))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let full = server.plan().to_string();

    for env in ["production", "staging"] {
        let reply = server
            .request(Method::GET, &format!("/client/{env}.json"), None, None)
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let text = String::from_utf8(reply.body.clone()).unwrap();
        let document: Value = serde_json::from_str(&text).unwrap();
        let rollout = &document["rollouts"][ROLLOUT];
        // Nothing about people or process.
        for key in [
            "signoffs",
            "checklist",
            "rollbackTriggers",
            "description",
            "plannedFor",
            "requiredSignoffs",
            "monitoring",
            "audit",
            "users",
            "token",
            "tokenSha256",
            "stageDigest",
            "author",
            "comment",
        ] {
            assert!(
                !text.contains(&format!("\"{key}\"")),
                "{env}: {key} in {text}"
            );
        }
        // People's names and roles are in the full plan (so this check can fail) …
        for secret in ["engineering-lead-stage-1-0", "qa-lead", "devops-lead"] {
            assert!(full.contains(secret), "{secret}");
            assert!(!text.contains(secret), "{env}: {secret} in {text}");
        }
        // … tokens never are, anywhere.
        assert!(!text.contains("sg_") && !full.contains("sg_"));
        // Only this environment.
        let envs: Vec<&String> = rollout["environments"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(envs, [env]);
        // The revision that last changed this document: staging's is the seed.
        let changed = if env == "production" {
            server.revision()
        } else {
            1
        };
        assert_eq!(document["revision"], changed);

        // Accepted by the evaluator, and it answers as the server does.
        let evaluator = evaluator::Evaluator::from_json(&text).unwrap();
        let mut reasons = std::collections::BTreeSet::new();
        for user in [
            "user-42",
            "user-1",
            "tester-1",
            "ユーザー",
            "",
            "u 7",
            "user-99",
        ] {
            let context = evaluator::Context::new(user.to_string());
            let mut local =
                serde_json::to_value(evaluator.evaluate(ROLLOUT, env, &context)).unwrap();
            // The client document names the revision that last changed it.
            assert_eq!(local["revision"], changed);
            local["revision"] = json!(server.revision());
            let query = format!(
                "/api/evaluate?rollout={ROLLOUT}&env={env}&targetingKey={}",
                encode(user)
            );
            let remote = server.get(&query, &viewer).await;
            assert_eq!(remote.status, StatusCode::OK, "{}", remote.json);
            assert_eq!(local, remote.json, "{env} {user:?}");
            reasons.insert(local["reason"].as_str().unwrap().to_string());
        }
        if env == "production" {
            // The cases above cover the split and both targeting lists.
            assert!(
                reasons.contains("SPLIT") && reasons.contains("TARGETING_MATCH"),
                "{reasons:?}"
            );
        }
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn cors_is_open_on_the_client_document_alone() {
    let server = Server::new();
    let viewer = server.user("vera", "viewer");
    let reply = server
        .request(Method::GET, "/client/production.json", None, None)
        .await;
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    let etag = reply.headers["etag"].to_str().unwrap().to_string();
    let reply = server
        .send(
            Request::get("/client/production.json")
                .header("if-none-match", &etag)
                .header("origin", "https://app.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    for (path, token) in [
        ("/healthz", None),
        ("/api/openapi.json", None),
        ("/api/plan", Some(viewer.as_str())),
        ("/api/me", Some(viewer.as_str())),
        (
            "/api/evaluate?rollout=domain-migration&env=production&targetingKey=u",
            Some(viewer.as_str()),
        ),
        ("/api/plan", None),
        ("/api/nope", None),
        ("/", None),
    ] {
        let reply = server
            .send(
                Request::get(path)
                    .header("origin", "https://app.example")
                    .header("authorization", format!("Bearer {}", token.unwrap_or("")))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(
            reply.headers.get("access-control-allow-origin").is_none(),
            "{path} has CORS"
        );
    }
    let reply = server
        .request(Method::OPTIONS, "/api/plan", None, None)
        .await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(reply.headers.get("access-control-allow-origin").is_none());
}

// ---- /api/evaluate query strings ----

#[tokio::test]
async fn evaluate_rejects_odd_query_strings() {
    let server = Server::new();
    let viewer = server.user("vera", "viewer");
    let base = "/api/evaluate?rollout=domain-migration&env=staging";
    for (query, field) in [
        ("&targetingKey=%FF%FE", None),
        ("&targetingKey=%", None),
        ("&targetingKey=%4", None),
        ("&targetingKey=%zz", None),
        ("&targetingKey=%C3", None),
        ("&%FF=1", None),
        ("&=x", None),
        ("&targetingKey=a&targetingKey=b", Some("targetingKey")),
        ("&rollout=other", Some("rollout")),
        ("&env=production", Some("env")),
        ("&platform=web&platform=ios", Some("platform")),
    ] {
        let reply = server.get(&format!("{base}{query}"), &viewer).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        if let Some(field) = field {
            assert_eq!(reply.json["details"]["field"], field, "{query}");
        }
    }
    // Well-formed encodings decode: `+` is a space, `%2B` a plus, UTF-8 escapes text.
    for (query, unit) in [
        ("&targetingKey=user%2D42", "user-42"),
        ("&targetingKey=a+b", "a b"),
        ("&targetingKey=a%2Bb", "a+b"),
        (
            "&targetingKey=%E3%83%A6%E3%83%BC%E3%82%B6%E3%83%BC",
            "ユーザー",
        ),
        ("&&targetingKey=user-42&", "user-42"),
    ] {
        let reply = server.get(&format!("{base}{query}"), &viewer).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.json);
        assert_eq!(
            reply.json["bucket"],
            evaluator::bucket(ROLLOUT, unit),
            "{query}"
        );
    }
    let reply = server
        .get(
            &format!("{base}&targetingKey={}", "u".repeat(60_000)),
            &viewer,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn only_an_admin_lowers_the_signoffs_a_stage_requires() {
    let server = Server::new();
    let editor = server.user("eddie", "editor");

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
