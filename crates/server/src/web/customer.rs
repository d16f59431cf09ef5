//! The customer 360 page: profile and custom attributes, value with the tier history as a
//! line, the ownership timeline, the latest routing decision as a readable trace, purchases,
//! interactions and tickets, and the actions the caller's role allows (claim, release,
//! request a transfer, override the tier).

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};
use serde::Deserialize;

use allot_core::customer::CUSTOMER_COLUMNS;
use allot_core::{CustomerId, Role};
use allot_store::events::EventFilter;
use allot_store::lifecycle::transfers::{TransferFilter, TransferRequest, TransferTarget};
use allot_store::StoreError;

use super::catalogue::Language;
use super::{answer_form, charts, checked_form, not_found_page, Page};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/customers/{id}", get(customer_page))
        .route("/customers/{id}/claim", post(claim))
        .route("/customers/{id}/release", post(release))
        .route("/customers/{id}/transfer", post(request_transfer))
        .route("/customers/{id}/tier-override", post(override_tier))
        .route("/customers/{id}/forget", post(forget))
}

/// Purchases and interactions shown, newest first.
const ACTIVITY_SHOWN: i64 = 20;

async fn customer_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Query(query): Query<super::LanguageQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let Ok(id) = CustomerId::parse(raw_id.trim()) else {
        return not_found_page(page, &headers);
    };
    match customer_360(&state, &page, &id).await {
        Ok(values) => page.render(&headers, "customer.html", values),
        // Out of view answers as if the customer did not exist.
        Err(StoreError::NotFound { .. }) => not_found_page(page, &headers),
        Err(error) => crate::ApiError::from(error).into_response(),
    }
}

