//! The HTTP API: one route table, shared helpers, and `app()`.

mod changes;
mod client;
mod events;
mod export;
mod json_body;
mod keys;
mod layers;
mod metrics;
mod ofrep;
mod plan;
mod signoffs;
mod users;
mod webhooks;

pub use users::watch_users;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MATCH};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, options, patch, post, put};
use axum::{Json, Router};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::json;
use stagegate_api::{
    AuditEntry, Changes, ErrorBody, Health, KillSwitchRequest, Me, RevertRequest, RevisionSummary,
    SignoffCreated, SignoffRequest, StageRequest, TickRequest, UserCreated, UserEvent, UserInfo,
    UserRequest, UserRoleRequest, Written,
};

pub use self::events::KEEP_ALIVE;
pub use self::json_body::{JsonBody, JsonValue};
pub use self::layers::REQUEST_TIMEOUT;
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::store::{Change, Current, Store};
use crate::users::Users;
use evaluator::Evaluation;
use evaluator::model::{Plan, Role};

/// Largest request body accepted (a plan is a few KB).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How long caches and apps may keep a client document before asking again
/// (with If-None-Match, so asking is cheap): bounds how late a kill switch lands.
pub const CLIENT_MAX_AGE: &str = "public, max-age=30";

const JSON_TYPE: HeaderValue = HeaderValue::from_static("application/json");

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub users: Arc<Users>,
    /// Alerts by webhook: `state.alerts.send(…)` from a handler or a task.
    pub alerts: crate::alerts::Alerts,
    /// The apps' reported counts, and the keys they report with.
    pub metrics: Arc<crate::metrics::Metrics>,
    pub ingest_keys: Arc<crate::app_keys::Keys>,
    /// The keys OFREP callers evaluate with (`sgk_…`), one environment each.
    pub sdk_keys: Arc<crate::app_keys::Keys>,
    /// The guardrails' clock (a test's own) and what their decisions remember.
    pub clock: Arc<dyn crate::guard::Clock>,
    pub guard: Arc<crate::guard::GuardMemory>,
    /// The console's built files; a placeholder page is served without them.
    pub console: Option<Arc<PathBuf>>,
}

impl axum::extract::FromRef<AppState> for Arc<Users> {
    fn from_ref(state: &AppState) -> Self {
        state.users.clone()
    }
}

/// One row of the route table, which the router, the authorization middleware
/// and the OpenAPI document (`openapi::document`) all read.
pub struct Route {
    pub method: &'static str,
    /// As in the OpenAPI document.
    pub path: &'static str,
    pub summary: &'static str,
    /// What the caller's role must allow; `None` for public routes. The router
    /// enforces it (see `authorize`): handlers never check it again.
    pub action: Option<Action>,
    /// The request body's type, as its schema (see `body`).
    pub request: Option<BodySchema>,
    /// The success response's type, as its schema.
    pub response: Option<BodySchema>,
    pub mount: fn() -> MethodRouter<AppState>,
}

/// A body's JSON Schema: named types become components of the OpenAPI document.
pub type BodySchema = fn(&mut SchemaGenerator) -> Schema;

/// The route table's way to name a body by its type: `Some(body::<Me>)`.
pub fn body<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The schema of every error answer.
pub const ERROR_BODY: BodySchema = body::<ErrorBody>;

impl Route {
    /// The router's path: axum cannot match a parameter with a suffix (`{env}.json`),
    /// so that segment is taken whole and the handler strips `.json`.
    pub fn router_path(&self) -> String {
        self.path.replace("{env}.json", "{file}")
    }
}

macro_rules! route {
    ($method:literal $path:literal, $action:expr, $request:expr => $response:expr, $summary:literal, $mount:expr) => {
        Route {
            method: $method,
            path: $path,
            summary: $summary,
            action: $action,
            request: $request,
            response: $response,
            mount: || $mount,
        }
    };
}

