//! The API's share of the bugs found when Allot was tried as a new user would (issue 9): each
//! test failed before its fix. Every call is checked against the OpenAPI document.

use allot_store::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

mod support;

use support::{assert_error, spawn_app, TestApp, TOKEN};

/// Sends the same body `times` times at once and returns the statuses, each response checked
/// against the document.
async fn send_together(app: &TestApp, path: &str, body: Value, times: usize) -> Vec<StatusCode> {
    let mut handles = Vec::new();
    for _ in 0..times {
        let request = app
            .client
            .post(format!("{}{path}", app.address))
            .bearer_auth(TOKEN)
            .json(&body);
        handles.push(tokio::spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }));
    }
    let mut statuses = Vec::new();
    for handle in handles {
        let (status, body) = handle.await.unwrap();
        app.documented.check(&Method::POST, path, status, &body);
        if status == StatusCode::CONFLICT {
            assert_error(&body, "conflict", Some("id"));
        }
        statuses.push(status);
    }
    statuses
}

async fn concurrent_creates_of_one_id_make_one_customer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    for round in 0..5 {
        let id = format!("same{round}");
        let statuses = send_together(
            &app,
            "/api/v1/customers",
            json!({"id": id, "name": format!("同一客户 {id}"), "owner_id": "r1"}),
            8,
        )
        .await;
        let created = statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count();
        assert_eq!((created, refused), (1, 7), "{statuses:?}");
        let (_, events) = app.get(&format!("/api/v1/events?customer_id={id}")).await;
        assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    }
    let reps = app.store.list_reps().await.unwrap();
    let r1 = reps.iter().find(|rep| rep.rep.id.as_str() == "r1").unwrap();
    assert_eq!(r1.load.owned_count, 5);
}

