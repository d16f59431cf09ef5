//! Allot's HTTP JSON API (axum): routes under `/api/v1`, bearer-token auth, and the OpenAPI document.

pub mod access;
pub mod clock;
pub mod documents;
pub mod error;
mod extract;
pub mod operations;
mod routes;
pub mod web;
pub mod webhook;

use std::net::SocketAddr;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::{Json, Router};
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_store::Store;

pub use clock::ClockSource;
pub use error::{ApiError, ApiResult};
pub use webhook::{deliver_due_notifications, spawn_webhook_sender};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: ClockSource,
    /// Calls per API token (see `operations::RateLimit`).
    pub rate_limiter: operations::RateLimiter,
}

impl AppState {
    /// A server's state with the default rate limit per token.
    pub fn new(store: Store, clock: ClockSource) -> Self {
        AppState {
            store,
            clock,
            rate_limiter: operations::RateLimiter::new(operations::RateLimit::DEFAULT),
        }
    }

    pub fn with_rate_limit(mut self, limit: operations::RateLimit) -> Self {
        self.rate_limiter = operations::RateLimiter::new(limit);
        self
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Allot API",
        description = "Fair, explainable customer allocation: rules, routing with traces, ownership events and workload fairness. Every /api/v1 call needs `Authorization: Bearer TOKEN`. Errors are `{\"error\":{\"code\",\"message\",\"field\"}}`."
    ),
    modifiers(&BearerSecurity),
    security(("bearer" = []))
)]
struct ApiDocument;

struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Adds the 401 that the token check answers, the 403 of the role table, the 429 of the rate
/// limit, and the 400 of a malformed path id, to every `/api/v1` operation (that has one), so
/// clients see them where they look for them instead of in prose.
struct UnauthorizedResponses;

impl utoipa::Modify for UnauthorizedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error_response = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                        .build(),
                )
                .build()
        };
        let unauthorized = error_response("no token, or one that is not valid (or revoked)");
        let forbidden = error_response(
            "the caller's role may not call this route (see the role table), or may not take this step",
        );
        let not_found =
            error_response("no such record, or one outside the caller's view (answered alike)");
        let bad_path = error_response(
            "a path parameter that is not a valid id (empty, too long, or with control characters)",
        );
        let rate_limited = error_response(
            "this token made more calls than the server's rate limit allows; see Retry-After",
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let names_a_record = path.contains("{id}")
                || [
                    "/api/v1/transactions",
                    "/api/v1/tickets",
                    "/api/v1/transfers",
                ]
                .contains(&path.as_str());
            if !path.starts_with("/api/v1/") {
                continue;
            }
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                operation
                    .responses
                    .responses
                    .entry("401".to_string())
                    .or_insert_with(|| unauthorized.clone().into());
                operation
                    .responses
                    .responses
                    .entry("403".to_string())
                    .or_insert_with(|| forbidden.clone().into());
                operation
                    .responses
                    .responses
                    .entry("429".to_string())
                    .or_insert_with(|| rate_limited.clone().into());
                if path.contains('{') {
                    operation
                        .responses
                        .responses
                        .entry("400".to_string())
                        .or_insert_with(|| bad_path.clone().into());
                }
                if names_a_record {
                    operation
                        .responses
                        .responses
                        .entry("404".to_string())
                        .or_insert_with(|| not_found.clone().into());
                }
            }
        }
    }
}

/// The `/api/v1` routes (behind the token check) and the public ones, with the OpenAPI
/// description of both, built together so they cannot drift apart.
fn routes() -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, mut document) = OpenApiRouter::with_openapi(ApiDocument::openapi())
        .merge(routes::router())
        .split_for_parts();
    utoipa::Modify::modify(&UnauthorizedResponses, &mut document);
    let (public, public_document) = OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(serve_openapi_document))
        .routes(routes!(operations::serve_metrics))
        .split_for_parts();
    document.merge(public_document);
    (api, public, document)
}

/// The OpenAPI document served at `/api/openapi.json`.
pub fn openapi_document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| routes().2)
}

