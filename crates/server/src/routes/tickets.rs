//! Tickets (工单/投诉): open, update or close one; its steps (first response, resolution,
//! reopening, rating) with their service clocks; one ticket with its history; lists.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_core::access::Principal;
use allot_core::activity::TicketFields;
use allot_core::{CustomerId, RepId};
use allot_store::activity::RecentActivity;
use allot_store::tickets::{
    StoredTicket, TicketDetail, TicketFilter, TicketPage, TicketState, TicketStep,
};

use crate::documents::TicketDocument;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::extract::{object_body, optional_body, page_limit, query_value, PathId};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_ticket, list_tickets))
        .routes(routes!(get_ticket))
        .routes(routes!(respond_to_ticket))
        .routes(routes!(resolve_ticket))
        .routes(routes!(reopen_ticket))
        .routes(routes!(rate_ticket))
        .routes(routes!(customer_tickets))
        .routes(routes!(customer_activity))
}

/// Open, update or close a ticket (upsert by id). For a ticket that exists, only the fields
/// given change: `{"id": "k1", "closed_at": "…"}` closes it.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "service", request_body = TicketDocument,
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
        .put_ticket(fields, &given, state.clock.now(), &principal.actor())
        .await?;
    let status = if stored.created == Some(true) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(stored)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    /// open (default; oldest first), done or all (newest first).
    state: Option<String>,
    /// Tickets of this rep's customers.
    owner_id: Option<String>,
    customer_id: Option<String>,
    /// 1–1000, default 100.
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Tickets in view with their service clocks as of the clock.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "service", params(TicketQuery),
    responses((status = 200, description = "one page of tickets", body = TicketPage), (status = 400, body = ErrorEnvelope)))]
async fn list_tickets(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<TicketQuery>, QueryRejection>,
) -> ApiResult<Json<TicketPage>> {
    let Query(query) = query?;
    let filter = ticket_filter(&state, &principal, query).await?;
    Ok(Json(
        state.store.ticket_page(&filter, state.clock.now()).await?,
    ))
}

async fn ticket_filter(
    state: &AppState,
    principal: &Principal,
    query: TicketQuery,
) -> ApiResult<TicketFilter> {
    let bad = |field: &str, message: &str| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message.to_string()).with_field(field)
    };
    let ticket_state = match query.state.as_deref().map(str::trim) {
        None | Some("") => TicketState::Open,
        Some(raw) => TicketState::parse(raw)
            .ok_or_else(|| bad("state", "state must be open, done or all"))?,
    };
    if query.offset.is_some_and(|offset| offset < 0) {
        return Err(bad("offset", "offset must be ≥ 0"));
    }
    Ok(TicketFilter {
        view: super::list_view(state, principal).await?,
        state: ticket_state,
        owner_id: query_value("owner_id", query.owner_id, RepId::parse_field)?
            .map(|rep| rep.to_string()),
        customer_id: query_value("customer_id", query.customer_id, CustomerId::parse_field)?
            .map(|customer| customer.to_string()),
        limit: page_limit(query.limit, 100, 1000)?,
        offset: query.offset.unwrap_or(0),
    })
}

/// The ticket's customer must be in the caller's view: 404 otherwise, as for an unknown id.
async fn ticket_in_view(state: &AppState, principal: &Principal, id: &str) -> ApiResult<()> {
    let customer = state.store.ticket_customer(id).await?;
    if !principal.is_admin() {
        super::customer_in_view(state, principal, &customer)
            .await
            .map_err(|_| {
                ApiError::from(allot_store::StoreError::NotFound {
                    entity: "ticket",
                    id: id.to_string(),
                })
            })?;
    }
    Ok(())
}

/// A ticket with its service clocks as of the clock (`first_response_due`, `resolution_due`,
/// `remaining_business_minutes`, `breached`, `escalation_level`) and its history.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "service",
    params(("id" = String, Path, description = "ticket id")),
    responses((status = 200, description = "the ticket and its history", body = TicketDetail),
        (status = 404, body = ErrorEnvelope)))]
