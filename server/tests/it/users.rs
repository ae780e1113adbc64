//! Users on a store that several servers share: each sees the others' changes
//! after a reload (or a notice), and changes made at once on several servers
//! all land. Run on the data directory and on PostgreSQL alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use evaluator::model::Role;
use serde_json::json;
use stagegate_server::storage::{Location, Storage};
use stagegate_server::users::Users;

use crate::common::{self, Server};

/// What one server (or the CLI) opens: a `Storage` of its own on `location`.
async fn open(location: &Location) -> Arc<Users> {
    let storage = Storage::open(location).await.unwrap();
    // As a server does (a data directory with users but no revision would
    // not open again).
    stagegate_server::store::Store::open(storage.clone())
        .await
        .unwrap();
    Arc::new(Users::open(storage).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_see_each_others_users_and_lose_no_add() {
    let dir = tempfile::tempdir().unwrap();
    let location = common::location(dir.path()).await;
    let (a, b) = (open(&location).await, open(&location).await);

    let (_, token) = a.add("ana", Role::Editor, "test").await.unwrap();
    assert!(b.authenticate(&token).is_none(), "memory until reloaded");
    assert!(b.reload().await.unwrap());
    assert_eq!(b.authenticate(&token).unwrap().name, "ana");
    b.set_role("ana", Role::Viewer, "test").await.unwrap();
    assert!(a.reload().await.unwrap());
    assert!(a.holds("ana", "viewer"));
    assert!(!a.reload().await.unwrap(), "nothing new to read");

    // Adds of different users from both at once: each one reads the document
    // as it is under the store's lock, so none overwrites another.
    let mut adds = tokio::task::JoinSet::new();
    for i in 0..24 {
        let users = if i % 2 == 0 { a.clone() } else { b.clone() };
        adds.spawn(async move { users.add(&format!("u{i}"), Role::Viewer, "test").await });
    }
    while let Some(added) = adds.join_next().await {
        added.unwrap().unwrap();
    }
    for users in [&a, &b] {
        users.reload().await.unwrap();
        assert_eq!(users.list().len(), 25);
        assert_eq!(users.log().len(), 26, "every change logged once");
    }
    assert_eq!(*a.list(), *b.list());
}

#[tokio::test]
async fn servers_on_one_new_store_make_one_first_admin() {
    let dir = tempfile::tempdir().unwrap();
    let location = common::location(dir.path()).await;
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(open(&location).await);
    }
    let made = futures_util::future::join_all(servers.iter().map(|s| s.create_first_admin())).await;
    let tokens: Vec<String> = made.into_iter().filter_map(|m| m.unwrap()).collect();
    assert_eq!(
        tokens.len(),
        1,
        "one server makes the admin and prints its token"
    );
    for users in &servers {
        users.reload().await.unwrap();
        assert_eq!(users.list().len(), 1);
        assert!(users.authenticate(&tokens[0]).is_some());
    }
}

/// On PostgreSQL a server hears of another's user change from the store's
/// notices. (On a data directory there is one server; binary.rs covers the
/// CLI's changes reaching it by polling.)
#[tokio::test]
async fn a_user_made_on_one_server_authenticates_on_another() {
    if !common::on_postgres() {
        return;
    }
    let a = Server::new().await;
    let b = a.another().await;
    stagegate_server::api::watch_users(b.state.clone());
    let reply = a
        .post(
            "/api/users",
            &a.admin,
            json!({ "name": "quinn", "role": "qa-lead" }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.json);
    let token = reply.json["token"].as_str().unwrap().to_string();
    let started = Instant::now();
    while b.get("/api/me", &token).await.status != 200 {
        assert!(started.elapsed() < Duration::from_secs(3), "not seen on b");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
