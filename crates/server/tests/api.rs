//! API tests: each spawns the real server on port 0 over a fresh database, on SQLite and on PostgreSQL.

use std::collections::BTreeSet;

use allot_core::Clock;
use allot_store::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

mod support;

use support::{assert_error, spawn_app, TOKEN};

async fn unauthenticated_calls_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let response = app
        .client
        .get(format!("{}/api/v1/customers", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_error(&response.json().await.unwrap(), "unauthorized", None);
    let response = app
        .client
        .get(format!("{}/api/v1/customers", app.address))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// Every route the server has, as the test knows it; the OpenAPI document must list exactly these.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/api/openapi.json"),
    ("get", "/metrics"),
    ("get", "/api/v1/customers"),
    ("post", "/api/v1/customers"),
    ("get", "/api/v1/customers/{id}"),
    ("put", "/api/v1/customers/{id}"),
    ("get", "/api/v1/customers/{id}/decisions"),
    ("get", "/api/v1/reps"),
    ("get", "/api/v1/reps/{id}"),
    ("put", "/api/v1/reps/{id}"),
    ("put", "/api/v1/reps/{id}/password"),
    ("get", "/api/v1/teams"),
    ("get", "/api/v1/teams/{id}"),
    ("put", "/api/v1/teams/{id}"),
    ("post", "/api/v1/route"),
    ("get", "/api/v1/rules"),
    ("put", "/api/v1/rules"),
    ("get", "/api/v1/rules/versions"),
    ("post", "/api/v1/rules/check"),
    ("post", "/api/v1/rules/simulate"),
    ("post", "/api/v1/rebalance"),
    ("get", "/api/v1/reports/workload"),
    ("get", "/api/v1/events"),
    ("post", "/api/v1/transactions"),
    ("post", "/api/v1/customers/{id}/interactions"),
    ("get", "/api/v1/customers/{id}/value"),
    ("put", "/api/v1/customers/{id}/tier-override"),
    ("delete", "/api/v1/customers/{id}/tier-override"),
    ("get", "/api/v1/policy"),
    ("put", "/api/v1/policy"),
    ("post", "/api/v1/score"),
    ("post", "/api/v1/tick"),
    ("get", "/api/v1/invariants"),
    ("post", "/api/v1/customers/{id}/forget"),
    ("get", "/api/v1/reports/value"),
    ("get", "/api/v1/alerts"),
    ("post", "/api/v1/tickets"),
    ("get", "/api/v1/tickets"),
    ("get", "/api/v1/tickets/{id}"),
    ("post", "/api/v1/tickets/{id}/respond"),
    ("post", "/api/v1/tickets/{id}/resolve"),
    ("post", "/api/v1/tickets/{id}/reopen"),
    ("post", "/api/v1/tickets/{id}/rating"),
    ("get", "/api/v1/calendar"),
    ("get", "/api/v1/reports/baseline"),
    ("get", "/api/v1/reports/service"),
    ("get", "/api/v1/reports/quadrant"),
    ("get", "/api/v1/service-alerts"),
    ("get", "/api/v1/reports/performance"),
    ("post", "/api/v1/tasks/{id}/complete"),
    ("get", "/api/v1/reps/{id}/calendar.ics"),
    ("get", "/api/v1/customers/{id}/tickets"),
    ("get", "/api/v1/customers/{id}/activity"),
    ("get", "/api/v1/tier-events"),
    ("post", "/api/v1/customers/{id}/claim"),
    ("post", "/api/v1/customers/{id}/release"),
    ("get", "/api/v1/pool"),
    ("get", "/api/v1/transfers"),
    ("post", "/api/v1/transfers"),
    ("get", "/api/v1/transfers/{id}"),
    ("post", "/api/v1/transfers/{id}/approve"),
    ("post", "/api/v1/transfers/{id}/reject"),
    ("post", "/api/v1/transfers/{id}/accept"),
    ("post", "/api/v1/transfers/{id}/decline"),
    ("post", "/api/v1/transfers/{id}/cancel"),
    ("get", "/api/v1/conflicts"),
    ("get", "/api/v1/conflicts/{id}"),
    ("post", "/api/v1/conflicts/{id}/dispute"),
    ("post", "/api/v1/conflicts/{id}/decide"),
    ("post", "/api/v1/conflicts/{id}/merge"),
    ("post", "/api/v1/reps/{id}/deactivate"),
    ("get", "/api/v1/notifications"),
    ("post", "/api/v1/notifications/{id}/read"),
];

async fn openapi_document_covers_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let document: Value = app
        .client
        .get(format!("{}/api/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    // Parameters are where the route takes them: `{id}` in the path, filters in the query.
    for (path, item) in document["paths"].as_object().unwrap() {
        for operation in item.as_object().unwrap().values() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                let expected = if path.contains(&format!("{{{name}}}")) {
                    "path"
                } else {
                    "query"
                };
                assert_eq!(parameter["in"], expected, "{path} {name}");
            }
        }
        if !path.starts_with("/api/v1/") {
            continue;
        }
        // Every token-guarded operation documents its 401.
        for operation in item.as_object().unwrap().values() {
            assert!(
                operation["responses"]["401"].is_object(),
                "{path} documents no 401"
            );
        }
    }
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(documented, expected);
    // And every documented route is really served (a missing route answers with the fallback).
    for (method, path) in ROUTES {
        let concrete = path.replace("{id}", "x1");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = if method == reqwest::Method::GET {
            None
        } else {
            Some(json!({}))
        };
        let (status, body) = app.call(method.clone(), &concrete, body).await;
        let is_fallback = body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("no such route"));
        assert!(
            !is_fallback,
            "{method} {concrete} is documented but not served"
        );
        assert!(
            !status.is_server_error(),
            "{method} {concrete}: {status} {body}"
        );
    }
}

