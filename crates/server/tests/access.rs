//! The role table (route × role) on both backends: every route of the OpenAPI document has a
//! row, the README prints the table, and every route called by an admin, a manager and a rep
//! answers as the table says, with no customer outside the caller's view in any body.

mod support;

use allot_server::access::{access_table_markdown, allowed, ROUTE_ACCESS};
use allot_store::{test_on_both_backends, Backend};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{spawn_app, TestApp};

/// A customer only the admin sees: owned by s1 of the south team.
const OUT_OF_VIEW: &str = "CU-SOUTH";
/// A ticket of that customer.
const OUT_OF_VIEW_TICKET: &str = "K-SOUTH";

#[test]
fn every_documented_route_has_a_row_and_the_readme_prints_the_table() {
    let document = serde_json::to_value(allot_server::openapi_document()).unwrap();
    let mut documented = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            assert!(
                allowed(&method, path).is_some(),
                "{method} {path} has no row in the role table (crates/server/src/access.rs)"
            );
            documented.push((method, path.clone()));
        }
    }
    for row in ROUTE_ACCESS {
        assert!(
            documented.contains(&(row.method.to_string(), row.path.to_string())),
            "the role table names {} {}, which the API does not serve",
            row.method,
            row.path
        );
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(
        readme.contains(&access_table_markdown()),
        "README.md must print the role table exactly as access_table_markdown() gives it:\n{}",
        access_table_markdown()
    );
}

