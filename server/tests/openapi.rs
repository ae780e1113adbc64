//! The committed OpenAPI document is the one the code generates, and it lists
//! exactly the routes the router serves.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use stagegate_server::api::ROUTES;
use stagegate_server::openapi::{COMMITTED, document};

#[test]
fn committed_document_is_current() {
    let generated = serde_json::to_string_pretty(&document()).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"),
            &generated,
        )
        .unwrap();
        return;
    }
    assert!(
        COMMITTED == generated,
        "server/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p stagegate-server --test openapi`"
    );
}

fn documented() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn document_and_route_table_agree() {
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| (route.method.to_string(), route.path.to_string()))
        .collect();
    assert_eq!(documented(), table);
}

/// Every documented operation reaches a handler: the router answers neither
/// "no_route" nor 405 for it.
#[tokio::test]
async fn router_serves_every_documented_operation() {
    let server = common::Server::new();
    for (method, path) in documented() {
        let concrete = path
            .replace("{env}.json", "production.json")
            .replace("{rollout}", "domain-migration")
            .replace("{env}", "production")
            .replace("{n}", "1")
            .replace("{id}", "so_missing")
            .replace("{name}", "nobody");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = server
            .request(method.clone(), &concrete, Some(&server.admin), None)
            .await;
        assert_ne!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_ne!(response.json["error"], "no_route", "{method} {path}");
    }
}