pub const ROUTES: &[Route] = &[
    route!("GET" "/healthz", None, None => Some(body::<Health>), "Liveness and the current revision", get(healthz)),
    route!("GET" "/api/openapi.json", None, None => None, "This document", get(openapi)),
    route!("GET" "/api/me", Some(Action::Read), None => Some(body::<Me>), "The caller, their role and what it allows", get(me)),
    route!("GET" "/api/plan", Some(Action::Read), None => Some(body::<Plan>), "The current plan; ETag is its revision", get(plan::get_plan)),
    route!("PUT" "/api/plan", Some(Action::EditPlan), Some(body::<Plan>) => Some(body::<Plan>),
        "Replace the plan. Needs If-Match; `revision` and `signoffs` in the body are ignored", put(plan::put_plan)),
    route!("GET" "/api/revisions", Some(Action::Read), None => Some(body::<Vec<RevisionSummary>>), "Every revision, newest first", get(plan::list_revisions)),
    route!("GET" "/api/revisions/{n}", Some(Action::Read), None => Some(body::<Plan>), "One stored revision", get(plan::get_revision)),
    route!("POST" "/api/revert", Some(Action::EditPlan), Some(body::<RevertRequest>) => Some(body::<Plan>),
        "Write a new revision equal to an old one, except that sign-offs stay as they are now and each environment keeps its active stage and kill switch (unless restoreLiveState)", post(plan::revert)),
    route!("GET" "/api/audit", Some(Action::Read), None => Some(body::<Vec<AuditEntry>>), "Every audit entry, newest first", get(plan::audit)),
    route!("GET" "/api/changes", Some(Action::Read), None => Some(body::<Changes>),
        "Long poll: with ?after=N, waits (at most 25 s, or ?wait=S) until the revision is not N, then answers with it and the entries written after N; without after, answers the current revision at once", get(changes::changes)),
    route!("POST" "/api/rollouts/{rollout}/environments/{env}/stage", Some(Action::MoveStage), Some(body::<StageRequest>) => Some(body::<Plan>),
        "Set the active stage; moving production forward needs every required sign-off", post(plan::set_stage)),
    route!("POST" "/api/rollouts/{rollout}/environments/{env}/kill-switch", Some(Action::KillSwitch), Some(body::<KillSwitchRequest>) => Some(body::<Plan>),
        "Turn the kill switch on or off", post(plan::set_kill_switch)),
    route!("POST" "/api/rollouts/{rollout}/checklist/{n}", Some(Action::TickChecklist), Some(body::<TickRequest>) => Some(body::<Plan>),
        "Tick or untick checklist item n (from 0); the store records who and when on the item", post(plan::tick_checklist)),
    route!("POST" "/api/signoffs", Some(Action::Sign), Some(body::<SignoffRequest>) => Some(body::<SignoffCreated>),
        "Sign off a stage in the caller's own sign-off role", post(signoffs::add_signoff)),
    route!("DELETE" "/api/signoffs/{id}", Some(Action::WithdrawSignoff), None => Some(body::<Written>),
        "Withdraw one's own sign-off (admin: any)", delete(signoffs::withdraw_signoff)),
    route!("GET" "/api/evaluate", Some(Action::Read), None => Some(body::<Evaluation<'static>>),
        "Evaluate on the server: rollout, env, targetingKey, any other parameter is a context attribute (a string). Each parameter at most once; a malformed %-escape or non-UTF-8 text is a 400", get(client::evaluate)),
    route!("GET" "/api/users", Some(Action::ManageUsers), None => Some(body::<Vec<UserInfo>>), "Every user (no tokens)", get(users::list_users)),
    route!("POST" "/api/users", Some(Action::ManageUsers), Some(body::<UserRequest>) => Some(body::<UserCreated>),
        "Create a user; the answer holds their token, shown this once", post(users::add_user)),
    route!("DELETE" "/api/users/{name}", Some(Action::ManageUsers), None => None,
        "Remove a user (never the last admin); their sign-offs stop counting", delete(users::remove_user)),
    route!("PATCH" "/api/users/{name}", Some(Action::ManageUsers), Some(body::<UserRoleRequest>) => Some(body::<UserInfo>),
        "Change a user's role (never the last admin's); sign-offs in the old role stop counting", patch(users::set_user_role)),
    route!("GET" "/api/users/log", Some(Action::ManageUsers), None => Some(body::<Vec<UserEvent>>),
        "Every change to the users: who, when, what", get(users::user_log)),
    route!("GET" "/api/webhooks", Some(Action::ManageWebhooks), None => Some(body::<Vec<stagegate_api::WebhookInfo>>),
        "Every alert webhook (no secrets), each with its last 50 deliveries, newest first: status, attempts, last error, times", get(webhooks::list_webhooks)),
    route!("POST" "/api/webhooks", Some(Action::ManageWebhooks), Some(body::<stagegate_api::WebhookRequest>) => Some(body::<stagegate_api::WebhookCreated>),
        "Add an alert webhook (at most 20); the answer holds its signing secret, shown this once", post(webhooks::add_webhook)),
    route!("DELETE" "/api/webhooks/{id}", Some(Action::ManageWebhooks), None => None,
        "Remove a webhook and its delivery record; its pending retries stop", delete(webhooks::remove_webhook)),
    route!("POST" "/api/webhooks/{id}/test", Some(Action::ManageWebhooks), None => Some(body::<stagegate_api::WebhookTestQueued>),
        "Send a `test` alert to this webhook alone (202); follow the delivery in GET /api/webhooks", post(webhooks::test_webhook)),
    route!("POST" "/api/metrics", None, Some(body::<stagegate_api::MetricsBatch>) => Some(body::<stagegate_api::MetricsAccepted>),
        "Report counts (202): authenticated by an environment's ingest key (Bearer sgi_…), not a user's token. All of a batch is taken, or none of it (400 naming the field of the first bad item)", post(metrics::report).layer(metrics::cors())),
    route!("OPTIONS" "/api/metrics", None, None => None, "CORS preflight for reports from a browser", options(|| async {}).layer(metrics::cors())),
    route!("GET" "/api/ingest-keys", Some(Action::ManageIngestKeys), None => Some(body::<Vec<stagegate_api::IngestKeyInfo>>), "Every ingest key (never the key itself)", get(keys::list::<keys::Ingest>)),
    route!("POST" "/api/ingest-keys", Some(Action::ManageIngestKeys), Some(body::<stagegate_api::IngestKeyRequest>) => Some(body::<stagegate_api::IngestKeyCreated>),
        "Create an environment's ingest key; the answer holds the key, shown this once", post(keys::create::<keys::Ingest>)),
    route!("DELETE" "/api/ingest-keys/{id}", Some(Action::ManageIngestKeys), None => Some(body::<stagegate_api::IngestKeyInfo>),
        "Revoke an ingest key: reports with it are refused from now on", delete(keys::revoke::<keys::Ingest>)),
    route!("GET" "/api/sdk-keys", Some(Action::ManageSdkKeys), None => Some(body::<Vec<stagegate_api::IngestKeyInfo>>), "Every SDK key (never the key itself)", get(keys::list::<keys::Sdk>)),
    route!("POST" "/api/sdk-keys", Some(Action::ManageSdkKeys), Some(body::<stagegate_api::IngestKeyRequest>) => Some(body::<stagegate_api::IngestKeyCreated>),
        "Create an environment's SDK key (sgk_…, for OFREP); the answer holds the key, shown this once", post(keys::create::<keys::Sdk>)),
    route!("DELETE" "/api/sdk-keys/{id}", Some(Action::ManageSdkKeys), None => Some(body::<stagegate_api::IngestKeyInfo>),
        "Revoke an SDK key: OFREP answers 403 to it from now on", delete(keys::revoke::<keys::Sdk>)),
    route!("GET" "/api/guardrails/{rollout}/{env}", Some(Action::Read), None => Some(body::<stagegate_api::GuardrailReport>),
        "The live stage's triggers in an environment: counts per cohort since it became live, each trigger's state and figures, the sample-ratio check, the schedule and the last automatic action", get(metrics::guardrails)),
    route!("POST" "/api/rollouts/{rollout}/environments/{env}/reports", Some(Action::Report), Some(body::<stagegate_api::IncidentReport>) => Some(body::<stagegate_api::GuardrailReport>),
        "Report an incident (a critical bug, unless another event is named) against the live stage: it counts as one event in the rollout's cohort, and the triggers are judged at once", post(metrics::incident)),
    route!("POST" "/api/rollouts/{rollout}/environments/{env}/acknowledge", Some(Action::Report), Some(body::<stagegate_api::AcknowledgeRequest>) => Some(body::<stagegate_api::GuardrailReport>),
        "Acknowledge an automatic rollback or advance (by its revision) with what happens next; shown with it from then on", post(metrics::acknowledge)),
    route!("GET" "/api/export/flagd/{env}", Some(Action::Read), None => None,
        "The current plan as flagd flag definitions for one environment (flagd's flags schema): a flag `ROLLOUT.FLAG` per flag of every rollout that has it, variants `on`/`off`, deciding as stagegate does. 404 for an environment no rollout has; 409 naming the flag when flagd cannot hold it (a json flag whose value is not an object)", get(export::flagd_export)),
    route!("GET" "/client/{env}.json", None, None => Some(body::<Plan>),
        "The public client document of an environment: no auth, cacheable, CORS open", get(client::client_document).layer(client::cors())),
    route!("OPTIONS" "/client/{env}.json", None, None => None, "CORS preflight for the client document", options(client::preflight).layer(client::cors())),
    route!("GET" "/client/{env}/events", None, None => None,
        "Live updates (Server-Sent Events, text/event-stream): `retry: 1000`, then an event at once (unless Last-Event-ID is the current ETag) and one each time the environment's client document changes, id and data.etag its ETag, data {\"type\":\"refetchEvaluation\",\"etag\",\"revision\"}; `: keep-alive` every 15 s; no auth, CORS open", get(events::events).layer(events::cors())),
    route!("OPTIONS" "/client/{env}/events", None, None => None, "CORS preflight for live updates", options(client::preflight).layer(events::cors())),
    route!("POST" "/ofrep/v1/evaluate/flags/{key}", None, Some(body::<stagegate_api::OfrepRequest>) => Some(body::<stagegate_api::OfrepSuccess>),
        "OFREP: evaluate one flag (ROLLOUT.FLAG, or a flag name only one rollout has) in the SDK key's environment (Bearer sgk_… or X-API-Key), not a user's token", post(ofrep::evaluate_flag).layer(ofrep::cors())),
    route!("OPTIONS" "/ofrep/v1/evaluate/flags/{key}", None, None => None, "CORS preflight for OFREP", options(client::preflight).layer(ofrep::cors())),
    route!("POST" "/ofrep/v1/evaluate/flags", None, Some(body::<stagegate_api::OfrepRequest>) => Some(body::<stagegate_api::OfrepBulk>),
        "OFREP: evaluate every flag of every rollout in the SDK key's environment, keyed ROLLOUT.FLAG; ETag, If-None-Match (304), and the environment's event stream", post(ofrep::evaluate_flags).layer(ofrep::cors())),
    route!("OPTIONS" "/ofrep/v1/evaluate/flags", None, None => None, "CORS preflight for OFREP", options(client::preflight).layer(ofrep::cors())),
];

/// The whole application: API, client documents and console.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    for route in ROUTES {
        let mut methods = (route.mount)();
        if let Some(action) = route.action {
            methods = methods.route_layer(middleware::from_fn_with_state(
                state.clone(),
                move |State(state): State<AppState>, request: Request, next: Next| {
                    authorize(state, action, request, next)
                },
            ));
        }
        router = router.route(&route.router_path(), methods);
    }
    let router = router
        .fallback(fallback)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    // Request logs, a deadline per request, JSON for whatever a layer answers.
    let router = layers::wrap(router);
    router.with_state(state)
}

