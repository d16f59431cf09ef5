//! The rebalance page (再平衡): choose a team and a move limit, see the plan (each move with why, the objective now and after, fairness before and after with a chart), then open it as transfers for approval (managers and admins) or move at once (admins).

use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{context, Value};
use serde::Deserialize;

use allot_core::rebalance::RebalancePlan;
use allot_core::TeamId;
use allot_store::lifecycle::rebalance::{RebalanceApproval, RebalanceRequest};

use super::{back_with, charts, checked_form, Page};
use crate::access::Allowed;
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/rebalance", get(rebalance_page).post(plan_or_apply))
}

/// Moves listed on the page (all are counted, and all are applied).
const LISTED_MOVES: usize = 500;

#[derive(Deserialize, Default)]
struct RebalanceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    max_moves: String,
    /// `plan`, `apply` (transfers for approval) or `move` (at once; admins).
    #[serde(default)]
    step: String,
}

async fn draw(
    state: &AppState,
    page: Page,
    headers: &HeaderMap,
    form: &RebalanceForm,
    plan: Option<&RebalancePlan>,
    problem: Option<String>,
) -> Response {
    let teams = match state.store.list_teams().await {
        Ok(teams) => teams,
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let teams: Vec<Value> = teams
        .iter()
        .map(|team| context! { id => team.id.as_str(), name => team.name.clone() })
        .collect();
    let planned = plan.map(|plan| plan_values(&page, plan));
    let role = page.session.principal.role();
    let values = context! {
        teams => teams,
        team => form.team.clone(),
        max_moves => form.max_moves.clone(),
        problem => problem,
        plan => planned,
        may_move => Allowed::Admins.permits(role),
        ..page.common()
    };
    page.render(headers, "rebalance.html", values)
}

fn plan_values(page: &Page, plan: &RebalancePlan) -> Value {
    let fill = |key: &str, pairs: &[(&str, String)]| {
        pairs
            .iter()
            .fold(page.word(key).to_string(), |text, (name, value)| {
                text.replace(&format!("{{{name}}}"), value)
            })
    };
    let summary = fill(
        "rebalance_summary",
        &[
            ("customers", plan.customers_considered.to_string()),
            ("reps", plan.reps_considered.to_string()),
            ("moves", plan.moves_total.to_string()),
        ],
    );
    let bars: Vec<charts::Bar> = plan
        .teams
        .iter()
        .map(|team| charts::Bar {
            label: team.name.clone(),
            value: team.change.after.max_over_mean.unwrap_or(1.0),
            shown: format!(
                "max/mean {:.2} → {:.2}",
                team.change.before.max_over_mean.unwrap_or(1.0),
                team.change.after.max_over_mean.unwrap_or(1.0)
            ),
        })
        .collect();
    let terms = |name: &str, before: f64, after: f64| {
        context! { name => page.word(name), before => super::grouped(before, 1), after => super::grouped(after, 1) }
    };
    let (before, after) = (&plan.objective_before, &plan.objective_after);
    let reasons: Vec<Value> = plan
        .moves_by_reason
        .iter()
        .map(|(reason, count)| context! { reason => page.word(&format!("move_reason_{reason}")), count => count })
        .collect();
    let moves: Vec<Value> = plan
        .moves
        .iter()
        .take(LISTED_MOVES)
        .map(|planned| {
            context! {
                customer_id => planned.customer_id.clone(),
                name => planned.name.clone(),
                tier => planned.tier.clone(),
                workload => planned.workload,
                from => planned.from_rep_id.clone(),
                to => planned.to_rep_id.clone(),
                reason => page.word(&format!("move_reason_{}", planned.reason.as_str())),
            }
        })
        .collect();
    context! {
        summary => summary,
        method => page.word(&format!("method_{}", plan.method)),
        reasons => reasons,
        moves => moves,
        more => (plan.moves.len() > LISTED_MOVES).then(|| fill("simulation_more", &[("count", (plan.moves.len() - LISTED_MOVES).to_string())])),
        objective => vec![
            terms("objective_moves", before.moves, after.moves),
            terms("objective_load", before.load, after.load),
            terms("objective_affinity", before.affinity, after.affinity),
            terms("objective_total", before.total, after.total),
        ],
        bound => plan.bound.map(|bound| super::grouped(bound, 1)),
        gap => plan.gap.map(|gap| format!("{:.3}%", gap * 100.0)),
        limit_missed => plan.max_moves.is_some() && !plan.max_moves_met,
        fairness => super::rules::fairness_rows(page, &plan.teams, &plan.overall),
        chart => charts::bars(page.word("rebalance_chart"), &bars),
        has_moves => plan.moves_total > 0,
    }
}

async fn rebalance_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<super::LanguageQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    if let Some(refused) = super::refuse_role(&page.session.principal, Allowed::Managers) {
        return refused;
    }
    draw(
        &state,
        page,
        &headers,
        &RebalanceForm::default(),
        None,
        None,
    )
    .await
}

/// Plans (a dry run), or applies the plan made from the same inputs now.
async fn plan_or_apply(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<RebalanceForm>,
) -> Response {
    let (language, session) = match checked_form(&state, &headers, &form.csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let needed = if form.step == "move" {
        Allowed::Admins
    } else {
        Allowed::Managers
    };
    if let Some(refusal) = super::refuse_role(&session.principal, needed) {
        return refusal;
    }
    let page = Page::after_form(&state, language, session);
    let team = form.team.trim();
    let team = if team.is_empty() {
        None
    } else {
        match TeamId::parse_field("team", team) {
            Ok(team) => Some(team),
            Err(error) => {
                let problem = error.to_string();
                return draw(&state, page, &headers, &form, None, Some(problem)).await;
            }
        }
    };
    let max_moves = match form.max_moves.trim() {
        "" => None,
        raw => match raw.parse::<usize>() {
            Ok(moves) => Some(moves),
            Err(_) => {
                let problem = format!("{}: {raw}", page.word("rebalance_bad_max_moves"));
                return draw(&state, page, &headers, &form, None, Some(problem)).await;
            }
        },
    };
    let request = RebalanceRequest {
        team,
        max_moves,
        movable: None,
    };
    let clock = state.clock.now();
    let principal = page.session.principal.clone();
    if form.step == "apply" || form.step == "move" {
        let approval = if form.step == "move" {
            RebalanceApproval::Direct
        } else {
            RebalanceApproval::Transfers
        };
        return match state
            .store
            .apply_rebalance(&principal, &request, approval, clock)
            .await
        {
            Ok(applied) => {
                let (to, text) = match approval {
                    RebalanceApproval::Direct => (
                        "/rebalance",
                        page.word("rebalance_moved")
                            .replace("{count}", &applied.moved.to_string()),
                    ),
                    RebalanceApproval::Transfers => (
                        "/transfers",
                        page.word("rebalance_opened")
                            .replace("{count}", &applied.transfer_ids.len().to_string()),
                    ),
                };
                back_with(&headers, to, "done", &text)
            }
            Err(allot_store::StoreError::Invalid(error)) => {
                draw(&state, page, &headers, &form, None, Some(error.to_string())).await
            }
            Err(error) => crate::ApiError::from(error).into_response(),
        };
    }
    match state
        .store
        .plan_rebalance(&principal, &request, clock)
        .await
    {
        Ok(plan) => draw(&state, page, &headers, &form, Some(&plan), None).await,
        Err(allot_store::StoreError::Invalid(error)) => {
            draw(&state, page, &headers, &form, None, Some(error.to_string())).await
        }
        Err(error) => crate::ApiError::from(error).into_response(),
    }
}
