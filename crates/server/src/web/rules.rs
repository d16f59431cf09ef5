//! The rules page: the current rules TOML in an editor with line numbers; "check" shows every
//! problem at its line and column without saving, "simulate" shows what the text would do to
//! the pool, the book and fairness (managers over their subtree), "save" stores a new version
//! (admins); the versions listed, with a line diff between any two.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{context, Value};
use serde::Deserialize;

use allot_core::simulate::{SimulationReport, SimulationScope};
use allot_core::RuleError;
use allot_store::routing::RulesVersion;
use allot_store::StoreError;

use super::{back_with, charts, checked_form, Page};
use crate::access::Allowed;
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/rules", get(rules_page).post(check_or_save))
}

#[derive(Deserialize, Default)]
struct RulesQuery {
    lang: Option<String>,
    /// The versions to compare (older, newer); the two newest by default.
    from: Option<i64>,
    to: Option<i64>,
}

/// One line of a diff: `same`, `removed` or `added`, with the line numbers it has in the
/// older and newer text.
fn line_diff(older: &str, newer: &str) -> Vec<Value> {
    let diff = similar::TextDiff::from_lines(older, newer);
    diff.iter_all_changes()
        .map(|change| {
            let kind = match change.tag() {
                similar::ChangeTag::Equal => "same",
                similar::ChangeTag::Delete => "removed",
                similar::ChangeTag::Insert => "added",
            };
            context! {
                kind => kind,
                old => change.old_index().map(|index| index + 1),
                new => change.new_index().map(|index| index + 1),
                text => change.value().trim_end_matches(['\n', '\r']),
            }
        })
        .collect()
}

/// What the page shows besides the editor: the versions and the diff asked for.
fn versions_and_diff(versions: &[RulesVersion], query: &RulesQuery) -> (Value, Option<Value>) {
    let newest = versions.first().map(|version| version.version);
    let to = query.to.or(newest);
    let from = query
        .from
        .or_else(|| to.and_then(|to| versions.iter().map(|v| v.version).find(|v| *v < to)));
    let source_of = |wanted: Option<i64>| {
        wanted.and_then(|wanted| versions.iter().find(|version| version.version == wanted))
    };
    let diff = match (source_of(from), source_of(to)) {
        (Some(older), Some(newer)) => Some(context! {
            from => older.version,
            to => newer.version,
            lines => line_diff(&older.source, &newer.source),
        }),
        _ => None,
    };
    let listed: Vec<Value> = versions
        .iter()
        .map(|version| {
            context! {
                version => version.version,
                actor => version.actor,
                created_at => version.created_at,
                lines => version.source.lines().count(),
            }
        })
        .collect();
    (Value::from(listed), diff)
}