async fn get_ticket(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
) -> ApiResult<Json<TicketDetail>> {
    let id = id.parse(ticket_id)?;
    ticket_in_view(&state, &principal, &id).await?;
    Ok(Json(state.store.ticket(&id, state.clock.now()).await?))
}

fn ticket_id(field: &str, raw: &str) -> Result<String, allot_core::FieldError> {
    allot_core::text::parse_text(field, raw).and_then(|id| {
        if id.is_empty() {
            Err(allot_core::FieldError::new(field, "is required"))
        } else {
            Ok(id)
        }
    })
}

/// `{"at": "…"}`: when the step was taken (default: now).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketStepBody {
    /// RFC 3339 (or a date); not after the clock, not before the ticket opened.
    #[serde(default)]
    at: String,
}

/// `{"rating": 4}`: the customer's rating of the resolution.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketRatingBody {
    /// 1 (poor) to 5 (excellent).
    rating: i64,
}

async fn take_step(
    state: &AppState,
    principal: &Principal,
    id: PathId,
    step: TicketStep,
    at: &str,
) -> ApiResult<Json<StoredTicket>> {
    let id = id.parse(ticket_id)?;
    let at = allot_core::text::parse_optional_timestamp("at", at)?;
    ticket_in_view(state, principal, &id).await?;
    Ok(Json(
        state
            .store
            .ticket_step(&id, step, at, state.clock.now(), &principal.actor())
            .await?,
    ))
}

/// Record the first response: stops the first-response clock (409 `ticket_already_responded`,
/// or `ticket_resolved` once resolved).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/respond", tag = "service",
    params(("id" = String, Path, description = "ticket id")), request_body = TicketStepBody,
    responses((status = 200, description = "the ticket", body = StoredTicket), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn respond_to_ticket(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<StoredTicket>> {
    let body: TicketStepBody = optional_body(&body)?;
    take_step(&state, &principal, id, TicketStep::Respond, &body.at).await
}

/// Resolve (and close) the ticket: stops the resolution clock (409 `ticket_resolved` if it is).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/resolve", tag = "service",
    params(("id" = String, Path, description = "ticket id")), request_body = TicketStepBody,
    responses((status = 200, description = "the ticket", body = StoredTicket), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn resolve_ticket(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<StoredTicket>> {
    let body: TicketStepBody = optional_body(&body)?;
    take_step(&state, &principal, id, TicketStep::Resolve, &body.at).await
}

/// Reopen a resolved ticket: resolution is due again from now, escalation starts over
/// (409 `ticket_open` for an open one).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/reopen", tag = "service",
    params(("id" = String, Path, description = "ticket id")), request_body = TicketStepBody,
    responses((status = 200, description = "the ticket", body = StoredTicket), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn reopen_ticket(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<StoredTicket>> {
    let body: TicketStepBody = optional_body(&body)?;
    take_step(&state, &principal, id, TicketStep::Reopen, &body.at).await
}

/// Rate a resolved ticket 1–5 (409 `ticket_open` while open).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/rating", tag = "service",
    params(("id" = String, Path, description = "ticket id")), request_body = TicketRatingBody,
    responses((status = 200, description = "the ticket", body = StoredTicket), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn rate_ticket(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<StoredTicket>> {
    let body: TicketRatingBody = crate::extract::required_body(&body)?;
    let rating = u8::try_from(body.rating)
        .ok()
        .filter(|rating| (1..=5).contains(rating))
        .ok_or_else(|| {
            ApiError::from(allot_core::FieldError::new(
                "rating",
                format!(
                    "{} is not a rating; give a whole number from 1 to 5",
                    body.rating
                ),
            ))
        })?;
    take_step(&state, &principal, id, TicketStep::Rate(rating), "").await
}

/// A customer's tickets with their service clocks, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/tickets", tag = "service",
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
    Ok(Json(
        state
            .store
            .tickets_of(&customer_id, state.clock.now())
            .await?,
    ))
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