/// north (manager m1: n1) and south (manager m2: s1); one customer each and one in the pool;
/// x1 is a rep with nothing, for the departure route.
async fn organisation(app: &TestApp) -> (String, String) {
    for team in ["north", "south"] {
        let (status, body) = app
            .put(&format!("/api/v1/teams/{team}"), json!({"name": team}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for (rep, team, role) in [
        ("m1", "north", "manager"),
        ("n1", "north", "rep"),
        ("m2", "south", "manager"),
        ("s1", "south", "rep"),
        ("x1", "south", "rep"),
    ] {
        let (status, body) = app
            .put(
                &format!("/api/v1/reps/{rep}"),
                json!({"name": rep, "team_id": team, "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for (team, manager) in [("north", "m1"), ("south", "m2")] {
        let (status, body) = app
            .put(
                &format!("/api/v1/teams/{team}"),
                json!({"manager_id": manager}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for (customer, owner) in [
        ("CU-NORTH", Some("n1")),
        (OUT_OF_VIEW, Some("s1")),
        ("CU-POOL", None),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/customers",
                json!({"id": customer, "name": customer, "region": "广东/深圳", "owner_id": owner}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = app
        .post("/api/v1/customers/CU-SOUTH/interactions", json!({"rep_id": "s1", "at": "2026-11-20", "kind": "visit", "minutes": 30, "outcome": "met"}))
        .await;
    assert!(status.is_success(), "{body}");
    let (status, body) = app
        .post("/api/v1/tickets", json!({"id": OUT_OF_VIEW_TICKET, "customer_id": OUT_OF_VIEW, "opened_at": "2026-11-21", "severity": "major", "subject": "probe"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let clock = allot_core::Clock::parse("2026-11-25T09:00:00+08:00").unwrap();
    let manager = app
        .store
        .create_token("", Some(&allot_core::RepId::parse("m1").unwrap()), clock)
        .await
        .unwrap();
    let rep = app
        .store
        .create_token(
            "phone",
            Some(&allot_core::RepId::parse("n1").unwrap()),
            clock,
        )
        .await
        .unwrap();
    (manager, rep)
}

/// The concrete path a row is probed with: ids out of the manager's and rep's view.
fn probe_path(path: &str, transfer: i64, conflict: i64) -> String {
    if path.starts_with("/api/v1/conflicts/{id}") {
        return path.replace("{id}", &conflict.to_string());
    }
    if path.starts_with("/api/v1/customers/{id}") {
        return path.replace("{id}", OUT_OF_VIEW);
    }
    if path == "/api/v1/reps/{id}/deactivate" {
        return path.replace("{id}", "x1");
    }
    if path.starts_with("/api/v1/reps/") {
        return path.replace("{id}", "s1");
    }
    if path.starts_with("/api/v1/teams/") {
        return path.replace("{id}", "south");
    }
    if path.starts_with("/api/v1/tickets/{id}") {
        return path.replace("{id}", OUT_OF_VIEW_TICKET);
    }
    if path.starts_with("/api/v1/transfers/") {
        return path.replace("{id}", &transfer.to_string());
    }
    path.replace("{id}", "999999")
}

async fn every_route_answers_each_role_as_the_table_says(backend: Backend) {
    let app = spawn_app(backend).await;
    let (manager, rep) = organisation(&app).await;
    // A transfer of the south customer, only the south side sees.
    let (status, transfer) = app
        .post("/api/v1/transfers", json!({"customer_ids": [OUT_OF_VIEW], "from": "s1", "to": "m2", "reason_kind": "other", "text": "probe"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{transfer}");
    let transfer = transfer["id"].as_i64().unwrap();
    // A duplicate of the south customer (撞单), brought by the admin: a conflict only the south
    // side sees.
    let (status, duplicate) = app
        .post(
            "/api/v1/customers",
            json!({"id": "CU-DUP", "name": "cu south", "region": "广东/深圳"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{duplicate}");
    assert_eq!(duplicate["error"]["code"], "duplicate", "{duplicate}");
    let (_, conflicts) = app.get("/api/v1/conflicts").await;
    let conflict = conflicts[0]["id"].as_i64().unwrap();
    // Rules for the simulation's body that would move everyone south: each role's report
    // then lists only what its view holds.
    let rules_source = "[[rule]]\nname = \"all\"\nwhen = 'true'\nto = { team = \"south\" }\nstrategy = \"round_robin\"\n";

    for (role, token) in [
        ("manager", Some(manager.as_str())),
        ("rep", Some(rep.as_str())),
        ("admin", None),
    ] {
        for row in ROUTE_ACCESS {
            let method = Method::from_bytes(row.method.as_bytes()).unwrap();
            let path = probe_path(row.path, transfer, conflict);
            let body = (method != Method::GET && method != Method::DELETE).then(|| {
                if row.path.ends_with("/release") {
                    json!({"reason": "probe"})
                } else if row.path.ends_with("/dispute") {
                    json!({"text": "probe"})
                } else if row.path.ends_with("/decide") {
                    json!({"decision": "keep"})
                } else if row.path.ends_with("/rating") {
                    json!({"rating": 4})
                } else if row.path.ends_with("/rules/simulate") {
                    json!({"source": rules_source})
                } else {
                    json!({})
                }
            });
            let (status, answer) = match token {
                Some(token) => app.call_as(token, method.clone(), &path, body).await,
                None => app.call(method.clone(), &path, body).await,
            };
            let role_enum = match role {
                "admin" => allot_core::Role::Admin,
                "manager" => allot_core::Role::Manager,
                _ => allot_core::Role::Rep,
            };
            let refused_by_table = status == StatusCode::FORBIDDEN
                && answer["error"]["message"]
                    .as_str()
                    .is_some_and(|message| message.contains("may not call"));
            if row.allowed.permits(role_enum) {
                assert!(
                    !refused_by_table,
                    "{role} {} {path}: the table allows it, got {status} {answer}",
                    row.method
                );
                assert!(
                    !status.is_server_error(),
                    "{role} {} {path}: {status} {answer}",
                    row.method
                );
            } else {
                assert!(
                    refused_by_table,
                    "{role} {} {path}: the table refuses it, got {status} {answer}",
                    row.method
                );
            }
            if role != "admin" {
                // Out of view is "not found" on every customer route except a claim, which
                // says the customer is taken without naming the owner.
                if row.allowed.permits(role_enum) && row.path.starts_with("/api/v1/customers/{id}")
                {
                    if row.path.ends_with("/claim") {
                        assert_eq!(status, StatusCode::CONFLICT, "{role} claim: {answer}");
                        assert_eq!(answer["error"]["code"], "owned", "{answer}");
                        assert!(
                            !answer.to_string().contains("s1"),
                            "the owner is not named: {answer}"
                        );
                    } else {
                        assert_eq!(
                            status,
                            StatusCode::NOT_FOUND,
                            "{role} {} {path}: {answer}",
                            row.method
                        );
                    }
                }
                let names_a_record = row.path.starts_with("/api/v1/transfers/{id}")
                    || row.path.starts_with("/api/v1/conflicts/{id}")
                    || row.path.starts_with("/api/v1/tickets/{id}");
                if row.allowed.permits(role_enum) && names_a_record {
                    assert_eq!(
                        status,
                        StatusCode::NOT_FOUND,
                        "{role} {} {path}: {answer}",
                        row.method
                    );
                }
                let text = answer.to_string();
                let leaked = text.contains(OUT_OF_VIEW)
                    && !text.contains(&format!("customer '{OUT_OF_VIEW}' not found"));
                assert!(
                    !leaked,
                    "{role} {} {path} shows {OUT_OF_VIEW}: {text}",
                    row.method
                );
            }
        }
    }
    // The workload report of a manager covers its subtree only.
    let (status, report) = app
        .call_as(&manager, Method::GET, "/api/v1/reports/workload", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let reps: Vec<&str> = report["reps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rep| rep["rep_id"].as_str().unwrap())
        .collect();
    assert_eq!(reps, ["m1", "n1"], "{report}");
    let (_, everyone) = app.get("/api/v1/reports/workload").await;
    assert_eq!(everyone["reps"].as_array().unwrap().len(), 5, "{everyone}");
    // The value report of a manager covers the customers in its view: its subtree's and the pool.
    let (status, body) = app.call(Method::POST, "/api/v1/score", None).await;
    assert!(status.is_success(), "{body}");
    let (status, report) = app
        .call_as(&manager, Method::GET, "/api/v1/reports/value", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let (_, everyone) = app.get("/api/v1/reports/value").await;
    assert_eq!(
        report["customers"].as_u64().unwrap() + 1,
        everyone["customers"].as_u64().unwrap(),
        "the manager's {report} against everyone's {everyone}"
    );
    // What each sees in lists: the manager and the rep their own and the pool.
    let (_, page) = app
        .call_as(&rep, Method::GET, "/api/v1/customers", None)
        .await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["CU-NORTH", "CU-POOL"]);
    assert_eq!(page["total"], 2);
    let (_, page) = app.get("/api/v1/customers").await;
    assert_eq!(page["total"], 3);
    let (status, _) = app
        .call_as(
            &rep,
            Method::POST,
            "/api/v1/customers/CU-POOL/claim",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, events) = app.call_as(&rep, Method::GET, "/api/v1/events", None).await;
    assert!(events
        .as_array()
        .unwrap()
        .iter()
        .all(|event| event["customer_id"] != OUT_OF_VIEW));
    let (_, claimed) = app
        .call_as(
            &rep,
            Method::GET,
            "/api/v1/events?customer_id=CU-POOL",
            None,
        )
        .await;
    assert_eq!(claimed[0]["actor"], "rep:n1");
    assert_eq!(claimed[0]["reason_kind"], "claim");
    let _: Value = claimed;
}

test_on_both_backends! {
    every_route_answers_each_role_as_the_table_says => super::every_route_answers_each_role_as_the_table_says;
}
