//! The service fairness page (服务公平): the service report per tier and team, the baseline
//! checks' coverage with the customers that fail them, and the value × service quadrant as a
//! scatter with its under- and over-served lists — managers over their subtree, admins over all.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{context, Value};

use super::{charts, Page};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/service", get(service_page))
}

/// The most points the quadrant draws; beyond it, an even sample (the lists stay whole).
const MOST_POINTS: usize = 2_000;

async fn service_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<super::LanguageQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    if let Some(refused) =
        super::refuse_role(&page.session.principal, crate::access::Allowed::Managers)
    {
        return refused;
    }
    let clock = state.clock.now();
    let reports = async {
        let view = state.store.view_of(&page.session.principal, clock).await?;
        let view = (!view.is_everything()).then_some(view);
        let overview = state.store.service_overview(view.as_ref(), clock).await?;
        let alerts = state
            .store
            .service_alerts(&page.session.principal, false)
            .await?;
        Ok::<_, allot_store::StoreError>((overview, alerts))
    };
    let (overview, alerts) = match reports.await {
        Ok(reports) => reports,
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let allot_store::service_reports::ServiceOverview {
        service,
        baseline,
        quadrant,
        performance,
    } = overview;
    let step = quadrant.points.len().div_ceil(MOST_POINTS).max(1);
    let points: Vec<charts::Point> = quadrant
        .points
        .iter()
        .step_by(step)
        .map(|point| charts::Point {
            x: point.value,
            y: point.minutes,
            shown: format!(
                "{}: {:.1} · {:.0} min",
                point.customer_id, point.value, point.minutes
            ),
        })
        .collect();
    let drawn = points.len();
    let chart = charts::scatter(
        page.word("quadrant_title"),
        &points,
        (page.word("value_score"), page.word("service_minutes")),
        |value| format!("{value:.0}"),
    );
    let values = context! {
        service => Value::from_serialize(&service),
        checks => Value::from_serialize(&baseline.checks),
        quadrant => Value::from_serialize(&context! {
            value_threshold => quadrant.value_threshold,
            minutes_threshold => quadrant.minutes_threshold,
            quadrants => Value::from_serialize(&quadrant.quadrants),
            under_served => Value::from_serialize(quadrant.under_served.iter().take(50).collect::<Vec<_>>()),
            under_total => quadrant.under_served.len(),
            over_served => Value::from_serialize(quadrant.over_served.iter().take(50).collect::<Vec<_>>()),
            over_total => quadrant.over_served.len(),
            total => quadrant.points.len(),
            drawn => drawn,
        }),
        quadrant_chart => chart,
        alerts => Value::from_serialize(&alerts),
        performance => Value::from_serialize(&performance),
        ..page.common()
    };
    page.render(&headers, "service.html", values)
}
