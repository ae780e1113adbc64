//! Helpers shared by the integration tests: an in-process app on a temp data
//! directory, a user per role, and a one-call request helper.
#![allow(dead_code)] // each test crate uses a different part

pub mod http;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use stagegate_server::serve::open_state;
use stagegate_server::{AppState, app};
use tower::ServiceExt;

pub struct Server {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub router: Router,
    pub admin: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub json: Value,
}

impl Server {
    pub fn new() -> Server {
        Server::with_console(None)
    }

    pub fn with_console(console: Option<std::path::PathBuf>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let (state, notes) = open_state(dir.path(), console).unwrap();
        let admin = notes
            .iter()
            .find_map(|n| n.strip_prefix("admin token: "))
            .unwrap()
            .to_string();
        let router = app(state.clone());
        Server {
            dir,
            state,
            router,
            admin,
        }
    }

    /// `new`, with the guardrails on a clock the test sets.
    pub fn with_clock(clock: std::sync::Arc<dyn stagegate_server::guard::Clock>) -> Server {
        let mut server = Server::new();
        server.state.clock = clock;
        server.router = app(server.state.clone());
        server
    }

    /// A new user with `role`; returns their token.
    pub fn user(&self, name: &str, role: &str) -> String {
        let role = evaluator::model::Role::from_name(role).unwrap();
        self.state.users.add(name, role, "test").unwrap().1
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            json,
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                builder = builder.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    /// DELETE /api/signoffs/{id}: withdraws a sign-off.
    pub async fn withdraw(&self, id: &str, token: &str) -> Reply {
        let path = format!("/api/signoffs/{id}");
        self.request(Method::DELETE, &path, Some(token), None).await
    }

    /// PUT /api/plan with If-Match.
    pub async fn put_plan(&self, token: &str, if_match: Option<&str>, body: &str) -> Reply {
        let mut builder = Request::builder()
            .method(Method::PUT)
            .uri("/api/plan")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json");
        if let Some(tag) = if_match {
            builder = builder.header("if-match", tag);
        }
        self.send(builder.body(Body::from(body.to_string())).unwrap())
            .await
    }

    pub fn revision(&self) -> u64 {
        self.state.store.current().revision()
    }

    pub fn plan(&self) -> Value {
        serde_json::to_value(self.state.store.current().plan()).unwrap()
    }
}

/// A refusal: the status, and exactly the API's error shape `{error, message, details}`.
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        reply.status,
        status,
        "body: {}",
        String::from_utf8_lossy(&reply.body)
    );
    let object = reply
        .json
        .as_object()
        .expect("an error body is a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["details", "error", "message"], "{}", reply.json);
    assert_eq!(reply.json["error"], code, "{}", reply.json);
    assert!(
        reply.json["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        reply.json
    );
}

pub const ROLLOUT: &str = "domain-migration";
pub const PRODUCTION_STAGE: &str = "/api/rollouts/domain-migration/environments/production/stage";
pub const PRODUCTION_KILL: &str =
    "/api/rollouts/domain-migration/environments/production/kill-switch";

/// The files a refused request must leave as they were.
const STORED: [&str; 4] = [
    "users.json",
    "webhooks.json",
    "ingest-keys.json",
    "sdk-keys.json",
];

/// What is on disk and in memory, to compare before and after a refusal.
pub fn snapshot(server: &Server) -> (u64, usize, usize, String, [Vec<u8>; 4]) {
    let stored = |name| std::fs::read(server.dir.path().join(name)).unwrap_or_default();
    (
        server.revision(),
        revision_files(server),
        server.state.store.audit().len(),
        server.plan().to_string(),
        STORED.map(stored),
    )
}

/// How many revision files the data directory holds.
pub fn revision_files(server: &Server) -> usize {
    std::fs::read_dir(server.dir.path().join("revisions")).map_or(0, Iterator::count)
}

/// PUTs `plan` over the current revision.
pub async fn put(server: &Server, token: &str, plan: &Value) -> Reply {
    let etag = format!("\"{}\"", server.revision());
    server.put_plan(token, Some(&etag), &plan.to_string()).await
}

/// A new user in each sign-off role signs `stage` as it is now; their tokens,
/// in the order of `SIGNOFF_ROLES`.
pub async fn sign_all(server: &Server, stage: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for role in evaluator::model::SIGNOFF_ROLES {
        let n = server.state.users.list().len();
        let token = server.user(&format!("{role}-{stage}-{n}"), role);
        let reply = server
            .post(
                "/api/signoffs",
                &token,
                serde_json::json!({ "rollout": ROLLOUT, "stage": stage }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        tokens.push(token);
    }
    tokens
}

/// The roles a 409 `signoffs_missing` names.
pub fn missing_roles(reply: &Reply) -> Vec<&str> {
    let roles = reply.json["details"]["missingRoles"].as_array();
    roles
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Every lead signs `stage`, then `token` moves production onto it.
pub async fn go_live(server: &Server, token: &str, stage: &str) {
    sign_all(server, stage).await;
    let reply = server
        .post(
            PRODUCTION_STAGE,
            token,
            serde_json::json!({ "stage": stage }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}
