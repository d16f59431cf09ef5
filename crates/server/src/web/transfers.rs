//! The transfers pages: the approver's inbox and the new owner's hand-over inbox beside every
//! transfer in view, and one transfer with its steps, hand-over checklist and the buttons the
//! caller may press (approve, reject, accept, decline, cancel), each with a comment.

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};
use serde::Deserialize;

use allot_core::access::Principal;
use allot_store::lifecycle::transfers::{InboxRole, TransferDocument, TransferFilter};
use allot_store::StoreError;

use super::{answer_form, back_with, checked_form, not_found_page, Page};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/transfers", get(inbox))
        .route("/transfers/{id}", get(transfer_page))
        .route("/transfers/{id}/{action}", post(act_on_transfer))
}

/// The caller's inboxes and the transfers in view, newest first.
async fn inbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<super::LanguageQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let principal = &page.session.principal;
    let lists = async {
        let list = |role: Option<InboxRole>| TransferFilter {
            role,
            limit: 200,
            ..Default::default()
        };
        let to_approve = state
            .store
            .list_transfers(principal, &list(Some(InboxRole::Approver)))
            .await?;
        let to_accept = state
            .store
            .list_transfers(principal, &list(Some(InboxRole::NewOwner)))
            .await?;
        let all = state.store.list_transfers(principal, &list(None)).await?;
        Ok::<_, StoreError>((to_approve, to_accept, all))
    };
    let (to_approve, to_accept, all) = match lists.await {
        Ok(lists) => lists,
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let values = context! {
        to_approve => Value::from_serialize(&to_approve),
        to_accept => Value::from_serialize(&to_accept),
        all => Value::from_serialize(&all),
        ..page.common()
    };
    page.render(&headers, "transfers.html", values)
}

/// What the caller may do with a transfer now.
fn actions_for(transfer: &TransferDocument, principal: &Principal) -> Vec<&'static str> {
    let actor = principal.actor();
    let waiting = transfer.waiting_for.as_deref().unwrap_or_default();
    let mut actions = Vec::new();
    if let Some(approver) = waiting.strip_prefix("approver:") {
        if approver == actor || (approver == "admin" && principal.is_admin()) {
            actions.extend(["approve", "reject"]);
        }
    }
    if waiting.strip_prefix("new_owner:") == Some(actor.as_str()) {
        actions.extend(["accept", "decline"]);
    }
    let open = transfer.state == "requested" || transfer.state == "approved";
    if open && (transfer.requested_by == actor || principal.is_admin()) {
        actions.push("cancel");
    }
    actions
}

async fn transfer_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Query(query): Query<super::LanguageQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let Ok(id) = raw_id.trim().parse::<i64>() else {
        return not_found_page(page, &headers);
    };
    let transfer = match state.store.get_transfer(&page.session.principal, id).await {
        Ok(transfer) => transfer,
        Err(StoreError::NotFound { .. }) => return not_found_page(page, &headers),
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let actions = actions_for(&transfer, &page.session.principal);
    let values = context! {
        transfer => Value::from_serialize(&transfer),
        actions => actions,
        ..page.common()
    };
    page.render(&headers, "transfer.html", values)
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    #[serde(default)]
    comment: String,
}

/// Approves, rejects, accepts, declines or cancels a transfer with the form's comment, then
/// back to the transfer with what happened.
async fn act_on_transfer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw_id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let (language, session) = match checked_form(&state, &headers, &form.csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let Ok(id) = raw_id.trim().parse::<i64>() else {
        return back_with(&headers, "/transfers", "error", "transfer id: not a number");
    };
    let back = format!("/transfers/{id}");
    let principal = &session.principal;
    let clock = state.clock.now();
    let store = &state.store;
    let outcome = match action.as_str() {
        "approve" => {
            store
                .approve_transfer(principal, id, &form.comment, clock)
                .await
        }
        "reject" => {
            store
                .reject_transfer(principal, id, &form.comment, clock)
                .await
        }
        "accept" => {
            store
                .accept_transfer(principal, id, &form.comment, clock)
                .await
        }
        "decline" => {
            store
                .decline_transfer(principal, id, &form.comment, clock)
                .await
        }
        "cancel" => {
            store
                .cancel_transfer(principal, id, &form.comment, clock)
                .await
        }
        _ => return (axum::http::StatusCode::NOT_FOUND, "no such step").into_response(),
    };
    let said = super::catalogue::words(language);
    answer_form(
        &headers,
        &back,
        language,
        outcome,
        "transfer_now",
        |transfer| {
            let state = said
                .get(format!("state_{}", transfer.state).as_str())
                .copied()
                .unwrap_or(&transfer.state);
            vec![("id", id.to_string()), ("state", state.to_string())]
        },
    )
}
