//! The client document (private-free, evaluates like the server, open CORS)
//! and strict parsing of /api/evaluate's query.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn client_document_is_private_free_and_evaluates_like_the_server() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let viewer = server.user("vera", "viewer").await;
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
        for secret in ["engineering-lead-stage-1-", "qa-lead", "devops-lead"] {
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
    let server = Server::new().await;
    let viewer = server.user("vera", "viewer").await;
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
    let server = Server::new().await;
    let viewer = server.user("vera", "viewer").await;
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
