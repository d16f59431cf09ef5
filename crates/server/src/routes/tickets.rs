//! Tickets (工单/投诉): open, update or close one; a customer's tickets.

use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_core::activity::TicketFields;
use allot_core::CustomerId;
use allot_store::activity::RecentActivity;
use allot_store::tickets::StoredTicket;

use crate::documents::TicketDocument;
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{object_body, PathId};
use crate::AppState;
use allot_core::access::Principal;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_ticket))
        .routes(routes!(customer_tickets))
        .routes(routes!(customer_activity))
}

/// Open, update or close a ticket (upsert by id). For a ticket that exists, only the fields
/// given change: `{"id": "k1", "closed_at": "…"}` closes it.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "value", request_body = TicketDocument,
    responses((status = 201, description = "opened", body = StoredTicket),
        (status = 200, description = "updated (or closed)", body = StoredTicket),
        (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn put_ticket(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<StoredTicket>)> {
    let (fields, given) = object_body::<TicketFields>(body)?;
    super::body_customer_in_view(&state, &principal, &fields.customer_id).await?;
    let stored = state
        .store
        .put_ticket(fields, &given, state.clock.now())
        .await?;
    let status = if stored.created == Some(true) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(stored)))
}

/// A customer's tickets, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/tickets", tag = "value",
    params(("id" = String, Path, description = "customer id")),
    responses((status = 200, description = "tickets, newest first", body = [StoredTicket]),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn customer_tickets(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
) -> ApiResult<Json<Vec<StoredTicket>>> {
    let customer_id = id.parse(CustomerId::parse_field)?;
    super::customer_in_view(&state, &principal, &customer_id).await?;
    Ok(Json(state.store.tickets_of(&customer_id).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ActivityQuery {
    /// Purchases and interactions each, 1–1000, default 20.
    limit: Option<i64>,
}

/// A customer's newest purchases and interactions, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/activity", tag = "value",
    params(("id" = String, Path, description = "customer id"), ActivityQuery),
    responses((status = 200, description = "newest purchases and interactions", body = RecentActivity),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn customer_activity(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    query: Result<Query<ActivityQuery>, QueryRejection>,
) -> ApiResult<Json<RecentActivity>> {
    let Query(query) = query?;
    let limit = crate::extract::page_limit(query.limit, 20, 1000)?;
    let customer_id = id.parse(CustomerId::parse_field)?;
    super::customer_in_view(&state, &principal, &customer_id).await?;
    Ok(Json(
        state.store.recent_activity(&customer_id, limit).await?,
    ))
}
