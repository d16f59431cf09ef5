//! What operators need around every request: a request id, security headers, Prometheus metrics and a per-token rate limit.
//!
//! These use the wall clock (`Instant`), not Allot's clock: they time requests and meter
//! callers, and decide nothing about customers, so `ALLOT_NOW` must not freeze them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use allot_core::Clock;
use allot_store::error::StoreResult;
use allot_store::Store;

use crate::{ApiError, AppState};

/// The header a request id travels in, taken from the caller (a proxy's) or made here.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Sent with every response, pages and JSON alike. Pages load only their own embedded CSS, JS
/// and images (charts are inline SVG), so nothing else needs to be allowed.
const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// Latency buckets (seconds) of the request and job histograms: from a cached token check to a
/// re-grade of a million customers.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 600.0,
];

/// The process's Prometheus recorder. The `metrics` facade has one global recorder per
/// process, so every app built in it (tests build many) shares it; `None` when another
/// recorder was installed first, and then `/metrics` says so instead of showing nothing.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_string()), &DURATION_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// A request id as callers may send it: short printable ASCII, so it can go into logs and
/// back into a header unchanged.
fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let acceptable = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && byte != b'"' && byte != b'\\');
    acceptable.then(|| text.to_string())
}

/// A fresh request id: random, so ids from several servers behind one balancer do not collide.
fn new_request_id() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // Without the system's randomness, a process-wide counter still tells requests apart.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let next = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&next.to_le_bytes());
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Wraps every request: gives it an id (kept in a tracing span, so every log line of the request
/// carries it, and echoed in `x-request-id`), counts and times it by route and status, logs it,
/// and adds the security headers.
pub async fn around_every_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(acceptable_request_id)
        .unwrap_or_else(new_request_id);
    let method = request.method().as_str().to_string();
    // The route pattern, not the path: ids in paths would make a metric per customer.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            target: "allot_server::access",
            status,
            milliseconds = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    metrics::counter!(
        "allot_http_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "allot_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(elapsed.as_secs_f64());
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    response
}

/// Counts a routing decision by what came of it, for `/metrics`.
pub fn record_routing_decision(routed_now: bool, placed: bool) {
    let outcome = match (routed_now, placed) {
        (false, _) => "already_owned",
        (true, true) => "placed",
        (true, false) => "pool",
    };
    metrics::counter!("allot_routing_decisions_total", "outcome" => outcome).increment(1);
}

/// Runs `Store::tick` and records it for `/metrics`: the jobs it ran and its time, or its
/// failure; `source` is `scheduler` or `api`.
pub async fn recorded_tick(
    store: &allot_store::Store,
    clock: allot_core::Clock,
    actor: &str,
    force: bool,
    source: &'static str,
) -> allot_store::StoreResult<allot_store::value::TickSummary> {
    let started = Instant::now();
    let ticked = store.tick(clock, actor, force).await;
    match &ticked {
        Ok(summary) => {
            for (job, _) in &summary.ran {
                metrics::counter!("allot_job_runs_total", "job" => job.clone()).increment(1);
            }
            metrics::histogram!("allot_tick_duration_seconds", "source" => source)
                .record(started.elapsed().as_secs_f64());
        }
        Err(_) => {
            metrics::counter!("allot_tick_failures_total", "source" => source).increment(1);
        }
    }
    ticked
}

/// Prometheus metrics (text exposition format): requests by route and status, latency
/// histograms, routing decisions, job runs and tick durations, and the pool size.
#[utoipa::path(get, path = "/metrics", tag = "service", security(()),
    responses((status = 200, description = "metrics in the Prometheus text format", content_type = "text/plain", body = String),
        (status = 503, description = "no metrics recorder could be installed in this process", content_type = "text/plain", body = String)))]
pub async fn serve_metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = prometheus() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder owns this process\n",
        )
            .into_response();
    };
    // Read at scrape time so it is the database's, whichever server changed it.
    match state.store.pool_size().await {
        Ok(size) => metrics::gauge!("allot_pool_size").set(size as f64),
        Err(error) => tracing::warn!(%error, "the pool size could not be read for /metrics"),
    }
    handle.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// How many API calls one token may make: `per_second` on average, in bursts of up to twice
