//! Customer value: transactions, interactions, a customer's value, tier overrides, the value
//! policy, grading runs, the scheduled jobs, the value report, alerts and the tier log.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_core::activity::{InteractionFields, TransactionFields};
use allot_core::{CustomerId, RepId};
use allot_store::activity::{StoredInteraction, StoredTransaction};
use allot_store::value::{
    Alert, AlertFilter, CustomerValue, ScoreSummary, StoredTierOverride, TickSummary, TierEvent,
    TierEventFilter, ValueReport,
};

use super::text_or_json_source;
use crate::documents::{
    InteractionDocument, PolicyDocument, SourceBody, TierOverrideBody, TransactionDocument,
    VersionDocument,
};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::extract::{object_body, page_limit, query_value, NoBody, PathId};
use crate::AppState;
use allot_core::access::Principal;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_transaction))
        .routes(routes!(add_interaction))
        .routes(routes!(customer_value))
        .routes(routes!(put_tier_override, delete_tier_override))
        .routes(routes!(get_policy, put_policy))
        .routes(routes!(run_score))
        .routes(routes!(run_tick))
        .routes(routes!(value_report))
        .routes(routes!(list_alerts))
        .routes(routes!(list_tier_events))
}

fn created_or_replaced(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// Record a transaction (purchase or refund).
#[utoipa::path(post, path = "/api/v1/transactions", tag = "value", request_body = TransactionDocument,
    responses((status = 201, description = "stored", body = StoredTransaction), (status = 200, description = "replaced the transaction with the same id", body = StoredTransaction),
        (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn add_transaction(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<StoredTransaction>)> {
    let (fields, _) = object_body::<TransactionFields>(body)?;
    super::body_customer_in_view(&state, &principal, &fields.customer_id).await?;
    let stored = state
        .store
        .add_transaction(fields.into_transaction()?, state.clock.now())
        .await?;
    Ok((
        created_or_replaced(stored.created == Some(true)),
        Json(stored),
    ))
}

/// Record an interaction; the customer's last-interaction time moves forward.
#[utoipa::path(post, path = "/api/v1/customers/{id}/interactions", tag = "value",
    params(("id" = String, Path, description = "customer id")), request_body = InteractionDocument,
    responses((status = 201, description = "stored", body = StoredInteraction), (status = 200, description = "replaced the interaction with the same id", body = StoredInteraction),
        (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn add_interaction(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<StoredInteraction>)> {
    let customer_id = id.parse(CustomerId::parse_field)?;
    super::customer_in_view(&state, &principal, &customer_id).await?;
    let (mut fields, _) = object_body::<InteractionFields>(body)?;
    if !fields.customer_id.trim().is_empty() && fields.customer_id.trim() != customer_id.as_str() {
        return Err(ApiError::invalid(
            "customer_id",
            "differs from the customer in the path; leave it out",
        ));
    }
    fields.customer_id = customer_id.to_string();
    let stored = state
        .store
        .add_interaction(fields.into_interaction()?, state.clock.now())
        .await?;
    Ok((
        created_or_replaced(stored.created == Some(true)),
        Json(stored),
    ))
}

/// A customer's value: RFM, CLV, score, ABC, tier, health, override and tier history.
#[utoipa::path(get, path = "/api/v1/customers/{id}/value", tag = "value",
    params(("id" = String, Path, description = "customer id")),
    responses((status = 200, description = "the customer's value", body = CustomerValue), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn customer_value(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
) -> ApiResult<Json<CustomerValue>> {
    let customer_id = id.parse(CustomerId::parse_field)?;
    super::customer_in_view(&state, &principal, &customer_id).await?;
    Ok(Json(state.store.customer_value(&customer_id).await?))
}

/// Set a manual tier that wins over the computed one until `expires_on`.
#[utoipa::path(put, path = "/api/v1/customers/{id}/tier-override", tag = "value",
    params(("id" = String, Path, description = "customer id")), request_body = TierOverrideBody,
    responses((status = 200, description = "the override", body = StoredTierOverride), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn put_tier_override(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<StoredTierOverride>> {
    let customer_id = id.parse(CustomerId::parse_field)?;
    super::customer_in_view(&state, &principal, &customer_id).await?;
    let (body, _) = object_body::<TierOverrideBody>(body)?;
    let expires_on = allot_core::text::parse_date("expires_on", &body.expires_on)?;
    let stored = state
        .store
        .set_tier_override(
            &customer_id,
            &body.tier,
            &body.reason,
            expires_on,
            &principal.actor(),
            state.clock.now(),
        )
        .await?;
    Ok(Json(stored))
}

/// Remove a manual tier.
#[utoipa::path(delete, path = "/api/v1/customers/{id}/tier-override", tag = "value",
    params(("id" = String, Path, description = "customer id")),
    responses((status = 204, description = "removed"), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn delete_tier_override(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
) -> ApiResult<StatusCode> {
    let customer_id = id.parse(CustomerId::parse_field)?;
    super::customer_in_view(&state, &principal, &customer_id).await?;
    state
        .store
        .clear_tier_override(&customer_id, &principal.actor(), state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The current value policy (TOML source); `version` and `source` are null while the built-in default applies.
#[utoipa::path(get, path = "/api/v1/policy", tag = "value", responses((status = 200, description = "the current policy; `version` and `source` are null while the built-in default applies", body = PolicyDocument)))]
async fn get_policy(State(state): State<AppState>) -> ApiResult<Json<PolicyDocument>> {
    let document = match state.store.current_value_policy().await? {
        Some(stored) => PolicyDocument {
            version: Some(stored.version),
            source: Some(stored.source),
            actor: Some(stored.actor),
            created_at: Some(stored.created_at),
            note: None,
            example: None,
        },
        None => PolicyDocument {
            version: None,
            source: None,
            actor: None,
            created_at: None,
            note: Some("no value policy is set: grading uses the built-in default (tiers A top 20%, B top 50%, C); `example` is a policy to start from".to_string()),
            example: Some(allot_core::value::EXAMPLE_POLICY.to_string()),
        },
    };
    Ok(Json(document))
}

/// Store a new value policy version: TOML text, or JSON `{"source": "…"}`.
#[utoipa::path(put, path = "/api/v1/policy", tag = "value",
    request_body(description = "the policy file: TOML text (any content type but JSON), or JSON {\"source\": TOML}",
        content((String = "text/plain"), (SourceBody = "application/json"))),
    responses((status = 201, description = "stored", body = VersionDocument), (status = 400, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn put_policy(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<VersionDocument>)> {
    let source = text_or_json_source(&headers, &body?)?;
    let version = state
        .store
        .set_value_policy(&source, &principal.actor(), state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(VersionDocument { version })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScoreQuery {
    /// Grade even when the last grading was as of a later time (it replaces newer grades).
    force: Option<bool>,
}

/// Grade every customer as of the clock (like `allot score`).
#[utoipa::path(post, path = "/api/v1/score", tag = "value", params(ScoreQuery), responses((status = 200, description = "the run's summary", body = ScoreSummary), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn run_score(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<ScoreQuery>, QueryRejection>,
    _: NoBody,
) -> ApiResult<Json<ScoreSummary>> {
    let Query(query) = query?;
    let summary = state
        .store
        .score_customers(
            state.clock.now(),
            &principal.actor(),
            query.force.unwrap_or(false),
        )
        .await?;
    Ok(Json(summary))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TickQuery {
    /// Run as of this RFC 3339 time instead of the server's clock, to simulate time.
    at: Option<String>,
    /// Tick into a month before the last re-grade, forgetting the later runs.
    force: Option<bool>,
}

/// Run the scheduled jobs due as of the clock or `at` (admin; like `allot tick --at`).
#[utoipa::path(post, path = "/api/v1/tick", tag = "value", params(TickQuery),
    responses((status = 200, description = "jobs run and skipped", body = TickSummary), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn run_tick(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<TickQuery>, QueryRejection>,
    _: NoBody,
) -> ApiResult<Json<TickSummary>> {
    let Query(query) = query?;
    let clock = match query.at {
        Some(at) => state.clock.at(&at).map_err(|error| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.message).with_field("at")
        })?,
        None => state.clock.now(),
    };
    let summary = crate::operations::recorded_tick(
        &state.store,
        clock,
        &principal.actor(),
        query.force.unwrap_or(false),
        "api",
    )
    .await?;
    Ok(Json(summary))
}

/// Tier sizes and value share, the ABC table and RFM segment counts of the last grading, over
/// the customers in the caller's view (a manager's subtree and the pool).
#[utoipa::path(get, path = "/api/v1/reports/value", tag = "reports", responses((status = 200, description = "the value report", body = ValueReport)))]
async fn value_report(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<Json<ValueReport>> {
    let view = super::list_view(&state, &principal).await?;
    Ok(Json(state.store.value_report(view.as_ref()).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    owner_id: Option<String>,
    customer_id: Option<String>,
    /// Include closed alerts (default: open only).
    all: Option<bool>,
    /// 1–1000, default 100.
    limit: Option<i64>,
}

/// Health alerts, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "value", params(AlertQuery),
    responses((status = 200, description = "alerts, newest first", body = [Alert]), (status = 400, body = ErrorEnvelope)))]
async fn list_alerts(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Alert>>> {
    let Query(query) = query?;
    let limit = page_limit(query.limit, 100, 1000)?;
    let alerts = state
        .store
        .list_alerts(&AlertFilter {
            owner_id: query_value("owner_id", query.owner_id, RepId::parse_field)?,
            customer_id: query_value("customer_id", query.customer_id, CustomerId::parse_field)?,
            include_closed: query.all.unwrap_or(false),
            limit,
            view: super::list_view(&state, &principal).await?,
        })
        .await?;
    Ok(Json(alerts))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TierEventQuery {
    customer_id: Option<String>,
    /// Only events after this id (cursor).
    after_id: Option<i64>,
    /// 1–10000, default 1000.
    limit: Option<i64>,
}

/// The tier log (upgrades, downgrades, overrides and their end), oldest first: what each
/// grading run and manual change did, with the score and reason.
#[utoipa::path(get, path = "/api/v1/tier-events", tag = "events", params(TierEventQuery),
    responses((status = 200, description = "tier events, oldest first", body = [TierEvent]), (status = 400, body = ErrorEnvelope)))]
async fn list_tier_events(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<TierEventQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<TierEvent>>> {
    let Query(query) = query?;
    let limit = page_limit(query.limit, 1000, 10_000)?;
    let events = state
        .store
        .list_tier_events(&TierEventFilter {
            customer_id: query_value("customer_id", query.customer_id, CustomerId::parse_field)?,
            after_id: query.after_id,
            limit,
            view: super::list_view(&state, &principal).await?,
        })
        .await?;
    Ok(Json(events))
}
