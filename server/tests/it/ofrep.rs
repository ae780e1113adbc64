//! OFREP through the real router (and, for the CLI, the real binary): SDK
//! keys, the two routes' answers and status codes as OFREP 0.3.0 has them,
//! how flag keys map onto rollouts' flags, and the bulk answer's ETag.

use std::process::Command;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::common::http::request;
use crate::common::*;
use crate::durability::{BINARY, Served};

const ONE: &str = "/ofrep/v1/evaluate/flags/";
const BULK: &str = "/ofrep/v1/evaluate/flags";

/// How a request carries the SDK key.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Bearer(&'a str),
    ApiKey(&'a str),
    Header(&'a str, &'a str),
    None,
}

async fn sdk_key(server: &Server, environment: &str) -> (String, String) {
    let reply = server
        .post(
            "/api/sdk-keys",
            &server.admin,
            json!({ "environment": environment, "name": "ios app" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let id = reply.json["id"].as_str().unwrap().to_string();
    (id, reply.json["key"].as_str().unwrap().to_string())
}

async fn ofrep(
    server: &Server,
    path: &str,
    auth: Auth<'_>,
    body: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let mut builder = Request::post(path).header("content-type", "application/json");
    builder = match auth {
        Auth::Bearer(key) => builder.header("authorization", format!("Bearer {key}")),
        Auth::ApiKey(key) => builder.header("x-api-key", key),
        Auth::Header(name, value) => builder.header(name, value),
        Auth::None => builder,
    };
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    server
        .send(builder.body(Body::from(body.to_string())).unwrap())
        .await
}

async fn one(server: &Server, key: &str, flag: &str, context: Value) -> Reply {
    let body = json!({ "context": context }).to_string();
    ofrep(
        server,
        &format!("{ONE}{flag}"),
        Auth::Bearer(key),
        &body,
        &[],
    )
    .await
}

/// The default plan plus a rollout of every flag type, live at 50 % in
/// staging behind a constraint, and a rollout whose key has a dot.
async fn richer_plan(server: &Server) {
    let mut plan = server.plan();
    plan["rollouts"]["checkout"] = json!({
        "flags": {
            "theme": { "type": "string", "fallback": "light" },
            "limit": { "type": "number", "fallback": 10 },
            "layout": { "type": "json", "fallback": { "columns": 2 } },
            "enableMigration": { "type": "boolean", "fallback": false }
        },
        "stages": [{ "id": "half", "name": "50%", "percentage": 50,
                     "values": { "theme": "dark", "limit": 20.5, "layout": { "columns": 3 } } }],
        "environments": {
            "staging": { "activeStage": "half", "include": ["vip"], "exclude": ["tester"],
                         "constraints": [{ "attribute": "appVersion", "operator": "semverGte", "value": "2.0.0" }] },
            "production": { "activeStage": null }
        }
    });
    plan["rollouts"]["app.v2"] = json!({
        "flags": { "banner": { "type": "string", "fallback": "none" } },
        "stages": [],
        "environments": { "staging": { "activeStage": null } }
    });
    let reply = put(server, &server.admin, &plan).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

/// The native evaluator's answer, for the figures OFREP must carry.
fn native(server: &Server, rollout: &str, env: &str, context: &Value) -> Value {
    let current = server.state.store.current();
    let context = evaluator::json::parse(&context.to_string()).unwrap();
    let answer = current.evaluator.evaluate_value(rollout, env, context);
    serde_json::to_value(answer).unwrap()
}

#[tokio::test]
async fn sdk_keys_are_made_listed_and_revoked_over_the_api() {
    let server = Server::new().await;
    let (id, key) = sdk_key(&server, "staging").await;
    assert!(key.starts_with("sgk_") && key.len() == 68, "{key}");
    let listed = server.get("/api/sdk-keys", &server.admin).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json.as_array().unwrap().len(), 1);
    assert_eq!(listed.json[0]["id"], id.as_str());
    assert_eq!(listed.json[0]["environment"], "staging");
    assert_eq!(listed.json[0]["createdBy"], "admin");
    assert!(!listed.body.windows(key.len()).any(|w| w == key.as_bytes()));
    let stored = server.state.store.storage().document("sdk-keys.json");
    let (stored, _) = stored.await.unwrap().unwrap();
    assert!(!stored.contains(&key));
    // Ingest keys are a separate set.
    assert_eq!(
        server.get("/api/ingest-keys", &server.admin).await.json,
        json!([])
    );

    let unknown = server
        .post(
            "/api/sdk-keys",
            &server.admin,
            json!({ "environment": "qa" }),
        )
        .await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        unknown.json["message"].as_str().unwrap().contains("'qa'"),
        "{}",
        unknown.json
    );

    let path = format!("/api/sdk-keys/{id}");
    let revoked = server
        .request(Method::DELETE, &path, Some(&server.admin), None)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.json);
    assert_eq!(revoked.json["id"], id.as_str());
    assert_eq!(
        server.get("/api/sdk-keys", &server.admin).await.json,
        json!([])
    );
    let again = server
        .request(Method::DELETE, &path, Some(&server.admin), None)
        .await;
    assert_error(&again, StatusCode::NOT_FOUND, "not_found");
    assert!(again.json["message"].as_str().unwrap().contains("SDK key"));
}

#[tokio::test]
async fn one_flag_answers_with_value_reason_variant_and_metadata() {
    let server = Server::new().await;
    richer_plan(&server).await;
    let revision = server.revision();
    let (_, staging) = sdk_key(&server, "staging").await;
    let (_, production) = sdk_key(&server, "production").await;

    // Staging is at stage-4 (100 %): everyone is in.
    let context = json!({ "targetingKey": "user-42" });
    let want = native(&server, "domain-migration", "staging", &context);
    let reply = one(
        &server,
        &staging,
        "domain-migration.enableMigration",
        context.clone(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        reply.json,
        json!({ "key": "domain-migration.enableMigration", "value": true, "reason": "SPLIT",
                "variant": "on",
                "metadata": { "rollout": "domain-migration", "stage": "stage-4",
                              "bucket": want["bucket"], "revision": revision } })
    );
    // The last stage's value of enableDualProviders is false, its fallback true.
    let dual = one(
        &server,
        &staging,
        "domain-migration.enableDualProviders",
        context.clone(),
    )
    .await;
    assert_eq!(
        (dual.json["value"].clone(), dual.json["variant"].clone()),
        (json!(false), json!("on"))
    );

    // Production has no active stage: OpenFeature's DEFAULT is OFREP's STATIC.
    let reply = one(
        &server,
        &production,
        "domain-migration.enableDualProviders",
        json!({}),
    )
    .await;
    assert_eq!(
        reply.json,
        json!({ "key": "domain-migration.enableDualProviders", "value": true, "reason": "STATIC",
                "variant": "off", "metadata": { "rollout": "domain-migration", "revision": revision } })
    );

    // Every type, targeting by list and by constraint.
    let vip = json!({ "targetingKey": "vip", "appVersion": "1.0.0" });
    let reply = one(&server, &staging, "checkout.layout", vip).await;
    assert_eq!(reply.json["value"], json!({ "columns": 3 }));
    assert_eq!(
        (
            reply.json["reason"].as_str(),
            reply.json["variant"].as_str()
        ),
        (Some("TARGETING_MATCH"), Some("on"))
    );
    let old = json!({ "targetingKey": "user-1", "appVersion": "1.9.9" });
    let reply = one(&server, &staging, "checkout.limit", old).await;
    assert_eq!(reply.json["value"], 10);
    assert_eq!(
        (
            reply.json["reason"].as_str(),
            reply.json["variant"].as_str()
        ),
        (Some("TARGETING_MATCH"), Some("off"))
    );
    let mut split = 0;
    for i in 0..40 {
        let context = json!({ "targetingKey": format!("user-{i}"), "appVersion": "2.1.0" });
        let want = native(&server, "checkout", "staging", &context);
        let reply = one(&server, &staging, "checkout.theme", context).await;
        assert_eq!(reply.json["reason"], "SPLIT");
        assert_eq!(reply.json["value"], want["values"]["theme"]);
        assert_eq!(reply.json["metadata"]["bucket"], want["bucket"]);
        let on = want["inRollout"].as_bool().unwrap();
        assert_eq!(reply.json["variant"], if on { "on" } else { "off" });
        split += usize::from(on);
    }
    assert!((5..35).contains(&split), "{split} of 40 in a 50 % stage");
}

#[tokio::test]
async fn flag_keys_name_a_rollouts_flag_or_are_404_flag_not_found() {
    let server = Server::new().await;
    richer_plan(&server).await;
    let (_, staging) = sdk_key(&server, "staging").await;
    let (_, production) = sdk_key(&server, "production").await;
    let context = json!({ "targetingKey": "user-42", "appVersion": "2.0.0" });
    // A bare name that one rollout has; a dotted rollout key.
    let reply = one(&server, &staging, "useDomainEntities", context.clone()).await;
    assert_eq!(
        (reply.status, reply.json["key"].as_str()),
        (StatusCode::OK, Some("useDomainEntities"))
    );
    assert_eq!(reply.json["metadata"]["rollout"], "domain-migration");
    let reply = one(&server, &staging, "app.v2.banner", context.clone()).await;
    assert_eq!(
        (reply.status, reply.json["value"].as_str()),
        (StatusCode::OK, Some("none"))
    );
    // app.v2 has no production.
    let reply = one(&server, &production, "app.v2.banner", context.clone()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // Two rollouts have enableMigration: the bare name is ambiguous.
    for key in [
        "enableMigration",
        "domain-migration.nothing",
        "nothing.enableMigration",
        "domain-migration",
        "domain-migration.",
        ".",
    ] {
        let reply = one(&server, &staging, key, context.clone()).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{key}: {}", reply.json);
        assert_eq!(reply.json["key"], key);
        assert_eq!(reply.json["errorCode"], "FLAG_NOT_FOUND");
        assert!(
            reply.json["errorDetails"]
                .as_str()
                .unwrap()
                .contains("staging")
        );
        assert_eq!(reply.json.as_object().unwrap().len(), 3, "{}", reply.json);
    }
    // A percent-escaped key is the key.
    let reply = one(&server, &staging, "checkout%2Etheme", context.clone()).await;
    assert_eq!(reply.json["key"], "checkout.theme");
    // One that does not decode names no flag, in OFREP's shape.
    let reply = one(&server, &staging, "%FF", context).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.json);
    assert_eq!(reply.json["errorCode"], "FLAG_NOT_FOUND");
    assert!(reply.json["errorDetails"].is_string(), "{}", reply.json);
}

#[tokio::test]
async fn bad_bodies_and_evaluation_errors_are_400_failures() {
    let server = Server::new().await;
    richer_plan(&server).await;
    let (_, staging) = sdk_key(&server, "staging").await;
    let flag = format!("{ONE}checkout.theme");
    let cases = [
        ("{\"context\": ", "PARSE_ERROR", "not JSON"),
        ("\u{0}", "PARSE_ERROR", "not JSON"),
        ("[]", "INVALID_CONTEXT", "not an array"),
        ("{}", "INVALID_CONTEXT", "'context' is missing"),
        (
            "{\"context\": [1]}",
            "INVALID_CONTEXT",
            "context must be a JSON object",
        ),
        (
            "{\"context\": {\"targetingKey\": 7}}",
            "INVALID_CONTEXT",
            "targetingKey must be a string",
        ),
    ];
    for (body, code, says) in cases {
        let reply = ofrep(&server, &flag, Auth::Bearer(&staging), body, &[]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.json["key"], "checkout.theme", "{body}");
        assert_eq!(reply.json["errorCode"], code, "{body}: {}", reply.json);
        let details = reply.json["errorDetails"].as_str().unwrap();
        assert!(details.contains(says), "{body}: {details}");
        let reply = ofrep(&server, BULK, Auth::Bearer(&staging), body, &[]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.json["errorCode"], code, "bulk {body}: {}", reply.json);
        let keys: Vec<&String> = reply.json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["errorCode", "errorDetails"], "bulk {body}");
    }
    // A live stage needs a targeting key; a constraint needs a plain attribute.
    let revision = server.revision();
    let reply = one(
        &server,
        &staging,
        "checkout.theme",
        json!({ "appVersion": "2.0.0" }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["errorCode"], "TARGETING_KEY_MISSING");
    assert!(
        reply.json["errorDetails"]
            .as_str()
            .unwrap()
            .contains("targetingKey")
    );
    assert_eq!(
        reply.json["metadata"],
        json!({ "rollout": "checkout", "revision": revision })
    );
    assert!(reply.json.get("value").is_none());
    let reply = one(
        &server,
        &staging,
        "checkout.theme",
        json!({ "targetingKey": "u", "appVersion": {} }),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_CONTEXT"))
    );
    // Without a live stage, no targeting key is needed.
    let reply = one(&server, &staging, "app.v2.banner", json!({})).await;
    assert_eq!(
        (reply.status, reply.json["reason"].as_str()),
        (StatusCode::OK, Some("STATIC"))
    );
}

#[tokio::test]
async fn sdk_keys_authenticate_by_either_header_and_refusals_have_no_body() {
    let server = Server::new().await;
    let (id, key) = sdk_key(&server, "staging").await;
    let ingest = server
        .post(
            "/api/ingest-keys",
            &server.admin,
            json!({ "environment": "staging" }),
        )
        .await
        .json["key"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({ "context": { "targetingKey": "user-1" } }).to_string();
    let flag = format!("{ONE}enableMigration");
    for path in [flag.as_str(), BULK] {
        for auth in [
            Auth::Bearer(&key),
            Auth::ApiKey(&key),
            Auth::Header("authorization", &format!("bearer {key}")),
        ] {
            let reply = ofrep(&server, path, auth, &body, &[]).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.json);
        }
        let unknown = format!("sgk_{}", "0".repeat(64));
        let admin = server.admin.clone();
        for auth in [
            Auth::None,
            Auth::Bearer(&unknown),
            Auth::ApiKey(&unknown),
            Auth::Bearer(&admin),
            Auth::Bearer(&ingest),
            Auth::Header("authorization", &key),
            Auth::Header("authorization", "Bearer"),
        ] {
            let reply = ofrep(&server, path, auth, &body, &[]).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
            assert!(
                reply.body.is_empty(),
                "{path}: {}",
                String::from_utf8_lossy(&reply.body)
            );
        }
    }
    let path = format!("/api/sdk-keys/{id}");
    let revoked = server
        .request(Method::DELETE, &path, Some(&server.admin), None)
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    for path in [flag.as_str(), BULK] {
        for auth in [Auth::Bearer(&key), Auth::ApiKey(&key)] {
            let reply = ofrep(&server, path, auth, &body, &[]).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
            assert!(reply.body.is_empty(), "{path}");
        }
    }
    // An SDK key is no user token, nor an ingest key.
    let me = server.get("/api/me", &key).await;
    assert_error(&me, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn bulk_answers_every_flag_with_an_etag_and_304_when_unchanged() {
    let server = Server::new().await;
    richer_plan(&server).await;
    let (_, staging) = sdk_key(&server, "staging").await;
    let context = json!({ "targetingKey": "vip", "appVersion": "2.0.0" });
    let body = json!({ "context": context }).to_string();
    let reply = ofrep(&server, BULK, Auth::Bearer(&staging), &body, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let revision = server.revision();
    let keys: Vec<&str> = reply.json["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "domain-migration.enableMigration",
            "domain-migration.useDomainEntities",
            "domain-migration.enableDualProviders",
            "checkout.theme",
            "checkout.limit",
            "checkout.layout",
            "checkout.enableMigration",
            "app.v2.banner",
        ]
    );
    assert_eq!(reply.json["metadata"], json!({ "revision": revision }));
    assert_eq!(
        reply.json["eventStreams"],
        json!([{ "type": "sse", "endpoint": { "requestUri": "/client/staging/events" } }])
    );
    let want = native(&server, "checkout", "staging", &context);
    assert_eq!(
        reply.json["flags"][3],
        json!({ "key": "checkout.theme", "value": "dark", "reason": "TARGETING_MATCH", "variant": "on",
                "metadata": { "rollout": "checkout", "stage": "half", "bucket": want["bucket"], "revision": revision } })
    );
    assert_eq!(reply.json["flags"][7]["reason"], "STATIC");
    let etag = reply.headers["etag"].to_str().unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 26,
        "{etag}"
    );

    // Unchanged: 304 with the same ETag, nothing else; a weak or listed tag too.
    for tag in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
        let again = ofrep(
            &server,
            BULK,
            Auth::Bearer(&staging),
            &body,
            &[("if-none-match", &tag)],
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{tag}");
        assert!(again.body.is_empty());
        assert_eq!(again.headers["etag"], etag.as_str());
    }
    // Another context is another answer.
    let other =
        json!({ "context": { "targetingKey": "tester", "appVersion": "2.0.0" } }).to_string();
    let reply = ofrep(
        &server,
        BULK,
        Auth::Bearer(&staging),
        &other,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["flags"][3]["variant"], "off");

    // The kill switch: everyone gets the fallbacks, DISABLED.
    let kill = "/api/rollouts/checkout/environments/staging/kill-switch";
    let reply = server
        .post(kill, &server.admin, json!({ "on": true }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let reply = ofrep(
        &server,
        BULK,
        Auth::Bearer(&staging),
        &body,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_ne!(reply.headers["etag"], etag.as_str());
    let theme = &reply.json["flags"][3];
    assert_eq!(
        (
            theme["value"].as_str(),
            theme["reason"].as_str(),
            theme["variant"].as_str()
        ),
        (Some("light"), Some("DISABLED"), Some("off"))
    );
    assert_eq!(reply.json["flags"][0]["reason"], "SPLIT");

    // Without a targeting key, the live rollouts' flags fail one by one.
    let reply = ofrep(
        &server,
        BULK,
        Auth::Bearer(&staging),
        "{\"context\": {}}",
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let flags = reply.json["flags"].as_array().unwrap();
    assert_eq!(flags[0]["errorCode"], "TARGETING_KEY_MISSING");
    assert_eq!(flags[0]["key"], "domain-migration.enableMigration");
    assert!(flags[0].get("value").is_none());
    assert_eq!(flags[3]["reason"], "DISABLED");
    assert_eq!(flags[7]["reason"], "STATIC");
}

#[tokio::test]
async fn browsers_may_evaluate_from_any_origin() {
    let server = Server::new().await;
    for path in [format!("{ONE}enableMigration"), BULK.to_string()] {
        let request = Request::options(path.as_str())
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, x-api-key, if-none-match, content-type",
            )
            .body(Body::empty())
            .unwrap();
        let reply = server.send(request).await;
        assert!(reply.status.is_success(), "{path}: {}", reply.status);
        assert_eq!(reply.headers["access-control-allow-origin"], "*");
        let allowed = reply.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        for header in [
            "authorization",
            "x-api-key",
            "if-none-match",
            "content-type",
        ] {
            assert!(allowed.contains(header), "{path}: {allowed}");
        }
    }
    let (_, key) = sdk_key(&server, "staging").await;
    let reply = ofrep(
        &server,
        BULK,
        Auth::Bearer(&key),
        "{\"context\": {\"targetingKey\": \"u\"}}",
        &[("origin", "https://app.example.com")],
    )
    .await;
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    assert!(
        reply.headers["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("etag")
    );
}

/// `stagegate sdk-key` beside a running server: it follows within a second or two.
#[test]
fn sdk_keys_are_made_listed_and_revoked_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(dir.path());
    let cli = |args: &[&str]| {
        let output = Command::new(BINARY)
            .args(args)
            .arg("--data")
            .arg(dir.path())
            .output()
            .unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr),
        )
    };
    let (code, _, stderr) = cli(&["sdk-key", "create", "--env", "qa"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr.trim(),
        "stagegate: --env: no rollout has an environment 'qa' (the plan's: production, staging)"
    );
    let (code, stdout, stderr) =
        cli(&["sdk-key", "create", "--env", "staging", "--name", "android"]);
    assert_eq!(code, Some(0), "{stderr}");
    let id = stdout.split_whitespace().nth(3).unwrap().to_string();
    assert!(
        stdout.starts_with(&format!("created SDK key {id} for staging;")),
        "{stdout}"
    );
    let key = stdout.lines().last().unwrap().to_string();
    assert!(key.starts_with("sgk_"));
    let (_, listed, _) = cli(&["sdk-key", "list"]);
    assert!(
        listed.starts_with(&format!("{id}\tstaging\tandroid\t"))
            && listed.trim_end().ends_with("\tcli"),
        "{listed}"
    );
    let (_, ingest, _) = cli(&["ingest-key", "list"]);
    assert_eq!(ingest, "");

    let status = |key: &str| {
        let body = json!({ "context": { "targetingKey": "user-1" } }).to_string();
        let headers = [("X-API-Key", key), ("Content-Type", "application/json")];
        request(server.addr, "POST", BULK, &headers, Some(body.as_bytes()))
            .unwrap()
            .status
    };
    let until = |want: u16| {
        let started = Instant::now();
        while status(&key) != want {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still not {want} after 5 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    until(200);
    let (code, stdout, _) = cli(&["sdk-key", "revoke", &id]);
    assert_eq!(
        (code, stdout),
        (Some(0), format!("revoked SDK key {id} (staging)\n"))
    );
    until(403);
    let (code, _, stderr) = cli(&["sdk-key", "revoke", &id]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "SDK key '{id}' does not exist (see `stagegate sdk-key list`)"
        )),
        "{stderr}"
    );
}
