//! The tickets pages: the service desk's list (open ones oldest first, with due times, time
//! left and breaches) and one ticket with its clocks, its history and the steps the caller may
//! take (first response, resolve, reopen, rate), over the same store functions as the API.

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};
use serde::Deserialize;

use allot_store::tickets::{TicketFilter, TicketState, TicketStep};
use allot_store::StoreError;

use super::{answer_form, back_with, checked_form, not_found_page, Page};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets", get(tickets_page))
        .route("/tickets/{id}", get(ticket_page))
        .route("/tickets/{id}/{step}", post(take_step))
}

/// Tickets shown on one page of the list.
const TICKETS_PAGE: i64 = 50;

#[derive(Deserialize, Default)]
struct TicketsQuery {
    lang: Option<String>,
    #[serde(default)]
    state: String,
    page: Option<i64>,
}

async fn tickets_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TicketsQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang.clone()).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let ticket_state = TicketState::parse(&query.state).unwrap_or_default();
    let state_name = match ticket_state {
        TicketState::Open => "open",
        TicketState::Done => "done",
        TicketState::All => "all",
    };
    let number = query.page.unwrap_or(0).max(0);
    let clock = state.clock.now();
    let found = async {
        let view = state.store.view_of(&page.session.principal, clock).await?;
        let filter = TicketFilter {
            view: (!view.is_everything()).then_some(view),
            state: ticket_state,
            limit: TICKETS_PAGE,
            offset: number * TICKETS_PAGE,
            ..Default::default()
        };
        state.store.ticket_page(&filter, clock).await
    };
    let found = match found.await {
        Ok(found) => found,
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let values = context! {
        tickets => Value::from_serialize(&found.items),
        total => found.total,
        state => state_name,
        breached_here => found.items.iter().filter(|ticket| ticket.breached).count(),
        previous => (number > 0).then_some(number - 1),
        next => ((number + 1) * TICKETS_PAGE < found.total).then_some(number + 1),
        ..page.common()
    };
    page.render(&headers, "tickets.html", values)
}

/// The steps a ticket allows now.
fn steps_for(ticket: &allot_store::tickets::StoredTicket) -> Vec<&'static str> {
    let resolved = ticket.resolved_at.is_some() || ticket.closed_at.is_some();
    let mut steps = Vec::new();
    if !resolved && ticket.first_response_at.is_none() {
        steps.push("respond");
    }
    if resolved {
        steps.extend(["reopen", "rating"]);
    } else {
        steps.push("resolve");
    }
    steps
}

/// The ticket if its customer is in the caller's view; `NotFound` otherwise, as the API.
async fn ticket_in_view(
    state: &AppState,
    page_principal: &allot_core::access::Principal,
    id: &str,
) -> Result<allot_store::tickets::TicketDetail, StoreError> {
    let clock = state.clock.now();
    let customer = state.store.ticket_customer(id).await?;
    if !page_principal.is_admin() {
        let view = state.store.view_of(page_principal, clock).await?;
        state
            .store
            .customer_in_view(&view, &customer)
            .await
            .map_err(|_| StoreError::NotFound {
                entity: "ticket",
                id: id.to_string(),
            })?;
    }
    state.store.ticket(id, clock).await
}

async fn ticket_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<super::LanguageQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let detail = match ticket_in_view(&state, &page.session.principal, id.trim()).await {
        Ok(detail) => detail,
        Err(StoreError::NotFound { .. }) => return not_found_page(page, &headers),
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let steps = steps_for(&detail.ticket);
    let values = context! {
        ticket => Value::from_serialize(&detail.ticket),
        history => Value::from_serialize(&detail.history),
        steps => steps,
        ..page.common()
    };
    page.render(&headers, "ticket.html", values)
}

#[derive(Deserialize)]
struct StepForm {
    csrf: String,
    #[serde(default)]
    rating: String,
}

/// Takes a step on a ticket now, then back to the ticket with what happened.
async fn take_step(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, step)): Path<(String, String)>,
    Form(form): Form<StepForm>,
) -> Response {
    let (language, session) = match checked_form(&state, &headers, &form.csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let id = id.trim().to_string();
    let back = format!("/tickets/{}", super::customer::url_segment(&id));
    let step = match step.as_str() {
        "respond" => TicketStep::Respond,
        "resolve" => TicketStep::Resolve,
        "reopen" => TicketStep::Reopen,
        "rating" => match form.rating.trim().parse::<u8>() {
            Ok(rating) => TicketStep::Rate(rating),
            Err(_) => {
                let said = super::catalogue::words(language);
                return back_with(
                    &headers,
                    &back,
                    "error",
                    said.get("rating_needed").copied().unwrap_or_default(),
                );
            }
        },
        _ => return (axum::http::StatusCode::NOT_FOUND, "no such step").into_response(),
    };
    let principal = &session.principal;
    let outcome = match ticket_in_view(&state, principal, &id).await {
        Ok(_) => {
            state
                .store
                .ticket_step(&id, step, None, state.clock.now(), &principal.actor())
                .await
        }
        Err(error) => Err(error),
    };
    answer_form(
        &headers,
        &back,
        language,
        outcome,
        "ticket_step_done",
        |ticket| vec![("id", ticket.id.clone())],
    )
}
