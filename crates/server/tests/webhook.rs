//! The webhook outbox on both backends, against a real local HTTP receiver: a notification
//! written with its change is POSTed, a failed attempt is logged and retried after its delay,
//! and a delivered one is never sent again.

mod support;

use std::sync::{Arc, Mutex};

use allot_core::Clock;
use allot_store::{test_on_both_backends, Backend};
use axum::http::StatusCode as AxumStatus;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::spawn_app;

/// A receiver that answers 500 to its first request and 200 after, keeping every body.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let kept = kept.clone();
            async move {
                let mut bodies = kept.lock().unwrap();
                bodies.push(body);
                if bodies.len() == 1 {
                    AxumStatus::INTERNAL_SERVER_ERROR
                } else {
                    AxumStatus::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/hook"), received)
}

async fn notifications_reach_the_webhook_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (url, received) = receiver().await;
    let (status, body) = app
        .send_raw(
            reqwest::Method::PUT,
            "/api/v1/policy",
            "text/plain",
            format!("[notify]\nwebhook_url = \"{url}\"\n"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .put("/api/v1/teams/north", json!({"name": "north"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (rep, role) in [("m1", "manager"), ("n1", "rep")] {
        let (status, body) = app
            .put(
                &format!("/api/v1/reps/{rep}"),
                json!({"name": rep, "team_id": "north", "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    app.put("/api/v1/teams/north", json!({"manager_id": "m1"}))
        .await;
    app.post(
        "/api/v1/customers",
        json!({"id": "CU1", "name": "客户一", "region": "广东", "owner_id": "n1"}),
    )
    .await;
    // The request notifies its approver, m1, in the transaction that stores it.
    let (status, transfer) = app
        .post("/api/v1/transfers", json!({"customer_ids": ["CU1"], "from": "n1", "to": "m1", "reason_kind": "other", "text": "webhook"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{transfer}");

    let client = reqwest::Client::new();
    let start = Clock::parse("2026-11-25T09:00:00+08:00").unwrap();
    let at = |seconds: i64| Clock::at(start.now() + chrono::Duration::seconds(seconds));
    let report = allot_server::deliver_due_notifications(&app.store, &client, at(0))
        .await
        .unwrap();
    assert_eq!(
        (report.delivered, report.failed),
        (0, 1),
        "the receiver fails the first time"
    );
    let report = allot_server::deliver_due_notifications(&app.store, &client, at(10))
        .await
        .unwrap();
    assert_eq!(
        (report.delivered, report.failed),
        (0, 0),
        "not due again before its delay"
    );
    let report = allot_server::deliver_due_notifications(&app.store, &client, at(31))
        .await
        .unwrap();
    assert_eq!((report.delivered, report.failed), (1, 0));
    let report = allot_server::deliver_due_notifications(&app.store, &client, at(100_000))
        .await
        .unwrap();
    assert_eq!(
        (report.delivered, report.failed),
        (0, 0),
        "a delivered notification is not sent again"
    );

    let bodies = received.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        bodies[0], bodies[1],
        "the retry sends the same notification"
    );
    assert_eq!(bodies[0]["kind"], "transfer_requested");
    assert_eq!(bodies[0]["recipient_rep_id"], "m1");
    let id = bodies[0]["id"].as_i64().unwrap();
    let log = app.store.deliveries_of(id).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].0, log[0].1), (1, Some(500)));
    assert!(log[0]
        .2
        .as_deref()
        .is_some_and(|error| error.contains("500")));
    assert_eq!((log[1].0, log[1].1, log[1].2.clone()), (2, Some(200), None));

    // Notifications stored many at a time (撞单 here, reclaims alike) are queued too.
    let (status, body) = app
        .post(
            "/api/v1/customers",
            json!({"id": "CU1-AGAIN", "name": "客户一", "region": "广东"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let report = allot_server::deliver_due_notifications(&app.store, &client, at(200_000))
        .await
        .unwrap();
    assert_eq!((report.delivered, report.failed), (1, 0));
    let bodies = received.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert_eq!(bodies[2]["kind"], "conflict_opened");
    assert_eq!(bodies[2]["recipient_rep_id"], "n1");
}

test_on_both_backends! {
    notifications_reach_the_webhook_once => super::notifications_reach_the_webhook_once;
}
