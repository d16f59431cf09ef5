//! The care calendar page (关怀日历): the tasks in view by day, overdue ones marked, each with a
//! form that completes it as the interaction that did it; and how to subscribe to the feed.

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};
use serde::Deserialize;

use allot_core::activity::InteractionKind;
use allot_store::care::CareFilter;
use allot_store::StoreError;

use super::{answer_form, back_with, checked_form, Page};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/calendar", get(calendar_page))
        .route("/calendar/{id}/complete", post(complete))
}

#[derive(Deserialize, Default)]
struct CalendarQuery {
    lang: Option<String>,
    /// Done and cancelled tasks too.
    #[serde(default)]
    all: String,
}

async fn calendar_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CalendarQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang.clone()).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let clock = state.clock.now();
    let all = query.all == "true";
    let found = async {
        let view = state.store.view_of(&page.session.principal, clock).await?;
        let filter = CareFilter {
            view: (!view.is_everything()).then_some(view),
            all_states: all,
            limit: 500,
            ..Default::default()
        };
        state.store.care_tasks(&filter, clock).await
    };
    let tasks = match found.await {
        Ok(tasks) => tasks,
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let overdue = tasks.iter().filter(|task| task.overdue).count();
    let values = context! {
        tasks => Value::from_serialize(&tasks),
        overdue => overdue,
        all => all,
        kinds => InteractionKind::ALL.iter().map(|kind| kind.as_str()).collect::<Vec<_>>(),
        feed_rep => page.session.principal.rep().map(ToString::to_string),
        ..page.common()
    };
    page.render(&headers, "calendar.html", values)
}

#[derive(Deserialize)]
struct CompleteForm {
    csrf: String,
    kind: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    outcome: String,
}

/// Completes a task with the form's interaction, then back to the calendar.
async fn complete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CompleteForm>,
) -> Response {
    let (language, session) = match checked_form(&state, &headers, &form.csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let back = "/calendar";
    let Ok(id) = id.trim().parse::<i64>() else {
        return back_with(&headers, back, "error", "task id: not a number");
    };
    let kind = match InteractionKind::parse_field("kind", &form.kind) {
        Ok(kind) => kind,
        Err(error) => return back_with(&headers, back, "error", &error.to_string()),
    };
    let minutes = match form.minutes.trim() {
        "" => 0.0,
        text => match text.parse::<f64>() {
            Ok(minutes) => minutes,
            Err(_) => {
                return back_with(
                    &headers,
                    back,
                    "error",
                    &format!("minutes: '{text}' is not a number"),
                )
            }
        },
    };
    let principal = &session.principal;
    let clock = state.clock.now();
    let outcome = async {
        let customer = state.store.care_task_customer(id).await?;
        if !principal.is_admin() {
            let view = state.store.view_of(principal, clock).await?;
            state
                .store
                .customer_in_view(&view, &customer)
                .await
                .map_err(|_| StoreError::NotFound {
                    entity: "care task",
                    id: id.to_string(),
                })?;
        }
        state
            .store
            .complete_care_task(principal, id, kind, minutes, &form.outcome, clock)
            .await
    };
    answer_form(
        &headers,
        back,
        language,
        outcome.await,
        "task_done",
        |task| {
            vec![
                ("id", task.id.to_string()),
                ("customer", task.customer_id.clone()),
            ]
        },
    )
}
