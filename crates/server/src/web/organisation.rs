//! The reps and teams pages: the team tree with each rep's capacity, weight, skills, absence,
//! load and active flag; one rep's page to edit it (admins everything, managers how much a rep
//! of their subtree takes and when it is away) and, for admins, to deactivate it with a
//! successor, which runs the departure.

use std::collections::BTreeMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};
use serde::Deserialize;

use allot_core::input::{RepFields, TeamFields};
use allot_core::strategy::RepState;
use allot_core::update::GivenColumns;
use allot_core::{RepId, Role, Team, TeamId};
use allot_store::StoreError;

use super::customer::url_segment;
use super::{answer_form, checked_form, not_found_page, Page};
use crate::access::{rep_change_refusal, Allowed, MANAGER_REP_FIELDS};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/reps", get(organisation_page))
        .route("/reps/{id}", get(rep_page).post(save_rep))
        .route("/reps/{id}/deactivate", post(deactivate))
        .route("/teams/{id}", get(team_page).post(save_team))
}

/// A rep as the pages show it.
fn rep_values(state: &RepState, today: chrono::NaiveDate) -> Value {
    let rep = &state.rep;
    context! {
        id => rep.id.as_str(),
        name => rep.name,
        email => rep.email,
        team => rep.team_id.as_ref().map(|team| team.as_str().to_string()),
        role => rep.role.as_str(),
        level => rep.level.as_str(),
        capacity => rep.capacity,
        weight => rep.weight,
        skills => rep.skills.join(", "),
        active => rep.active,
        absent_from => rep.absent_from.map(|date| date.to_string()),
        absent_until => rep.absent_until.map(|date| date.to_string()),
        absent_now => rep.is_absent_on(today),
        owned => state.load.owned_count,
        workload => state.load.owned_workload,
    }
}

/// The teams as a tree, depth-first from the roots, each with its depth and reps.
fn team_tree(teams: &[Team], reps: &[Value], rep_teams: &[Option<String>]) -> Vec<Value> {
    let mut children: BTreeMap<Option<&str>, Vec<&Team>> = BTreeMap::new();
    for team in teams {
        let parent = team
            .parent_id
            .as_ref()
            .map(|parent| parent.as_str())
            .filter(|parent| teams.iter().any(|team| team.id.as_str() == *parent));
        children.entry(parent).or_default().push(team);
    }
    let mut ordered = Vec::new();
    let mut stack: Vec<(&Team, usize)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|team| (*team, 0)).collect())
        .unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    while let Some((team, depth)) = stack.pop() {
        if !seen.insert(team.id.as_str()) {
            continue;
        }
        let members: Vec<Value> = reps
            .iter()
            .zip(rep_teams)
            .filter(|(_, rep_team)| rep_team.as_deref() == Some(team.id.as_str()))
            .map(|(rep, _)| rep.clone())
            .collect();
        ordered.push(context! {
            id => team.id.as_str(),
            name => team.name,
            manager => team.manager_id.as_ref().map(|manager| manager.as_str().to_string()),
            depth => depth,
            reps => members,
        });
        if let Some(below) = children.get(&Some(team.id.as_str())) {
            stack.extend(below.iter().rev().map(|team| (*team, depth + 1)));
        }
    }
    ordered
}

