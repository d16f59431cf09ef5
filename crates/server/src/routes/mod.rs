//! The `/api/v1` handlers, one module per concern, and what they share.

mod care;
mod conflicts;
mod customers;
mod lifecycle;
mod operations;
mod organisation;
mod routing;
mod service;
mod tickets;
mod value;

use axum::body::Bytes;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;

use crate::documents::SourceBody;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use allot_core::access::Principal;
use allot_core::{Customer, CustomerId};
use allot_store::lifecycle::View;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(customers::router())
        .merge(lifecycle::router())
        .merge(conflicts::router())
        .merge(organisation::router())
        .merge(routing::router())
        .merge(value::router())
        .merge(tickets::router())
        .merge(care::router())
        .merge(service::router())
        .merge(operations::router())
}

/// What the caller sees as of the request's clock.
pub(crate) async fn caller_view(state: &AppState, principal: &Principal) -> ApiResult<View> {
    Ok(state.store.view_of(principal, state.clock.now()).await?)
}

/// The customer, when the caller sees it; "not found" otherwise, as if it did not exist.
pub(crate) async fn customer_in_view(
    state: &AppState,
    principal: &Principal,
    id: &CustomerId,
) -> ApiResult<Customer> {
    let view = caller_view(state, principal).await?;
    Ok(state.store.customer_in_view(&view, id).await?)
}

/// The view a list is narrowed to: `None` (everything) for admins.
pub(crate) async fn list_view(state: &AppState, principal: &Principal) -> ApiResult<Option<View>> {
    let view = caller_view(state, principal).await?;
    Ok((!view.is_everything()).then_some(view))
}

/// The customer a body names must be in the caller's view (a rep or manager must name it).
pub(crate) async fn body_customer_in_view(
    state: &AppState,
    principal: &Principal,
    raw: &str,
) -> ApiResult<()> {
    if principal.is_admin() {
        return Ok(());
    }
    let id = CustomerId::parse_field("customer_id", raw)?;
    customer_in_view(state, principal, &id).await.map(|_| ())
}

/// The body's id, which may be left out, must be the path's.
pub(crate) fn check_body_id(body_id: Option<&str>, path_id: &str) -> ApiResult<()> {
    match body_id.map(str::trim) {
        None | Some("") => Ok(()),
        Some(id) if id == path_id => Ok(()),
        Some(id) => Err(ApiError::invalid(
            "id",
            format!("body id '{id}' differs from the path id '{path_id}'"),
        )),
    }
}

pub(crate) fn created_or_updated(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
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
    if !is_json {
        return Ok(text.to_string());
    }
    serde_json::from_str::<SourceBody>(text)
        .map(|body| body.source)
        .map_err(|error| {
            let message = error.to_string();
            let field = crate::error::field_from_serde_message(&message)
                .unwrap_or_else(|| "source".to_string());
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message).with_field(field)
        })
}
