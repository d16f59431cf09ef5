//! Routes for operators: the store's invariants checked on a snapshot, and erasing a customer's personal data.

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_core::access::Principal;
use allot_core::CustomerId;
use allot_store::customers::forget::ForgetSummary;
use allot_store::invariants::InvariantReport;

use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{required_body, PathId};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_invariants))
        .routes(routes!(forget_customer))
}

/// The store's invariants on one snapshot (admin; like `allot check`): every owner a rep, each
/// customer's ownership events a chain ending at its owner, loads that recount, at most one open
/// transfer per customer. `holds` is false when any check has violations.
#[utoipa::path(get, path = "/api/v1/invariants", tag = "operations",
    responses((status = 200, description = "each invariant with its violations", body = InvariantReport)))]
async fn check_invariants(State(state): State<AppState>) -> ApiResult<Json<InvariantReport>> {
    Ok(Json(state.store.check_invariants().await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetBody {
    /// Why (the request and its date): kept in the `customer.forgotten` event.
    reason: String,
}

/// Erase a customer's personal data (admin; like `allot forget`): name, phone, email, credit
/// code, text attributes, match keys, its conflicts' kept records, ticket subjects and the
/// personal facts of its routing traces. Ids, owners, amounts and the ownership history stay;
/// the erasure is logged as a `customer.forgotten` event. A second erasure is a 409.
#[utoipa::path(post, path = "/api/v1/customers/{id}/forget", tag = "operations",
    params(("id" = String, Path, description = "customer id")), request_body = ForgetBody,
    responses((status = 200, description = "what was erased, and the event", body = ForgetSummary), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn forget_customer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<ForgetSummary>> {
    let id = id.parse(CustomerId::parse_field)?;
    let body: ForgetBody = required_body(&body)?;
    Ok(Json(
        state
            .store
            .forget_customer(
                &id,
                &body.reason,
                &principal.actor(),
                state.clock.now().now(),
            )
            .await?,
    ))
}