async fn a_tier_the_policy_does_not_define_is_refused_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .post(
            "/api/v1/customers",
            json!({"id": "c1", "name": "客户一", "tier": "B"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let refused = |status: StatusCode, body: &Value| {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_error(body, "invalid", Some("tier"));
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("'Z'"), "{message}");
        assert!(
            message.contains("A, B, C"),
            "names the valid tiers: {message}"
        );
    };
    let (status, body) = app
        .post(
            "/api/v1/customers",
            json!({"id": "c2", "name": "客户二", "tier": "Z"}),
        )
        .await;
    refused(status, &body);
    let (status, body) = app.put("/api/v1/customers/c1", json!({"tier": "Z"})).await;
    refused(status, &body);
    let (status, body) = app
        .put(
            "/api/v1/customers/c3",
            json!({"name": "客户三", "tier": "Z"}),
        )
        .await;
    refused(status, &body);
    let (status, body) = app
        .post(
            "/api/v1/route",
            json!({"id": "c4", "name": "客户四", "tier": "Z"}),
        )
        .await;
    refused(status, &body);
    let (status, body) = app
        .put(
            "/api/v1/customers/c1/tier-override",
            json!({"tier": "Z", "reason": "试试", "expires_on": "2026-12-31"}),
        )
        .await;
    refused(status, &body);
    // Nothing was written by the refused calls.
    let (_, c1) = app.get("/api/v1/customers/c1").await;
    assert_eq!(c1["tier"], "B", "{c1}");
    for id in ["c2", "c3", "c4"] {
        let (status, _) = app.get(&format!("/api/v1/customers/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
    let (_, value) = app.get("/api/v1/customers/c1/value").await;
    assert!(value["tier_override"].is_null(), "{value}");
    // A rule comparing with an undefined tier would be stored and never match: refused, located.
    let (_, versions_before) = app.get("/api/v1/rules/versions").await;
    let rule_for_z = "[[rule]]\nname = \"z\"\nwhen = 'tier == \"Z\"'\nto = { team = \"hq\" }\nstrategy = \"round_robin\"\n";
    let (status, body) = app.put_rules(rule_for_z).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "invalid", Some("when"));
    let message = body["error"]["message"].as_str().unwrap();
    for says in ["'Z'", "A, B, C", "line 3", "rule 'z'"] {
        assert!(message.contains(says), "{says}: {message}");
    }
    let (_, versions_after) = app.get("/api/v1/rules/versions").await;
    assert_eq!(
        versions_before, versions_after,
        "no rules version was added"
    );
    // A tier the policy adds becomes valid.
    let (status, body) = app
        .put(
            "/api/v1/policy",
            json!({"source": "[[tier]]\nname = \"Z\"\ntop_percent = 10\n\n[[tier]]\nname = \"Y\"\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.put("/api/v1/customers/c1", json!({"tier": "Z"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.put_rules(rule_for_z).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.put("/api/v1/customers/c1", json!({"tier": "A"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("Z, Y"),
        "{body}"
    );
}

async fn an_owner_must_be_an_active_rep(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .post(
            "/api/v1/customers",
            json!({"id": "c1", "name": "客户一", "owner_id": "r1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.put("/api/v1/reps/r3", json!({"active": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (owner, says) in [("r3", "inactive"), ("nobody", "does not exist")] {
        let (status, body) = app
            .put("/api/v1/customers/c1", json!({"owner_id": owner}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{owner}: {body}");
        assert_error(&body, "invalid", Some("owner_id"));
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{owner}: {message}");
        let (status, body) = app
            .post(
                "/api/v1/customers",
                json!({"id": format!("new-{owner}"), "name": "新客户", "owner_id": owner}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{owner}: {body}");
    }
    let (_, c1) = app.get("/api/v1/customers/c1").await;
    assert_eq!(c1["owner_id"], "r1", "{c1}");
    let (_, events) = app.get("/api/v1/events?customer_id=c1").await;
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
}

async fn created_at_is_the_creation_time_unless_given(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (_, made) = app
        .post("/api/v1/customers", json!({"id": "c1", "name": "客户一"}))
        .await;
    // The test server's clock: 2026-11-25T09:00:00+08:00.
    assert_eq!(made["created_at"], "2026-11-25T01:00:00Z", "{made}");
    let (_, put) = app
        .put("/api/v1/customers/c2", json!({"name": "客户二"}))
        .await;
    assert_eq!(put["created_at"], "2026-11-25T01:00:00Z", "{put}");
    let (_, routed) = app
        .post("/api/v1/route", json!({"id": "c3", "name": "客户三"}))
        .await;
    let (_, c3) = app.get("/api/v1/customers/c3").await;
    assert_eq!(c3["created_at"], "2026-11-25T01:00:00Z", "{routed} {c3}");
    let (_, given) = app
        .post(
            "/api/v1/customers",
            json!({"id": "c4", "name": "客户四", "created_at": "2025-03-01"}),
        )
        .await;
    assert_eq!(given["created_at"], "2025-03-01T00:00:00Z", "{given}");
    // A later change keeps the creation time.
    let (_, changed) = app
        .put("/api/v1/customers/c4", json!({"name": "客户四号"}))
        .await;
    assert_eq!(changed["created_at"], "2025-03-01T00:00:00Z", "{changed}");
}

async fn the_customer_search_matches_ids_names_and_phones(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    for (id, name, phone) in [
        ("ACME-001", "上海甲公司", "021-5555 0101"),
        ("acme-002", "北京乙公司", "+86 138 0000 0002"),
        ("x-9", "ACME 分销", "13900000009"),
        // What SQL's LIKE reads as wildcards is searched for as itself.
        ("y-1", "折扣50%公司", "13912345671"),
        ("y-2", "a_b 贸易", "13912345672"),
        ("y-3", "aXb 贸易", "13912345673"),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/customers",
                json!({"id": id, "name": name, "phone": phone}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let ids = |body: &Value| -> Vec<String> {
        let mut ids: Vec<String> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|customer| customer["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    for (query, expected) in [
        ("ACME-001", vec!["ACME-001"]),
        ("acme", vec!["ACME-001", "acme-002", "x-9"]),
        ("x-9", vec!["x-9"]),
        ("乙公司", vec!["acme-002"]),
        ("55550101", vec!["ACME-001"]),
        ("0000 0002", vec!["acme-002"]),
        ("nothing", vec![]),
        ("50%", vec!["y-1"]),
        ("%", vec!["y-1"]),
        ("a_b", vec!["y-2"]),
        ("_", vec!["y-2"]),
    ] {
        let encoded: String = url_encode(query);
        let (status, body) = app.get(&format!("/api/v1/customers?q={encoded}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(ids(&body), expected, "q={query}");
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// One rule for every route that reads a JSON body: a field the route does not know is 400
/// `bad_request` naming it, and nothing is written. (422 is for known fields with bad values.)
async fn an_unknown_json_field_is_400_on_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .post("/api/v1/customers", json!({"id": "c1", "name": "客户一"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let cases: &[(Method, &str, Value)] = &[
        (
            Method::POST,
            "/api/v1/customers",
            json!({"id": "c2", "name": "二", "colour": "red"}),
        ),
        (
            Method::PUT,
            "/api/v1/customers/c1",
            json!({"colour": "red"}),
        ),
        (
            Method::POST,
            "/api/v1/route",
            json!({"id": "c3", "colour": "red"}),
        ),
        (
            Method::PUT,
            "/api/v1/reps/r9",
            json!({"name": "新人", "colour": "red"}),
        ),
        (Method::PUT, "/api/v1/reps/r1", json!({"colour": "red"})),
        (
            Method::PUT,
            "/api/v1/teams/t9",
            json!({"name": "新组", "colour": "red"}),
        ),
        (Method::PUT, "/api/v1/teams/hq", json!({"colour": "red"})),
        (
            Method::POST,
            "/api/v1/transactions",
            json!({"customer_id": "c1", "at": "2026-01-01", "amount": 1, "colour": "red"}),
        ),
        (
            Method::POST,
            "/api/v1/customers/c1/interactions",
            json!({"rep_id": "r1", "at": "2026-01-01", "kind": "call", "colour": "red"}),
        ),
        (
            Method::POST,
            "/api/v1/tickets",
            json!({"id": "k1", "customer_id": "c1", "opened_at": "2026-01-01", "colour": "red"}),
        ),
        (
            Method::PUT,
            "/api/v1/customers/c1/tier-override",
            json!({"tier": "A", "reason": "战略", "colour": "red"}),
        ),
        (
            Method::PUT,
            "/api/v1/policy",
            json!({"source": "", "colour": "red"}),
        ),
    ];
    for (method, path, body) in cases {
        let (status, answer) = app.call(method.clone(), path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {answer}");
        assert_error(&answer, "bad_request", Some("colour"));
    }
    for path in [
        "/api/v1/customers/c2",
        "/api/v1/customers/c3",
        "/api/v1/reps/r9",
        "/api/v1/teams/t9",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, c1) = app.get("/api/v1/customers/c1").await;
    assert!(c1["attributes"].as_object().unwrap().is_empty(), "{c1}");
    let (_, tickets) = app.get("/api/v1/customers/c1/tickets").await;
    assert_eq!(tickets.as_array().map(Vec::len), Some(0), "{tickets}");
}

allot_store::test_on_both_backends! {
    concurrent_creates_of_one_id_make_one_customer => super::concurrent_creates_of_one_id_make_one_customer;
    a_tier_the_policy_does_not_define_is_refused_everywhere => super::a_tier_the_policy_does_not_define_is_refused_everywhere;
    an_owner_must_be_an_active_rep => super::an_owner_must_be_an_active_rep;
    created_at_is_the_creation_time_unless_given => super::created_at_is_the_creation_time_unless_given;
    the_customer_search_matches_ids_names_and_phones => super::the_customer_search_matches_ids_names_and_phones;
    an_unknown_json_field_is_400_on_every_route => super::an_unknown_json_field_is_400_on_every_route;
}