/// that. Zero turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: u32,
}

impl RateLimit {
    /// The default of `allot serve`: ample for people and scripts, a stop for a runaway loop.
    pub const DEFAULT: RateLimit = RateLimit { per_second: 100 };
    pub const OFF: RateLimit = RateLimit { per_second: 0 };
}

/// Token buckets, one per API token, shared by every request of this server; with several
/// servers on one database, each takes from its buckets what the others admitted, as
/// [`RateLimiter::exchange`] learns it (every [`RATE_EXCHANGE_EVERY`]).
#[derive(Clone)]
pub struct RateLimiter {
    limit: RateLimit,
    /// This process among the servers of the database: random, made at start.
    server_id: Arc<str>,
    buckets: Arc<Mutex<Buckets>>,
}

#[derive(Default)]
struct Buckets {
    by_token: HashMap<String, Bucket>,
    /// Each other server's published total per token when this one last looked.
    seen: HashMap<(String, String), i64>,
}

struct Bucket {
    available: f64,
    refilled_at: Instant,
    /// Calls admitted since the last exchange, not yet published.
    unpublished: i64,
}

/// How often a server publishes its calls and learns the others'.
pub const RATE_EXCHANGE_EVERY: Duration = Duration::from_secs(1);

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            server_id: new_request_id().into(),
            buckets: Arc::default(),
        }
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, Buckets> {
        match self.buckets.lock() {
            Ok(buckets) => buckets,
            // A panic elsewhere while holding the lock leaves counts that are still counts.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// `token_id`'s bucket, refilled up to `now`; a token's first bucket starts full. (Always
    /// `Some`: the option spares a second lookup after the insert.)
    fn refilled<'b>(
        &self,
        buckets: &'b mut Buckets,
        token_id: &str,
        now: Instant,
    ) -> Option<&'b mut Bucket> {
        let rate = f64::from(self.limit.per_second);
        let burst = 2.0 * rate;
        // Looked up by reference first: the token's id is copied only on its first call.
        if !buckets.by_token.contains_key(token_id) {
            buckets.by_token.insert(
                token_id.to_string(),
                Bucket {
                    available: burst,
                    refilled_at: now,
                    unpublished: 0,
                },
            );
        }
        let bucket = buckets.by_token.get_mut(token_id)?;
        let earned = now
            .saturating_duration_since(bucket.refilled_at)
            .as_secs_f64()
            * rate;
        bucket.available = (bucket.available + earned).min(burst);
        bucket.refilled_at = now;
        Some(bucket)
    }

    /// Takes one call from `token_id`'s bucket, or says how long until one is free.
    pub fn admit(&self, token_id: &str, now: Instant) -> Result<(), Duration> {
        if self.limit.per_second == 0 {
            return Ok(());
        }
        let rate = f64::from(self.limit.per_second);
        let mut buckets = self.buckets();
        let Some(bucket) = self.refilled(&mut buckets, token_id, now) else {
            return Ok(());
        };
        if bucket.available >= 1.0 {
            bucket.available -= 1.0;
            bucket.unpublished += 1;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.available) / rate))
        }
    }

    /// Publishes the calls this server admitted since the last exchange and takes from its
    /// buckets what the other servers admitted since then; a server seen for the first time
    /// is charged its latest report when that is recent (a server starting is not charged for
    /// calls made long before it). The buckets carry what they are charged as a debt, below
    /// zero if need be, so over time a token's calls on all servers keep to its rate; above it
    /// only by what the servers admit before they learn of each other's calls, about one
    /// exchange's worth each.
    pub async fn exchange(&self, store: &Store, clock: Clock, now: Instant) -> StoreResult<()> {
        if self.limit.per_second == 0 {
            return Ok(());
        }
        let admitted: Vec<(String, i64)> = {
            let mut buckets = self.buckets();
            buckets
                .by_token
                .iter_mut()
                .filter(|(_, bucket)| bucket.unpublished > 0)
                .map(|(token_id, bucket)| {
                    (token_id.clone(), std::mem::take(&mut bucket.unpublished))
                })
                .collect()
        };
        if !admitted.is_empty() {
            if let Err(error) = store
                .publish_api_calls(&self.server_id, &admitted, clock)
                .await
            {
                // The report's transaction wrote nothing: the calls go in the next one.
                let mut buckets = self.buckets();
                for (token_id, calls) in admitted {
                    if let Some(bucket) = buckets.by_token.get_mut(&token_id) {
                        bucket.unpublished += calls;
                    }
                }
                return Err(error);
            }
        }
        let published = store.api_calls_of_other_servers(&self.server_id).await?;
        let recent = clock.now() - RECENT_REPORT;
        let mut buckets = self.buckets();
        let mut still_published = HashSet::new();
        for calls in published {
            let key = (calls.server_id, calls.token_id);
            let since_seen = match buckets.seen.get(&key) {
                Some(&seen) if calls.calls_total >= seen => calls.calls_total - seen,
                // Forgotten and published again since: all of it is new.
                Some(_) => calls.calls_total,
                None if calls.reported_at >= recent => calls.last_calls,
                None => 0,
            };
            buckets.seen.insert(key.clone(), calls.calls_total);
            if since_seen > 0 {
                if let Some(bucket) = self.refilled(&mut buckets, &key.1, now) {
                    bucket.available -= since_seen as f64;
                }
            }
            still_published.insert(key);
        }
        buckets.seen.retain(|key, _| still_published.contains(key));
        Ok(())
    }
}