/// Everything the page shows of one customer, over the same store functions as the API.
async fn customer_360(
    state: &AppState,
    page: &Page,
    id: &CustomerId,
) -> allot_store::StoreResult<Value> {
    let principal = &page.session.principal;
    let clock = state.clock.now();
    let view = state.store.view_of(principal, clock).await?;
    let customer = state.store.customer_in_view(&view, id).await?;
    let value = state.store.customer_value(id).await?;
    let events = state
        .store
        .list_events(&EventFilter {
            customer_id: Some(id.clone()),
            rep_id: None,
            after_id: None,
            limit: 500,
            // The customer is in view, so each of its events is.
            view: None,
        })
        .await?;
    let decisions = state.store.decisions_for(id).await?;
    let activity = state.store.recent_activity(id, ACTIVITY_SHOWN).await?;
    let tickets = state.store.tickets_of(id, state.clock.now()).await?;
    let transfers = state
        .store
        .list_transfers(
            principal,
            &TransferFilter {
                customer_id: Some(id.clone()),
                limit: 20,
                ..Default::default()
            },
        )
        .await?;
    let chinese = page.language == Language::Chinese;
    let profile: Vec<Value> = CUSTOMER_COLUMNS
        .iter()
        .map(|column| {
            let label = if chinese {
                column.aliases.first().copied().unwrap_or(column.name)
            } else {
                column.name
            };
            let text = (column.text)(&customer);
            // Times are shown on the organisation's calendar, like every time of the pages.
            let shown = if chrono::DateTime::parse_from_rfc3339(&text).is_ok() {
                super::local_time(&text, clock.offset())
            } else {
                text.into_owned()
            };
            context! { label => label, value => shown }
        })
        .collect();
    let tier_points: Vec<charts::Point> = value
        .tier_history
        .iter()
        .rev()
        .enumerate()
        .map(|(index, event)| charts::Point {
            x: index as f64,
            y: event.score,
            shown: format!(
                "{} · {} · {:.1}",
                super::local_time(&event.at, clock.offset()),
                event.to_tier,
                event.score
            ),
        })
        .collect();
    let tier_chart = (!tier_points.is_empty()).then(|| {
        charts::line(
            page.word("tier_history"),
            &tier_points,
            (page.word("tier_changes"), page.word("score")),
            |x| format!("{}", x as i64 + 1),
            |y| format!("{y:.0}"),
        )
    });
    let role = principal.role();
    let own = principal
        .rep()
        .is_some_and(|rep| customer.owner_id.as_ref() == Some(rep));
    let in_pool = customer.owner_id.is_none();
    let owner_in_view = customer
        .owner_id
        .as_ref()
        .is_some_and(|owner| principal.sees_rep(owner));
    // Any active rep may receive a transfer (the rep list is everyone's to read, as in the
    // API); the approvals decide whether it happens.
    let receivers: Vec<Value> = state
        .store
        .list_reps()
        .await?
        .iter()
        .filter(|rep| rep.rep.active && customer.owner_id.as_ref() != Some(&rep.rep.id))
        .map(|rep| Value::from(rep.rep.id.as_str()))
        .collect();
    Ok(context! {
        customer => context! {
            id => customer.id.as_str(),
            name => customer.name,
            owner => customer.owner_id.as_ref().map(|owner| owner.as_str().to_string()),
            attributes => customer.attributes,
        },
        profile => profile,
        value => Value::from_serialize(&value),
        tier_chart => tier_chart,
        events => Value::from_serialize(&events),
        decision => decisions.first().map(Value::from_serialize),
        earlier_decisions => decisions.len().saturating_sub(1),
        activity => Value::from_serialize(&activity),
        tickets => Value::from_serialize(&tickets),
        transfers => Value::from_serialize(&transfers),
        may_claim => in_pool,
        may_release => !in_pool && (own || (role != Role::Rep && owner_in_view)),
        may_transfer => !in_pool && (own || (role != Role::Rep && owner_in_view)),
        may_override => role != Role::Rep,
        may_forget => role == Role::Admin,
        reps => receivers,
        reasons => allot_core::pool::TransferReason::ALL.iter().map(|reason| reason.as_str()).collect::<Vec<_>>(),
        ..page.common()
    })
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn claim(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let back = format!("/customers/{}", url_segment(&raw_id));
    super::pool_step(
        &state,
        &headers,
        &form.csrf,
        &raw_id,
        super::PoolStep::Claim,
        &back,
    )
    .await
}

#[derive(Deserialize)]
struct ReleaseForm {
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Form(form): Form<ReleaseForm>,
) -> Response {
    let back = format!("/customers/{}", url_segment(&raw_id));
    super::pool_step(
        &state,
        &headers,
        &form.csrf,
        &raw_id,
        super::PoolStep::Release {
            reason: form.reason,
        },
        &back,
    )
    .await
}

#[derive(Deserialize)]
struct TransferForm {
    csrf: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason_kind: String,
    #[serde(default)]
    text: String,
}

/// Asks for a transfer of this customer from its owner; the transfers page shows it next.
async fn request_transfer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Form(form): Form<TransferForm>,
) -> Response {
    let (language, session) = match checked_form(&state, &headers, &form.csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let back = format!("/customers/{}", url_segment(&raw_id));
    let outcome = async {
        let id = CustomerId::parse_field("customer_id", raw_id.trim())?;
        let clock = state.clock.now();
        let view = state.store.view_of(&session.principal, clock).await?;
        let customer = state.store.customer_in_view(&view, &id).await?;
        let from = customer.owner_id.clone().ok_or_else(|| {
            StoreError::Invalid(allot_core::FieldError::new(
                "customer_id",
                "the customer is in the pool; claim it instead",
            ))
        })?;
        let to = match form.to.trim() {
            "rules" => TransferTarget::Rules,
            rep => TransferTarget::Rep(allot_core::RepId::parse_field("to", rep)?),
        };
        let request = TransferRequest {
            customer_ids: vec![id],
            from,
            to,
            reason_kind: allot_core::pool::TransferReason::parse_field(
                "reason_kind",
                &form.reason_kind,
            )?,
            text: form.text.clone(),
        };
        state
            .store
            .request_transfer(&session.principal, &request, clock)
            .await
    };
    answer_form(
        &headers,
        &back,
        language,
        outcome.await,
        "transfer_requested",
        |transfer| vec![("id", transfer.id.to_string())],
    )
}

#[derive(Deserialize)]
struct ForgetForm {
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// Erases the customer's personal data (admins; as `POST /api/v1/customers/{id}/forget`).
async fn forget(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Form(form): Form<ForgetForm>,
) -> Response {
    let (language, session) = match checked_form(&state, &headers, &form.csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let back = format!("/customers/{}", url_segment(&raw_id));
    let outcome = async {
        let id = CustomerId::parse_field("customer_id", raw_id.trim())?;
        state
            .store
            .forget_customer(
                &id,
                &form.reason,
                &session.principal.actor(),
                state.clock.now().now(),
            )
            .await
    };
    answer_form(
        &headers,
        &back,
        language,
        outcome.await,
        "customer_forgotten",
        |summary| vec![("event", summary.event_id.to_string())],
    )
}

#[derive(Deserialize)]
struct OverrideForm {
    csrf: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    expires_on: String,
}

/// Sets a manual tier (admins, and managers for customers in their view), as the API's
/// `PUT /customers/{id}/tier-override`.
async fn override_tier(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Form(form): Form<OverrideForm>,
) -> Response {
    let (language, session) = match checked_form(&state, &headers, &form.csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let back = format!("/customers/{}", url_segment(&raw_id));
    let outcome = async {
        let id = CustomerId::parse_field("customer_id", raw_id.trim())?;
        let clock = state.clock.now();
        let view = state.store.view_of(&session.principal, clock).await?;
        state.store.customer_in_view(&view, &id).await?;
        let expires_on = allot_core::text::parse_date("expires_on", &form.expires_on)?;
        state
            .store
            .set_tier_override(
                &id,
                &form.tier,
                &form.reason,
                expires_on,
                &session.principal.actor(),
                clock,
            )
            .await
    };
    answer_form(
        &headers,
        &back,
        language,
        outcome.await,
        "tier_overridden",
        |stored| vec![("tier", stored.tier.clone())],
    )
}

/// An id made safe as one path segment of a redirect.
pub(super) fn url_segment(raw: &str) -> String {
    let mut encoded = String::new();
    for byte in raw.trim().bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
