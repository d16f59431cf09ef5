//! Handlers of `/api/v1`: customers, reps, teams, routing, rules, reports and events.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_core::input::{CustomerFields, RepFields, TeamFields};
use allot_core::model::parse_text;
use allot_core::{CustomerId, Region, RepId, TeamId};
use allot_store::customers::CustomerFilter;
use allot_store::events::EventFilter;

use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::extract::{object_body, page_limit, query_value, PathId};
use crate::{Actor, AppState};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, put_customer))
        .routes(routes!(customer_decisions))
        .routes(routes!(list_reps))
        .routes(routes!(get_rep, put_rep))
        .routes(routes!(list_teams))
        .routes(routes!(get_team, put_team))
        .routes(routes!(route_customer))
        .routes(routes!(get_rules, put_rules))
        .routes(routes!(rules_versions))
        .routes(routes!(workload_report))
        .routes(routes!(list_events))
}

/// A customer as in `customers.csv`; numbers may be sent as JSON numbers; `attributes` holds `attr.KEY` values.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CustomerDocument {
    id: String,
    name: Option<String>,
    #[schema(rename = "type")]
    customer_type: Option<String>,
    industry: Option<String>,
    /// Path such as 广东/深圳/南山.
    region: Option<String>,
    /// Employees; empty = unknown.
    size: Option<u64>,
    stage: Option<String>,
    source: Option<String>,
    tier: Option<String>,
    /// > 0, default 1.
    workload: Option<f64>,
    first_touch_rep_id: Option<String>,
    parent_id: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    credit_code: Option<String>,
    owner_id: Option<String>,
    /// RFC 3339 time or YYYY-MM-DD.
    created_at: Option<String>,
    attributes: Option<std::collections::BTreeMap<String, String>>,
}

/// A rep as in `reps.csv`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RepDocument {
    id: String,
    name: Option<String>,
    email: Option<String>,
    team_id: Option<String>,
    /// rep | manager | admin
    role: Option<String>,
    /// junior | mid | senior
    level: Option<String>,
    /// Holding cap (保有量); empty = no cap.
    capacity: Option<u32>,
    weight: Option<f64>,
    /// `|`-separated tags.
    skills: Option<String>,
    active: Option<bool>,
    absent_from: Option<String>,
    absent_until: Option<String>,
}

/// A team as in `teams.csv`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TeamDocument {
    id: String,
    name: Option<String>,
    parent_id: Option<String>,
    manager_id: Option<String>,
}

/// A rep with its current load.
#[derive(Serialize, ToSchema)]
pub struct RepRecord {
    #[serde(flatten)]
    rep: allot_core::Rep,
    /// Customers owned now.
    owned_count: u32,
    /// Sum of the owned customers' workload.
    owned_workload: f64,
}

impl From<&allot_core::strategy::RepState> for RepRecord {
    fn from(state: &allot_core::strategy::RepState) -> Self {
        RepRecord {
            rep: state.rep.clone(),
            owned_count: state.load.owned_count,
            owned_workload: state.load.owned_workload,
        }
    }
}

/// The version a document was stored as.
#[derive(Serialize, ToSchema)]
pub struct VersionDocument {
    pub version: i64,
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> ApiResult<Json<Value>> {
    serde_json::to_value(value).map(Json).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    })
}

pub(crate) fn actor_name(actor: &Actor) -> String {
    format!("api:{}", actor.0)
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
    /// Part of the name.
    q: Option<String>,
    /// 1–1000, default 100.
    limit: Option<i64>,
    offset: Option<i64>,
}

/// List customers, filtered and paged.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(CustomerQuery),
    responses((status = 200, description = "one page of customers", body = allot_store::customers::CustomerPage), (status = 400, body = ErrorEnvelope)))]
async fn list_customers(
    State(state): State<AppState>,
    query: Result<Query<CustomerQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
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
            owner_id: query_value("owner_id", query.owner_id, RepId::parse_field)?
                .map(|id| id.to_string()),
            in_pool: query.pool,
            tier: query_value("tier", query.tier, parse_text)?,
            region: query_value("region", query.region, |_, raw| Region::parse(raw))?
                .map(|region| region.to_string()),
            name_contains: query_value("q", query.q, parse_text)?,
            limit,
            offset: query.offset.unwrap_or(0),
        })
        .await?;
    to_json(&page)
}

/// Create a customer (409 if the id exists). An owner given here is recorded as an ownership event.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = CustomerDocument,
    responses((status = 201, description = "the stored customer", body = allot_core::Customer), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create_customer(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (fields, given) = object_body::<CustomerFields>(body)?;
    let customer = fields.into_customer()?;
    match state.store.get_customer(&customer.id).await {
        Ok(_) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "customer '{}' exists; use PUT /api/v1/customers/{{id}} to update it",
                    customer.id
                ),
            )
            .with_field("id"))
        }
        Err(allot_store::StoreError::NotFound { .. }) => {}
        Err(other) => return Err(other.into()),
    }
    state
        .store
        .put_customer(&customer, &given, &actor_name(&actor), state.clock.now())
        .await?;
    let stored = state.store.get_customer(&customer.id).await?;
    Ok((StatusCode::CREATED, to_json(&stored)?))
}

