//! The service reports (F2, S2): baseline coverage, the service report per tier, team and rep,
//! and the value × service quadrant — JSON, or CSV with `Accept: text/csv`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_core::access::Principal;
use allot_core::service::report::{PerformanceReport, QuadrantReport, ServiceReport};
use allot_store::service_reports::{BaselineReport, ServiceAlert};

use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(baseline_report))
        .routes(routes!(service_report))
        .routes(routes!(quadrant_report))
        .routes(routes!(service_alerts))
        .routes(routes!(performance_report))
}

/// Whether the caller asked for CSV.
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| {
            accept
                .split(',')
                .any(|part| part.trim().starts_with("text/csv"))
        })
}

/// The report as JSON, or as the CSV `csv` writes when the caller asked for CSV.
fn answer<T: serde::Serialize>(
    headers: &HeaderMap,
    report: T,
    csv: impl FnOnce(&T) -> allot_files::Result<String>,
) -> ApiResult<Response> {
    if !wants_csv(headers) {
        return Ok(Json(report).into_response());
    }
    let text = csv(&report).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    })?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        text,
    )
        .into_response())
}

/// Coverage of every `[[service.baseline]]` check over the customers in view (a manager's
/// subtree and the pool), overall, per tier and per team, with the customers that fail.
#[utoipa::path(get, path = "/api/v1/reports/baseline", tag = "reports",
    responses((status = 200, description = "baseline coverage", content((BaselineReport = "application/json"), (String = "text/csv")))))]
async fn baseline_report(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let view = super::list_view(&state, &principal).await?;
    let report = state
        .store
        .baseline_report(view.as_ref(), state.clock.now())
        .await?;
    answer(&headers, report, |report| {
        allot_files::reports::baseline_csv(&report.checks)
    })
}

/// Per tier, team and rep: shares of customers, value and service effort over the window, SLA
/// attainment, baseline coverage and the median days since the last real follow-up.
#[utoipa::path(get, path = "/api/v1/reports/service", tag = "reports",
    responses((status = 200, description = "the service report", content((ServiceReport = "application/json"), (String = "text/csv")))))]
async fn service_report(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let view = super::list_view(&state, &principal).await?;
    let report = state
        .store
        .service_report(view.as_ref(), state.clock.now())
        .await?;
    answer(&headers, report, allot_files::reports::service_report_csv)
}

/// The value × service matrix: each customer by value (score) and service minutes over the
/// window, thresholds from the policy (default: medians), the quadrants, the under-served
/// (high value, low service) and over-served lists, and every point.
#[utoipa::path(get, path = "/api/v1/reports/quadrant", tag = "reports",
    responses((status = 200, description = "the quadrant", content((QuadrantReport = "application/json"), (String = "text/csv")))))]
async fn quadrant_report(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let view = super::list_view(&state, &principal).await?;
    let report = state
        .store
        .quadrant_report(view.as_ref(), state.clock.now())
        .await?;
    answer(&headers, report, allot_files::reports::quadrant_csv)
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ServiceAlertQuery {
    /// Closed alerts too (default: open only).
    all: Option<bool>,
}

/// Skew alerts raised by the daily job: a tier's effort outside its band, a team past its
/// new-customer budget, a rep past the overload threshold; newest first.
#[utoipa::path(get, path = "/api/v1/service-alerts", tag = "reports", params(ServiceAlertQuery),
    responses((status = 200, description = "skew alerts", body = [ServiceAlert]), (status = 400, body = crate::error::ErrorEnvelope)))]
async fn service_alerts(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<
        axum::extract::Query<ServiceAlertQuery>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<Vec<ServiceAlert>>> {
    let axum::extract::Query(query) = query?;
    Ok(Json(
        state
            .store
            .service_alerts(&principal, query.all.unwrap_or(false))
            .await?,
    ))
}

/// Per rep over the window (F4): revenue of its customers, new customers won (a first purchase
/// while owned), first-response attainment, mean ticket rating, follow-up rate and a score
/// (the mean of its percentile ranks on those five), best first.
#[utoipa::path(get, path = "/api/v1/reports/performance", tag = "reports",
    responses((status = 200, description = "rep performance", content((PerformanceReport = "application/json"), (String = "text/csv")))))]
async fn performance_report(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let view = super::list_view(&state, &principal).await?;
    let report = state
        .store
        .performance_report(view.as_ref(), state.clock.now())
        .await?;
    answer(&headers, report, allot_files::reports::performance_csv)
}