/// The route table's permission: the caller must be signed in and their role
/// must allow the route's action.
async fn authorize(state: AppState, action: Action, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let allowed = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller.require(action),
        Err(error) => Err(error),
    };
    match allowed {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(error) => error.into_response(),
    }
}

/// Every write to the plan goes through here, then the store's gate: sign-offs
/// whose signer no longer holds the role they signed in are dropped first.
pub(crate) async fn write(
    state: &AppState,
    change: Change,
    mut edit: impl FnMut(&Plan) -> Result<Plan, ApiError>,
) -> Result<Arc<Current>, ApiError> {
    let users = state.users.clone();
    state
        .store
        .write(change, move |old| {
            let mut plan = edit(old)?;
            plan.signoffs.retain(|s| users.holds(&s.by, &s.role));
            Ok(plan)
        })
        .await
}

/// Unknown API paths are JSON 404s; any other GET is the console (SPA fallback).
async fn fallback(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path();
    let reserved = ["/api", "/client", "/healthz", "/ofrep"]
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")));
    let method = request.method();
    if reserved || !(method == Method::GET || method == Method::HEAD) {
        return ApiError::NoRoute.into_response();
    }
    crate::static_files::serve(state.console.as_deref().map(PathBuf::as_path), request).await
}

// ---- bodies ----