async fn customer_value_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    use reqwest::Method;
    app.call(
        Method::PUT,
        "/api/v1/teams/sales",
        Some(json!({"name": "销售部"})),
    )
    .await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/reps/r1",
            Some(json!({"name": "王芳", "email": "r1@example.com", "team_id": "sales"})),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    for number in 1..=6 {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/v1/customers",
                Some(json!({"id": format!("c{number}"), "name": format!("客户{number}"), "owner_id": "r1"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        for month in 1..=number {
            let (status, body) = app
                .call(
                    Method::POST,
                    "/api/v1/transactions",
                    Some(json!({"customer_id": format!("c{number}"), "at": format!("2026-{month:02}-10"), "amount": 100 * number})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    }
    // The same purchase posted again (a client retry) is recognised, not doubled.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/transactions",
            Some(json!({"customer_id": "c1", "at": "2026-01-10", "amount": 100})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], false);
    for (payload, code, field) in [
        (
            json!({"customer_id": "c1", "at": "2026-01-10", "amount": "¥5"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "amount",
        ),
        (
            json!({"customer_id": "c1", "at": "soon", "amount": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "at",
        ),
        (
            json!({"customer_id": "nobody", "at": "2026-01-10", "amount": 5}),
            StatusCode::CONFLICT,
            "customer_id",
        ),
    ] {
        let (status, body) = app
            .call(Method::POST, "/api/v1/transactions", Some(payload))
            .await;
        assert_eq!(status, code, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/customers/c2/interactions",
            Some(json!({"rep_id": "r1", "at": "2026-06-01T10:00:00+08:00", "kind": "visit", "minutes": 45})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/customers/c2/interactions",
            Some(json!({"rep_id": "r1", "at": "2026-06-01", "kind": "fax"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "kind");

    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/policy",
            Some(json!({"source": "[[tier]]\nname = \"A\"\ntop_percent = 150\n"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let policy = "[[tier]]\nname = \"A\"\ntop_percent = 34\n\n[[tier]]\nname = \"B\"\n";
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/policy",
            Some(json!({ "source": policy })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, summary) = app.call(Method::POST, "/api/v1/score", None).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["customers"], 6);
    assert_eq!(summary["with_purchases"], 6);
    let (_, value) = app
        .call(Method::GET, "/api/v1/customers/c6/value", None)
        .await;
    assert_eq!(value["value"]["tier"], "A", "{value}");
    assert_eq!(value["value"]["rfm"]["frequency"], 6, "{value}");
    assert_eq!(value["tier_history"][0]["to_tier"], "A");
    let (_, value) = app
        .call(Method::GET, "/api/v1/customers/c2/value", None)
        .await;
    assert_eq!(value["last_interaction_at"], "2026-06-01T02:00:00.000000Z");

    // A graded customer's tier follows its value: asking for another one is refused, and
    // nothing else of the body is written either.
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/customers/c6",
            Some(json!({"tier": "B", "name": "改名"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["field"], "tier");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("tier-override"));
    // A new ticket with several bad values names them all, the first in `field`.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            Some(json!({"id": "k-bad", "opened_at": "yesterday", "severity": "huge"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    for field in ["customer_id", "opened_at", "severity"] {
        assert!(message.contains(field), "{field}: {body}");
    }
    // A ticket dated after the clock's day is an invalid value too.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            Some(json!({"id": "k-later", "customer_id": "c6", "opened_at": "2030-01-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "invalid", Some("opened_at"));
    // POST /route takes the same body and refuses the same way.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/route",
            Some(json!({"id": "c6", "tier": "B", "name": "改名"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["field"], "tier");
    let (_, c6) = app.call(Method::GET, "/api/v1/customers/c6", None).await;
    assert_eq!(
        (c6["tier"].as_str(), c6["name"].as_str()),
        (Some("A"), Some("客户6"))
    );
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/customers/c1/tier-override",
            Some(json!({"tier": "钻石", "reason": "x", "expires_on": "2026-12-31"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "tier");
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/customers/c1/tier-override",
            Some(json!({"tier": "A", "reason": "战略合作", "expires_on": "2026-12-31"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, customer) = app.call(Method::GET, "/api/v1/customers/c1", None).await;
    assert_eq!(customer["tier"], "A");
    let (status, _) = app
        .call(Method::DELETE, "/api/v1/customers/c1/tier-override", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::DELETE, "/api/v1/customers/c1/tier-override", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, report) = app.call(Method::GET, "/api/v1/reports/value", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["customers"], 6);
    assert_eq!(report["tiers"][0]["tier"], "A");
    let (status, alerts) = app.call(Method::GET, "/api/v1/alerts?all=true", None).await;
    assert_eq!(status, StatusCode::OK);
    // Nobody bought since June, so as of late November every customer's health is low.
    let alerts = alerts.as_array().unwrap().clone();
    assert!(!alerts.is_empty(), "stale customers raise alerts");
    for alert in &alerts {
        assert_eq!(alert["owner_id"], "r1", "{alert}");
        assert_eq!(alert["kind"], "health");
        assert!(alert["health"].as_f64().unwrap() < 40.0, "{alert}");
        assert!(alert["message"]
            .as_str()
            .unwrap()
            .contains("below the alert threshold"));
    }
    let first = alerts[0]["customer_id"].as_str().unwrap();
    let (_, only) = app
        .call(
            Method::GET,
            &format!("/api/v1/alerts?customer_id={first}"),
            None,
        )
        .await;
    assert!(only
        .as_array()
        .unwrap()
        .iter()
        .all(|alert| alert["customer_id"] == first));
    let (_, none) = app
        .call(Method::GET, "/api/v1/alerts?owner_id=r9", None)
        .await;
    assert_eq!(none, json!([]));

    let (status, body) = app
        .call(Method::POST, "/api/v1/tick?at=tomorrow", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "at");
    let (status, tick) = app
        .call(Method::POST, "/api/v1/tick?at=2026-12-01T00:00:00Z", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{tick}");
    assert_eq!(tick["ran"][0][0], "expire_overrides");
    assert_eq!(tick["ran"][1][0], "monthly_regrade");
    // Ticking back into an earlier month would overwrite newer grades: refused.
    let (status, body) = app
        .call(Method::POST, "/api/v1/tick?at=2026-11-30T00:00:00Z", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["field"], "at");
    let (_, tick) = app
        .call(Method::POST, "/api/v1/tick?at=2026-12-02T00:00:00Z", None)
        .await;
    assert_eq!(tick["already_done"][0][1], "2026-12");
}

async fn route_explain_and_events(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .post("/api/v1/route", json!({"id": "c1", "name": "上海浦东银行", "tier": "A", "region": "上海/浦东", "size": 800, "attributes": {"annual_revenue": 5000000}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["routed_now"], true);
    let decision = &body["decision"];
    assert_eq!(decision["owner_id"], "r2", "senior in east: {decision}");
    assert_eq!(decision["rule"], "华东大客户");
    assert_eq!(decision["strategy"], "least_loaded");
    let candidates = decision["trace"]["candidates"].as_array().unwrap();
    assert!(candidates
        .iter()
        .any(|candidate| candidate["rep_id"] == "r3" && candidate["status"] == "skipped"));

    // A B-tier customer misses rule 1 and the trace says why.
    let (_, body) = app
        .post(
            "/api/v1/route",
            json!({"id": "c2", "tier": "B", "region": "广东/深圳"}),
        )
        .await;
    assert_eq!(body["decision"]["rule"], "兜底");
    let first_rule = &body["decision"]["trace"]["rules"][0];
    assert_eq!(first_rule["matched"], false);
    assert!(
        first_rule["detail"]
            .as_str()
            .unwrap()
            .contains("tier is \"B\""),
        "{first_rule}"
    );

    // Routing an owned customer again returns the stored decision; the body replaces the stored record.
    let (_, again) = app
        .post(
            "/api/v1/route",
            json!({"id": "c1", "name": "上海浦东银行", "tier": "A", "region": "上海/浦东", "attributes": {"annual_revenue": "5000000"}}),
        )
        .await;
    assert_eq!(again["routed_now"], false);
    assert_eq!(again["decision"]["owner_id"], "r2");

    let (_, decisions) = app.get("/api/v1/customers/c1/decisions").await;
    assert_eq!(decisions.as_array().unwrap().len(), 1);
    assert_eq!(decisions[0]["reason"], decision["reason"]);

    let (_, events) = app.get("/api/v1/events?customer_id=c1").await;
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "ownership.assigned");
    assert_eq!(events[0]["to_rep_id"], "r2");
    assert_eq!(events[0]["rule"], "华东大客户");
    assert!(
        events[0]["actor"].as_str().unwrap().starts_with("admin:"),
        "the actor is the admin token's id: {}",
        events[0]["actor"]
    );

    let (_, customer) = app.get("/api/v1/customers/c1").await;
    assert_eq!(customer["owner_id"], "r2");
    assert_eq!(customer["attributes"]["annual_revenue"], "5000000");

    // Manual reassignment via PUT is an event too, and loads follow.
    let (status, body) = app
        .put(
            "/api/v1/customers/c1",
            json!({"name": "上海浦东银行", "tier": "A", "region": "上海/浦东", "owner_id": "r3"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, events) = app.get("/api/v1/events?customer_id=c1").await;
    assert_eq!(events[1]["kind"], "ownership.transferred");
    let (_, rep) = app.get("/api/v1/reps/r3").await;
    assert_eq!(rep["owned_count"], 1);
    let (_, rep) = app.get("/api/v1/reps/r2").await;
    assert_eq!(rep["owned_count"], 0);

    let (_, report) = app.get("/api/v1/reports/workload").await;
    assert_eq!(report["reps"].as_array().unwrap().len(), 3);
    assert!(report["overall"]["gini"].as_f64().is_some());
    assert_eq!(report["teams"].as_array().unwrap().len(), 2);
}

async fn concurrent_routes_for_one_new_customer_give_one_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let mut handles = Vec::new();
    for _ in 0..100 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/route", app.address);
        handles.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(TOKEN)
                .json(&json!({"id": "hot", "name": "抢手客户", "tier": "C"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }));
    }
    let mut owners = BTreeSet::new();
    let mut routed_now = 0;
    for handle in handles {
        let body = handle.await.unwrap();
        owners.insert(body["decision"]["owner_id"].as_str().unwrap().to_string());
        if body["routed_now"] == true {
            routed_now += 1;
        }
    }
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(routed_now, 1);
    let (_, events) = app.get("/api/v1/events?customer_id=hot").await;
    assert_eq!(events.as_array().unwrap().len(), 1);
    let reps = app.store.list_reps().await.unwrap();
    assert_eq!(reps.iter().map(|rep| rep.load.owned_count).sum::<u32>(), 1);
}

async fn bad_input_gets_clear_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let response = app
        .client
        .post(format!("{}/api/v1/route", app.address))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_error(&response.json().await.unwrap(), "bad_request", None);

    let (status, body) = app
        .post("/api/v1/route", json!({"id": "c1", "colour": "red"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request", Some("colour"));

    // A value wrong with what is stored (an absence ending before its stored start) is 422
    // like any invalid value; a clash with other records (an unknown team, a cycle) is 409.
    let (status, body) = app
        .put("/api/v1/reps/r1", json!({"absent_from": "2026-12-10"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put("/api/v1/reps/r1", json!({"absent_until": "2026-12-01"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "invalid", Some("absent_until"));
    let (status, body) = app
        .put("/api/v1/reps/r1", json!({"team_id": "nowhere"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, "conflict", Some("team_id"));
    // A rule name too long to key routing state is refused when set (PostgreSQL could not
    // index it, and every route would fail).
    let long_name = "长".repeat(1000);
    let (status, body) = app
        .put_rules(&format!(
            "[[rule]]\nname = \"{long_name}\"\nwhen = 'true'\nto = {{ team = \"hq\" }}\nstrategy = \"round_robin\"\n"
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "invalid", Some("name"));

    let (status, body) = app
        .post("/api/v1/route", json!({"id": "c1", "size": "many"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid", Some("size"));

    let (status, body) = app
        .post("/api/v1/route", json!({"id": "c1", "workload": -1}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid", Some("workload"));

    let (status, body) = app
        .post("/api/v1/route", json!({"id": "c1", "owner_id": "r1"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid", Some("owner_id"));

    let (status, body) = app
        .post(
            "/api/v1/route",
            json!({"id": "c1", "first_touch_rep_id": "ghost"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "conflict", Some("first_touch_rep_id"));

    let (status, body) = app
        .put("/api/v1/customers/c9", json!({"owner_id": "ghost"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid", Some("owner_id"));

    let (status, body) = app.get("/api/v1/customers/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found", None);

    let (status, body) = app.get("/api/v1/customers?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request", Some("limit"));

    let (status, body) = app.get("/api/v1/customers?pool=perhaps").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request", Some("pool"));
    let (status, body) = app.get("/api/v1/customers?limit=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request", Some("limit"));
    let (status, body) = app.get("/api/v1/events?after_id=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request", Some("after_id"));

    let (status, body) = app
        .put_rules("[[rule]]\nname = \"x\"\nwhen = 'colour == \"red\"'\nto = { team = \"hq\" }\nstrategy = \"round_robin\"\n")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid", Some("when"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 3"),
        "{body}"
    );

    let (status, body) = app
        .put_rules("[[rule]]\nname = \"x\"\nwhen = 'true'\nto = { team = \"nowhere\" }\nstrategy = \"round_robin\"\n")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid", Some("to.team"));

    let (status, body) = app
        .put("/api/v1/reps/r9", json!({"team_id": "nowhere"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "conflict", Some("team_id"));

    let (status, body) = app
        .put("/api/v1/teams/hq", json!({"parent_id": "east"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a cycle: {body}");

    // Nothing half-written: the rejected customers do not exist.
    let (_, page) = app.get("/api/v1/customers").await;
    assert_eq!(page["total"], 0, "{page}");
    // Parent accounts may not form a cycle, through PUT or POST /route.
    for (id, parent) in [("g1", None), ("g2", Some("g1"))] {
        let (status, body) = app
            .put(
                &format!("/api/v1/customers/{id}"),
                json!({"name": id, "parent_id": parent}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = app
        .put("/api/v1/customers/g1", json!({"parent_id": "g2"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, "conflict", Some("parent_id"));
    let (status, body) = app
        .post("/api/v1/route", json!({"id": "g1", "parent_id": "g2"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, "conflict", Some("parent_id"));
}

async fn customers_list_filters_and_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    for (id, region, tier) in [
        ("a1", "广东/深圳/南山", "A"),
        ("a2", "广东省/广州", "B"),
        ("a3", "广东/广州", "B"),
        ("a4", "上海/浦东", "C"),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/customers",
                json!({"id": id, "name": format!("客户{id}"), "region": region, "tier": tier}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = app.post("/api/v1/customers", json!({"id": "a1"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "conflict", Some("id"));
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, page) = app.get("/api/v1/customers?region=%E5%B9%BF%E4%B8%9C").await;
    assert_eq!(
        ids(&page),
        ["a1", "a3"],
        "segment prefix 广东 excludes 广东省"
    );
    let (_, page) = app.get("/api/v1/customers?tier=B").await;
    assert_eq!(ids(&page), ["a2", "a3"]);
    let (_, page) = app.get("/api/v1/customers?limit=2&offset=2").await;
    assert_eq!(ids(&page), ["a3", "a4"]);
    assert_eq!(page["total"], 4);
    let (_, page) = app.get("/api/v1/customers?pool=true").await;
    assert_eq!(page["total"], 4);
    app.post(
        "/api/v1/route",
        json!({"id": "a4", "name": "客户a4", "region": "上海/浦东", "tier": "C"}),
    )
    .await;
    let (_, page) = app.get("/api/v1/customers?pool=false").await;
    assert_eq!(ids(&page), ["a4"]);
    let owner = page["items"][0]["owner_id"].as_str().unwrap().to_string();
    let (_, page) = app
        .get(&format!("/api/v1/customers?owner_id={owner}"))
        .await;
    assert_eq!(ids(&page), ["a4"]);
    let (_, page) = app.get("/api/v1/customers?q=a2").await;
    assert_eq!(ids(&page), ["a2"]);
    let (_, rules) = app.get("/api/v1/rules").await;
    assert_eq!(rules["version"], 1);
    let (_, versions) = app.get("/api/v1/rules/versions").await;
    assert_eq!(versions.as_array().unwrap().len(), 1);
    // A check finds each problem at its line, and stores nothing, valid or not.
    let (status, check) = app
        .post(
            "/api/v1/rules/check",
            json!({"source": rules["source"].as_str().unwrap()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check["valid"], true, "{check}");
    let broken = "[[rule]]\nname = \"x\"\nwhen = \"tier ==\"\nto = { team = \"nowhere\" }\n";
    let (status, check) = app
        .post("/api/v1/rules/check", json!({"source": broken}))
        .await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check["valid"], false, "{check}");
    assert_eq!(check["problems"][0]["line"], 3, "{check}");
    // A simulation of the rules as they are moves nobody; bad rules and a bad scope are
    // refused naming what is wrong; nothing is stored either way.
    let (status, simulation) = app
        .post(
            "/api/v1/rules/simulate?scope=owned&limit=10",
            json!({"source": rules["source"].as_str().unwrap()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{simulation}");
    assert_eq!(simulation["scope"], "owned", "{simulation}");
    assert_eq!(simulation["owner_changes_total"], 0, "{simulation}");
    assert_eq!(simulation["list_limit"], 10, "{simulation}");
    assert_eq!(
        simulation["overall"]["owned_before"],
        simulation["overall"]["owned_after"]
    );
    let (status, refused) = app
        .post("/api/v1/rules/simulate", json!({"source": broken}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, refused) = app
        .post(
            "/api/v1/rules/simulate?scope=everything",
            json!({"source": rules["source"].as_str().unwrap()}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["field"], "scope", "{refused}");
    let (_, versions) = app.get("/api/v1/rules/versions").await;
    assert_eq!(
        versions.as_array().unwrap().len(),
        1,
        "a check or a simulation stores nothing"
    );
    let (_, teams) = app.get("/api/v1/teams").await;
    assert_eq!(teams.as_array().unwrap().len(), 2);
}

/// Text with NUL, deep nesting, wrong JSON shapes, bad paths and methods: each gets a 4xx with
/// the error envelope, and the server keeps serving. PostgreSQL cannot store NUL, so on it
/// these would have been 500s had anything reached the database.
async fn malformed_input_never_reaches_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    for (path, field) in [
        ("/api/v1/customers?q=%00", "q"),
        ("/api/v1/customers?tier=a%00b", "tier"),
        ("/api/v1/customers?region=%E5%B9%BF%00", "region"),
        ("/api/v1/customers?owner_id=%00", "owner_id"),
        ("/api/v1/events?customer_id=%00", "customer_id"),
        ("/api/v1/events?rep_id=a%00", "rep_id"),
        ("/api/v1/alerts?owner_id=%00", "owner_id"),
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_error(&body, "bad_request", Some(field));
    }
    for (body, field) in [
        (json!({"id": "n1", "tier": "a\u{0}b"}), "tier"),
        (json!({"id": "n1", "phone": "1\u{0}"}), "phone"),
        (
            json!({"id": "n1", "attributes": {"note": "x\u{0}"}}),
            "attr.note",
        ),
        (json!({"id": "n1", "workload": 1e308}), "workload"),
        (json!({"id": "n1", "size": 1e20}), "size"),
    ] {
        let (status, response) = app.post("/api/v1/route", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {response}"
        );
        assert_error(&response, "invalid", Some(field));
    }
    let (status, body) = app
        .put("/api/v1/reps/r1", json!({"skills": "金融|a\u{0}"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "invalid", Some("skills"));
    // Shapes serde would otherwise accept or explain without a field.
    let (status, body) = app.post("/api/v1/route", json!([1, 2])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "bad_request", None);
    let (status, body) = app
        .post("/api/v1/route", json!({"id": "n1", "attributes": [1]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "bad_request", Some("attributes"));
    // A value of the wrong JSON shape is refused, not stored as its JSON text.
    let (status, body) = app
        .post("/api/v1/route", json!({"id": "n1", "name": ["a"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "bad_request", Some("name"));
    let (status, body) = app
        .post(
            "/api/v1/route",
            json!({"id": "n1", "attributes": {"x": {"y": 1}}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // The path names the attribute at fault.
    assert_error(&body, "bad_request", Some("attributes.x"));
    // Skills come back from GET /reps as an array; sending that shape back keeps them.
    let (status, body) = app
        .put("/api/v1/reps/r1", json!({"skills": ["金融", "英语"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["skills"], json!(["金融", "英语"]));
    // Options of POST /tick go in the query string; a body would be ignored, so it is refused.
    let (status, body) = app
        .post("/api/v1/tick", json!({"at": "2026-12-01T00:00:00Z"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "bad_request", None);
    // A body over the limit is a 413 in the same envelope.
    // The server answers before reading the whole body and then closes the connection, so
    // this request goes on a connection of its own: a pooled one could be reused by the next
    // request while it is being closed.
    let huge = "x".repeat(3 * 1024 * 1024);
    let unpooled = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // The answer may also race the rest of the upload: the server closes while the client is
    // still writing, and the client sees a broken pipe instead of the 413. Another attempt on a
    // new connection reads the answer.
    let mut attempts = 0;
    let response = loop {
        attempts += 1;
        match unpooled
            .post(format!("{}/api/v1/route", app.address))
            .bearer_auth(TOKEN)
            .json(&json!({"id": "n1", "name": huge}))
            .send()
            .await
        {
            Ok(response) => break response,
            Err(error) if attempts < 10 && error.is_request() => continue,
            Err(error) => panic!("request: {error:?}"),
        }
    };
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_error(&body, "payload_too_large", None);
    // A rule name the database cannot store, and nesting deep enough to overflow a parser
    // that recursed without a limit: refused when set, so routing keeps working.
    let (status, body) = app
        .put_rules("[[rule]]\nname = \"a\\u0000b\"\nwhen = 'true'\nto = { team = \"hq\" }\nstrategy = \"round_robin\"\n")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "invalid", Some("name"));
    let deep = format!("{}true{}", "(".repeat(1000), ")".repeat(1000));
    let (status, body) = app
        .put_rules(&format!("[[rule]]\nname = \"deep\"\nwhen = '{deep}'\nto = {{ team = \"hq\" }}\nstrategy = \"round_robin\"\n"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("levels deep"),
        "{body}"
    );
    let (status, body) = app.post("/api/v1/route", json!({"id": "after"})).await;
    assert_eq!(status, StatusCode::OK, "the server still routes: {body}");
    // Every rejection speaks JSON: unknown methods and undecodable paths too.
    let (status, body) = app
        .call(reqwest::Method::DELETE, "/api/v1/customers/after", None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_error(&body, "method_not_allowed", None);
    let (status, body) = app.get("/api/v1/customers/%ff").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "bad_request", Some("id"));
}

/// PUT and POST /route change the fields a body gives; the rest, and the owner, stay.
async fn updates_change_only_the_fields_given(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let full = json!({
        "id": "p1", "name": "上海浦东银行", "type": "enterprise", "industry": "金融",
        "region": "上海/浦东", "size": 800, "tier": "A", "owner_id": "r2",
        "created_at": "2026-01-05", "attributes": {"annual_revenue": 5000000, "note": "老客户"},
    });
    let (status, body) = app.put("/api/v1/customers/p1", full).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.put("/api/v1/customers/p1", json!({"tier": "B"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tier"], "B");
    for (field, expected) in [
        ("name", json!("上海浦东银行")),
        ("region", json!("上海/浦东")),
        ("industry", json!("金融")),
        ("size", json!(800)),
        ("owner_id", json!("r2")),
        ("created_at", json!("2026-01-05T00:00:00Z")),
    ] {
        assert_eq!(body[field], expected, "{field} kept: {body}");
    }
    assert_eq!(body["attributes"]["annual_revenue"], "5000000");
    // One attribute changes, one is removed by null, the rest stay.
    let (_, body) = app
        .put(
            "/api/v1/customers/p1",
            json!({"attributes": {"note": null, "segment": "银行"}}),
        )
        .await;
    assert_eq!(
        body["attributes"],
        json!({"annual_revenue": "5000000", "segment": "银行"})
    );
    // POST /route on an owned customer updates what it gives and routes nothing.
    let (status, routed) = app
        .post("/api/v1/route", json!({"id": "p1", "stage": "成交"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{routed}");
    assert_eq!(routed["routed_now"], false);
    let (_, body) = app.get("/api/v1/customers/p1").await;
    assert_eq!(body["stage"], "成交");
    assert_eq!(body["tier"], "B");
    assert_eq!(body["created_at"], "2026-01-05T00:00:00Z");
    // An explicit null releases, and the event says it was done by hand.
    let (_, body) = app
        .put("/api/v1/customers/p1", json!({"owner_id": null}))
        .await;
    assert_eq!(body["owner_id"], Value::Null, "{body}");
    let (_, events) = app.get("/api/v1/events?customer_id=p1").await;
    let reasons: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "assigned by hand through the API",
            "released to the pool by hand through the API"
        ]
    );
    // Reps: a capacity change keeps team, level and load.
    let (status, body) = app.put("/api/v1/reps/r2", json!({"capacity": 5})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["capacity"], 5);
    assert_eq!(body["team_id"], "east");
    assert_eq!(body["level"], "senior");
    assert_eq!(body["name"], "销售r2");
    // Teams: a manager must be a rep; a name change keeps the parent.
    let (status, body) = app
        .put("/api/v1/teams/east", json!({"manager_id": "ghost"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, "conflict", Some("manager_id"));
    let (_, body) = app
        .put("/api/v1/teams/east", json!({"name": "华东大区"}))
        .await;
    assert_eq!(body["parent_id"], "hq", "{body}");
}

/// After an owner is set by hand, POST /route explains the owner as it is now, not the last
/// routing decision, which named someone else.
async fn route_returns_the_current_owner_after_a_manual_assignment(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (_, routed) = app.post("/api/v1/route", json!({"id": "m1"})).await;
    let first = routed["decision"]["owner_id"].as_str().unwrap().to_string();
    let other = if first == "r1" { "r3" } else { "r1" };
    app.put("/api/v1/customers/m1", json!({"owner_id": other}))
        .await;
    let (_, routed) = app.post("/api/v1/route", json!({"id": "m1"})).await;
    assert_eq!(routed["routed_now"], false);
    assert_eq!(routed["decision"]["owner_id"], other, "{routed}");
    assert!(
        routed["decision"]["reason"]
            .as_str()
            .unwrap()
            .contains("set outside routing"),
        "{routed}"
    );
}

/// least_loaded through the store: customers released from a rep send new ones back to it.
async fn released_customers_refill_the_least_loaded_rep(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .put_rules("[[rule]]\nname = \"east\"\nwhen = 'true'\nto = { team = \"east\" }\nstrategy = \"least_loaded\"\n")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut owners = Vec::new();
    for number in 0..6 {
        let (_, routed) = app
            .post("/api/v1/route", json!({"id": format!("l{number}")}))
            .await;
        owners.push(routed["decision"]["owner_id"].as_str().unwrap().to_string());
    }
    assert_eq!(owners.iter().filter(|owner| *owner == "r2").count(), 3);
    // Release two of r2's customers: the next two new customers go to r2.
    let released: Vec<String> = (0..6)
        .filter(|&number| owners[number] == "r2")
        .take(2)
        .map(|number| format!("l{number}"))
        .collect();
    for id in &released {
        app.put(
            &format!("/api/v1/customers/{id}"),
            json!({"owner_id": null}),
        )
        .await;
    }
    for number in 6..8 {
        let (_, routed) = app
            .post("/api/v1/route", json!({"id": format!("l{number}")}))
            .await;
        assert_eq!(routed["decision"]["owner_id"], "r2", "{routed}");
    }
}

/// A rebalance through the API: a dry run writes nothing, `apply` opens transfers of kind
/// rebalance, `no_approval` moves at once with events; bad bodies name their field.
async fn rebalance_plans_and_applies(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .put_rules("[[rule]]\nname = \"east\"\nwhen = 'true'\nto = { team = \"east\" }\nstrategy = \"least_loaded\"\n")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for number in 0..20 {
        let (status, body) = app
            .put(
                &format!("/api/v1/customers/b{number:02}"),
                json!({"name": format!("客户 {number}"), "owner_id": "r2"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    let (status, plan) = app.post("/api/v1/rebalance", json!({"team": "east"})).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["applied"], false);
    let moves = plan["plan"]["moves_total"].as_u64().unwrap();
    assert!(moves > 0, "{plan}");
    assert!(plan["plan"]["moves"]
        .as_array()
        .unwrap()
        .iter()
        .all(|planned| planned["from_rep_id"] == "r2" && planned["to_rep_id"] == "r3"));
    let (_, events) = app.get("/api/v1/events?limit=1000").await;
    let events_before = events.as_array().unwrap().len();

    let (status, applied) = app
        .post(
            "/api/v1/rebalance",
            json!({"team": "east", "max_moves": 2, "apply": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["applied"], true);
    assert_eq!(applied["plan"]["moves_total"], 2, "{applied}");
    let transfer = applied["transfer_ids"][0].as_i64().unwrap();
    let (_, transfer) = app.get(&format!("/api/v1/transfers/{transfer}")).await;
    assert_eq!(transfer["reason_kind"], "rebalance", "{transfer}");
    let (_, events) = app.get("/api/v1/events?limit=1000").await;
    assert_eq!(
        events.as_array().unwrap().len(),
        events_before,
        "nothing moved yet"
    );

    let (status, direct) = app
        .post(
            "/api/v1/rebalance",
            json!({"team": "east", "apply": true, "no_approval": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{direct}");
    let moved = direct["moved"].as_u64().unwrap() as usize;
    assert!(moved > 0, "{direct}");
    let (_, events) = app.get("/api/v1/events?limit=1000").await;
    assert_eq!(events.as_array().unwrap().len(), events_before + moved);

    for (body, field) in [
        (json!({"team": "nowhere"}), "team"),
        (json!({"max_moves": -1}), "max_moves"),
        (json!({"no_approval": true}), "no_approval"),
    ] {
        let (status, refused) = app.post("/api/v1/rebalance", body).await;
        assert!(status.is_client_error(), "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }
}

/// Round robin state is read and written under the routing lock: 60 concurrent new customers
/// over three reps give exactly 20 each, whatever order the requests arrive in.
async fn concurrent_routes_of_different_customers_keep_the_rotation_exact(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .put_rules("[[rule]]\nname = \"all\"\nwhen = 'true'\nto = { team = \"hq\" }\nstrategy = \"round_robin\"\n")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let app = std::sync::Arc::new(app);
    let requests: Vec<_> = (0..60)
        .map(|number| {
            let app = app.clone();
            tokio::spawn(async move {
                let (_, routed) = app
                    .post("/api/v1/route", json!({"id": format!("rr{number}")}))
                    .await;
                routed["decision"]["owner_id"].as_str().unwrap().to_string()
            })
        })
        .collect();
    let mut counts = std::collections::BTreeMap::new();
    for request in requests {
        *counts.entry(request.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        counts,
        [
            ("r1".to_string(), 20),
            ("r2".to_string(), 20),
            ("r3".to_string(), 20)
        ]
        .into_iter()
        .collect()
    );
}

/// A new ALLOT_ADMIN_TOKEN replaces the old one; any token can be revoked; weak ones are refused.
async fn tokens_rotate_and_revoke(backend: Backend) {
    let app = spawn_app(backend).await;
    let clock = Clock::parse("2026-11-26T09:00:00+08:00").unwrap();
    let status_with = |token: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(format!("{}/api/v1/teams", app.address))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status_with(TOKEN).await, StatusCode::OK);
    app.store
        .ensure_admin_token(Some("a-rotated-admin-token"), clock)
        .await
        .unwrap();
    assert_eq!(status_with(TOKEN).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with("a-rotated-admin-token").await, StatusCode::OK);
    let error = app
        .store
        .ensure_admin_token(Some("short"), clock)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("at least 16"), "{error}");
    let issued = app
        .store
        .create_token("crm-sync", None, clock)
        .await
        .unwrap();
    let tokens = app.store.list_tokens().await.unwrap();
    assert_eq!(tokens.len(), 3);
    assert!(
        tokens[0].revoked_at.is_some(),
        "the first env token is revoked"
    );
    let crm = tokens
        .iter()
        .find(|token| token.name == "crm-sync")
        .unwrap();
    let issued: &'static str = Box::leak(issued.into_boxed_str());
    assert_eq!(status_with(issued).await, StatusCode::OK);
    app.store.revoke_token(&crm.id, clock).await.unwrap();
    assert_eq!(status_with(issued).await, StatusCode::UNAUTHORIZED);
    // A revoked token stays revoked, even when it is configured again.
    let revived = app
        .store
        .ensure_admin_token(Some(TOKEN), clock)
        .await
        .unwrap_err();
    assert!(revived.to_string().contains("was revoked"), "{revived}");
    assert_eq!(status_with(TOKEN).await, StatusCode::UNAUTHORIZED);
}

/// Every route's success response (and its errors) matches the document: the schemas are
/// generated from the same types the handlers serialise, and every call of these tests checks
/// its response against them (`support::DocumentedResponses`); this one calls each route.
async fn responses_match_the_openapi_schemas(backend: Backend) {
    use reqwest::Method;
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    // The validator rejects what it should: an unknown key, a missing one, a wrong type.
    let customer = app
        .documented
        .compile(&json!({"$ref": "#/components/schemas/Customer"}));
    let problems: Vec<String> = customer
        .iter_errors(&json!({"id": 1, "colour": "red"}))
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    let found = |needle: &str| problems.iter().any(|problem| problem.contains(needle));
    assert!(found("colour"), "{problems:#?}");
    assert!(found("\"name\" is a required property"), "{problems:#?}");
    assert!(found("1 is not of type \"string\""), "{problems:#?}");
    // A rep record is a rep and its counts (`allOf`): each part's fields are known, no others.
    let record = app
        .documented
        .compile(&json!({"$ref": "#/components/schemas/RepRecord"}));
    let (_, rep) = app.get("/api/v1/reps/r1").await;
    assert!(record.is_valid(&rep), "{rep}");
    let mut extended = rep.clone();
    extended["colour"] = json!("red");
    assert!(!record.is_valid(&extended), "{extended}");
    let call = |method: Method, _route: &'static str, concrete: String, body: Option<Value>| {
        let app = &app;
        async move { app.call(method, &concrete, body).await.1 }
    };
    for number in 0..5 {
        call(Method::POST, "/api/v1/route", "/api/v1/route".into(),
            Some(json!({"id": format!("s{number}"), "tier": "A", "region": "上海/浦东", "attributes": {"n": number}}))).await;
    }
    call(
        Method::POST,
        "/api/v1/customers",
        "/api/v1/customers".into(),
        Some(json!({"id": "s9", "name": "手工客户", "owner_id": "r1", "created_at": "2026-01-01"})),
    )
    .await;
    call(
        Method::PUT,
        "/api/v1/customers/{id}",
        "/api/v1/customers/s9".into(),
        Some(json!({"tier": "B"})),
    )
    .await;
    for day in 1..=28 {
        for id in ["s0", "s1", "s9"] {
            call(Method::POST, "/api/v1/transactions", "/api/v1/transactions".into(),
                Some(json!({"customer_id": id, "at": format!("2026-{:02}-{day:02}", 1 + day % 10), "amount": 100 + day}))).await;
        }
    }
    call(
        Method::POST,
        "/api/v1/customers/{id}/interactions",
        "/api/v1/customers/s1/interactions".into(),
        Some(json!({"rep_id": "r2", "at": "2026-11-01", "kind": "call", "minutes": 10})),
    )
    .await;
    call(Method::POST, "/api/v1/tickets", "/api/v1/tickets".into(),
        Some(json!({"id": "k1", "customer_id": "s1", "opened_at": "2026-11-20", "severity": "major", "subject": "无法登录"}))).await;
    call(Method::POST, "/api/v1/tickets", "/api/v1/tickets".into(),
        Some(json!({"id": "k1", "customer_id": "s1", "opened_at": "2026-11-20", "closed_at": "2026-11-22"}))).await;
    call(
        Method::GET,
        "/api/v1/customers/{id}/tickets",
        "/api/v1/customers/s1/tickets".into(),
        None,
    )
    .await;
    call(Method::POST, "/api/v1/tickets", "/api/v1/tickets".into(),
        Some(json!({"id": "k2", "customer_id": "s1", "opened_at": "2026-11-24", "severity": "general", "kind": "complaint", "subject": "投诉"}))).await;
    for (route, body) in [
        ("respond", json!({"at": "2026-11-24T10:00:00+08:00"})),
        ("resolve", json!({})),
        ("rating", json!({"rating": 5})),
        ("reopen", json!({})),
        ("rating", json!({"rating": 9})),
    ] {
        call(
            Method::POST,
            "/api/v1/tickets/{id}/step",
            format!("/api/v1/tickets/k2/{route}"),
            Some(body),
        )
        .await;
    }
    call(
        Method::GET,
        "/api/v1/tickets/{id}",
        "/api/v1/tickets/k2".into(),
        None,
    )
    .await;
    call(
        Method::GET,
        "/api/v1/tickets",
        "/api/v1/tickets?state=all&limit=5".into(),
        None,
    )
    .await;
    call(
        Method::GET,
        "/api/v1/tickets",
        "/api/v1/tickets?state=sideways".into(),
        None,
    )
    .await;
    call(
        Method::GET,
        "/api/v1/customers/{id}/activity",
        "/api/v1/customers/s1/activity?limit=5".into(),
        None,
    )
    .await;
    call(Method::POST, "/api/v1/score", "/api/v1/score".into(), None).await;
    call(
        Method::GET,
        "/api/v1/tier-events",
        "/api/v1/tier-events?limit=5".into(),
        None,
    )
    .await;
    call(
        Method::PUT,
        "/api/v1/customers/{id}/tier-override",
        "/api/v1/customers/s2/tier-override".into(),
        Some(json!({"tier": "A", "reason": "战略", "expires_on": "2026-12-31"})),
    )
    .await;
    call(
        Method::POST,
        "/api/v1/tick",
        "/api/v1/tick?at=2026-12-01T00:00:00Z".into(),
        None,
    )
    .await;
    for (route, concrete) in [
        ("/api/v1/customers", "/api/v1/customers?limit=3".to_string()),
        ("/api/v1/customers/{id}", "/api/v1/customers/s0".to_string()),
        (
            "/api/v1/customers/{id}/decisions",
            "/api/v1/customers/s0/decisions".to_string(),
        ),
        (
            "/api/v1/customers/{id}/value",
            "/api/v1/customers/s0/value".to_string(),
        ),
        (
            "/api/v1/customers/{id}/value",
            "/api/v1/customers/s2/value".to_string(),
        ),
        (
            "/api/v1/customers/{id}",
            "/api/v1/customers/nobody".to_string(),
        ),
        ("/api/v1/reps", "/api/v1/reps".to_string()),
        ("/api/v1/reps/{id}", "/api/v1/reps/r1".to_string()),
        ("/api/v1/teams", "/api/v1/teams".to_string()),
        ("/api/v1/teams/{id}", "/api/v1/teams/hq".to_string()),
        ("/api/v1/rules", "/api/v1/rules".to_string()),
        (
            "/api/v1/rules/versions",
            "/api/v1/rules/versions".to_string(),
        ),
        (
            "/api/v1/reports/workload",
            "/api/v1/reports/workload".to_string(),
        ),
        ("/api/v1/reports/value", "/api/v1/reports/value".to_string()),
        ("/api/v1/events", "/api/v1/events".to_string()),
        ("/api/v1/alerts", "/api/v1/alerts?all=true".to_string()),
        ("/api/v1/policy", "/api/v1/policy".to_string()),
    ] {
        call(Method::GET, route, concrete, None).await;
    }
    call(
        Method::PUT,
        "/api/v1/reps/{id}",
        "/api/v1/reps/r1".into(),
        Some(json!({"capacity": 9})),
    )
    .await;
    call(
        Method::PUT,
        "/api/v1/reps/{id}/password",
        "/api/v1/reps/r1/password".into(),
        Some(json!({"password": "a long password 1"})),
    )
    .await;
    call(
        Method::PUT,
        "/api/v1/teams/{id}",
        "/api/v1/teams/hq".into(),
        Some(json!({"name": "总部"})),
    )
    .await;
    call(Method::PUT, "/api/v1/policy", "/api/v1/policy".into(),
        Some(json!({"source": "[[tier]]\nname = \"A\"\ntop_percent = 50\n\n[[tier]]\nname = \"B\"\n"}))).await;
    call(Method::GET, "/api/v1/policy", "/api/v1/policy".into(), None).await;
    call(
        Method::DELETE,
        "/api/v1/customers/{id}/tier-override",
        "/api/v1/customers/s2/tier-override".into(),
        None,
    )
    .await;
}

/// 撞单 through `POST /api/v1/route`: a duplicate is not routed; the answer is the existing
/// customer's decision and the conflict, and a manager who does not see that customer learns
/// that it is taken, not whose it is.
async fn a_routed_duplicate_answers_with_the_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .put(
            "/api/v1/reps/m9",
            json!({"name": "经理", "team_id": "east", "role": "manager"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .put("/api/v1/teams/east", json!({"manager_id": "m9"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            "/api/v1/customers",
            json!({"id": "CU-A", "name": "甲公司", "phone": "13800000001", "owner_id": "r1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let clock = allot_core::Clock::parse("2026-11-25T09:00:00+08:00").unwrap();
    let manager = app
        .store
        .create_token("", Some(&allot_core::RepId::parse("m9").unwrap()), clock)
        .await
        .unwrap();

    let (status, routed) = app
        .call_as(
            &manager,
            Method::POST,
            "/api/v1/route",
            Some(json!({"id": "CU-B", "name": "乙公司", "phone": "+86 138 0000 0001"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{routed}");
    assert_eq!(routed["routed_now"], false, "{routed}");
    assert_eq!(routed["decision"]["owner_id"], Value::Null, "{routed}");
    assert_eq!(routed["conflict"]["customer_id"], Value::Null, "{routed}");
    assert_eq!(
        routed["conflict"]["matched"][0]["field"], "phone",
        "{routed}"
    );
    let text = routed.to_string();
    assert!(!text.contains("CU-A") && !text.contains("\"r1\""), "{text}");
    // A stored customer outside the manager's view cannot be routed (or updated) by it.
    let (status, body) = app
        .call_as(
            &manager,
            Method::POST,
            "/api/v1/route",
            Some(json!({"id": "CU-A", "name": "甲公司改名"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, stored) = app.get("/api/v1/customers/CU-A").await;
    assert_eq!(stored["name"], "甲公司", "{stored}");

    let (status, routed) = app
        .post(
            "/api/v1/route",
            json!({"id": "CU-C", "name": "丙公司", "phone": "13800000001"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{routed}");
    assert_eq!(routed["conflict"]["customer_id"], "CU-A", "{routed}");
    assert_eq!(routed["decision"]["owner_id"], "r1", "{routed}");
    let (status, _) = app.get("/api/v1/customers/CU-C").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a duplicate is not a customer"
    );

    let (_, seen) = app
        .call_as(&manager, Method::GET, "/api/v1/conflicts", None)
        .await;
    let seen = seen.as_array().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["duplicate_id"], "CU-B");
    assert_eq!(seen[0]["customer_id"], Value::Null);
    let (_, all) = app.get("/api/v1/conflicts").await;
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
}

/// Tickets through the API: due times from the customer's tier on the business calendar, the
/// steps and their refusals, a bad policy refused with its key path, escalation by `tick`.
async fn tickets_keep_their_service_clocks(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .put("/api/v1/policy", json!({"source": "[service.tier.A]\nfirst_response = \"2 hours\"\nresolution = { major = \"8h\", general = \"3d\" }\n"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string().contains("service.tier.A.first_response"),
        "{body}"
    );
    let policy = allot_core::demo::DEMO_POLICY;
    let (status, body) = app.put("/api/v1/policy", json!({ "source": policy })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(
            "/api/v1/customers",
            json!({"id": "t1", "name": "工单客户", "tier": "A", "owner_id": "r2"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Opened on Tuesday 24 November 17:00 in Beijing: first response due Wednesday 10:00.
    let (status, ticket) = app
        .post("/api/v1/tickets", json!({"id": "kt", "customer_id": "t1", "opened_at": "2026-11-24T17:00:00+08:00", "severity": "major", "kind": "complaint", "subject": "交付延期"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    assert_eq!(ticket["tier"], "A", "{ticket}");
    assert_eq!(ticket["kind"], "complaint");
    assert_eq!(
        ticket["first_response_due"], "2026-11-25T02:00:00.000000Z",
        "{ticket}"
    );
    // The clock is Wednesday 09:00: one business hour left.
    assert_eq!(ticket["remaining_business_minutes"], 60, "{ticket}");
    assert_eq!(ticket["breached"], false);
    let (status, rated) = app
        .post("/api/v1/tickets/kt/rating", json!({"rating": 4}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{rated}");
    assert_error(&rated, "ticket_open", None);
    let (status, late) = app
        .post(
            "/api/v1/tickets/kt/respond",
            json!({"at": "2026-11-26T09:00:00+08:00"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{late}");
    assert_eq!(late["error"]["field"], "at", "{late}");
    let (status, answered) = app.post("/api/v1/tickets/kt/respond", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert_eq!(answered["first_response_at"], "2026-11-25T01:00:00.000000Z");
    let (status, again) = app.post("/api/v1/tickets/kt/respond", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_error(&again, "ticket_already_responded", None);
    let (status, resolved) = app.post("/api/v1/tickets/kt/resolve", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["remaining_business_minutes"], Value::Null);
    let (status, bad) = app
        .post("/api/v1/tickets/kt/rating", json!({"rating": 9}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["error"]["field"], "rating", "{bad}");
    let (status, rated) = app
        .post("/api/v1/tickets/kt/rating", json!({"rating": 5}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rated}");
    assert_eq!(rated["rating"], 5);
    let (status, detail) = app.get("/api/v1/tickets/kt").await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let steps: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["opened", "responded", "resolved", "rated"],
        "{detail}"
    );
    assert!(
        detail["history"][1]["actor"]
            .as_str()
            .unwrap()
            .starts_with("admin:"),
        "{detail}"
    );
    let (status, missing) = app.get("/api/v1/tickets/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");

    // A ticket opened Monday, never answered: breached; tick escalates it (to the admins,
    // east having no manager) once.
    let (status, body) = app
        .post("/api/v1/tickets", json!({"id": "kl", "customer_id": "t1", "opened_at": "2026-11-23T10:00:00+08:00", "severity": "general", "subject": "报价咨询"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["breached"], true, "{body}");
    let (status, ticked) = app.call(Method::POST, "/api/v1/tick", None).await;
    assert_eq!(status, StatusCode::OK, "{ticked}");
    assert_eq!(ticked["escalation"]["escalations"], 1, "{ticked}");
    let (_, ticked) = app.call(Method::POST, "/api/v1/tick", None).await;
    assert_eq!(ticked["escalation"]["escalations"], 0, "{ticked}");
    let (_, open) = app.get("/api/v1/tickets?state=open").await;
    assert_eq!(open["total"], 1, "{open}");
    assert_eq!(open["items"][0]["escalation_level"], 1, "{open}");
    let (_, notes) = app.get("/api/v1/notifications").await;
    assert!(
        notes
            .as_array()
            .unwrap()
            .iter()
            .any(|note| note["ticket_id"] == "kl"),
        "{notes}"
    );
}

/// The care calendar through the API: a tick plans the tier's cadence, the list shows it, the
/// rep's feed answers a calendar app with the token in its address, and completing the task
/// records its interaction once.
async fn care_calendar_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .put(
            "/api/v1/policy",
            json!({ "source": allot_core::demo::DEMO_POLICY }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post("/api/v1/customers", json!({"id": "t1", "name": "关怀客户", "tier": "A", "owner_id": "r2", "created_at": "2026-11-20"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, ticked) = app.call(Method::POST, "/api/v1/tick", None).await;
    assert_eq!(status, StatusCode::OK, "{ticked}");
    assert_eq!(ticked["care"]["planned"], 1, "{ticked}");
    let (status, tasks) = app.get("/api/v1/calendar?rep_id=r2").await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    assert_eq!(tasks[0]["kind"], "cadence", "{tasks}");
    assert_eq!(
        tasks[0]["due_on"], "2026-12-04",
        "14 days after its creation: {tasks}"
    );
    let id = tasks[0]["id"].as_i64().unwrap();
    // A calendar app sends no header: the feed takes the token from its address.
    let feed = app
        .client
        .get(format!(
            "{}/api/v1/reps/r2/calendar.ics?token={TOKEN}",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    assert!(feed.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    let feed = feed.text().await.unwrap();
    assert!(
        feed.contains("BEGIN:VEVENT\r\nUID:t1:cadence:2026-12-04@allot"),
        "{feed}"
    );
    let refused = app
        .client
        .get(format!("{}/api/v1/reps/r2/calendar.ics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let other_route = app
        .client
        .get(format!("{}/api/v1/calendar?token={TOKEN}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other_route.status(),
        StatusCode::UNAUTHORIZED,
        "only the feed takes a token in its address"
    );
    let (status, bad) = app
        .post(
            &format!("/api/v1/tasks/{id}/complete"),
            json!({"kind": "fax"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["error"]["field"], "kind", "{bad}");
    let (status, done) = app
        .post(
            &format!("/api/v1/tasks/{id}/complete"),
            json!({"kind": "visit", "minutes": 30, "outcome": "met"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "done");
    let (status, again) = app
        .post(
            &format!("/api/v1/tasks/{id}/complete"),
            json!({"kind": "visit"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_error(&again, "task_closed", None);
    let (_, activity) = app.get("/api/v1/customers/t1/activity").await;
    assert_eq!(activity["interactions"][0]["rep_id"], "r2", "{activity}");
}

/// The service reports as JSON and as CSV (`Accept: text/csv`).
async fn service_reports_as_json_and_csv(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .put(
            "/api/v1/policy",
            json!({ "source": allot_core::demo::DEMO_POLICY }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (id, tier, owner) in [("s1", "A", "r2"), ("s2", "C", "r1")] {
        let (status, body) = app
            .post("/api/v1/customers", json!({"id": id, "name": format!("客户{id}"), "tier": tier, "owner_id": owner, "created_at": "2026-01-01"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = app
        .post(
            "/api/v1/customers/s1/interactions",
            json!({"rep_id": "r2", "at": "2026-11-20", "kind": "visit", "minutes": 90}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, report) = app.get("/api/v1/reports/service").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["overall"]["customers"], 2, "{report}");
    assert_eq!(report["by_tier"][0]["key"], "A", "{report}");
    assert_eq!(report["by_tier"][0]["effort_share"], 1.0, "{report}");
    // An unanswered complaint of s2 past its due time fails "complaints answered".
    let (status, body) = app
        .post("/api/v1/tickets", json!({"id": "kq", "customer_id": "s2", "opened_at": "2026-11-20", "kind": "complaint", "subject": "投诉"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, baseline) = app.get("/api/v1/reports/baseline").await;
    assert_eq!(status, StatusCode::OK, "{baseline}");
    let check = |name: &str| {
        baseline["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|check| check["check"] == name)
            .unwrap()
            .clone()
    };
    let complaints = check("complaints_answered");
    assert_eq!(complaints["overall"]["applies"], 1, "{baseline}");
    assert_eq!(complaints["failing"][0]["customer_id"], "s2", "{baseline}");
    // Both were given to their owners today: a follow-up every 90 days is not owed yet.
    assert_eq!(
        check("real_follow_up_every")["overall"]["applies"],
        0,
        "{baseline}"
    );
    let (status, quadrant) = app.get("/api/v1/reports/quadrant").await;
    assert_eq!(status, StatusCode::OK, "{quadrant}");
    assert_eq!(
        quadrant["points"].as_array().unwrap().len(),
        2,
        "{quadrant}"
    );
    for (report, header) in [
        ("service", "group,key,customers,customer_share"),
        ("baseline", "check,name,group,key,applies,passing,coverage"),
        ("quadrant", "customer_id,owner_id,value,minutes,quadrant"),
        ("performance", "rep_id,customers,revenue,new_customers_won"),
    ] {
        let answer = app
            .client
            .get(format!("{}/api/v1/reports/{report}", app.address))
            .bearer_auth(TOKEN)
            .header("Accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let text = answer.text().await.unwrap();
        assert!(text.starts_with(header), "{report}: {text}");
        assert!(text.lines().count() >= 2, "{report}: {text}");
    }
}

allot_store::test_on_both_backends! {
    a_routed_duplicate_answers_with_the_conflict => super::a_routed_duplicate_answers_with_the_conflict;
    responses_match_the_openapi_schemas => super::responses_match_the_openapi_schemas;
    unauthenticated_calls_are_refused => super::unauthenticated_calls_are_refused;
    openapi_document_covers_every_route => super::openapi_document_covers_every_route;
    malformed_input_never_reaches_the_database => super::malformed_input_never_reaches_the_database;
    updates_change_only_the_fields_given => super::updates_change_only_the_fields_given;
    route_returns_the_current_owner_after_a_manual_assignment => super::route_returns_the_current_owner_after_a_manual_assignment;
    released_customers_refill_the_least_loaded_rep => super::released_customers_refill_the_least_loaded_rep;
    concurrent_routes_of_different_customers_keep_the_rotation_exact => super::concurrent_routes_of_different_customers_keep_the_rotation_exact;
    tokens_rotate_and_revoke => super::tokens_rotate_and_revoke;
    route_explain_and_events => super::route_explain_and_events;
    customer_value_through_the_api => super::customer_value_through_the_api;
    concurrent_routes_for_one_new_customer_give_one_owner => super::concurrent_routes_for_one_new_customer_give_one_owner;
    bad_input_gets_clear_errors => super::bad_input_gets_clear_errors;
    customers_list_filters_and_pages => super::customers_list_filters_and_pages;
    tickets_keep_their_service_clocks => super::tickets_keep_their_service_clocks;
    care_calendar_through_the_api => super::care_calendar_through_the_api;
    service_reports_as_json_and_csv => super::service_reports_as_json_and_csv;
    rebalance_plans_and_applies => super::rebalance_plans_and_applies;
}
