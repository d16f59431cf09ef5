//! Customers: list, create, read, update, and the decisions that placed one.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_core::{Customer, CustomerFields, CustomerId, Region, RepId};
use allot_store::customers::{CustomerFilter, CustomerPage};
use allot_store::routing::StoredDecision;

use super::{check_body_id, created_or_updated, customer_in_view, list_view};
use crate::documents::CustomerDocument;
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::extract::{object_body, page_limit, query_value, PathId};
use crate::AppState;
use allot_core::access::Principal;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, put_customer))
        .routes(routes!(customer_decisions))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// Only customers owned by this rep.
    owner_id: Option<String>,
    /// true: only customers in the pool; false: only owned ones.
    pool: Option<bool>,
    tier: Option<String>,
    /// Whole-segment region prefix, e.g. 广东 or 广东/深圳.
    region: Option<String>,
    /// Part of the id or the name (letters in either case), or of the phone number (digits).
    q: Option<String>,
    /// RFM segment of the last grading run, as the value report names it.
    segment: Option<String>,
    /// 1–1000, default 100.
    limit: Option<i64>,
    offset: Option<i64>,
}

/// List customers, filtered and paged, ordered by id.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(CustomerQuery),
    responses((status = 200, description = "one page of customers", body = CustomerPage), (status = 400, body = ErrorEnvelope)))]
async fn list_customers(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<CustomerQuery>, QueryRejection>,
) -> ApiResult<Json<CustomerPage>> {
    let Query(query) = query?;
    let limit = page_limit(query.limit, 100, 1000)?;
    if query.offset.is_some_and(|offset| offset < 0) {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "offset must be ≥ 0")
                .with_field("offset"),
        );
    }
    let page = state
        .store
        .list_customers(&CustomerFilter {
            owner_id: query_value("owner_id", query.owner_id, RepId::parse_field)?,
            in_pool: query.pool,
            tier: query_value("tier", query.tier, |field, raw| {
                allot_core::text::parse_text(field, raw).map(allot_core::TierName::from_stored)
            })?,
            region: query_value("region", query.region, |_, raw| Region::parse(raw))?
                .map(|region| region.to_string()),
            search: query_value("q", query.q, allot_core::text::parse_text)?,
            segment: query_value("segment", query.segment, allot_core::text::parse_text)?,
            limit,
            offset: query.offset.unwrap_or(0),
            view: list_view(&state, &principal).await?,
        })
        .await?;
    Ok(Json(page))
}

/// Create a customer (409 if the id exists). An owner given here is recorded as an ownership
/// event; `created_at` is the time of creation unless given.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = CustomerDocument,
    responses((status = 201, description = "the stored customer", body = Customer), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create_customer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Customer>)> {
    let (fields, given) = object_body::<CustomerFields>(body)?;
    check_owner_change(
        &principal,
        fields.get("owner_id"),
        given.contains("owner_id"),
    )?;
    let raw_id = fields.id().to_string();
    state
        .store
        .put_customer(fields, &given, &principal.actor(), state.clock.now(), true)
        .await?;
    // Written, so the id parsed.
    let id = CustomerId::parse(&raw_id).map_err(ApiError::from)?;
    let stored = state.store.get_customer(&id).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Get one customer.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = String, Path, description = "customer id")),
    responses((status = 200, description = "the customer", body = Customer), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_customer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
) -> ApiResult<Json<Customer>> {
    let id = id.parse(CustomerId::parse_field)?;
    Ok(Json(customer_in_view(&state, &principal, &id).await?))
}

/// Owner changes outside claims, releases and transfers are for admins, and for managers
/// within their subtree; a rep changes no owner here (403).
fn check_owner_change(principal: &Principal, owner: Option<&str>, given: bool) -> ApiResult<()> {
    if !given || principal.is_admin() {
        return Ok(());
    }
    let owner = owner.map(str::trim).filter(|owner| !owner.is_empty());
    match principal {
        Principal::Manager { .. } => match owner {
            Some(owner) => {
                let owner = RepId::parse_field("owner_id", owner)?;
                if principal.sees_rep(&owner) {
                    Ok(())
                } else {
                    Err(ApiError::forbidden(format!(
                        "{owner} is outside your teams; a manager assigns within its subtree"
                    )))
                }
            }
            None => Ok(()),
        },
        _ => Err(ApiError::forbidden(
            "a rep changes owners by claim, release or transfer, not by setting owner_id",
        )),
    }
}

/// Create a customer, or update the fields the body gives (the others are kept). Setting
/// `owner_id` is a manual assignment and `"owner_id": null` a release; both write an ownership
/// event. Leaving `owner_id` out keeps the owner. An unknown or inactive owner is refused (422).
#[utoipa::path(put, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = String, Path, description = "customer id")),
    request_body = CustomerDocument,
    responses((status = 200, description = "updated", body = Customer), (status = 201, description = "created", body = Customer), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn put_customer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Customer>)> {
    let id = id.parse(CustomerId::parse_field)?;
    let (mut fields, given) = object_body::<CustomerFields>(body)?;
    check_body_id(fields.get("id"), id.as_str())?;
    match customer_in_view(&state, &principal, &id).await {
        Ok(_) => {}
        // A new customer is created by PUT too.
        Err(error)
            if error.status == StatusCode::NOT_FOUND
                && state.store.get_customer(&id).await.is_err() => {}
        Err(error) => return Err(error),
    }
    check_owner_change(
        &principal,
        fields.get("owner_id"),
        given.contains("owner_id"),
    )?;
    fields.set_id(id.as_str());
    let created = state
        .store
        .put_customer(fields, &given, &principal.actor(), state.clock.now(), false)
        .await?;
    let stored = state.store.get_customer(&id).await?;
    Ok((created_or_updated(created), Json(stored)))
}

/// Every routing decision stored for a customer, newest first, with traces.
#[utoipa::path(get, path = "/api/v1/customers/{id}/decisions", tag = "routing", params(("id" = String, Path, description = "customer id")),
    responses((status = 200, description = "decisions, newest first", body = [StoredDecision]), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn customer_decisions(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
) -> ApiResult<Json<Vec<StoredDecision>>> {
    let id = id.parse(CustomerId::parse_field)?;
    customer_in_view(&state, &principal, &id).await?;
    Ok(Json(state.store.decisions_for(&id).await?))
}
