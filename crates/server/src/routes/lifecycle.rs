//! The ownership lifecycle: claims and releases, the pool, transfers with approval and
//! hand-over, departures, and the caller's notifications.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_core::access::Principal;
use allot_core::pool::{TransferReason, TransferState};
use allot_core::{Customer, CustomerId, Region, RepId};
use allot_store::customers::CustomerFilter;
use allot_store::lifecycle::notifications::Notification;
use allot_store::lifecycle::pool::PoolPage;
use allot_store::lifecycle::transfers::{
    DepartureSummary, InboxRole, TransferDocument, TransferFilter, TransferRequest, TransferTarget,
};

use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::extract::{numeric_id, optional_body, page_limit, query_value, required_body, PathId};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(claim_customer))
        .routes(routes!(release_customer))
        .routes(routes!(list_pool))
        .routes(routes!(list_transfers, request_transfer))
        .routes(routes!(get_transfer))
        .routes(routes!(approve_transfer))
        .routes(routes!(reject_transfer))
        .routes(routes!(accept_transfer))
        .routes(routes!(decline_transfer))
        .routes(routes!(cancel_transfer))
        .routes(routes!(deactivate_rep))
        .routes(routes!(list_notifications))
        .routes(routes!(read_notification))
}

/// `{"rep_id": "r07"}`: whom an admin or manager claims for (a rep claims for itself).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    rep_id: Option<String>,
}

/// Claim a pool customer. Refused with 409 and a code naming the rule: `owned`,
/// `holding_cap`, `claim_limit`, `cooldown`, `inactive`, `absent`.
#[utoipa::path(post, path = "/api/v1/customers/{id}/claim", tag = "pool",
    params(("id" = String, Path, description = "customer id")), request_body(content = ClaimBody, description = "optional"),
    responses((status = 200, description = "the customer, now owned", body = Customer), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn claim_customer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<Customer>> {
    let id = id.parse(CustomerId::parse_field)?;
    let body: ClaimBody = optional_body(&body)?;
    let rep = query_value("rep_id", body.rep_id, RepId::parse_field)?;
    Ok(Json(
        state
            .store
            .claim(&principal, &id, rep.as_ref(), state.clock.now())
            .await?,
    ))
}

/// `{"reason": "…"}`: why the customer goes back to the pool.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    reason: String,
}

/// Release one's customer to the pool (`not_owner` for someone else's, `open_transfer` while a
/// transfer holds it).
#[utoipa::path(post, path = "/api/v1/customers/{id}/release", tag = "pool",
    params(("id" = String, Path, description = "customer id")), request_body = ReleaseBody,
    responses((status = 200, description = "the customer, now in the pool", body = Customer), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn release_customer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<Customer>> {
    let id = id.parse(CustomerId::parse_field)?;
    let body: ReleaseBody = optional_body(&body)?;
    Ok(Json(
        state
            .store
            .release(&principal, &id, &body.reason, state.clock.now())
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PoolQuery {
    tier: Option<String>,
    /// Whole-segment region prefix.
    region: Option<String>,
    /// Part of the id or the name, or of the phone number.
    q: Option<String>,
    /// 1–1000, default 100.
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The pool (公海): customers without an owner, with how long each has waited and why.
#[utoipa::path(get, path = "/api/v1/pool", tag = "pool", params(PoolQuery),
    responses((status = 200, description = "one page of the pool", body = PoolPage), (status = 400, body = ErrorEnvelope)))]
async fn list_pool(
    State(state): State<AppState>,
    query: Result<Query<PoolQuery>, QueryRejection>,
) -> ApiResult<Json<PoolPage>> {
    let Query(query) = query?;
    let limit = page_limit(query.limit, 100, 1000)?;
    if query.offset.is_some_and(|offset| offset < 0) {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "offset must be ≥ 0")
                .with_field("offset"),
        );
    }
    let filter = CustomerFilter {
        tier: query_value("tier", query.tier, |field, raw| {
            allot_core::text::parse_text(field, raw).map(allot_core::TierName::from_stored)
        })?,
        region: query_value("region", query.region, |_, raw| Region::parse(raw))?
            .map(|region| region.to_string()),
        search: query_value("q", query.q, allot_core::text::parse_text)?,
        limit,
        offset: query.offset.unwrap_or(0),
        ..CustomerFilter::default()
    };
    Ok(Json(
        state.store.list_pool(&filter, state.clock.now()).await?,
    ))
}

/// A transfer request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    customer_ids: Vec<String>,
    /// The current owner.
    from: String,
    /// A rep id, or `rules` to route them.
    to: String,
    /// rep_left, team_change, customer_request, performance, reclaim, rebalance, conflict, other.
    reason_kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TransferQuery {
    /// requested, approved, accepted, rejected, declined, cancelled.
    state: Option<String>,
    /// `approver`: waiting for my approval; `new_owner`: waiting for my acceptance.
    role: Option<String>,
    customer_id: Option<String>,
    /// 1–1000, default 100.
    limit: Option<i64>,
}

/// Transfers the caller may see, newest first; `role` makes it an inbox.
#[utoipa::path(get, path = "/api/v1/transfers", tag = "transfers", params(TransferQuery),
    responses((status = 200, description = "transfers, newest first", body = [TransferDocument]), (status = 400, body = ErrorEnvelope)))]
