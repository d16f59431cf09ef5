//! What operators rely on, on both backends: security headers and a request id on every
//! response, Prometheus metrics at /metrics, and the per-token rate limit.

mod support;

use allot_server::operations::RateLimit;
use allot_store::{test_on_both_backends, Backend};
use reqwest::StatusCode;
use serde_json::json;
use support::{assert_error, spawn_app, spawn_app_with_rate_limit, TOKEN};

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

test_on_both_backends! {
    every_response_carries_the_security_headers_and_a_request_id => super::every_response_carries_the_security_headers_and_a_request_id;
    metrics_count_requests_decisions_jobs_and_the_pool => super::metrics_count_requests_decisions_jobs_and_the_pool;
    a_token_over_its_rate_is_told_to_wait => super::a_token_over_its_rate_is_told_to_wait;
}
