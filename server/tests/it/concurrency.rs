//! Many writers against the same base revision: exactly one wins per round, the
//! rest get 412, and no acknowledged write is lost.

use crate::common::Server;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_writer_wins_per_base_revision() {
    let server = std::sync::Arc::new(Server::new().await);
    let editor = server.user("eddie", "editor").await;
    for round in 0..5u64 {
        let base = server.revision();
        let etag = format!("\"{base}\"");
        let writers = (0..16).map(|writer| {
            let (server, editor, etag) = (server.clone(), editor.clone(), etag.clone());
            let mut plan = server.plan();
            let marker = format!("round {round} writer {writer}");
            plan["rollouts"]["domain-migration"]["description"] = json!(marker);
            tokio::spawn(async move {
                let reply = server
                    .put_plan(&editor, Some(&etag), &plan.to_string())
                    .await;
                (writer, reply)
            })
        });
        let mut winners = Vec::new();
        for handle in writers.collect::<Vec<_>>() {
            let (writer, reply) = handle.await.unwrap();
            match reply.status {
                StatusCode::OK => winners.push((writer, reply)),
                StatusCode::PRECONDITION_FAILED => {
                    assert_eq!(reply.json["details"]["currentRevision"], base + 1)
                }
                other => panic!("unexpected {other}: {}", reply.json),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}");
        let (writer, reply) = &winners[0];
        assert_eq!(reply.json["revision"], base + 1);
        // The winner's write is what is stored, current and on disk.
        let marker = format!("round {round} writer {writer}");
        assert_eq!(
            server.plan()["rollouts"]["domain-migration"]["description"],
            marker
        );
        let stored = server
            .get(&format!("/api/revisions/{}", base + 1), &editor)
            .await;
        assert_eq!(
            stored.json["rollouts"]["domain-migration"]["description"],
            marker
        );
    }
    assert_eq!(server.revision(), 6);
    let revisions = server.get("/api/revisions", &editor).await.json;
    assert_eq!(revisions.as_array().unwrap().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn targeted_writes_all_land_without_lost_updates() {
    // Stage moves and kill switches without If-Match are applied on top of
    // whatever is current, one at a time: each that changes something gets its
    // own revision, and one that finds the switch already set writes nothing.
    let server = std::sync::Arc::new(Server::new().await);
    let editor = server.user("eddie", "editor").await;
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let (server, editor) = (server.clone(), editor.clone());
            tokio::spawn(async move {
                let env = if i % 2 == 0 { "staging" } else { "production" };
                let path = format!("/api/rollouts/domain-migration/environments/{env}/kill-switch");
                server
                    .post(&path, &editor, json!({ "on": i % 4 < 2 }))
                    .await
                    .status
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.await.unwrap(), StatusCode::OK);
    }
    let last = server.revision();
    assert!((3..=13).contains(&last), "{last}");
    let audit = server.get("/api/audit", &editor).await.json;
    let revisions: Vec<u64> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revisions, (1..=last).rev().collect::<Vec<_>>());
    for entry in audit.as_array().unwrap() {
        if entry["revision"] != 1 {
            let summary = entry["summary"][0].as_str().unwrap();
            assert!(
                summary.contains("kill switch off → on")
                    || summary.contains("kill switch on → off"),
                "{summary}"
            );
            assert_eq!(
                entry["baseRevision"].as_u64().unwrap() + 1,
                entry["revision"].as_u64().unwrap()
            );
        }
    }
}

/// Two servers on one PostgreSQL database: one winner per base across both, and
/// writes without a base (the kill switch) all land, on consecutive numbers.
/// (A data directory has one server: the test above covers it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_agree_on_every_revision() {
    if !crate::common::on_postgres() {
        return;
    }
    let a = std::sync::Arc::new(Server::new().await);
    let b = std::sync::Arc::new(a.another().await);
    let editor = a.user("eddie", "editor").await;
    b.state.users.reload().await.unwrap();
    for round in 0..5u64 {
        let base = a.revision();
        let etag = format!("\"{base}\"");
        let writers = (0..8).map(|writer| {
            let server = if writer % 2 == 0 {
                a.clone()
            } else {
                b.clone()
            };
            let (editor, etag) = (editor.clone(), etag.clone());
            let mut plan = a.plan();
            plan["rollouts"]["domain-migration"]["description"] =
                json!(format!("round {round} writer {writer}"));
            tokio::spawn(async move {
                // B may not have heard of A's last write yet: it catches up first.
                let reply = server
                    .put_plan(&editor, Some(&etag), &plan.to_string())
                    .await;
                reply.status
            })
        });
        let mut won = 0;
        for handle in writers.collect::<Vec<_>>() {
            match handle.await.unwrap() {
                StatusCode::OK => won += 1,
                StatusCode::PRECONDITION_FAILED => {}
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
        b.state.store.catch_up().await.unwrap();
        a.state.store.catch_up().await.unwrap();
        assert_eq!(a.revision(), base + 1);
        assert_eq!(b.revision(), base + 1);
    }

    // No base: every toggle lands, whichever server it reaches.
    let before = a.revision();
    let toggles = (0..10).map(|i| {
        let server = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            let path = "/api/rollouts/domain-migration/environments/staging/kill-switch";
            server
                .post(path, &server.admin, json!({ "on": i % 4 < 2 }))
                .await
                .status
        })
    });
    let mut landed = 0;
    for handle in toggles.collect::<Vec<_>>() {
        assert_eq!(handle.await.unwrap(), StatusCode::OK);
        landed += 1;
    }
    a.state.store.catch_up().await.unwrap();
    b.state.store.catch_up().await.unwrap();
    let numbers: Vec<u64> = a.state.store.audit().iter().map(|e| e.revision).collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert!(a.revision() <= before + landed);
    assert_eq!(a.revision(), b.revision());
    assert_eq!(
        serde_json::to_value(a.state.store.current().plan()).unwrap(),
        serde_json::to_value(b.state.store.current().plan()).unwrap()
    );
}
