//! The care calendar (关怀日历): tasks in view by day, completing one as an interaction, and a
//! rep's iCalendar feed for a phone calendar to subscribe to.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use allot_core::access::Principal;
use allot_core::activity::InteractionKind;
use allot_core::{CustomerId, RepId};
use allot_store::care::{CareFilter, CareTask};

use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::extract::{numeric_id, page_limit, query_value, required_body, PathId};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(calendar))
        .routes(routes!(complete_task))
        .routes(routes!(rep_feed))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CalendarQuery {
    /// Tasks for this rep.
    rep_id: Option<String>,
    customer_id: Option<String>,
    /// First due day, YYYY-MM-DD.
    from: Option<String>,
    /// Last due day, YYYY-MM-DD.
    to: Option<String>,
    /// Done and cancelled tasks too (default: open only).
    all: Option<bool>,
    /// 1–10000, default 1000.
    limit: Option<i64>,
}

fn day(field: &str, raw: Option<String>) -> ApiResult<Option<chrono::NaiveDate>> {
    query_value(field, raw, |field, raw| {
        chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
            allot_core::FieldError::new(field, format!("'{raw}' is not a date YYYY-MM-DD"))
        })
    })
}

/// Care tasks of customers in view by due day: the tier's cadence of real follow-ups, renewal
/// reminders (30 and 7 days before `attr.renewal_date`), birthdays and founding days.
#[utoipa::path(get, path = "/api/v1/calendar", tag = "service", params(CalendarQuery),
    responses((status = 200, description = "care tasks by due day", body = [CareTask]), (status = 400, body = ErrorEnvelope)))]
async fn calendar(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<CalendarQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<CareTask>>> {
    let Query(query) = query?;
    let filter = CareFilter {
        view: super::list_view(&state, &principal).await?,
        rep_id: query_value("rep_id", query.rep_id, RepId::parse_field)?.map(|rep| rep.to_string()),
        customer_id: query_value("customer_id", query.customer_id, CustomerId::parse_field)?
            .map(|customer| customer.to_string()),
        from: day("from", query.from)?,
        to: day("to", query.to)?,
        all_states: query.all.unwrap_or(false),
        limit: page_limit(query.limit, 1000, 10_000)?,
    };
    Ok(Json(
        state.store.care_tasks(&filter, state.clock.now()).await?,
    ))
}

/// `{"kind": "call", "minutes": 15, "outcome": "reached"}`: the interaction that did the task.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteTaskBody {
    /// call, visit, email, meeting or message.
    kind: String,
    /// 0–10080 (default 0).
    #[serde(default)]
    minutes: f64,
    #[serde(default)]
    outcome: String,
}

/// Complete an open care task by recording the interaction that did it (the caller's when a
/// rep, else the task owner's); 409 `task_closed` for a task done or cancelled.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/complete", tag = "service",
    params(("id" = i64, Path, description = "task id")), request_body = CompleteTaskBody,
    responses((status = 200, description = "the task, done", body = CareTask), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn complete_task(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
    body: Bytes,
) -> ApiResult<Json<CareTask>> {
    let id = id.parse(|field, raw| numeric_id(field, raw, "task"))?;
    let body: CompleteTaskBody = required_body(&body)?;
    let kind = InteractionKind::parse_field("kind", &body.kind)?;
    let customer = state.store.care_task_customer(id).await?;
    if !principal.is_admin() {
        super::customer_in_view(&state, &principal, &customer)
            .await
            .map_err(|_| {
                ApiError::from(allot_store::StoreError::NotFound {
                    entity: "care task",
                    id: id.to_string(),
                })
            })?;
    }
    Ok(Json(
        state
            .store
            .complete_care_task(
                &principal,
                id,
                kind,
                body.minutes,
                &body.outcome,
                state.clock.now(),
            )
            .await?,
    ))
}

/// A rep's care calendar as iCalendar (RFC 5545) for a phone calendar to subscribe to: open
/// tasks and those of the last weeks, stable UIDs. Calendar apps that cannot send a header may
/// give the token as `?token=` on this route only.
#[utoipa::path(get, path = "/api/v1/reps/{id}/calendar.ics", tag = "service",
    params(("id" = String, Path, description = "rep id")),
    responses((status = 200, description = "the feed", content_type = "text/calendar", body = String),
        (status = 404, body = ErrorEnvelope)))]
async fn rep_feed(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    id: PathId,
) -> ApiResult<Response> {
    let rep = id.parse(RepId::parse_field)?;
    if !principal.sees_rep(&rep) {
        return Err(ApiError::from(allot_store::StoreError::NotFound {
            entity: "rep",
            id: rep.to_string(),
        }));
    }
    let feed = state.store.care_feed(&rep, state.clock.now()).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        feed,
    )
        .into_response())
}
