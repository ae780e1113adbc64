//! The role matrix: every role on every route, and every route's need for a
//! known token.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use evaluator::model::{ROLES, SIGNOFF_ROLES as SIGNERS};
use serde_json::{Value, json};
use stagegate_server::api::ROUTES;

use crate::common::*;

/// The role table, written out by hand (not derived from the code under test).
fn allowed_roles(method: &str, path: &str) -> &'static [&'static str] {
    match (method, path) {
        ("GET", _)
            if !path.starts_with("/api/users")
                && !path.starts_with("/api/webhooks")
                && !path.starts_with("/api/ingest-keys")
                && !path.starts_with("/api/sdk-keys") =>
        {
            &ROLES
        }
        ("PUT", "/api/plan")
        | ("POST", "/api/revert")
        | ("POST", "/api/rollouts/{rollout}/environments/{env}/stage")
        | ("POST", "/api/rollouts/{rollout}/environments/{env}/kill-switch") => {
            &["admin", "editor"]
        }
        ("POST", "/api/signoffs") => &SIGNERS,
        ("POST", "/api/rollouts/{rollout}/checklist/{n}")
        | ("POST", "/api/rollouts/{rollout}/environments/{env}/reports")
        | ("POST", "/api/rollouts/{rollout}/environments/{env}/acknowledge") => &[
            "admin",
            "editor",
            "engineering-lead",
            "product-manager",
            "qa-lead",
            "devops-lead",
        ],
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
        ("GET", "/api/webhooks")
        | ("POST", "/api/webhooks")
        | ("DELETE", "/api/webhooks/{id}")
        | ("POST", "/api/webhooks/{id}/test") => &["admin"],
        (_, "/api/ingest-keys") | ("DELETE", "/api/ingest-keys/{id}") => &["admin"],
        (_, "/api/sdk-keys") | ("DELETE", "/api/sdk-keys/{id}") => &["admin"],
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
        ("POST", p) if p.contains("/checklist/") => request(
            method,
            &concrete,
            Some(token),
            Some(&json!({ "done": case.is_multiple_of(2) })),
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
                server.user(&format!("signer{case}"), "qa-lead").await
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
            server.user(&format!("gone{case}"), "viewer").await;
            request(method, &format!("/api/users/gone{case}"), Some(token), None)
        }
        ("PATCH", "/api/users/{name}") => {
            server.user(&format!("moved{case}"), "viewer").await;
            let path = format!("/api/users/moved{case}");
            request(
                method,
                &path,
                Some(token),
                Some(&json!({ "role": "editor" })),
            )
        }
        ("POST", "/api/webhooks") => request(
            method,
            path,
            Some(token),
            Some(&json!({ "url": "http://127.0.0.1:9/hook", "events": ["rollback"] })),
        ),
        ("DELETE", "/api/webhooks/{id}") | ("POST", "/api/webhooks/{id}/test") => {
            let hook = server
                .state
                .alerts
                .add(
                    serde_json::from_value(
                        json!({ "url": "http://127.0.0.1:9/hook", "events": ["advance"] }),
                    )
                    .unwrap(),
                    "test",
                )
                .await
                .unwrap();
            request(method, &path.replace("{id}", &hook.id), Some(token), None)
        }
        ("POST", "/api/ingest-keys") => request(
            method,
            path,
            Some(token),
            Some(&json!({ "environment": "staging", "name": format!("app {case}") })),
        ),
        ("DELETE", "/api/ingest-keys/{id}") => {
            let (key, _) = server
                .state
                .ingest_keys
                .create("staging", "doomed", "test")
                .await
                .unwrap();
            request(method, &path.replace("{id}", &key.id), Some(token), None)
        }
        ("POST", "/api/sdk-keys") => request(
            method,
            path,
            Some(token),
            Some(&json!({ "environment": "production", "name": format!("app {case}") })),
        ),
        ("DELETE", "/api/sdk-keys/{id}") => {
            let (key, _) = server
                .state
                .sdk_keys
                .create("production", "doomed", "test")
                .await
                .unwrap();
            request(method, &path.replace("{id}", &key.id), Some(token), None)
        }
        ("POST", "/api/rollouts/{rollout}/environments/{env}/reports") => request(
            method,
            &concrete,
            Some(token),
            Some(&json!({ "comment": format!("sync lost my notes ({case})") })),
        ),
        ("POST", "/api/rollouts/{rollout}/environments/{env}/acknowledge") => {
            // An automatic rollback to acknowledge: staging live, then a bug report.
            let staging = format!("/api/rollouts/{ROLLOUT}/environments/staging");
            let on = server
                .post(
                    &format!("{staging}/kill-switch"),
                    &server.admin,
                    json!({ "on": false }),
                )
                .await;
            assert_eq!(on.status, StatusCode::OK, "{}", on.json);
            let reported = server
                .post(
                    &format!("{staging}/reports"),
                    &server.admin,
                    json!({ "comment": "seen" }),
                )
                .await;
            let revision = reported.json["lastAction"]["revision"].clone();
            assert!(revision.is_u64(), "{}", reported.json);
            request(
                method,
                &concrete,
                Some(token),
                Some(&json!({ "revision": revision, "comment": "on it" })),
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
        let server = Server::new().await;
        let token = if role == "admin" {
            server.admin.clone()
        } else {
            server.user("caller", role).await
        };
        for route in ROUTES.iter().filter(|route| route.action.is_some()) {
            case += 1;
            let allowed = allowed_roles(route.method, route.path).contains(&role);
            let request = valid_request(&server, route.method, route.path, &token, case).await;
            let before = snapshot(&server).await;
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
                assert_eq!(snapshot(&server).await, before, "{what} wrote on refusal");
            }
        }
    }
}

#[tokio::test]
async fn every_authenticated_route_needs_a_known_token() {
    let server = Server::new().await;
    let before = snapshot(&server).await;
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
            // An event stream never ends: its status is enough.
            if route.method == "GET" && route.path == "/client/{env}/events" {
                let request = request(route.method, &path, token, None);
                let response = tower::ServiceExt::oneshot(server.router.clone(), request)
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "GET {path}");
                continue;
            }
            let reply = server
                .send(request(route.method, &path, token, body.as_ref()))
                .await;
            // Reports take an ingest key, never a user's token.
            if route.action.is_some() || (route.path == "/api/metrics" && route.method == "POST") {
                assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
            } else if route.path.starts_with("/ofrep/") && route.method == "POST" {
                // OFREP takes an SDK key, and refuses by status alone.
                let what = format!("{} {path}", route.method);
                assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
                assert!(reply.body.is_empty(), "{what}");
            } else {
                assert!(reply.status.is_success(), "{} {path}", route.method);
            }
        }
    }
    assert_eq!(snapshot(&server).await, before);
}
