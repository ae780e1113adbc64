//! The flagd export: `GET /api/export/flagd/{env}` and `stagegate export flagd`
//! (what it decides is tests/js/flagd.test.mjs, against flagd-core itself).

use std::process::{Command, Output};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

const BINARY: &str = env!("CARGO_BIN_EXE_stagegate");
const DEFAULT_PLAN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../static/default-plan.json");
const KEY: &str = "domain-migration.enableMigration";

fn export(args: &[&str]) -> Output {
    let mut all = vec!["export", "flagd"];
    all.extend_from_slice(args);
    Command::new(BINARY).args(all).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn the_route_follows_the_live_plan() {
    let server = Server::new().await;
    let viewer = server.user("viewer1", "viewer").await;
    let reply = server.get("/api/export/flagd/production", &viewer).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(
        reply.headers["etag"],
        format!("\"{}\"", server.revision()).as_str()
    );
    assert_eq!(
        reply.json["$schema"],
        "https://flagd.dev/schema/v0/flags.json"
    );
    assert_eq!(reply.json["flags"].as_object().unwrap().len(), 3);
    assert!(reply.json["flags"][KEY].get("targeting").is_none());

    go_live(&server, &server.admin, "stage-2").await;
    let live = server
        .get("/api/export/flagd/production", &viewer)
        .await
        .json;
    assert_eq!(live["flags"][KEY]["metadata"]["stage"], "stage-2");
    assert_eq!(live["metadata"]["revision"], server.revision());
    let rules = live["flags"][KEY]["targeting"]["if"].as_array().unwrap();
    assert_eq!(rules.last().unwrap()["fractional"][1], json!(["on", 2500]));

    let killed = server
        .post(PRODUCTION_KILL, &server.admin, json!({ "on": true }))
        .await;
    assert_eq!(killed.status, StatusCode::OK, "{}", killed.json);
    let off = server
        .get("/api/export/flagd/production", &viewer)
        .await
        .json;
    assert_eq!(off["flags"][KEY]["state"], "ENABLED");
    assert_eq!(off["flags"][KEY]["defaultVariant"], "off");
    assert!(off["flags"][KEY].get("targeting").is_none());
}

#[tokio::test]
async fn the_route_refuses_clearly() {
    let server = Server::new().await;
    let unknown = server.get("/api/export/flagd/qa", &server.admin).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "not_found");
    assert!(unknown.json["message"].as_str().unwrap().contains("'qa'"));

    let anonymous = server
        .request(
            axum::http::Method::GET,
            "/api/export/flagd/production",
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let mut plan = server.plan();
    plan["rollouts"][ROLLOUT]["flags"]["colors"] = json!({ "type": "json", "fallback": ["blue"] });
    let written = put(&server, &server.admin, &plan).await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.json);
    let refused = server
        .get("/api/export/flagd/production", &server.admin)
        .await;
    assert_error(&refused, StatusCode::CONFLICT, "conflict");
    assert_eq!(
        refused.json["message"],
        "flag 'domain-migration.colors' is of type json and its 'off' value is an array: a flagd object flag holds only objects"
    );
}

#[tokio::test]
async fn the_command_writes_what_the_route_answers() {
    let server = Server::new().await;
    let api = server.get("/api/export/flagd/staging", &server.admin).await;
    let output = export(&["--plan", DEFAULT_PLAN, "--env", "staging"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    // The same flags; the server's plan is a later revision of the file.
    assert_eq!(printed["flags"], api.json["flags"]);
    assert_eq!(printed["metadata"]["revision"], 0);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flags.json");
    let written = export(&[
        "--plan",
        DEFAULT_PLAN,
        "--env",
        "staging",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(written.status.code(), Some(0), "{}", text(&written.stderr));
    assert!(written.stdout.is_empty());
    assert_eq!(std::fs::read(&out).unwrap(), output.stdout);
    // Only the file: no temp file left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn the_command_fails_without_panicking() {
    let unknown = export(&["--plan", DEFAULT_PLAN, "--env", "qa"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        text(&unknown.stderr),
        "stagegate: environment 'qa' is in no rollout of the plan\n"
    );
    assert!(unknown.stdout.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"schemaVersion": 1, "rollouts": 7}"#).unwrap();
    let invalid = export(&["--plan", bad.to_str().unwrap(), "--env", "production"]);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        text(&invalid.stdout).starts_with("/rollouts: "),
        "{}",
        text(&invalid.stdout)
    );
    assert!(!text(&invalid.stderr).contains("panicked"));

    let missing = dir.path().join("missing.json");
    let unread = export(&["--plan", missing.to_str().unwrap(), "--env", "production"]);
    assert_eq!(unread.status.code(), Some(2));
    assert!(
        text(&unread.stderr).contains("cannot read"),
        "{}",
        text(&unread.stderr)
    );

    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(DEFAULT_PLAN).unwrap()).unwrap();
    plan["rollouts"][ROLLOUT]["flags"]["colors"] = json!({ "type": "json", "fallback": "blue" });
    let json_flag = dir.path().join("json-flag.json");
    std::fs::write(&json_flag, plan.to_string()).unwrap();
    let refused = export(&["--plan", json_flag.to_str().unwrap(), "--env", "staging"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains(
            "flag 'domain-migration.colors' is of type json and its 'on' value is a string"
        ),
        "{}",
        text(&refused.stderr)
    );
}
