//! What the API test binaries share: the real server on port 0 over a fresh database, calls that
//! check every JSON response against the OpenAPI document the server publishes, and a seeded
//! organisation.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use allot_core::Clock;
use allot_server::operations::RateLimit;
use allot_server::{AppState, ClockSource};
use allot_store::testing::TestDatabase;
use allot_store::{Backend, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub mod browser;

pub const TOKEN: &str = "test-admin-token";
/// The clock of every test server.
pub const CLOCK: &str = "2026-11-25T09:00:00+08:00";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub store: Store,
    /// The server's state, for what a test drives by hand (the rate limit's exchange).
    pub state: AppState,
    pub documented: DocumentedResponses,
    _database: TestDatabase,
}

/// The server with no rate limit: the tests call faster than any person.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with_rate_limit(backend, RateLimit::OFF).await
}

pub async fn spawn_app_with_rate_limit(backend: Backend, limit: RateLimit) -> TestApp {
    let database = TestDatabase::create(backend).await;
    let store = Store::connect(&database.url).await.expect("connect");
    let clock = Clock::parse(CLOCK).unwrap();
    store.ensure_admin_token(Some(TOKEN), clock).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(store.clone(), ClockSource::fixed(clock)).with_rate_limit(limit);
    let serving = state.clone();
    tokio::spawn(async move { allot_server::serve(listener, serving).await });
    let client = reqwest::Client::new();
    let document: Value = client
        .get(format!("{address}/api/openapi.json"))
        .send()
        .await
        .expect("the OpenAPI document")
        .json()
        .await
        .expect("the OpenAPI document is JSON");
    TestApp {
        address,
        client,
        store,
        state,
        documented: DocumentedResponses::new(document),
        _database: database,
    }
}