/// The team tree with every rep the caller sees (a manager: its subtree; a rep: itself and
/// its team's tree without the others' loads), and reps in no team at the end.
async fn organisation_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<super::LanguageQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let loaded = async {
        let teams = state.store.list_teams().await?;
        let reps = state.store.list_reps().await?;
        Ok::<_, StoreError>((teams, reps))
    };
    let (teams, reps) = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let today = state.clock.now().today();
    let principal = &page.session.principal;
    let visible: Vec<&RepState> = reps
        .iter()
        .filter(|rep| principal.sees_rep(&rep.rep.id))
        .collect();
    let values: Vec<Value> = visible.iter().map(|rep| rep_values(rep, today)).collect();
    let rep_teams: Vec<Option<String>> = visible
        .iter()
        .map(|rep| {
            rep.rep
                .team_id
                .as_ref()
                .map(|team| team.as_str().to_string())
        })
        .collect();
    let tree = team_tree(&teams, &values, &rep_teams);
    let teamless: Vec<Value> = values
        .iter()
        .zip(&rep_teams)
        .filter(|(_, team)| {
            team.as_ref()
                .is_none_or(|team| !teams.iter().any(|known| known.id.as_str() == team))
        })
        .map(|(rep, _)| rep.clone())
        .collect();
    let values = context! {
        teams => tree,
        teamless => teamless,
        shown => values.len(),
        ..page.common()
    };
    page.render(&headers, "organisation.html", values)
}

async fn rep_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Query(query): Query<super::LanguageQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let Ok(id) = RepId::parse(raw_id.trim()) else {
        return not_found_page(page, &headers);
    };
    let principal = &page.session.principal;
    if !principal.sees_rep(&id) {
        return not_found_page(page, &headers);
    }
    let (rep, teams, reps) = match async {
        let rep = state.store.get_rep(&id).await?;
        let teams = state.store.list_teams().await?;
        let reps = state.store.list_reps().await?;
        Ok::<_, StoreError>((rep, teams, reps))
    }
    .await
    {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return not_found_page(page, &headers),
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let today = state.clock.now().today();
    let role = principal.role();
    let successors: Vec<String> = reps
        .iter()
        .filter(|other| other.rep.active && other.rep.id != id)
        .map(|other| other.rep.id.to_string())
        .collect();
    let values = context! {
        rep => rep_values(&rep, today),
        teams => teams.iter().map(|team| team.id.as_str().to_string()).collect::<Vec<_>>(),
        may_edit => role == Role::Admin || (role == Role::Manager && principal.sees_rep(&id)),
        may_edit_all => role == Role::Admin,
        manager_fields => MANAGER_REP_FIELDS,
        may_deactivate => Allowed::Admins.permits(role) && rep.rep.active,
        successors => successors,
        ..page.common()
    };
    page.render(&headers, "rep.html", values)
}

