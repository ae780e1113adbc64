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
use stagegate_server::storage::Location;
use stagegate_server::{AppState, app};
use tower::ServiceExt;

pub struct Server {
    pub dir: tempfile::TempDir,
    /// Where its state lives: `dir`, or its own database.
    pub location: Location,
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

/// Whether this run tests the PostgreSQL backend (`STAGEGATE_TEST_BACKEND=postgres`,
/// with `STAGEGATE_TEST_DATABASE_URL`; `cargo xtask test` runs the suite both ways).
pub fn on_postgres() -> bool {
    std::env::var("STAGEGATE_TEST_BACKEND").is_ok_and(|backend| backend == "postgres")
}

/// Where a new test server keeps its state: `dir`, or a new empty database.
pub async fn location(dir: &std::path::Path) -> Location {
    if on_postgres() {
        Location::Postgres(new_database().await)
    } else {
        Location::Dir(dir.to_path_buf())
    }
}

/// A new, empty store on the test cluster; returns its URL. Each is a schema of
/// its own in the cluster's database (`options=-c search_path=…`): creating a
/// schema is instant where `CREATE DATABASE` copies a template (seconds each).
/// The store keeps its notifications and locks per schema, so these stay apart.
pub async fn new_database() -> String {
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let url = std::env::var("STAGEGATE_TEST_DATABASE_URL")
        .expect("STAGEGATE_TEST_BACKEND=postgres needs STAGEGATE_TEST_DATABASE_URL");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|error| panic!("connecting to {url}: {error}"));
    let driver = tokio::spawn(connection);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "sg_{}_{}_{nanos}",
        std::process::id(),
        COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    // A name made here of digits and underscores: nothing to quote.
    client
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .unwrap();
    drop(client);
    let _ = driver.await;
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{name}")
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|i| start + i))
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl Server {
    pub async fn new() -> Server {
        Server::with_console(None).await
    }

    pub async fn with_console(console: Option<std::path::PathBuf>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let location = location(dir.path()).await;
        let (state, notes) = open_state(&location, console).await.unwrap();
        let admin = notes
            .iter()
            .find_map(|n| n.strip_prefix("admin token: "))
            .unwrap()
            .to_string();
        let router = app(state.clone());
        Server {
            dir,
            location,
            state,
            router,
            admin,
        }
    }

    /// A second server on the same store, as another process would be (on
    /// PostgreSQL; a data directory has one server).
    pub async fn another(&self) -> Server {
        let (state, _) = open_state(&self.location, None).await.unwrap();
        let router = app(state.clone());
        Server {
            dir: tempfile::tempdir().unwrap(),
            location: self.location.clone(),
            state,
            router,
            admin: self.admin.clone(),
        }
    }

    /// `new`, with the guardrails on a clock the test sets.
    pub async fn with_clock(clock: std::sync::Arc<dyn stagegate_server::guard::Clock>) -> Server {
        let mut server = Server::new().await;
        server.state.clock = clock;
        server.router = app(server.state.clone());
        server
    }

    /// A new user with `role`; returns their token.
    pub async fn user(&self, name: &str, role: &str) -> String {
        let role = evaluator::model::Role::from_name(role).unwrap();
        self.state.users.add(name, role, "test").await.unwrap().1
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

/// What is stored and in memory, to compare before and after a refusal.
pub async fn snapshot(server: &Server) -> (u64, usize, usize, String, Vec<Option<String>>) {
    let storage = server.state.store.storage();
    let mut documents = Vec::new();
    for name in STORED {
        documents.push(storage.document(name).await.unwrap().map(|(text, _)| text));
    }
    (
        server.revision(),
        revision_files(server).await,
        server.state.store.audit().len(),
        server.plan().to_string(),
        documents,
    )
}

/// How many revisions the store holds.
pub async fn revision_files(server: &Server) -> usize {
    let storage = server.state.store.storage();
    storage.revisions_after(0).await.unwrap().len()
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
        let token = server.user(&format!("{role}-{stage}-{n}"), role).await;
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
