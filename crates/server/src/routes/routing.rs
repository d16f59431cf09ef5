//! Routing: route one customer, the rules and their versions, simulating a rules change, rebalancing, the workload report, the event log.

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

use allot_core::fairness::WorkloadReport;
use allot_core::routing::DecisionRecord;
use allot_core::simulate::{SimulationReport, SimulationScope};
use allot_core::{CustomerFields, CustomerId, RepId};
use allot_store::events::{Event, EventFilter};
use allot_store::lifecycle::rebalance::{RebalanceApplied, RebalanceApproval, RebalanceRequest};
use allot_store::routing::{RulesVersion, SingleRoute};

use super::text_or_json_source;
use crate::documents::{CustomerDocument, SourceBody, VersionDocument};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::extract::{object_body, page_limit, query_value};
use crate::AppState;
use allot_core::access::Principal;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(route_customer))
        .routes(routes!(get_rules, put_rules))
        .routes(routes!(rules_versions))
        .routes(routes!(check_rules))
        .routes(routes!(simulate_rules))
        .routes(routes!(rebalance))
        .routes(routes!(workload_report))
        .routes(routes!(list_events))
}

/// Create or update a customer and route it if unowned. An owned customer is never re-routed:
/// the decision that explains its owner is returned with `routed_now: false`.
#[utoipa::path(post, path = "/api/v1/route", tag = "routing", request_body = CustomerDocument,
    responses((status = 200, description = "the decision; `routed_now` is false for a customer that already had an owner", body = SingleRoute), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn route_customer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<SingleRoute>> {
    let (fields, given) = object_body::<CustomerFields>(body)?;
    if fields
        .get("owner_id")
        .is_some_and(|owner| !owner.trim().is_empty())
    {
        return Err(ApiError::invalid(
            "owner_id",
            "routing decides the owner; to set one by hand use PUT /api/v1/customers/{id}",
        ));
    }
    // A manager routes new customers and those in its view; a stored one outside it is not
    // found, as everywhere else.
    if !principal.is_admin() {
        if let Ok(id) = CustomerId::parse(fields.id()) {
            match state.store.get_customer(&id).await {
                Ok(_) => {
                    super::customer_in_view(&state, &principal, &id).await?;
                }
                Err(allot_store::StoreError::NotFound { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
    }
    let routed = state
        .store
        .route_one(fields, &given, state.clock.now(), &principal.actor())
        .await?;
    crate::operations::record_routing_decision(
        routed.routed_now,
        routed.decision.owner_id.is_some(),
    );
    let Some(conflict) = &routed.conflict else {
        return Ok(Json(routed));
    };
    // A duplicate of a customer outside the caller's view: the caller learns that it is taken
    // and the conflict, not whose it is.
    let owner = routed
        .decision
        .owner_id
        .as_deref()
        .map(RepId::parse)
        .transpose();
    let sees = owner.is_ok_and(|owner| principal.sees_owner(owner.as_ref()));
    if sees {
        return Ok(Json(routed));
    }
    let conflict = conflict.clone().without_existing_customer();
    Ok(Json(SingleRoute {
        routed_now: false,
        decision: DecisionRecord {
            customer_id: conflict.duplicate_id.clone(),
            owner_id: None,
            rule: None,
            strategy: None,
            reason: format!(
                "{} was not routed: it matches a customer outside your view ({}); it is kept in conflict {}",
                conflict.duplicate_id,
                conflict
                    .matched
                    .iter()
                    .map(|key| key.field.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                conflict.conflict_id
            ),
            trace: Default::default(),
        },
        conflict: Some(conflict),
    }))
}

/// The current rules version (TOML source).
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules",
    responses((status = 200, description = "the current version", body = RulesVersion), (status = 404, body = ErrorEnvelope)))]
async fn get_rules(State(state): State<AppState>) -> ApiResult<Json<RulesVersion>> {
    match state.store.current_rules().await? {
        Some(rules) => Ok(Json(rules)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no rules are set yet",
        )),
    }
}

/// Store a new rules version. The body is the TOML text itself (any content type) or JSON `{"source": "…"}`.
#[utoipa::path(put, path = "/api/v1/rules", tag = "rules",
    request_body(description = "the rules file: TOML text (any content type but JSON), or JSON {\"source\": TOML}",
        content((String = "text/plain"), (SourceBody = "application/json"))),
    responses((status = 201, description = "stored", body = VersionDocument), (status = 400, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn put_rules(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<VersionDocument>)> {
    let source = text_or_json_source(&headers, &body?)?;
    let version = state
        .store
        .set_rules(&source, &principal.actor(), state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(VersionDocument { version })))
}

/// What a rules check found: nothing, or every problem at its line and column.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RulesCheck {
    /// True when the rules could be stored as they are.
    pub valid: bool,
    pub problems: Vec<allot_core::RuleError>,
}

/// Check a rules file without storing it: syntax, the teams and reps it names, the tiers and
/// stages it compares with. The body is as for `PUT /api/v1/rules`.
#[utoipa::path(post, path = "/api/v1/rules/check", tag = "rules",
    request_body(description = "the rules file: TOML text (any content type but JSON), or JSON {\"source\": TOML}",
        content((String = "text/plain"), (SourceBody = "application/json"))),
    responses((status = 200, description = "the problems found (none when valid)", body = RulesCheck), (status = 400, body = ErrorEnvelope)))]
async fn check_rules(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<RulesCheck>> {
    let source = text_or_json_source(&headers, &body?)?;
    let problems = state.store.check_rules(&source).await?;
    Ok(Json(RulesCheck {
        valid: problems.is_empty(),
        problems,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SimulateQuery {
    /// Which customers to route: `pool`, `owned` or `all` (the default).
    scope: Option<String>,
    /// List at most this many owner changes and placements (all are counted); 1–10,000,
    /// 1,000 by default.
    limit: Option<i64>,
}

/// What a rules file would do before it is set (A5): owned customers whose owner would change
/// (from → to, old rule → new rule), pool customers placed or staying (by reason), owned count,
/// workload, Gini and Jain per team and overall before and after, and reps that would pass
/// their cap. Nothing is written. A manager simulates over their subtree's customers and the
/// pool and sees their subtree's teams. The body is as for `PUT /api/v1/rules`.
#[utoipa::path(post, path = "/api/v1/rules/simulate", tag = "rules", params(SimulateQuery),
    request_body(description = "the proposed rules: TOML text (any content type but JSON), or JSON {\"source\": TOML}",
        content((String = "text/plain"), (SourceBody = "application/json"))),
    responses((status = 200, description = "what the rules would do", body = SimulationReport), (status = 400, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn simulate_rules(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<SimulateQuery>, QueryRejection>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<SimulationReport>> {
    let Query(query) = query?;
    let scope = query_value("scope", query.scope, |field, raw| {
        SimulationScope::parse(raw)
            .ok_or_else(|| allot_core::FieldError::new(field, "must be pool, owned or all"))
    })?
    .unwrap_or(SimulationScope::All);
    let limit = page_limit(query.limit, 1000, 10_000)?;
    let source = text_or_json_source(&headers, &body?)?;
    let clock = state.clock.now();
    let view = super::caller_view(&state, &principal).await?;
    Ok(Json(
        state
            .store
            .simulate_rules(&source, scope, &view, limit as usize, clock)
            .await?,
    ))
}

/// What to rebalance, and whether to apply the plan.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RebalanceBody {
    /// Only this team's subtree (managers: within their own).
    team: Option<String>,
    /// At most this many moves (a hard limit).
    max_moves: Option<i64>,
    /// Open the plan's transfers (kind `rebalance`) for approval; false (the default) is a
    /// dry run.
    #[serde(default)]
    apply: bool,
    /// With `apply`: change the owners at once, each with its event (admins only).
    #[serde(default)]
    no_approval: bool,
}

/// A rebalancing plan (A6): owned customers moved between the reps their rules allow so
/// workload evens out at the least churn, holding caps hard. Each move says why (holding_cap,
/// load or affinity); the objective's terms now and after, fairness per team before and after.
/// A dry run unless `apply`; then transfers of kind `rebalance` through approval, or the moves
/// themselves with `no_approval` (admins). Managers plan within their subtree.
#[utoipa::path(post, path = "/api/v1/rebalance", tag = "routing", request_body = RebalanceBody,
    responses((status = 200, description = "the plan, and what applying it opened or moved", body = RebalanceApplied), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn rebalance(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Result<Json<RebalanceBody>, JsonRejection>,
) -> ApiResult<Json<RebalanceApplied>> {
    let Json(body) = body?;
    let team = body
        .team
        .as_deref()
        .map(|team| allot_core::TeamId::parse_field("team", team))
        .transpose()?;
    let max_moves = match body.max_moves {
        None => None,
        Some(moves) if (0..=100_000_000).contains(&moves) => Some(moves as usize),
        Some(_) => {
            return Err(ApiError::invalid(
                "max_moves",
                "must be a whole number from 0 to 100,000,000",
            ))
        }
    };
    if body.no_approval && !body.apply {
        return Err(ApiError::invalid("no_approval", "goes with apply: true"));
    }
    let request = RebalanceRequest {
        team,
        max_moves,
        movable: None,
    };
    let clock = state.clock.now();
    if !body.apply {
        let plan = state
            .store
            .plan_rebalance(&principal, &request, clock)
            .await?;
        return Ok(Json(RebalanceApplied {
            applied: false,
            plan,
            transfer_ids: Vec::new(),
            moved: 0,
        }));
    }
    let approval = if body.no_approval {
        RebalanceApproval::Direct
    } else {
        RebalanceApproval::Transfers
    };
    Ok(Json(
        state
            .store
            .apply_rebalance(&principal, &request, approval, clock)
            .await?,
    ))
}

/// Every rules version, newest first.
#[utoipa::path(get, path = "/api/v1/rules/versions", tag = "rules", responses((status = 200, description = "versions, newest first", body = [RulesVersion])))]
async fn rules_versions(State(state): State<AppState>) -> ApiResult<Json<Vec<RulesVersion>>> {
    Ok(Json(state.store.rules_history().await?))
}

/// Workload per rep; Gini, Jain's index and max/mean per team and overall (available reps only).
#[utoipa::path(get, path = "/api/v1/reports/workload", tag = "reports", responses((status = 200, description = "the workload report", body = WorkloadReport)))]
async fn workload_report(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<Json<WorkloadReport>> {
    let reps = principal.visible_reps();
    Ok(Json(
        state
            .store
            .workload_report(state.clock.now(), reps.as_ref())
            .await?,
    ))
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
    responses((status = 200, description = "events, oldest first", body = [Event]), (status = 400, body = ErrorEnvelope)))]
async fn list_events(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Event>>> {
    let Query(query) = query?;
    let limit = page_limit(query.limit, 1000, 10_000)?;
    let events = state
        .store
        .list_events(&EventFilter {
            customer_id: query_value("customer_id", query.customer_id, CustomerId::parse_field)?,
            rep_id: query_value("rep_id", query.rep_id, RepId::parse_field)?,
            after_id: query.after_id,
            limit,
            view: super::list_view(&state, &principal).await?,
        })
        .await?;
    Ok(Json(events))
}
