//! 撞单 conflicts: the list and one conflict, a dispute by the rep who brought the duplicate,
//! the decision (keep or move) of the existing owner's manager, and the merge of the records.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_core::access::Principal;
use allot_core::CustomerId;
use allot_store::lifecycle::conflicts::{
    ConflictDecision, ConflictDocument, ConflictFilter, ConflictState, Dispute,
};

use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{numeric_id, optional_body, page_limit, query_value, required_body, PathId};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conflicts))
        .routes(routes!(get_conflict))
        .routes(routes!(dispute_conflict))
        .routes(routes!(decide_conflict))
        .routes(routes!(merge_conflict))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConflictQuery {
    /// open, disputed, kept, moved.
    state: Option<String>,
    /// The existing customer.
    customer_id: Option<String>,
    /// 1–1000, default 100.
    limit: Option<i64>,
}

/// Conflicts the caller may see, newest first: those over customers in view, and those whose
/// duplicate a rep of the view brought (the existing customer then shown as null).
#[utoipa::path(get, path = "/api/v1/conflicts", tag = "conflicts", params(ConflictQuery),
    responses((status = 200, description = "conflicts, newest first", body = [ConflictDocument]), (status = 400, body = ErrorEnvelope)))]
async fn list_conflicts(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<ConflictQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<ConflictDocument>>> {
    let Query(query) = query?;
    let filter = ConflictFilter {
        state: query_value("state", query.state, ConflictState::parse_field)?,
        customer_id: query_value("customer_id", query.customer_id, CustomerId::parse_field)?,
        limit: page_limit(query.limit, 100, 1000)?,
    };
    Ok(Json(state.store.list_conflicts(&principal, &filter).await?))
}

/// One conflict with its steps (404 out of view).
#[utoipa::path(get, path = "/api/v1/conflicts/{id}", tag = "conflicts", params(("id" = i64, Path, description = "conflict id")),
    responses((status = 200, description = "the conflict", body = ConflictDocument), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_conflict(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
) -> ApiResult<Json<ConflictDocument>> {
    let id = id.parse(conflict_id)?;
    Ok(Json(state.store.get_conflict(&principal, id).await?))
}

fn conflict_id(field: &str, raw: &str) -> Result<i64, allot_core::FieldError> {
    numeric_id(field, raw, "conflict")
}

/// `{"text": "…", "interaction_ids": ["IN1"]}`: why the duplicate's rep was there first.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeBody {
    text: String,
    /// Interactions of the disputing rep with the existing customer.
    #[serde(default)]
    interaction_ids: Vec<String>,
}

/// Dispute an open conflict: only the rep who brought the duplicate (or an admin), with
/// evidence; the deciding manager is notified.
#[utoipa::path(post, path = "/api/v1/conflicts/{id}/dispute", tag = "conflicts", params(("id" = i64, Path, description = "conflict id")),
    request_body = DisputeBody,
    responses((status = 200, description = "the conflict, disputed", body = ConflictDocument), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn dispute_conflict(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<ConflictDocument>> {
    let id = id.parse(conflict_id)?;
    let body: DisputeBody = required_body(&body)?;
    let dispute = Dispute {
        text: body.text,
        interaction_ids: body.interaction_ids,
    };
    Ok(Json(
        state
            .store
            .dispute_conflict(&principal, id, &dispute, state.clock.now())
            .await?,
    ))
}

/// `{"decision": "keep" | "move", "comment": "…"}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideBody {
    decision: String,
    #[serde(default)]
    comment: String,
}

/// Decide a conflict: the manager of the existing owner or an admin. `keep` leaves the owner;
/// `move` (a disputed conflict only) starts a transfer of reason `conflict` to the disputing
/// rep, approved by the decision, which that rep accepts like any hand-over.
#[utoipa::path(post, path = "/api/v1/conflicts/{id}/decide", tag = "conflicts", params(("id" = i64, Path, description = "conflict id")),
    request_body = DecideBody,
    responses((status = 200, description = "the conflict, decided", body = ConflictDocument), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn decide_conflict(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<ConflictDocument>> {
    let id = id.parse(conflict_id)?;
    let body: DecideBody = required_body(&body)?;
    let decision = ConflictDecision::parse_field("decision", &body.decision)?;
    Ok(Json(
        state
            .store
            .decide_conflict(&principal, id, decision, &body.comment, state.clock.now())
            .await?,
    ))
}

/// `{"comment": "…"}`, optional.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    #[serde(default)]
    comment: String,
}

/// Merge the duplicate into the existing customer (its id and history stay; empty columns take
/// the duplicate's values; the owner does not change). The manager of the owner or an admin.
#[utoipa::path(post, path = "/api/v1/conflicts/{id}/merge", tag = "conflicts", params(("id" = i64, Path, description = "conflict id")),
    request_body(content = MergeBody, description = "optional"),
    responses((status = 200, description = "the conflict, merged", body = ConflictDocument), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn merge_conflict(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<ConflictDocument>> {
    let id = id.parse(conflict_id)?;
    let body: MergeBody = optional_body(&body)?;
    Ok(Json(
        state
            .store
            .merge_conflict(&principal, id, &body.comment, state.clock.now())
            .await?,
    ))
}