impl TestApp {
    /// Calls the API with the admin token; the response, whatever its status, must be one the
    /// document gives for that route and match its schema.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(TOKEN, method, path, body).await
    }

    /// Calls the API with `token` (a rep's or a manager's); the response is checked against
    /// the document like any other.
    pub async fn call_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.address))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        self.documented.check(&method, path, status, &value);
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Sends raw bytes with a content type (malformed bodies, rules and policy sources).
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method.clone(), format!("{}{path}", self.address))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        self.documented.check(&method, path, status, &value);
        (status, value)
    }

    pub async fn put_rules(&self, source: &str) -> (StatusCode, Value) {
        self.send_raw(
            reqwest::Method::PUT,
            "/api/v1/rules",
            "text/plain",
            source.to_string(),
        )
        .await
    }

    /// Two teams (east under hq) and three reps; rules: A-tier to east by least load, else round robin over hq.
    pub async fn seed_organisation(&self) {
        for (id, parent) in [("hq", None), ("east", Some("hq"))] {
            let (status, body) = self
                .put(
                    &format!("/api/v1/teams/{id}"),
                    json!({"name": format!("团队 {id}"), "parent_id": parent}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        for (id, team, level) in [
            ("r1", "hq", "junior"),
            ("r2", "east", "senior"),
            ("r3", "east", "mid"),
        ] {
            let (status, body) = self
                .put(
                    &format!("/api/v1/reps/{id}"),
                    json!({"name": format!("销售{id}"), "team_id": team, "level": level}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (status, body) = self
            .put_rules(
                r#"
[[rule]]
name = "华东大客户"
when = 'tier == "A" and region ^= "上海"'
to = { team = "east" }
strategy = "least_loaded"
min_level = "senior"

[[rule]]
name = "兜底"
when = 'true'
to = { team = "hq" }
strategy = "round_robin"
"#,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

pub fn assert_error(body: &Value, code: &str, field: Option<&str>) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{body}"
    );
    if let Some(field) = field {
        assert_eq!(body["error"]["field"], field, "{body}");
    }
}

/// The responses the OpenAPI document gives, compiled into JSON Schema validators (draft
/// 2020-12, the dialect of OpenAPI 3.1) on first use.
///
/// The document's object schemas are made closed before compiling (`unevaluatedProperties:
/// false`), so a field a handler adds to a response without its schema, or renames, fails as
/// surely as a missing or mistyped one.
pub struct DocumentedResponses {
    document: Value,
    closed_components: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl DocumentedResponses {
    pub fn new(document: Value) -> DocumentedResponses {
        let closed_components = close_components(&document["components"]);
        DocumentedResponses {
            document,
            closed_components,
            validators: Mutex::new(HashMap::new()),
        }
    }

    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The route template of the document that `path` (with or without a query) is an instance
    /// of: the one with the most literal segments in common, so `/rules/versions` is not read as
    /// `/rules/{version}`.
    pub fn route_of(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        self.document["paths"]
            .as_object()?
            .keys()
            .filter_map(|template| {
                let pattern: Vec<&str> = template.split('/').collect();
                if pattern.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (expected, given) in pattern.iter().zip(&segments) {
                    if expected.starts_with('{') && expected.ends_with('}') {
                        continue;
                    }
                    if expected != given {
                        return None;
                    }
                    literal += 1;
                }
                Some((literal, template.clone()))
            })
            .max()
            .map(|(_, template)| template)
    }

    /// Panics unless `status` is documented for the route and `body` fits its schema. Paths the
    /// document does not have (tests of unknown routes) are not checked.
    pub fn check(&self, method: &reqwest::Method, path: &str, status: StatusCode, body: &Value) {
        let Some(route) = self.route_of(path) else {
            return;
        };
        let operation = &self.document["paths"][&route][method.as_str().to_lowercase()];
        if operation.is_null() {
            // A method the route does not have: axum answers 405 before any handler.
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {body}"
            );
            return;
        }
        let documented = &operation["responses"][status.as_str()];
        assert!(
            documented.is_object(),
            "{method} {path} answered {status}, which the document does not give for {route}: {body}"
        );
        let Some(schema) = documented["content"]["application/json"].get("schema") else {
            return;
        };
        let key = format!("{method} {route} {status}");
        let validator = self
            .validators
            .lock()
            .unwrap()
            .entry(key)
            .or_insert_with(|| Arc::new(self.compile(schema)))
            .clone();
        let problems: Vec<String> = validator
            .iter_errors(body)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        assert!(
            problems.is_empty(),
            "{method} {path} ({status}) does not match the document: {problems:#?}\n{body}"
        );
    }

    /// A validator for one schema of the document, with the document's (closed) components at
    /// its root so that `#/components/schemas/…` references resolve.
    pub fn compile(&self, schema: &Value) -> jsonschema::Validator {
        let root = json!({
            "allOf": [close(schema)],
            "components": self.closed_components,
        });
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|error| panic!("the document's schema does not compile: {error}"))
    }
}

/// Every component closed; a component that another reaches through `allOf` is inlined there
/// open, so the whole (not each part) decides which properties are known.
fn close_components(components: &Value) -> Value {
    let mut closed = components.clone();
    let schemas = components["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (name, schema) in &schemas {
        let mut schema = schema.clone();
        if let Some(parts) = schema.get_mut("allOf").and_then(Value::as_array_mut) {
            for part in parts.iter_mut() {
                if let Some(reference) = part["$ref"].as_str() {
                    let target = reference.trim_start_matches("#/components/schemas/");
                    *part = open(&schemas[target]);
                } else {
                    *part = open(part);
                }
            }
        }
        closed["schemas"][name] = close(&schema);
    }
    closed
}

/// The schema with `unevaluatedProperties: false` on it and on every object schema inside it.
fn close(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut closed = serde_json::Map::new();
            for (key, value) in map {
                let value = match key.as_str() {
                    // Inlined parts stay open; the closed whole around them decides.
                    "allOf" => value.clone(),
                    "properties" => Value::Object(
                        value
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(name, property)| (name.clone(), close(property)))
                            .collect(),
                    ),
                    "items" | "additionalProperties" | "oneOf" | "anyOf" => close(value),
                    _ => value.clone(),
                };
                closed.insert(key.clone(), value);
            }
            if map.contains_key("properties") || map.contains_key("allOf") {
                closed
                    .entry("unevaluatedProperties")
                    .or_insert(Value::Bool(false));
            }
            Value::Object(closed)
        }
        Value::Array(items) => Value::Array(items.iter().map(close).collect()),
        other => other.clone(),
    }
}

/// The schema without a closing `unevaluatedProperties` of its own (its properties' schemas
/// stay closed).
fn open(schema: &Value) -> Value {
    let mut opened = close(schema);
    if let Some(map) = opened.as_object_mut() {
        map.remove("unevaluatedProperties");
    }
    opened
}