/// Draws the page with `source` in the editor and `problems` beside it.
async fn draw(
    state: &AppState,
    page: Page,
    headers: &HeaderMap,
    query: &RulesQuery,
    source: Option<String>,
    problems: Option<Vec<RuleError>>,
    simulation: Option<(SimulationScope, SimulationReport)>,
) -> Response {
    let versions = match state.store.rules_history().await {
        Ok(versions) => versions,
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let source = source.unwrap_or_else(|| {
        versions
            .first()
            .map(|version| version.source.clone())
            .unwrap_or_default()
    });
    let (listed, diff) = versions_and_diff(&versions, query);
    let problem_lines: Vec<usize> = problems
        .iter()
        .flatten()
        .filter_map(|problem| problem.line)
        .collect();
    let numbered: Vec<Value> = source
        .lines()
        .enumerate()
        .map(|(index, line)| {
            context! {
                number => index + 1,
                text => line,
                wrong => problem_lines.contains(&(index + 1)),
            }
        })
        .collect();
    let invalid = problems.as_ref().is_some_and(|found| !found.is_empty());
    let scope = simulation
        .as_ref()
        .map_or("all", |(scope, _)| scope.as_str());
    let simulated = simulation.map(|(_, report)| simulation_values(&page, &report));
    let values = context! {
        source => source,
        gutter => (1..=source.lines().count().max(1) + 5).map(|n| n.to_string()).collect::<Vec<_>>().join("\n"),
        numbered => numbered,
        checked => problems.is_some(),
        problems => problems.map(|found| Value::from_serialize(&found)),
        versions => listed,
        diff => diff,
        current => versions.first().map(|version| version.version),
        may_save => Allowed::Admins.permits(page.session.principal.role()),
        may_check => Allowed::Managers.permits(page.session.principal.role()),
        scope => scope,
        simulation => simulated,
        ..page.common()
    };
    let mut response = page.render(headers, "rules.html", values);
    if invalid {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

async fn rules_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RulesQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang.clone()).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    draw(&state, page, &headers, &query, None, None, None).await
}

/// The simulation's figures for the page: the report, its summary sentences and the chart of
/// owned customers per team after.
fn simulation_values(page: &Page, report: &SimulationReport) -> Value {
    let fill = |key: &str, pairs: &[(&str, usize)]| {
        pairs
            .iter()
            .fold(page.word(key).to_string(), |text, (name, value)| {
                text.replace(&format!("{{{name}}}"), &value.to_string())
            })
    };
    let staying: usize = report.pool_staying.values().sum();
    let owned = report.scope.includes_owned().then(|| {
        fill(
            "simulation_owned",
            &[
                ("considered", report.owned_considered),
                ("kept", report.owned_kept),
                ("outside", report.owned_outside_current_rules),
                ("changes", report.owner_changes_total),
            ],
        )
    });
    let pool = report.scope.includes_pool().then(|| {
        fill(
            "simulation_pool",
            &[
                ("considered", report.pool_considered),
                ("placed", report.pool_placed_total),
                ("staying", staying),
            ],
        )
    });
    let more = |total: usize, listed: usize| {
        (total > listed).then(|| fill("simulation_more", &[("count", total - listed)]))
    };
    let bars: Vec<charts::Bar> = report
        .teams
        .iter()
        .map(|team| charts::Bar {
            label: team.name.clone(),
            value: team.change.owned_after as f64,
            shown: format!("{} → {}", team.change.owned_before, team.change.owned_after),
        })
        .collect();
    let fairness = fairness_rows(page, &report.teams, &report.overall);
    context! {
        report => Value::from_serialize(report),
        fairness => fairness,
        owned_summary => owned,
        pool_summary => pool,
        more_moves => more(report.owner_changes_total, report.owner_changes.len()),
        more_placed => more(report.pool_placed_total, report.pool_placed.len()),
        owned_chart => charts::bars(page.word("simulation_owned_chart"), &bars),
    }
}

/// One row per team and one overall: owned count, workload, Gini and Jain before and after,
/// for the fairness table a simulation and a rebalance plan share.
pub(super) fn fairness_rows(
    page: &Page,
    teams: &[allot_core::simulate::TeamFairnessChange],
    overall: &allot_core::simulate::FairnessChange,
) -> Vec<Value> {
    let measure = |value: Option<f64>| value.map_or("-".to_string(), |value| format!("{value:.3}"));
    teams
        .iter()
        .map(|team| (team.name.as_str(), &team.change))
        .chain(std::iter::once((page.word("overall"), overall)))
        .map(|(name, change)| {
            context! {
                name => name,
                owned_before => change.owned_before,
                owned_after => change.owned_after,
                workload_before => super::grouped(change.before.total_workload, 1),
                workload_after => super::grouped(change.after.total_workload, 1),
                gini_before => measure(change.before.gini),
                gini_after => measure(change.after.gini),
                jain_before => measure(change.before.jain),
                jain_after => measure(change.after.jain),
            }
        })
        .collect()
}

#[derive(Deserialize)]
struct RulesForm {
    csrf: String,
    #[serde(default)]
    source: String,
    /// `check`, `simulate` or `save`.
    #[serde(default)]
    step: String,
    /// What `simulate` routes: `pool`, `owned` or `all`.
    #[serde(default)]
    scope: String,
}

/// Owner changes and placements listed on the page (all are counted).
const SIMULATION_LIST_LIMIT: usize = 200;

/// Checks the rules in the editor (managers and admins), or stores them as a new version
/// (admins); either way a problem is shown at its line and column with the text kept.
async fn check_or_save(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<RulesForm>,
) -> Response {
    let (language, session) = match checked_form(&state, &headers, &form.csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let saving = form.step == "save";
    let needed = if saving {
        Allowed::Admins
    } else {
        Allowed::Managers
    };
    if let Some(refusal) = super::refuse_role(&session.principal, needed) {
        return refusal;
    }
    // Browsers send a textarea's lines with CRLF.
    let source = form.source.replace("\r\n", "\n");
    if form.step == "simulate" {
        let scope = SimulationScope::parse(&form.scope).unwrap_or(SimulationScope::All);
        let clock = state.clock.now();
        let simulated = match state.store.view_of(&session.principal, clock).await {
            Ok(view) => {
                state
                    .store
                    .simulate_rules(&source, scope, &view, SIMULATION_LIST_LIMIT, clock)
                    .await
            }
            Err(error) => Err(error),
        };
        let (problems, simulation) = match simulated {
            Ok(report) => (Vec::new(), Some((scope, report))),
            Err(StoreError::Rules(problems)) => (problems, None),
            Err(error) => return crate::ApiError::from(error).into_response(),
        };
        let page = Page::after_form(&state, language, session);
        return draw(
            &state,
            page,
            &headers,
            &RulesQuery::default(),
            Some(source),
            Some(problems),
            simulation,
        )
        .await;
    }
    let problems = if saving {
        match state
            .store
            .set_rules(&source, &session.principal.actor(), state.clock.now())
            .await
        {
            Ok(version) => {
                let text = Page::after_form(&state, language, session)
                    .word("rules_saved")
                    .replace("{version}", &version.to_string());
                return back_with(&headers, "/rules", "done", &text);
            }
            Err(StoreError::Rules(problems)) => problems,
            Err(error) => return crate::ApiError::from(error).into_response(),
        }
    } else {
        match state.store.check_rules(&source).await {
            Ok(problems) => problems,
            Err(error) => return crate::ApiError::from(error).into_response(),
        }
    };
    let page = Page::after_form(&state, language, session);
    draw(
        &state,
        page,
        &headers,
        &RulesQuery::default(),
        Some(source),
        Some(problems),
        None,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_numbers_lines_on_both_sides() {
        let lines = line_diff("a\nb\nc\n", "a\nc\nd\n");
        let shown: Vec<(String, Option<i64>, Option<i64>, String)> = lines
            .iter()
            .map(|line| {
                let field = |name: &str| line.get_attr(name).unwrap();
                (
                    field("kind").to_string(),
                    i64::try_from(field("old")).ok(),
                    i64::try_from(field("new")).ok(),
                    field("text").to_string(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                ("same".into(), Some(1), Some(1), "a".into()),
                ("removed".into(), Some(2), None, "b".into()),
                ("same".into(), Some(3), Some(2), "c".into()),
                ("added".into(), None, Some(3), "d".into()),
            ]
        );
    }
}