async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header_token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .map(str::to_string);
    // Calendar apps subscribe to a URL and send no header: the feed alone takes `?token=`.
    let feed_token = || {
        request
            .uri()
            .path()
            .ends_with("/calendar.ics")
            .then(|| request.uri().query())
            .flatten()
            .and_then(|query| {
                query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("token="))
                    .map(str::to_string)
            })
            .filter(|token| !token.is_empty())
    };
    let token = header_token
        .or_else(feed_token)
        .ok_or_else(ApiError::unauthorized)?;
    let token = token.as_str();
    let holder = state
        .store
        .verify_token(token)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if let Err(wait) = state
        .rate_limiter
        .admit(&holder.id, std::time::Instant::now())
    {
        return Ok(operations::too_many_requests(wait));
    }
    let principal = match state.store.principal(&holder).await {
        Ok(principal) => principal,
        // The rep was deactivated or removed between the token check and now.
        Err(allot_store::StoreError::Forbidden(_) | allot_store::StoreError::NotFound { .. }) => {
            return Err(ApiError::unauthorized())
        }
        Err(error) => return Err(error.into()),
    };
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_default();
    let allowed = access::allowed(request.method().as_str(), &path).ok_or_else(|| {
        ApiError::forbidden(format!(
            "{} {path} has no row in the role table, so no one may call it",
            request.method()
        ))
    })?;
    if !allowed.permits(principal.role()) {
        return Err(ApiError::forbidden(format!(
            "a {} may not call {} {path}",
            principal.role(),
            request.method()
        )));
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// Liveness: answers `ok` without a token.
#[utoipa::path(get, path = "/healthz", tag = "service", security(()),
    responses((status = 200, description = "the text `ok`", content_type = "text/plain", body = String)))]
async fn health() -> &'static str {
    "ok"
}

/// This document (OpenAPI 3.1), without a token.
#[utoipa::path(get, path = "/api/openapi.json", tag = "service", security(()),
    responses((status = 200, description = "the OpenAPI document", body = Object)))]
async fn serve_openapi_document() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(openapi_document())
}

/// Builds the whole application.
pub fn app(state: AppState) -> Router {
    let (api, public, _) = routes();
    let api = api.layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .merge(public)
        .merge(web::router(state.clone()))
        .merge(api)
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such route; see /api/openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; see /api/openapi.json",
            )
        })
        .layer(middleware::from_fn(operations::around_every_request))
        .with_state(state)
}

/// Runs the scheduled jobs (`Store::tick`: overrides expiry and health daily, the re-grade
/// monthly, and the rest) every `every`, for as long as the server runs, while this server leads
/// the scheduler. On PostgreSQL one server leads (a session advisory lock, see
/// `allot_store::scheduler`); the others try again each interval, so one of them takes over
/// within an interval of the leader's death. Each job also runs once per period whoever ticks:
/// `job_runs`, under the routing lock, records it.
pub fn spawn_scheduler(state: AppState, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leadership: Option<allot_store::scheduler::SchedulerLeadership> = None;
        loop {
            interval.tick().await;
            if let Some(held) = &mut leadership {
                if !held.still_held().await {
                    tracing::warn!("lost the scheduler's lock; trying to take it again");
                    leadership = None;
                }
            }
            if leadership.is_none() {
                match state.store.try_lead_scheduler().await {
                    Ok(Some(taken)) => {
                        tracing::info!("this server runs the scheduled jobs");
                        leadership = Some(taken);
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "the scheduler's lock could not be tried"),
                }
            }
            metrics::gauge!("allot_scheduler_leader").set(if leadership.is_some() {
                1.0
            } else {
                0.0
            });
            if leadership.is_none() {
                continue;
            }
            let ticked = operations::recorded_tick(
                &state.store,
                state.clock.now(),
                "scheduler",
                false,
                "scheduler",
            )
            .await;
            match ticked {
                Ok(summary) if !summary.ran.is_empty() => {
                    let ran: Vec<String> = summary
                        .ran
                        .iter()
                        .map(|(job, period)| format!("{job} {period}"))
                        .collect();
                    tracing::info!(jobs = %ran.join(", "), "scheduled jobs ran");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "scheduled jobs did not run"),
            }
        }
    })
}

/// Serves until the process is stopped (Ctrl-C or SIGTERM finishes in-flight requests first).
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    let address: SocketAddr = listener.local_addr()?;
    tracing::info!(%address, "allot serving");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}
