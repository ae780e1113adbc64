//! The OpenAPI 3.1 document, generated from the route table and the Rust types,
//! committed as server/openapi.json and served at /api/openapi.json.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::api::{ROUTES, Route};

/// The committed document, as served.
pub const COMMITTED: &str = include_str!("../openapi.json");

/// The document as the code describes it now; a test keeps COMMITTED equal to it.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut schemas = Map::new();
    let mut add = |name: &str, schema: schemars::Schema| {
        schemas.insert(name.into(), schema.to_value());
    };
    add("Plan", generator.subschema_for::<evaluator::model::Plan>());
    add(
        "RevertRequest",
        generator.subschema_for::<crate::api::RevertRequest>(),
    );
    add(
        "StageRequest",
        generator.subschema_for::<crate::api::StageRequest>(),
    );
    add(
        "KillSwitchRequest",
        generator.subschema_for::<crate::api::KillSwitchRequest>(),
    );
    add(
        "SignoffRequest",
        generator.subschema_for::<crate::api::SignoffRequest>(),
    );
    add(
        "UserRequest",
        generator.subschema_for::<crate::api::UserRequest>(),
    );
    add(
        "UserRoleRequest",
        generator.subschema_for::<crate::api::UserRoleRequest>(),
    );
    add(
        "UserLog",
        generator.subschema_for::<Vec<crate::users::UserEvent>>(),
    );
    add(
        "AuditList",
        generator.subschema_for::<Vec<crate::audit::AuditEntry>>(),
    );
    add(
        "RevisionList",
        generator.subschema_for::<Vec<crate::api::RevisionSummary>>(),
    );
    add(
        "ErrorBody",
        generator.subschema_for::<crate::error::ErrorBody>(),
    );
    add("Action", generator.subschema_for::<crate::auth::Action>());
    let mut schemas: Map<String, Value> = schemas
        .into_iter()
        .filter(|(_, schema)| schema.get("$ref").is_none())
        .collect::<Map<_, _>>();
    // Named types land in the definitions; keep them all under components.
    for (name, schema) in generator.take_definitions(true) {
        schemas.insert(name, schema);
    }
    for (name, schema) in hand_written() {
        schemas.insert(name.into(), schema);
    }

    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method.to_ascii_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "stagegate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Config store for staged rollouts. Authorization: Bearer <token> on /api (except this document). Errors: {\"error\", \"message\", \"details\"}. The stage gate guards the environment named \"production\"."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas,
        },
        "paths": paths,
    })
}

fn operation(route: &Route) -> Value {
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
    let success = match (route.method, route.path) {
        ("POST", "/api/signoffs") | ("POST", "/api/users") => "201",
        ("DELETE", "/api/users/{name}") => "204",
        _ => "200",
    };
    let mut responses = Map::new();
    let content = route.response.map(|name| json!({ "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}") } } }));
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
    let error =
        json!({ "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } });
    let mut codes = vec![("400", "bad request")];
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
    if route.method != "GET" && route.path.starts_with("/api/") && route.path != "/api/users" {
        codes.extend([
            ("404", "not found"),
            ("409", "conflict: sign-offs missing"),
            ("412", "stale If-Match"),
        ]);
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
    if let Some(request) = route.request {
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{request}") } } }
        });
    }
    op
}

fn header(name: &str, required: bool, description: &str) -> Value {
    json!({ "name": name, "in": "header", "required": required, "description": description, "schema": { "type": "string" } })
}

/// Schemas of answers built as JSON in the handlers (or from types without JsonSchema).
fn hand_written() -> Vec<(&'static str, Value)> {
    let string = json!({ "type": "string" });
    vec![
        (
            "Health",
            json!({ "type": "object", "properties": { "status": string, "revision": { "type": "integer" } } }),
        ),
        (
            "Me",
            json!({ "type": "object", "properties": {
            "name": string, "role": string,
            "actions": { "type": "array", "items": { "$ref": "#/components/schemas/Action" } } } }),
        ),
        (
            "Written",
            json!({ "type": "object", "properties": { "revision": { "type": "integer" } } }),
        ),
        (
            "SignoffCreated",
            json!({ "type": "object", "properties": {
            "revision": { "type": "integer" }, "signoff": { "$ref": "#/components/schemas/Signoff" } } }),
        ),
        (
            "UserList",
            json!({ "type": "array", "items": { "type": "object", "properties": {
            "name": string, "role": string, "created": string } } }),
        ),
        (
            "UserInfo",
            json!({ "type": "object", "properties": {
            "name": string, "role": { "$ref": "#/components/schemas/Role" }, "created": string } }),
        ),
        (
            "UserCreated",
            json!({ "type": "object", "properties": {
            "name": string, "role": string, "created": string, "token": string } }),
        ),
        (
            "Evaluation",
            json!({ "type": "object", "properties": {
            "values": { "type": "object" },
            "stage": { "type": ["string", "null"] },
            "bucket": { "type": ["integer", "null"], "minimum": 0, "maximum": 9999 },
            "inRollout": { "type": "boolean" },
            "reason": { "enum": ["SPLIT", "TARGETING_MATCH", "DISABLED", "DEFAULT", "ERROR"] },
            "errorCode": { "type": ["string", "null"] },
            "errorMessage": { "type": ["string", "null"] },
            "revision": { "type": "integer" } } }),
        ),
    ]
}
