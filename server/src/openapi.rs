//! The OpenAPI 3.1 document, generated from the route table and the Rust types,
//! committed as server/openapi.json and served at /api/openapi.json.

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::api::{ERROR_BODY, ROUTES, Route};

/// The committed document, as served.
pub const COMMITTED: &str = include_str!("../openapi.json");

/// The document as the code describes it now; a test keeps COMMITTED equal to it.
/// Every schema comes from a Rust type: the route table names each body's type,
/// and the types they use land under `components/schemas`.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    let error = json!({ "application/json": { "schema": ERROR_BODY(&mut generator) } });
    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method.to_ascii_lowercase()] = operation(route, &mut generator, &error);
    }
    let schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "stagegate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Config store for staged rollouts. Authorization: Bearer <token> on /api (except this document). Errors: {\"error\", \"message\", \"details\"}. The stage gate guards the environment named \"production\"."
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "ingestKey": { "type": "http", "scheme": "bearer", "description": "An environment's ingest key (sgi_…): it can only report counts" },
                "sdkKey": { "type": "http", "scheme": "bearer", "description": "An environment's SDK key (sgk_…): it can only evaluate over OFREP" },
                "sdkApiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An environment's SDK key (sgk_…), as OFREP's API key header" }
            },
            "schemas": schemas,
        },
        "paths": paths,
    })
}