/// Get one customer.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = String, Path, description = "customer id")),
    responses((status = 200, description = "the customer", body = allot_core::Customer), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_customer(State(state): State<AppState>, id: PathId) -> ApiResult<Json<Value>> {
    let id = id.parse(CustomerId::parse_field)?;
    to_json(&state.store.get_customer(&id).await?)
}

/// The body's id, which may be left out, must be the path's.
fn check_body_id(body_id: &mut String, path_id: &str) -> ApiResult<()> {
    if body_id.trim().is_empty() {
        *body_id = path_id.to_string();
        Ok(())
    } else if body_id.trim() != path_id {
        Err(ApiError::invalid(
            "id",
            format!(
                "body id '{}' differs from the path id '{path_id}'",
                body_id.trim()
            ),
        ))
    } else {
        Ok(())
    }
}

fn created_or_updated(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// Create a customer, or update the fields the body gives (the others are kept). Setting
/// `owner_id` is a manual assignment and `"owner_id": null` a release; both write an ownership
/// event. Leaving `owner_id` out keeps the owner.
#[utoipa::path(put, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = String, Path, description = "customer id")),
    request_body = CustomerDocument,
    responses((status = 200, description = "updated", body = allot_core::Customer), (status = 201, description = "created", body = allot_core::Customer), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn put_customer(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    id: PathId,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = id.parse(CustomerId::parse_field)?;
    let (mut fields, given) = object_body::<CustomerFields>(body)?;
    check_body_id(&mut fields.id, id.as_str())?;
    let customer = fields.into_customer()?;
    let created = state
        .store
        .put_customer(&customer, &given, &actor_name(&actor), state.clock.now())
        .await?;
    let stored = state.store.get_customer(&id).await?;
    Ok((created_or_updated(created), to_json(&stored)?))
}

/// Every routing decision stored for a customer, newest first, with traces.
#[utoipa::path(get, path = "/api/v1/customers/{id}/decisions", tag = "routing", params(("id" = String, Path, description = "customer id")),
    responses((status = 200, description = "decisions, newest first", body = [allot_store::routing::StoredDecision]), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn customer_decisions(State(state): State<AppState>, id: PathId) -> ApiResult<Json<Value>> {
    let id = id.parse(CustomerId::parse_field)?;
    state.store.get_customer(&id).await?;
    to_json(&state.store.decisions_for(&id).await?)
}

/// List reps with their current load.
#[utoipa::path(get, path = "/api/v1/reps", tag = "organisation", responses((status = 200, description = "reps with owned_count and owned_workload", body = [RepRecord])))]
async fn list_reps(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let reps: Vec<RepRecord> = state
        .store
        .list_reps()
        .await?
        .iter()
        .map(RepRecord::from)
        .collect();
    to_json(&reps)
}

/// Get one rep with its load.
#[utoipa::path(get, path = "/api/v1/reps/{id}", tag = "organisation", params(("id" = String, Path, description = "rep id")),
    responses((status = 200, description = "the rep", body = RepRecord), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_rep(State(state): State<AppState>, id: PathId) -> ApiResult<Json<Value>> {
    let id = id.parse(RepId::parse_field)?;
    to_json(&RepRecord::from(&state.store.get_rep(&id).await?))
}

/// Create or replace a rep (load is kept).
#[utoipa::path(put, path = "/api/v1/reps/{id}", tag = "organisation", params(("id" = String, Path, description = "rep id")),
    request_body = RepDocument,
    responses((status = 200, description = "updated", body = RepRecord), (status = 201, description = "created", body = RepRecord), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn put_rep(
    State(state): State<AppState>,
    id: PathId,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = id.parse(RepId::parse_field)?;
    let (mut fields, given) = object_body::<RepFields>(body)?;
    check_body_id(&mut fields.id, id.as_str())?;
    let rep = fields.into_rep()?;
    let created = state.store.put_rep(&rep, &given).await?;
    let stored = state.store.get_rep(&id).await?;
    Ok((
        created_or_updated(created),
        to_json(&RepRecord::from(&stored))?,
    ))
}

/// List teams.
#[utoipa::path(get, path = "/api/v1/teams", tag = "organisation", responses((status = 200, description = "teams", body = [allot_core::Team])))]
async fn list_teams(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    to_json(&state.store.list_teams().await?)
}

/// Get one team.
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "organisation", params(("id" = String, Path, description = "team id")),
    responses((status = 200, description = "the team", body = allot_core::Team), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_team(State(state): State<AppState>, id: PathId) -> ApiResult<Json<Value>> {
    let id = id.parse(TeamId::parse_field)?;
    to_json(&state.store.get_team(&id).await?)
}

/// Create or replace a team.
#[utoipa::path(put, path = "/api/v1/teams/{id}", tag = "organisation", params(("id" = String, Path, description = "team id")),
    request_body = TeamDocument,
    responses((status = 200, description = "updated", body = allot_core::Team), (status = 201, description = "created", body = allot_core::Team), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn put_team(
    State(state): State<AppState>,
    id: PathId,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = id.parse(TeamId::parse_field)?;
    let (mut fields, given) = object_body::<TeamFields>(body)?;
    check_body_id(&mut fields.id, id.as_str())?;
    let team = fields.into_team()?;
    let created = state.store.put_team(&team, &given).await?;
    let stored = state.store.get_team(&id).await?;
    Ok((created_or_updated(created), to_json(&stored)?))
}

/// Create or update a customer and route it if unowned. An owned customer is never re-routed:
/// its decision is returned with `routed_now: false`.
#[utoipa::path(post, path = "/api/v1/route", tag = "routing", request_body = CustomerDocument,
    responses((status = 200, description = "the decision; `routed_now` is false for a customer that already had an owner", body = allot_store::routing::SingleRoute), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn route_customer(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let (fields, given) = object_body::<CustomerFields>(body)?;
    if !fields.owner_id.trim().is_empty() {
        return Err(ApiError::invalid(
            "owner_id",
            "routing decides the owner; to set one by hand use PUT /api/v1/customers/{id}",
        ));
    }
    let customer = fields.into_customer()?;
    let routed = state
        .store
        .route_one(customer, &given, state.clock.now(), &actor_name(&actor))
        .await?;
    to_json(&routed)
}

/// The current rules version (TOML source).
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules",
    responses((status = 200, description = "the current version", body = allot_store::routing::RulesVersion), (status = 404, body = ErrorEnvelope)))]
async fn get_rules(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    match state.store.current_rules().await? {
        Some(rules) => to_json(&rules),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no rules are set yet",
        )),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesBody {
    /// The rules file (TOML with ordered [[rule]] tables).
    source: String,
}

/// Store a new rules version. The body is the TOML text itself (any content type) or JSON `{"source": "…"}`.
#[utoipa::path(put, path = "/api/v1/rules", tag = "rules",
    request_body(description = "the rules file: TOML text (any content type but JSON), or JSON {\"source\": TOML}",
        content((String = "text/plain"), (RulesBody = "application/json"))),
    responses((status = 201, description = "stored", body = VersionDocument), (status = 400, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn put_rules(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let source = text_or_json_source(&headers, &body?)?;
    let version = state
        .store
        .set_rules(&source, &actor_name(&actor), state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, to_json(&VersionDocument { version })?))
}

/// A TOML document sent as the body itself (any content type) or as JSON `{"source": "…"}`.
pub(crate) fn text_or_json_source(
    headers: &axum::http::HeaderMap,
    body: &Bytes,
) -> ApiResult<String> {
    let text = std::str::from_utf8(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the document must be UTF-8 text",
        )
        .with_field("source")
    })?;
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        Ok(serde_json::from_str::<RulesBody>(text)
            .map_err(|error| {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
                    .with_field("source")
            })?
            .source)
    } else {
        Ok(text.to_string())
    }
}

/// Every rules version, newest first.
#[utoipa::path(get, path = "/api/v1/rules/versions", tag = "rules", responses((status = 200, description = "versions, newest first", body = [allot_store::routing::RulesVersion])))]
async fn rules_versions(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    to_json(&state.store.rules_history().await?)
}

/// Workload per rep; Gini, Jain's index and max/mean per team and overall (available reps only).
#[utoipa::path(get, path = "/api/v1/reports/workload", tag = "reports", responses((status = 200, description = "the workload report", body = allot_core::fairness::WorkloadReport)))]
async fn workload_report(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    to_json(&state.store.workload_report(state.clock.now()).await?)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    customer_id: Option<String>,
    /// Events where this rep is the old or new owner.
    rep_id: Option<String>,
    /// Only events after this id (cursor).
    after_id: Option<i64>,
    /// 1–10000, default 1000.
    limit: Option<i64>,
}

/// The ownership event log, oldest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventQuery),
    responses((status = 200, description = "events, oldest first", body = [allot_store::events::Event]), (status = 400, body = ErrorEnvelope)))]
async fn list_events(
    State(state): State<AppState>,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(query) = query?;
    let limit = page_limit(query.limit, 1000, 10_000)?;
    let events = state
        .store
        .list_events(&EventFilter {
            customer_id: query_value("customer_id", query.customer_id, CustomerId::parse_field)?
                .map(|id| id.to_string()),
            rep_id: query_value("rep_id", query.rep_id, RepId::parse_field)?
                .map(|id| id.to_string()),
            after_id: query.after_id,
            limit,
        })
        .await?;
    to_json(&events)
}