/// Saves the fields the form sends: an admin's form sends every field, a manager's only
/// [`MANAGER_REP_FIELDS`]; the store's `put_rep` checks them as the API does.
async fn save_rep(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let csrf = form.get("csrf").cloned().unwrap_or_default();
    let (language, session) = match checked_form(&state, &headers, &csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let back = format!("/reps/{}", url_segment(&raw_id));
    let outcome = async {
        let id = RepId::parse_field("id", raw_id.trim())?;
        let mut body = serde_json::Map::new();
        for name in RepFields::COLUMNS {
            if let Some(value) = form.get(name) {
                // Skills are typed as a list with commas; files separate them with '|'.
                let value = if name == "skills" {
                    value
                        .split([',', '，', '、', '|'])
                        .map(str::trim)
                        .filter(|skill| !skill.is_empty())
                        .collect::<Vec<_>>()
                        .join("|")
                } else {
                    value.trim().to_string()
                };
                body.insert(name.to_string(), serde_json::Value::from(value));
            }
        }
        // An unticked box is not sent: an admin's form that has the box means "inactive".
        if form.contains_key("has_active") && !form.contains_key("active") {
            body.insert("active".to_string(), serde_json::Value::from("false"));
        }
        body.insert("id".to_string(), serde_json::Value::from(id.as_str()));
        let given = GivenColumns::of_json(&body);
        let exists = state.store.get_rep(&id).await.is_ok();
        if let Some(refusal) =
            rep_change_refusal(&session.principal, &id, exists, &given, &RepFields::COLUMNS)
        {
            return Err(StoreError::Forbidden(refusal));
        }
        let fields: RepFields =
            serde_json::from_value(serde_json::Value::Object(body)).map_err(|error| {
                StoreError::Invalid(allot_core::FieldError::new("rep", error.to_string()))
            })?;
        let rep = fields.into_rep()?;
        state.store.put_rep(&rep, &given).await
    };
    answer_form(
        &headers,
        &back,
        language,
        outcome.await,
        "rep_saved",
        |_| Vec::new(),
    )
}

#[derive(Deserialize)]
struct DeactivateForm {
    csrf: String,
    #[serde(default)]
    successor: String,
}

/// Runs the departure: the rep's customers go to the successor (or by the rules), in one
/// transaction with its events; admins only, as the API.
async fn deactivate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Form(form): Form<DeactivateForm>,
) -> Response {
    let (language, session) = match checked_form(&state, &headers, &form.csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let back = format!("/reps/{}", url_segment(&raw_id));
    let outcome = async {
        let id = RepId::parse_field("id", raw_id.trim())?;
        let successor = match form.successor.trim() {
            "" | "rules" => None,
            raw => Some(RepId::parse_field("successor", raw)?),
        };
        state
            .store
            .deactivate_rep(
                &session.principal,
                &id,
                successor.as_ref(),
                state.clock.now(),
            )
            .await
    };
    answer_form(
        &headers,
        &back,
        language,
        outcome.await,
        "rep_deactivated",
        |summary| {
            vec![
                ("rep", summary.rep_id.clone()),
                ("customers", summary.customers.to_string()),
                ("to_pool", summary.to_pool.to_string()),
            ]
        },
    )
}

/// A team's name, parent and manager, to edit (admins, as the API's `PUT /teams/{id}`).
async fn team_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Query(query): Query<super::LanguageQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let Ok(id) = TeamId::parse(raw_id.trim()) else {
        return not_found_page(page, &headers);
    };
    let (team, teams, reps) = match async {
        let team = state.store.get_team(&id).await?;
        let teams = state.store.list_teams().await?;
        let reps = state.store.list_reps().await?;
        Ok::<_, StoreError>((team, teams, reps))
    }
    .await
    {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return not_found_page(page, &headers),
        Err(error) => return crate::ApiError::from(error).into_response(),
    };
    let values = context! {
        team => context! {
            id => team.id.as_str(),
            name => team.name,
            parent => team.parent_id.as_ref().map(|parent| parent.as_str().to_string()),
            manager => team.manager_id.as_ref().map(|manager| manager.as_str().to_string()),
        },
        parents => teams.iter().filter(|other| other.id != team.id).map(|other| other.id.as_str().to_string()).collect::<Vec<_>>(),
        managers => reps.iter().filter(|rep| rep.rep.active).map(|rep| rep.rep.id.as_str().to_string()).collect::<Vec<_>>(),
        ..page.common()
    };
    page.render(&headers, "team.html", values)
}

/// Saves a team's name, parent and manager through the store's `put_team`, which refuses a
/// cycle, an unknown parent and a manager who is not a rep.
async fn save_team(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let csrf = form.get("csrf").cloned().unwrap_or_default();
    let (language, _) = match checked_form(&state, &headers, &csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let back = format!("/teams/{}", url_segment(&raw_id));
    let outcome = async {
        let id = TeamId::parse_field("id", raw_id.trim())?;
        let mut fields = TeamFields {
            id: id.to_string(),
            ..TeamFields::default()
        };
        let mut given = vec!["id"];
        for name in ["name", "parent_id", "manager_id"] {
            if let Some(value) = form.get(name) {
                fields.set(name, value.trim().to_string())?;
                given.push(name);
            }
        }
        let team = fields.into_team()?;
        state.store.get_team(&id).await?;
        state.store.put_team(&team, &GivenColumns::all(given)).await
    };
    answer_form(
        &headers,
        &back,
        language,
        outcome.await,
        "team_saved",
        |_| Vec::new(),
    )
}
