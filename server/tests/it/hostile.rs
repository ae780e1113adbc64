//! The probes of a hostile reviewer, each a row: gate bypasses across several
//! writes, sign-offs of people who left, user changes, empty writes, and data
//! directories damaged from outside.

use std::process::Command;

use crate::common::*;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn deleting_and_re_adding_a_rollout_does_not_walk_around_the_gate() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    // A second rollout, so that a plan without the first is valid.
    let mut plan = server.plan();
    plan["rollouts"]["spare"] = plan["rollouts"][ROLLOUT].clone();
    plan["rollouts"]["spare"]["stages"][0]["requiredSignoffs"] = json!([]);
    assert_eq!(
        put(&server, &server.admin, &plan).await.status,
        StatusCode::OK
    );
    go_live(&server, &editor, "stage-1").await;
    let live = server.revision();

    // Step 1 of the walk-around: remove the rollout. An editor may not.
    let mut without = server.plan();
    without["rollouts"].as_object_mut().unwrap().remove(ROLLOUT);
    let reply = put(&server, &editor, &without).await;
    assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
    assert!(
        reply.json["message"]
            .as_str()
            .unwrap()
            .contains("remove rollout")
    );
    // Step 2, had it worked: add it back without requirements, live at 100%.
    let mut weaker = server.plan();
    for stage in weaker["rollouts"][ROLLOUT]["stages"]
        .as_array_mut()
        .unwrap()
    {
        stage["requiredSignoffs"] = json!([]);
    }
    weaker["rollouts"][ROLLOUT]["environments"]["production"]["activeStage"] = json!("stage-4");
    assert_error(
        &put(&server, &editor, &weaker).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(server.revision(), live);

    // An admin may remove it (audited); re-adding it live is still an admin's
    // call, by a PUT or by reverting to a revision that had it live.
    assert_eq!(
        put(&server, &server.admin, &without).await.status,
        StatusCode::OK
    );
    let audit = server.get("/api/audit", &editor).await.json;
    assert_eq!(audit[0]["author"], "admin");
    assert_eq!(audit[0]["summary"][0], "rollout domain-migration removed");
    let mut readded = without.clone();
    readded["rollouts"][ROLLOUT] = weaker["rollouts"][ROLLOUT].clone();
    let reply = put(&server, &editor, &readded).await;
    assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
    assert!(
        reply.json["message"]
            .as_str()
            .unwrap()
            .contains("already live")
    );
    let reply = server
        .post(
            "/api/revert",
            &editor,
            json!({ "revision": live, "restoreLiveState": true }),
        )
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
    let before = server.revision();
    // Re-added with production at no stage, by an editor: allowed, and moving
    // production onto it again needs its own (here: every) sign-off.
    let mut idle = without.clone();
    idle["rollouts"][ROLLOUT] = server
        .get(&format!("/api/revisions/{live}"), &editor)
        .await
        .json["rollouts"][ROLLOUT]
        .clone();
    idle["rollouts"][ROLLOUT]["environments"]["production"]["activeStage"] = Value::Null;
    assert_eq!(put(&server, &editor, &idle).await.status, StatusCode::OK);
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-1" }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(server.revision(), before + 1);
}