/// A report this recent, from a server seen for the first time, is charged: two exchanges.
const RECENT_REPORT: chrono::Duration = chrono::Duration::seconds(2);

/// Exchanges this server's admitted calls with the other servers' every
/// [`RATE_EXCHANGE_EVERY`], while the rate limit is on.
pub fn spawn_rate_exchange(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(RATE_EXCHANGE_EVERY);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let exchanged = state
                .rate_limiter
                .exchange(&state.store, state.clock.now(), Instant::now())
                .await;
            if let Err(error) = exchanged {
                tracing::warn!(%error, "the rate limit's counts were not exchanged with the other servers");
            }
        }
    })
}

/// The answer to a call over the limit: 429 with `Retry-After` in whole seconds.
pub fn too_many_requests(wait: Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("this token made too many calls; retry in {seconds} s"),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    metrics::counter!("allot_rate_limited_total").increment(1);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_a_burst_then_the_steady_rate() {
        let limiter = RateLimiter::new(RateLimit { per_second: 5 });
        let start = Instant::now();
        for call in 0..10 {
            assert!(
                limiter.admit("t1", start).is_ok(),
                "call {call} of the burst"
            );
        }
        let wait = limiter.admit("t1", start).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(200));
        // Another token has its own bucket.
        assert!(limiter.admit("t2", start).is_ok());
        // A fifth of a second later one more call is earned, and only one.
        let later = start + Duration::from_millis(200);
        assert!(limiter.admit("t1", later).is_ok());
        assert!(limiter.admit("t1", later).is_err());
    }

    #[test]
    fn no_limit_admits_everything() {
        let limiter = RateLimiter::new(RateLimit::OFF);
        let now = Instant::now();
        assert!((0..10_000).all(|_| limiter.admit("t", now).is_ok()));
    }

    #[test]
    fn request_ids_from_callers_are_kept_only_when_printable_and_short() {
        let check = |text: &str, kept: bool| {
            let value = HeaderValue::from_str(text).unwrap();
            assert_eq!(acceptable_request_id(&value).is_some(), kept, "{text:?}");
        };
        check("abc-123", true);
        check("", false);
        check("has space", false);
        check(&"x".repeat(129), false);
        check("quote\"d", false);
        assert_eq!(new_request_id().len(), 24);
        assert_ne!(new_request_id(), new_request_id());
    }
}
