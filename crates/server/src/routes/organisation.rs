//! Reps and teams: list, read, create or update.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_core::input::{RepFields, TeamFields};
use allot_core::{RepId, Team, TeamId};

use super::{check_body_id, created_or_updated};
use crate::documents::{RepDocument, RepRecord, TeamDocument};
use crate::error::ApiError;
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{object_body, required_body, PathId};
use crate::AppState;
use allot_core::access::Principal;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reps))
        .routes(routes!(get_rep, put_rep))
        .routes(routes!(set_rep_password))
        .routes(routes!(list_teams))
        .routes(routes!(get_team, put_team))
}

/// List reps with their current load.
#[utoipa::path(get, path = "/api/v1/reps", tag = "organisation", responses((status = 200, description = "reps with owned_count and owned_workload", body = [RepRecord])))]
async fn list_reps(State(state): State<AppState>) -> ApiResult<Json<Vec<RepRecord>>> {
    let reps = state.store.list_reps().await?;
    Ok(Json(reps.iter().map(RepRecord::from).collect()))
}

/// Get one rep with its load.
#[utoipa::path(get, path = "/api/v1/reps/{id}", tag = "organisation", params(("id" = String, Path, description = "rep id")),
    responses((status = 200, description = "the rep", body = RepRecord), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_rep(State(state): State<AppState>, id: PathId) -> ApiResult<Json<RepRecord>> {
    let id = id.parse(RepId::parse_field)?;
    Ok(Json(RepRecord::from(&state.store.get_rep(&id).await?)))
}

/// Create or update a rep: the body's fields change, the others and the load stay.
#[utoipa::path(put, path = "/api/v1/reps/{id}", tag = "organisation", params(("id" = String, Path, description = "rep id")),
    request_body = RepDocument,
    responses((status = 200, description = "updated", body = RepRecord), (status = 201, description = "created", body = RepRecord), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn put_rep(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<RepRecord>)> {
    let id = id.parse(RepId::parse_field)?;
    let (mut fields, given) = object_body::<RepFields>(body)?;
    let exists = match state.store.get_rep(&id).await {
        Ok(_) => true,
        Err(allot_store::StoreError::NotFound { .. }) => false,
        Err(error) => return Err(error.into()),
    };
    if let Some(refusal) =
        crate::access::rep_change_refusal(&principal, &id, exists, &given, &RepFields::COLUMNS)
    {
        return Err(ApiError::forbidden(refusal));
    }
    check_body_id(Some(&fields.id), id.as_str())?;
    fields.id = id.to_string();
    let rep = fields.into_rep()?;
    let created = state.store.put_rep(&rep, &given).await?;
    let stored = state.store.get_rep(&id).await?;
    Ok((created_or_updated(created), Json(RepRecord::from(&stored))))
}

/// `{"password": "…"}`: a rep's new password for the web UI's login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// At least 10 characters, no control characters.
    password: String,
}

/// What setting a password did.
#[derive(Serialize, ToSchema)]
pub struct PasswordSet {
    rep_id: String,
    /// Always true: the password is stored (as an argon2id hash) and the rep's open sessions
    /// have ended.
    password_set: bool,
}

/// Set a rep's password (admin): stored as an argon2id hash; the rep's web sessions end.
#[utoipa::path(put, path = "/api/v1/reps/{id}/password", tag = "organisation", params(("id" = String, Path, description = "rep id")),
    request_body = PasswordBody,
    responses((status = 200, description = "the password is set", body = PasswordSet), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn set_rep_password(
    State(state): State<AppState>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<PasswordSet>> {
    let id = id.parse(RepId::parse_field)?;
    let body: PasswordBody = required_body(&body)?;
    state
        .store
        .set_password(&id, &body.password, state.clock.now())
        .await?;
    Ok(Json(PasswordSet {
        rep_id: id.to_string(),
        password_set: true,
    }))
}

/// List teams.
#[utoipa::path(get, path = "/api/v1/teams", tag = "organisation", responses((status = 200, description = "teams", body = [Team])))]
async fn list_teams(State(state): State<AppState>) -> ApiResult<Json<Vec<Team>>> {
    Ok(Json(state.store.list_teams().await?))
}

/// Get one team.
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "organisation", params(("id" = String, Path, description = "team id")),
    responses((status = 200, description = "the team", body = Team), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_team(State(state): State<AppState>, id: PathId) -> ApiResult<Json<Team>> {
    let id = id.parse(TeamId::parse_field)?;
    Ok(Json(state.store.get_team(&id).await?))
}

/// Create or update a team (a manager must be a rep).
#[utoipa::path(put, path = "/api/v1/teams/{id}", tag = "organisation", params(("id" = String, Path, description = "team id")),
    request_body = TeamDocument,
    responses((status = 200, description = "updated", body = Team), (status = 201, description = "created", body = Team), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn put_team(
    State(state): State<AppState>,
    id: PathId,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    let id = id.parse(TeamId::parse_field)?;
    let (mut fields, given) = object_body::<TeamFields>(body)?;
    check_body_id(Some(&fields.id), id.as_str())?;
    fields.id = id.to_string();
    let team = fields.into_team()?;
    let created = state.store.put_team(&team, &given).await?;
    let stored = state.store.get_team(&id).await?;
    Ok((created_or_updated(created), Json(stored)))
}