async fn list_transfers(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<TransferQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<TransferDocument>>> {
    let Query(query) = query?;
    let filter = TransferFilter {
        state: query_value("state", query.state, TransferState::parse_field)?,
        role: query_value("role", query.role, |field, raw| match raw.trim() {
            "approver" => Ok(InboxRole::Approver),
            "new_owner" => Ok(InboxRole::NewOwner),
            other => Err(allot_core::FieldError::new(
                field,
                format!("'{other}' is not one of approver|new_owner"),
            )),
        })?,
        customer_id: query_value("customer_id", query.customer_id, CustomerId::parse_field)?,
        limit: page_limit(query.limit, 100, 1000)?,
    };
    Ok(Json(state.store.list_transfers(&principal, &filter).await?))
}

/// Request a transfer: reps of their own customers, managers of their subtree's, admins any.
/// A customer with an open transfer is 409 `open_transfer`.
#[utoipa::path(post, path = "/api/v1/transfers", tag = "transfers", request_body = TransferBody,
    responses((status = 201, description = "the transfer and the approvals it needs", body = TransferDocument), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn request_transfer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<TransferDocument>)> {
    let body: TransferBody = required_body(&body)?;
    let customer_ids = body
        .customer_ids
        .iter()
        .map(|id| CustomerId::parse_field("customer_ids", id))
        .collect::<Result<Vec<_>, _>>()?;
    let to = match body.to.trim() {
        "rules" => TransferTarget::Rules,
        rep => TransferTarget::Rep(RepId::parse_field("to", rep)?),
    };
    let request = TransferRequest {
        customer_ids,
        from: RepId::parse_field("from", &body.from)?,
        to,
        reason_kind: TransferReason::parse_field("reason_kind", &body.reason_kind)?,
        text: body.text,
    };
    let transfer = state
        .store
        .request_transfer(&principal, &request, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(transfer)))
}

/// One transfer with its steps and hand-over (404 out of view).
#[utoipa::path(get, path = "/api/v1/transfers/{id}", tag = "transfers", params(("id" = i64, Path, description = "transfer id")),
    responses((status = 200, description = "the transfer", body = TransferDocument), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_transfer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
) -> ApiResult<Json<TransferDocument>> {
    let id = id.parse(transfer_id)?;
    Ok(Json(state.store.get_transfer(&principal, id).await?))
}

fn transfer_id(field: &str, raw: &str) -> Result<i64, allot_core::FieldError> {
    numeric_id(field, raw, "transfer")
}

/// `{"comment": "…"}`, optional.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    #[serde(default)]
    comment: String,
}

/// Which step of a transfer a route takes.
#[derive(Clone, Copy)]
enum Step {
    Approve,
    Reject,
    Accept,
    Decline,
    Cancel,
}

async fn take_step(
    state: AppState,
    principal: Principal,
    id: PathId,
    body: Bytes,
    step: Step,
) -> ApiResult<Json<TransferDocument>> {
    let id = id.parse(transfer_id)?;
    let body: StepBody = optional_body(&body)?;
    let clock = state.clock.now();
    let store = &state.store;
    let document = match step {
        Step::Approve => {
            store
                .approve_transfer(&principal, id, &body.comment, clock)
                .await?
        }
        Step::Reject => {
            store
                .reject_transfer(&principal, id, &body.comment, clock)
                .await?
        }
        Step::Accept => {
            store
                .accept_transfer(&principal, id, &body.comment, clock)
                .await?
        }
        Step::Decline => {
            store
                .decline_transfer(&principal, id, &body.comment, clock)
                .await?
        }
        Step::Cancel => {
            store
                .cancel_transfer(&principal, id, &body.comment, clock)
                .await?
        }
    };
    Ok(Json(document))
}