fn operation(route: &Route, generator: &mut SchemaGenerator, error: &Value) -> Value {
    if route.method == "POST" && route.path.starts_with("/ofrep/") {
        return ofrep_operation(route, generator, error);
    }
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{'))
        .filter_map(|segment| segment.split('}').next())
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    match (route.method, route.path) {
        ("PUT", "/api/plan") => {
            parameters.push(header(
                "If-Match",
                true,
                "\"<revision>\": the ETag of the plan this edit is based on",
            ));
            parameters.push(header("X-Comment", false, "why, for the audit entry"));
        }
        ("GET", "/client/{env}.json") => parameters.push(header(
            "If-None-Match",
            false,
            "an ETag from before: 304 if unchanged",
        )),
        ("POST", path)
            if path.ends_with("/stage")
                || path.ends_with("/kill-switch")
                || path == "/api/revert" =>
        {
            parameters.push(header(
                "If-Match",
                false,
                "refuse the write (412) unless this revision is current",
            ))
        }
        ("GET", "/api/evaluate") => {
            for (name, required) in [("rollout", true), ("env", true), ("targetingKey", false)] {
                parameters.push(json!({ "name": name, "in": "query", "required": required, "schema": { "type": "string" } }));
            }
        }
        _ => {}
    }
    const INGEST_PATH: &str = "/api/metrics";
    let success = match (route.method, route.path) {
        ("POST", "/api/signoffs")
        | ("POST", "/api/users")
        | ("POST", "/api/webhooks")
        | ("POST", "/api/ingest-keys")
        | ("POST", "/api/sdk-keys")
        | ("POST", "/api/rollouts/{rollout}/environments/{env}/reports") => "201",
        ("DELETE", "/api/users/{name}") | ("DELETE", "/api/webhooks/{id}") => "204",
        ("POST", "/api/webhooks/{id}/test") | ("POST", "/api/metrics") => "202",
        _ => "200",
    };
    let mut responses = Map::new();
    let content = route
        .response
        .map(|schema| json!({ "application/json": { "schema": schema(generator) } }));
    responses.insert(
        success.into(),
        match content {
            Some(content) => json!({ "description": "success", "content": content }),
            None => json!({ "description": "success" }),
        },
    );
    if route.path == "/client/{env}.json" && route.method == "GET" {
        responses.insert("304".into(), json!({ "description": "not modified" }));
    }
    let mut codes = vec![("400", "bad request")];
    if route.path == INGEST_PATH && route.method == "POST" {
        codes.push(("401", "missing, unknown or revoked ingest key"));
    }
    if route.action.is_some() {
        codes.extend([
            ("401", "missing or unknown token"),
            ("403", "the role may not"),
        ]);
    }
    if route.request.is_some() {
        codes.extend([
            ("413", "body over 1 MiB"),
            ("415", "not application/json"),
            ("422", "invalid body or plan"),
        ]);
    }
    if route.method != "GET"
        && route.path.starts_with("/api/")
        && route.path != "/api/users"
        && !route.path.starts_with("/api/webhooks")
        && !route.path.starts_with("/api/ingest-keys")
        && !route.path.starts_with("/api/sdk-keys")
        && route.path != INGEST_PATH
    {
        codes.extend([
            ("404", "not found"),
            ("409", "conflict: sign-offs missing"),
            ("412", "stale If-Match"),
        ]);
    }
    if route.path.starts_with("/api/webhooks/") {
        codes.push(("404", "no such webhook"));
    }
    if route.path.starts_with("/api/ingest-keys/")
        || route.path.starts_with("/api/sdk-keys/")
        || route.path.starts_with("/api/guardrails/")
    {
        codes.push(("404", "not found"));
    }
    if route.method == "PUT" {
        codes.push(("428", "If-Match missing"));
    }
    for (code, description) in codes {
        responses
            .entry(code)
            .or_insert_with(|| json!({ "description": description, "content": error.clone() }));
    }
    let mut op = json!({
        "operationId": format!("{}{}", route.method.to_ascii_lowercase(), route.path.replace(['/', '{', '}', '.', '-'], "_")),
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(action) = route.action {
        op["security"] = json!([{ "bearer": [] }]);
        op["x-required-action"] = json!(action);
    }
    if route.path == INGEST_PATH && route.method == "POST" {
        op["security"] = json!([{ "ingestKey": [] }]);
    }
    if let Some(request) = route.request {
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": request(generator) } }
        });
    }
    op
}

/// An OFREP route as OFREP's own document (0.3.0) describes it: its failure
/// bodies, 401 and 403 without a body, the SDK key as either header.
fn ofrep_operation(route: &Route, generator: &mut SchemaGenerator, error: &Value) -> Value {
    use stagegate_api::{OfrepBulkFailure, OfrepFailure};
    let schema = |body: Option<crate::api::BodySchema>, generator: &mut SchemaGenerator| {
        body.map(|schema| json!({ "application/json": { "schema": schema(generator) } }))
    };
    let bulk = route.path == "/ofrep/v1/evaluate/flags";
    let failure = if bulk {
        crate::api::body::<OfrepBulkFailure>(generator)
    } else {
        crate::api::body::<OfrepFailure>(generator)
    };
    let failure = json!({ "application/json": { "schema": failure } });
    let mut parameters = Vec::new();
    let mut responses = Map::new();
    let mut success =
        json!({ "description": "success", "content": schema(route.response, generator) });
    if bulk {
        parameters.push(header(
            "If-None-Match",
            false,
            "the ETag of an earlier answer: 304 if unchanged",
        ));
        for name in ["flagConfigEtag", "flagConfigLastModified"] {
            parameters.push(json!({ "name": name, "in": "query", "required": false, "description": "sent by providers after a change event; not needed here", "schema": { "type": "string" } }));
        }
        success["headers"] = json!({ "ETag": { "description": "the answer's digest, for If-None-Match", "schema": { "type": "string" } } });
    } else {
        parameters.push(json!({ "name": "key", "in": "path", "required": true, "schema": { "type": "string" } }));
    }
    responses.insert("200".into(), success);
    if bulk {
        responses.insert(
            "304".into(),
            json!({ "description": "not modified: the ETag is If-None-Match's" }),
        );
    }
    let bad = if bulk {
        "a bad body (PARSE_ERROR, INVALID_CONTEXT)"
    } else {
        "a bad body, or a flag that cannot be evaluated (TARGETING_KEY_MISSING, INVALID_CONTEXT, …)"
    };
    responses.insert(
        "400".into(),
        json!({ "description": bad, "content": failure.clone() }),
    );
    responses.insert(
        "401".into(),
        json!({ "description": "no SDK key, or an unknown one (no body)" }),
    );
    responses.insert(
        "403".into(),
        json!({ "description": "a revoked SDK key (no body)" }),
    );
    if !bulk {
        responses.insert("404".into(), json!({ "description": "FLAG_NOT_FOUND: the key names no flag of the environment", "content": failure }));
    }
    responses.insert(
        "413".into(),
        json!({ "description": "body over 1 MiB", "content": error.clone() }),
    );
    json!({
        "operationId": format!("post{}", route.path.replace(['/', '{', '}', '.', '-'], "_")),
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses,
        "security": [{ "sdkKey": [] }, { "sdkApiKey": [] }],
        "requestBody": {
            "required": true,
            "content": schema(route.request, generator),
        },
    })
}

fn header(name: &str, required: bool, description: &str) -> Value {
    json!({ "name": name, "in": "header", "required": required, "description": description, "schema": { "type": "string" } })
}