/// A role named in a request body, or a 400 naming the `role` field.
fn role(name: &str) -> Result<Role, ApiError> {
    Role::from_name(name).ok_or_else(|| {
        ApiError::bad_field(
            "role",
            format!(
                "'{name}' is not a role (one of {})",
                evaluator::model::ROLES.join(", ")
            ),
        )
    })
}

/// The body, or our error for why there is none (extracted as a `Result` so a
/// handler checks the caller's role before it reports a bad body).
fn read_body<T>(body: Result<JsonBody<T>, ApiError>) -> Result<T, ApiError> {
    Ok(body?.0)
}

// ---- handlers ----

async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        revision: state.store.current().revision(),
    })
}

async fn openapi() -> Response {
    ([(CONTENT_TYPE, JSON_TYPE)], crate::openapi::COMMITTED).into_response()
}

async fn me(caller: Caller) -> Json<Me> {
    Json(Me::new(caller.name, caller.role))
}

fn plan_response(current: &Current) -> Response {
    (
        [
            (CONTENT_TYPE, JSON_TYPE),
            (ETAG, current.etag.clone()),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        current.plan_json.clone(),
    )
        .into_response()
}

/// The revision named by If-Match. A write must name one (428 without it); `*`
/// would be a blind overwrite, so it is refused too. The value must be exactly
/// one ETag as `GET /api/plan` gives it (`"12"`); anything else is a 400 saying
/// so, never a 412 that would claim it names an older revision.
fn if_match(headers: &HeaderMap) -> Result<u64, ApiError> {
    let mut values = headers.get_all(IF_MATCH).iter();
    let (value, extra) = (values.next(), values.next());
    let value = value.ok_or(ApiError::PreconditionRequired)?;
    let text = value.to_str().unwrap_or("\u{fffd}").trim();
    if text == "*" && extra.is_none() {
        return Err(ApiError::PreconditionRequired);
    }
    let revision = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|digits| {
            // Digits as the server writes them: no sign, no leading zero.
            (*digits == "0" || !digits.starts_with('0'))
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
        })
        .and_then(|digits| digits.parse::<u64>().ok());
    match revision {
        Some(revision) if extra.is_none() => Ok(revision),
        _ => Err(ApiError::BadRequest {
            message: format!(
                "If-Match must be one revision's ETag, such as If-Match: \"12\" (the ETag of GET /api/plan); got {}",
                shown_header(headers, IF_MATCH)
            ),
            details: json!({ "field": "If-Match" }),
        }),
    }
}

/// The optional If-Match of the targeted writes (stage, kill switch, revert).
fn optional_if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    if headers.contains_key(IF_MATCH) {
        if_match(headers).map(Some)
    } else {
        Ok(None)
    }
}

/// A header's values as the client sent them, for an error message (JSON-quoted,
/// so control bytes and quotes stay visible and harmless).
fn shown_header(headers: &HeaderMap, name: axum::http::HeaderName) -> String {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    match values.as_slice() {
        [one] => serde_json::to_string(one).unwrap_or_default(),
        many => format!(
            "{} values {}",
            many.len(),
            serde_json::to_string(many).unwrap_or_default()
        ),
    }
}