/// Approve the step the transfer waits for (403 for anyone but that approver); after the last
/// approval the hand-over checklist waits for the new owner.
#[utoipa::path(post, path = "/api/v1/transfers/{id}/approve", tag = "transfers", params(("id" = i64, Path, description = "transfer id")),
    request_body(content = StepBody, description = "optional"),
    responses((status = 200, description = "the transfer", body = TransferDocument), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, description = "a comment that is not text (control characters)", body = ErrorEnvelope)))]
async fn approve_transfer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<TransferDocument>> {
    take_step(state, principal, id, body, Step::Approve).await
}

/// Reject it (the approver it waits for); nothing changes hands.
#[utoipa::path(post, path = "/api/v1/transfers/{id}/reject", tag = "transfers", params(("id" = i64, Path, description = "transfer id")),
    request_body(content = StepBody, description = "optional"),
    responses((status = 200, description = "the transfer", body = TransferDocument), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, description = "a comment that is not text (control characters)", body = ErrorEnvelope)))]
async fn reject_transfer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<TransferDocument>> {
    take_step(state, principal, id, body, Step::Reject).await
}

/// Accept the hand-over (the new owner): only now do the owners change.
#[utoipa::path(post, path = "/api/v1/transfers/{id}/accept", tag = "transfers", params(("id" = i64, Path, description = "transfer id")),
    request_body(content = StepBody, description = "optional"),
    responses((status = 200, description = "the transfer", body = TransferDocument), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, description = "a comment that is not text (control characters)", body = ErrorEnvelope)))]
async fn accept_transfer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<TransferDocument>> {
    take_step(state, principal, id, body, Step::Accept).await
}

/// Decline the hand-over (the new owner): the transfer closes and its approvers are told.
#[utoipa::path(post, path = "/api/v1/transfers/{id}/decline", tag = "transfers", params(("id" = i64, Path, description = "transfer id")),
    request_body(content = StepBody, description = "optional"),
    responses((status = 200, description = "the transfer", body = TransferDocument), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, description = "a comment that is not text (control characters)", body = ErrorEnvelope)))]
async fn decline_transfer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<TransferDocument>> {
    take_step(state, principal, id, body, Step::Decline).await
}

/// Cancel an open transfer (its requester, or an admin).
#[utoipa::path(post, path = "/api/v1/transfers/{id}/cancel", tag = "transfers", params(("id" = i64, Path, description = "transfer id")),
    request_body(content = StepBody, description = "optional"),
    responses((status = 200, description = "the transfer", body = TransferDocument), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, description = "a comment that is not text (control characters)", body = ErrorEnvelope)))]
async fn cancel_transfer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<TransferDocument>> {
    take_step(state, principal, id, body, Step::Cancel).await
}

/// `{"successor": "r12"}`; without one the rules place the customers.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeactivateBody {
    successor: Option<String>,
}

/// A rep leaves: in one transaction its customers go to the successor (or by the rules, the
/// pool for those none places), it becomes inactive, its tokens stop, its open transfers are
/// cancelled or re-pointed.
#[utoipa::path(post, path = "/api/v1/reps/{id}/deactivate", tag = "organisation", params(("id" = String, Path, description = "rep id")),
    request_body(content = DeactivateBody, description = "optional"),
    responses((status = 200, description = "what moved", body = DepartureSummary), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn deactivate_rep(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<DepartureSummary>> {
    let rep = id.parse(RepId::parse_field)?;
    let body: DeactivateBody = optional_body(&body)?;
    let successor = query_value("successor", body.successor, RepId::parse_field)?;
    Ok(Json(
        state
            .store
            .deactivate_rep(&principal, &rep, successor.as_ref(), state.clock.now())
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// true: only unread ones.
    unread: Option<bool>,
    /// 1–1000, default 100.
    limit: Option<i64>,
}

/// The caller's notifications, newest first (an admin's: those for the admins).
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(NotificationQuery),
    responses((status = 200, description = "notifications, newest first", body = [Notification]), (status = 400, body = ErrorEnvelope)))]
async fn list_notifications(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<NotificationQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Notification>>> {
    let Query(query) = query?;
    let limit = page_limit(query.limit, 100, 1000)?;
    Ok(Json(
        state
            .store
            .list_notifications(&principal, query.unread.unwrap_or(false), limit)
            .await?,
    ))
}

/// Mark one of one's notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", params(("id" = i64, Path, description = "notification id")),
    responses((status = 204, description = "read"), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn read_notification(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
) -> ApiResult<StatusCode> {
    let id = id.parse(transfer_id)?;
    state
        .store
        .mark_notification_read(&principal, id, state.clock.now().now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
