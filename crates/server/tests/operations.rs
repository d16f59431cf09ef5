//! What operators rely on, on both backends: security headers and a request id on every
//! response, Prometheus metrics at /metrics, and the per-token rate limit.

mod support;

use allot_core::Clock;
use std::time::{Duration, Instant};

use allot_server::operations::{RateLimit, RateLimiter};
use allot_server::{AppState, ClockSource};
use allot_store::{test_on_both_backends, Backend};
use reqwest::StatusCode;
use serde_json::json;
use support::{assert_error, spawn_app, spawn_app_with_rate_limit, CLOCK, TOKEN};

async fn every_response_carries_the_security_headers_and_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    for (path, with_token) in [
        ("/api/v1/teams", true),
        ("/api/v1/teams", false),
        ("/login", false),
        ("/no/such/page", false),
        ("/metrics", false),
    ] {
        let mut request = app.client.get(format!("{}{path}", app.address));
        if with_token {
            request = request.bearer_auth(TOKEN);
        }
        let response = request.send().await.unwrap();
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("{path}: no content-security-policy"));
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let request_id = headers["x-request-id"].to_str().unwrap();
        assert_eq!(
            request_id.len(),
            24,
            "{path}: a made id is 12 random bytes in hex"
        );
    }
    // An id from the caller (a proxy's) is kept, one that cannot go into a log is replaced.
    let echoed = |sent: &'static str| {
        let request = app
            .client
            .get(format!("{}/healthz", app.address))
            .header("x-request-id", sent);
        async move {
            let response = request.send().await.unwrap();
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(echoed("trace-42").await, "trace-42");
    let replaced = echoed("not\tprintable").await;
    assert_ne!(replaced, "not\tprintable");
    assert_eq!(replaced.len(), 24);
}

/// The value of the first sample line of `metric` whose labels include every one of `labels`.
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (name_and_labels, value) = line.rsplit_once(' ')?;
        let matches = (name_and_labels == metric
            || name_and_labels.starts_with(&format!("{metric}{{")))
            && labels.iter().all(|label| name_and_labels.contains(label));
        matches.then(|| value.parse().ok()).flatten()
    })
}