#[tokio::test]
async fn a_removed_or_moved_users_signoffs_stop_counting() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    sign_all(&server, "stage-1").await;
    assert_eq!(server.plan()["signoffs"].as_array().unwrap().len(), 4);
    let signer = |role: &str| {
        server.plan()["signoffs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["role"] == role)
            .map(|s| s["by"].as_str().unwrap().to_string())
    };

    let qa = signer("qa-lead").unwrap();
    let reply = server
        .request(
            Method::DELETE,
            &format!("/api/users/{qa}"),
            Some(&server.admin),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(signer("qa-lead"), None, "withdrawn with the user");
    let devops = signer("devops-lead").unwrap();
    let reply = server
        .request(
            Method::PATCH,
            &format!("/api/users/{devops}"),
            Some(&server.admin),
            Some(json!({ "role": "viewer" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(signer("devops-lead"), None, "withdrawn with the role");
    let audit = server.get("/api/audit", &editor).await.json;
    assert_eq!(audit[0]["action"], "withdraw-signoff");
    assert!(audit[0]["comment"].as_str().unwrap().contains(&devops));

    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-1" }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "signoffs_missing");
    assert_eq!(
        reply.json["details"]["missingRoles"],
        json!(["qa-lead", "devops-lead"])
    );

    // The CLI removes a user behind the server's back: every write still drops
    // their sign-off before the gate looks.
    let pm = signer("product-manager").unwrap();
    server.state.users.remove(&pm, "cli").await.unwrap();
    let reply = server
        .post(PRODUCTION_STAGE, &editor, json!({ "stage": "stage-1" }))
        .await;
    assert_eq!(
        reply.json["details"]["missingRoles"],
        json!(["product-manager", "qa-lead", "devops-lead"])
    );
}

#[tokio::test]
async fn user_changes_are_audited_and_the_last_admin_stays() {
    let server = Server::new().await;
    let admin = server.admin.clone();
    let reply = server
        .post(
            "/api/users",
            &admin,
            json!({ "name": "ann", "role": "editor" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let patch = |name: &str, role: &str| {
        let (path, body) = (format!("/api/users/{name}"), json!({ "role": role }));
        let admin = admin.clone();
        let server = &server;
        async move {
            server
                .request(Method::PATCH, &path, Some(&admin), Some(body))
                .await
        }
    };
    assert_eq!(patch("ann", "qa-lead").await.status, StatusCode::OK);
    assert_error(
        &patch("ann", "king").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert_error(
        &patch("nobody", "viewer").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // The only admin can neither leave nor step down.
    let reply = server
        .request(Method::DELETE, "/api/users/admin", Some(&admin), None)
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    assert!(
        reply.json["message"]
            .as_str()
            .unwrap()
            .contains("last admin")
    );
    assert_error(
        &patch("admin", "editor").await,
        StatusCode::CONFLICT,
        "conflict",
    );
    let reply = server
        .request(Method::DELETE, "/api/users/ann", Some(&admin), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);

    let log = server.get("/api/users/log", &admin).await.json;
    let rows: Vec<(String, String, String, Value)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["by"].as_str().unwrap().into(),
                e["name"].as_str().unwrap().into(),
                e["role"].clone(),
            )
        })
        .collect();
    let expected = [
        ("user-remove", "admin", "ann", Value::Null),
        ("user-role", "admin", "ann", json!("qa-lead")),
        ("user-add", "admin", "ann", json!("editor")),
        ("user-add", "stagegate", "admin", json!("admin")),
    ]
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d));
    assert_eq!(rows, expected);
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|e| e["at"].as_str().unwrap().ends_with('Z'))
    );
}

#[tokio::test]
async fn writes_that_change_nothing_write_nothing() {
    let server = Server::new().await;
    let editor = server.user("eddie", "editor").await;
    let qa = server.user("quinn", "qa-lead").await;
    let (revision, count) = (server.revision(), revision_files(&server).await);

    // An identical PUT.
    let reply = put(&server, &editor, &server.plan()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["revision"], revision);
    // A kill switch set to what it is; a stage moved to where it is.
    let kill = "/api/rollouts/domain-migration/environments/staging/kill-switch";
    let reply = server.post(kill, &editor, json!({ "on": false })).await;
    assert_eq!(reply.json["revision"], revision);
    let stage = "/api/rollouts/domain-migration/environments/staging/stage";
    let reply = server
        .post(stage, &editor, json!({ "stage": "stage-4" }))
        .await;
    assert_eq!(reply.json["revision"], revision);
    assert_eq!(
        (server.revision(), revision_files(&server).await),
        (revision, count)
    );

    // Signing what one's own sign-off already approves.
    let body = json!({ "rollout": ROLLOUT, "stage": "stage-1" });
    let first = server.post("/api/signoffs", &qa, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = server.post("/api/signoffs", &qa, body).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json["signoff"]["id"], first.json["signoff"]["id"]);
    assert_eq!(again.json["revision"], first.json["revision"]);
    assert_eq!(server.revision(), revision + 1);
}

/// `stagegate serve` on `dir` until it listens (`Ok`) or exits (`Err` with what
/// it printed).
fn serve(dir: &std::path::Path) -> Result<std::process::Child, String> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagegate"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        if line.unwrap().starts_with("stagegate listening") {
            return Ok(child);
        }
    }
    let output = child.wait_with_output().unwrap();
    Err(String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_damaged_or_lost_history_stops_the_server_instead_of_being_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(dir.path()).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let revisions = dir.path().join("revisions");
    let newest = revisions.join("000001.json");

    for damage in ["", "{\"audit\":", "garbage"] {
        let good = std::fs::read(&newest).unwrap();
        std::fs::write(&newest, damage).unwrap();
        let error = serve(dir.path()).expect_err("refuses to start");
        assert!(error.contains("000001.json"), "{error}");
        assert!(error.contains("000001.json.damaged"), "{error}");
        std::fs::write(&newest, good).unwrap();
    }
    // Revisions gone while users remain: no new history over the old one.
    std::fs::rename(&newest, dir.path().join("elsewhere.json")).unwrap();
    let error = serve(dir.path()).expect_err("refuses to start");
    assert!(error.contains("refusing to start a new history"), "{error}");
    std::fs::remove_dir(&revisions).unwrap();
    assert!(serve(dir.path()).is_err());
}

/// What each route declares in the route table (`ROUTES`, read by the router,
/// the OpenAPI document and this test) is what it enforces: every role the
/// declared action allows gets past authorization, every other role gets 403.
#[tokio::test]
async fn every_route_enforces_exactly_its_declared_permission() {
    use stagegate_server::api::ROUTES;
    use stagegate_server::auth::allows;
    let server = Server::new().await;
    let mut checked = 0;
    for role in evaluator::model::Role::ALL {
        let token = server
            .user(&format!("who-{}", role.name()), role.name())
            .await;
        for route in ROUTES {
            let Some(action) = route.action else { continue };
            let path = route
                .path
                .replace("{rollout}", ROLLOUT)
                .replace("{env}", "staging")
                .replace("{n}", "1")
                .replace("{id}", "nobody")
                .replace("{name}", "nobody");
            let method: Method = route.method.parse().unwrap();
            // A body the handler will refuse: only authorization may answer 403.
            let reply = server
                .request(
                    method,
                    &path,
                    Some(&token),
                    Some(json!({ "unknown": true })),
                )
                .await;
            let context = format!(
                "{} {} as {}: {}",
                route.method,
                route.path,
                role.name(),
                reply.json
            );
            if allows(role, action) {
                assert!(![401, 403].contains(&reply.status.as_u16()), "{context}");
            } else {
                assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
            }
            checked += 1;
        }
    }
    assert!(checked >= 7 * 15, "{checked}");
}
