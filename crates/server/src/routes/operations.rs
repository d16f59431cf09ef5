//! Routes for operators: the store's invariants checked on a snapshot.

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_store::invariants::InvariantReport;

use crate::error::ApiResult;
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check_invariants))
}

/// The store's invariants on one snapshot (admin; like `allot check`): every owner a rep, each
/// customer's ownership events a chain ending at its owner, loads that recount, at most one open
/// transfer per customer. `holds` is false when any check has violations.
#[utoipa::path(get, path = "/api/v1/invariants", tag = "operations",
    responses((status = 200, description = "each invariant with its violations", body = InvariantReport)))]
async fn check_invariants(State(state): State<AppState>) -> ApiResult<Json<InvariantReport>> {
    Ok(Json(state.store.check_invariants().await?))
}