async fn metrics_count_requests_decisions_jobs_and_the_pool(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let scrape = || async {
        let response = app
            .client
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        response.text().await.unwrap()
    };
    let route_label = r#"route="/api/v1/route""#;
    // Other tests of this binary share the process's recorder: compare before and after.
    let before = scrape().await;
    let routed_before = sample(
        &before,
        "allot_http_requests_total",
        &[route_label, r#"status="200""#],
    )
    .unwrap_or(0.0);
    let placed_before = sample(
        &before,
        "allot_routing_decisions_total",
        &[r#"outcome="placed""#],
    )
    .unwrap_or(0.0);
    for id in ["M1", "M2", "M3"] {
        let (status, body) = app
            .post(
                "/api/v1/route",
                json!({"id": id, "name": id, "region": "北京"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = app.call(reqwest::Method::POST, "/api/v1/tick", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = scrape().await;
    let routed_after = sample(
        &after,
        "allot_http_requests_total",
        &[route_label, r#"status="200""#],
    )
    .unwrap();
    assert!(routed_after >= routed_before + 3.0, "{after}");
    let placed_after = sample(
        &after,
        "allot_routing_decisions_total",
        &[r#"outcome="placed""#],
    )
    .unwrap();
    assert!(placed_after >= placed_before + 3.0, "{after}");
    assert!(
        sample(
            &after,
            "allot_http_request_duration_seconds_count",
            &[route_label]
        )
        .is_some_and(|count| count >= 3.0),
        "a latency histogram per route:\n{after}"
    );
    assert!(
        after.contains("allot_http_request_duration_seconds_bucket{"),
        "{after}"
    );
    assert!(
        after.contains("allot_tick_duration_seconds_count"),
        "{after}"
    );
    assert!(
        sample(&after, "allot_job_runs_total", &[r#"job="plan_care""#])
            .is_some_and(|runs| runs >= 1.0),
        "{after}"
    );
    assert!(
        after.contains(r#"allot_job_duration_seconds_count{job="plan_care"}"#),
        "{after}"
    );
    // The pool gauge is this server's database, read at the scrape.
    let pool = app.store.pool_size().await.unwrap() as f64;
    assert_eq!(
        sample(&after, "allot_pool_size", &[]),
        Some(pool),
        "{after}"
    );
    // A path with an id is counted under its route pattern, never under the id.
    let (status, _) = app.get("/api/v1/customers/M1").await;
    assert_eq!(status, StatusCode::OK);
    let after = scrape().await;
    assert!(
        after.contains(r#"route="/api/v1/customers/{id}""#),
        "{after}"
    );
    assert!(!after.contains("/api/v1/customers/M1"), "{after}");
}

async fn a_token_over_its_rate_is_told_to_wait(backend: Backend) {
    // One call a second, bursts of two.
    let app = spawn_app_with_rate_limit(backend, RateLimit { per_second: 1 }).await;
    for _ in 0..2 {
        let (status, body) = app.get("/api/v1/teams").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let response = app
        .client
        .get(format!("{}/api/v1/teams", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // The documented answer (checked against the OpenAPI document by the helper).
    let (status, body) = app.get("/api/v1/teams").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(&body, "rate_limited", None);
    // A bad token is refused as before, not metered into anyone's bucket.
    let response = app
        .client
        .get(format!("{}/api/v1/teams", app.address))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Pages and probes are not API calls.
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// `POST /customers/{id}/forget`: personal data erased everywhere it was kept, figures and the
/// ownership history kept, the erasure an event in the ledger; the same customer again is 409.
async fn a_forgotten_customer_keeps_its_figures_and_history_only(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_organisation().await;
    let (status, body) = app
        .put_rules(
            r#"
[[rule]]
name = "指定客户"
when = 'name == "外滩银行" or attr.contact == "李经理"'
to = { team = "east" }
strategy = "least_loaded"

[[rule]]
name = "兜底"
when = 'true'
to = { team = "hq" }
strategy = "round_robin"
"#,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, routed) = app
        .post(
            "/api/v1/route",
            json!({"id": "f1", "name": "浦东银行", "region": "上海/浦东", "phone": "13800000001",
                   "email": "wang@pudong.example", "credit_code": "91310000MA1FL8XQ37",
                   "attributes": {"contact": "王经理", "annual_revenue": 3000000}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{routed}");
    // The failed condition's trace quotes the customer's own values.
    assert!(
        routed["decision"]["trace"].to_string().contains("浦东银行"),
        "{routed}"
    );
    let owner = routed["decision"]["owner_id"].as_str().unwrap().to_string();
    // A second record with the same phone is kept as a 撞单 conflict, its record with it.
    let (status, duplicate) = app
        .post(
            "/api/v1/route",
            json!({"id": "f1-dup", "name": "浦东银行上海分行", "region": "上海", "phone": "138 0000 0001"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{duplicate}");
    let conflict_id = duplicate["conflict"]["conflict_id"].clone();
    assert!(!conflict_id.is_null(), "{duplicate}");
    let (status, body) = app
        .post(
            "/api/v1/tickets",
            json!({"id": "fk", "customer_id": "f1", "opened_at": "2026-11-24T10:00:00+08:00", "subject": "王经理投诉发票"}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, body) = app
        .post(
            "/api/v1/transactions",
            json!({"id": "ft", "customer_id": "f1", "at": "2026-11-20", "amount": "1200.50"}),
        )
        .await;
    assert!(status.is_success(), "{body}");

    // What people typed about it: a release's reason, a tier override's reason, a transfer's
    // reason (and the notification that quotes it).
    let (status, body) = app
        .post(
            "/api/v1/customers/f1/release",
            json!({"reason": "王经理说暂不需要"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first_owner = owner;
    let owner = ["r1", "r2", "r3"]
        .into_iter()
        .find(|rep| *rep != first_owner)
        .unwrap()
        .to_string();
    let (status, body) = app
        .post("/api/v1/customers/f1/claim", json!({"rep_id": owner}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put(
            "/api/v1/customers/f1/tier-override",
            json!({"tier": "A", "reason": "王经理要求升级", "expires_on": "2027-06-30"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, transfer) = app
        .post(
            "/api/v1/transfers",
            json!({"customer_ids": ["f1"], "from": owner, "to": first_owner,
                   "reason_kind": "customer_request", "text": "王经理要求换人"}),
        )
        .await;
    assert!(status.is_success(), "{transfer}");

    // Refusals first: no reason, an unknown customer, a rep's token (the role table).
    let (status, body) = app
        .post("/api/v1/customers/f1/forget", json!({"reason": " "}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "invalid", Some("reason"));
    let (status, _) = app
        .post("/api/v1/customers/nobody/forget", json!({"reason": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, summary) = app
        .post(
            "/api/v1/customers/f1/forget",
            json!({"reason": "客户 2026-11-24 书面要求删除个人信息"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["attributes_erased"], 1, "{summary}");
    assert_eq!(summary["conflicts_erased"], 1, "{summary}");
    assert_eq!(summary["tickets_erased"], 1, "{summary}");
    assert_eq!(summary["decisions_erased"], 1, "{summary}");
    // The release's reason; the claim's and the routing's are Allot's own fixed texts.
    assert_eq!(summary["event_reasons_erased"], 1, "{summary}");
    assert_eq!(summary["tier_reasons_erased"], 2, "{summary}");
    assert_eq!(summary["transfers_erased"], 1, "{summary}");
    assert!(
        summary["notifications_erased"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert!(
        summary["match_keys_removed"].as_u64().unwrap() >= 1,
        "{summary}"
    );

    let (_, customer) = app.get("/api/v1/customers/f1").await;
    assert_eq!(customer["name"], "[erased]", "{customer}");
    for field in ["phone", "email", "credit_code"] {
        assert!(
            customer[field].is_null() || customer[field] == "",
            "{field}: {customer}"
        );
    }
    assert_eq!(
        customer["owner_id"],
        owner.as_str(),
        "the owner stays: {customer}"
    );
    assert_eq!(
        customer["attributes"],
        json!({"annual_revenue": "3000000"}),
        "{customer}"
    );
    let everything = |value: &serde_json::Value| value.to_string();
    for path in [
        "/api/v1/customers/f1".to_string(),
        "/api/v1/customers/f1/decisions".to_string(),
        "/api/v1/customers/f1/tickets".to_string(),
        "/api/v1/tickets/fk".to_string(),
        format!("/api/v1/conflicts/{conflict_id}"),
        "/api/v1/events?customer_id=f1".to_string(),
        "/api/v1/tier-events?customer_id=f1".to_string(),
        format!("/api/v1/transfers/{}", transfer["id"]),
        "/api/v1/notifications".to_string(),
    ] {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        for personal in [
            "浦东银行",
            "13800000001",
            "wang@pudong",
            "91310000MA1FL8XQ37",
            "王经理",
        ] {
            assert!(
                !everything(&body).contains(personal),
                "{path} still holds {personal}: {body}"
            );
        }
    }
    // The amount is kept, and the ledger has the erasure after the assignment.
    let (_, activity) = app.get("/api/v1/customers/f1/activity").await;
    assert!(everything(&activity).contains("1200.5"), "{activity}");
    let (_, events) = app.get("/api/v1/events?customer_id=f1").await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"ownership.assigned"), "{events}");
    assert_eq!(kinds.last(), Some(&"customer.forgotten"), "{events}");
    assert_eq!(
        kinds.len(),
        4,
        "assigned, released, claimed, forgotten: {events}"
    );
    let erasure = events.as_array().unwrap().last().unwrap();
    assert_eq!(erasure["reason"], "客户 2026-11-24 书面要求删除个人信息");
    assert_eq!(erasure["reason_kind"], "erasure");
    assert_eq!(erasure["from_rep_id"], owner.as_str());
    assert_eq!(erasure["to_rep_id"], owner.as_str());
    // The same phone is no longer a duplicate of the forgotten customer.
    let (_, fresh) = app
        .post(
            "/api/v1/route",
            json!({"id": "f2", "name": "新客户", "region": "北京", "phone": "13800000001"}),
        )
        .await;
    assert!(fresh["conflict"].is_null(), "{fresh}");
    let (status, body) = app
        .post("/api/v1/customers/f1/forget", json!({"reason": "again"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, report) = app.get("/api/v1/invariants").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["holds"], true, "{report}");
}

/// Two servers on one database share a token's limit: what one admitted is taken from the
/// other's bucket at their next exchange (called here directly, as the servers' task does
/// every second), as a debt that keeps the token's calls on both to its rate.
async fn a_tokens_rate_limit_holds_across_servers(backend: Backend) {
    let clock = Clock::parse(CLOCK).unwrap();
    let first = spawn_app_with_rate_limit(backend, RateLimit { per_second: 1 }).await;
    let second = AppState::new(first.store.clone(), ClockSource::fixed(clock))
        .with_rate_limit(RateLimit { per_second: 1 });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second_address = format!("http://{}", listener.local_addr().unwrap());
    let serving = second.clone();
    tokio::spawn(async move { allot_server::serve(listener, serving).await });
    let exchange = |state: AppState| async move {
        state
            .rate_limiter
            .exchange(&state.store, clock, Instant::now())
            .await
            .unwrap();
    };
    // The token's burst (two calls), spent on the first server, is refused on the second.
    for _ in 0..2 {
        let (status, body) = first.get("/api/v1/teams").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    exchange(first.state.clone()).await;
    exchange(second.clone()).await;
    let on_second = first
        .client
        .get(format!("{second_address}/api/v1/teams"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(on_second.status(), StatusCode::TOO_MANY_REQUESTS);

    // The same with the time in hand: ten calls a second, bursts of twenty.
    let limit = RateLimit { per_second: 10 };
    let (one, other) = (RateLimiter::new(limit), RateLimiter::new(limit));
    let store = &first.store;
    let start = Instant::now();
    let at = |seconds: f64| start + Duration::from_secs_f64(seconds);
    other.exchange(store, clock, at(0.0)).await.unwrap();
    let admitted = |limiter: &RateLimiter, at: Instant| {
        (0..100)
            .take_while(|_| limiter.admit("t1", at).is_ok())
            .count()
    };
    assert_eq!(admitted(&one, at(0.0)), 20);
    one.exchange(store, clock, at(0.0)).await.unwrap();
    other.exchange(store, clock, at(0.0)).await.unwrap();
    assert_eq!(admitted(&other, at(0.0)), 0, "the first report, charged");
    // Three seconds on: both buckets full again; the first server spends its burst, and the
    // second learns of it from the growth of the first's total.
    assert_eq!(admitted(&one, at(3.0)), 20);
    one.exchange(store, clock, at(3.0)).await.unwrap();
    other.exchange(store, clock, at(3.0)).await.unwrap();
    assert_eq!(
        admitted(&other, at(3.0)),
        0,
        "the growth of the total, charged"
    );
    // Nothing new: another exchange charges nothing more, and a tenth of a second earns one.
    one.exchange(store, clock, at(3.0)).await.unwrap();
    other.exchange(store, clock, at(3.0)).await.unwrap();
    assert_eq!(admitted(&other, at(3.1)), 1);
    // What another server sees: the admin token's two calls over HTTP on the first server
    // and t1's forty on `one`; the second server and `other` have published nothing.
    let seen = store
        .api_calls_of_other_servers("a third server")
        .await
        .unwrap();
    let mut totals: Vec<i64> = seen.iter().map(|calls| calls.calls_total).collect();
    totals.sort_unstable();
    assert_eq!(totals, vec![2, 40], "{seen:?}");
}

test_on_both_backends! {
    a_forgotten_customer_keeps_its_figures_and_history_only => super::a_forgotten_customer_keeps_its_figures_and_history_only;
    every_response_carries_the_security_headers_and_a_request_id => super::every_response_carries_the_security_headers_and_a_request_id;
    metrics_count_requests_decisions_jobs_and_the_pool => super::metrics_count_requests_decisions_jobs_and_the_pool;
    a_token_over_its_rate_is_told_to_wait => super::a_token_over_its_rate_is_told_to_wait;
    a_tokens_rate_limit_holds_across_servers => super::a_tokens_rate_limit_holds_across_servers;
}
