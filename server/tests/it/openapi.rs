//! The committed OpenAPI document is the one the code generates, and it lists
//! exactly the routes the router serves.

use crate::common;

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
        "server/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p stagegate-server --test it openapi`"
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
    let server = common::Server::new().await;
    for (method, path) in documented() {
        let concrete = path
            .replace("{env}.json", "production.json")
            .replace("{rollout}", "domain-migration")
            .replace("{env}", "production")
            .replace("{n}", "1")
            .replace("{id}", "so_missing")
            .replace("{name}", "nobody");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        // An event stream never ends: its status is enough.
        if method == Method::GET && path == "/client/{env}/events" {
            let request = axum::http::Request::get(&concrete)
                .body(axum::body::Body::empty())
                .unwrap();
            let response = tower::ServiceExt::oneshot(server.router.clone(), request)
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
            continue;
        }
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

/// `app()` mounts routes only from the table, so the table, the document and the
/// router cannot drift: a route mounted any other way (`.route(…)`, `.nest(…)`,
/// `.merge(…)`, `.route_service(…)`) anywhere in the crate fails here.
#[test]
fn routes_are_mounted_only_from_the_table() {
    let mut mounts = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if [
                    ".route(",
                    ".route_service(",
                    ".nest(",
                    ".nest_service(",
                    ".merge(",
                ]
                .iter()
                .any(|call| code.contains(call))
                {
                    mounts.push(format!(
                        "{}:{}: {}",
                        path.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert_eq!(mounts.len(), 1, "{mounts:#?}");
    assert!(
        mounts[0].contains(".route(&route.router_path(), methods)"),
        "{mounts:#?}"
    );
}
