//! Teams and reps: import (upsert by id), listing and lookup.

use std::collections::{BTreeMap, HashMap, HashSet};

use allot_core::strategy::{RepLoad, RepState};
use allot_core::text::parse_bar_list;
use allot_core::update::GivenColumns;
use allot_core::{Level, Rep, RepId, Role, Team, TeamId};
use chrono::NaiveDate;

use crate::database::{on_backend, sql, Connected, Dialect, TextList, LIST_CHUNK};
use crate::error::{StoreError, StoreResult};
use crate::imports::{
    finish_import, problems_of, reject_broken_parent_links, single_record_outcome, BadRows,
    FirstLines, ImportRow, ImportSummary, Progress, RowProblem,
};
use crate::Store;

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

const TEAM_COLUMNS: &str = "id, name, parent_id, manager_id";

#[derive(sqlx_macros::FromRow)]
struct TeamRow {
    id: String,
    name: String,
    parent_id: Option<String>,
    manager_id: Option<String>,
}

impl TeamRow {
    fn into_team(self) -> StoreResult<Team> {
        Ok(Team {
            id: TeamId::parse(&self.id).map_err(corrupt)?,
            name: self.name,
            parent_id: self
                .parent_id
                .map(|id| TeamId::parse_field("parent_id", &id))
                .transpose()
                .map_err(corrupt)?,
            manager_id: self
                .manager_id
                .map(|id| RepId::parse_field("manager_id", &id))
                .transpose()
                .map_err(corrupt)?,
        })
    }
}

const REP_COLUMNS: &str = "id, name, email, team_id, role, level, capacity, weight, skills, active, absent_from, absent_until, owned_count, owned_workload, last_assigned_sequence, performance_weight";

#[derive(sqlx_macros::FromRow)]
struct RepRow {
    id: String,
    name: String,
    email: String,
    team_id: Option<String>,
    role: String,
    level: String,
    capacity: Option<i64>,
    weight: f64,
    skills: String,
    active: bool,
    absent_from: Option<NaiveDate>,
    absent_until: Option<NaiveDate>,
    owned_count: i64,
    owned_workload: f64,
    performance_weight: f64,
    last_assigned_sequence: i64,
}

impl RepRow {
    fn into_state(self) -> StoreResult<RepState> {
        Ok(RepState {
            rep: Rep {
                id: RepId::parse(&self.id).map_err(corrupt)?,
                name: self.name,
                email: self.email,
                team_id: self
                    .team_id
                    .map(|id| TeamId::parse_field("team_id", &id))
                    .transpose()
                    .map_err(corrupt)?,
                role: Role::parse_field("role", &self.role).map_err(corrupt)?,
                level: Level::parse_field("level", &self.level).map_err(corrupt)?,
                capacity: self
                    .capacity
                    .map(|cap| cap.clamp(0, i64::from(u32::MAX)) as u32),
                weight: self.weight,
                skills: parse_bar_list(&self.skills),
                active: self.active,
                absent_from: self.absent_from,
                absent_until: self.absent_until,
            },
            load: RepLoad {
                owned_count: self.owned_count.max(0) as u32,
                owned_workload: self.owned_workload,
                last_assigned_sequence: self.last_assigned_sequence.max(0) as u64,
                performance_weight: self.performance_weight,
            },
        })
    }
}

/// Every team and every rep with its load, ordered by id (byte order on both backends).
pub(crate) async fn load_teams_and_reps(
    source: &mut impl Connected,
) -> StoreResult<(Vec<Team>, Vec<RepState>)> {
    let (teams, reps): (Vec<TeamRow>, Vec<RepRow>) = on_backend!(source, |connection, Db| {
        let teams =
            sql!(Db; format!("SELECT {TEAM_COLUMNS} FROM teams ORDER BY {}", Db::byte_order("id")))
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?;
        let reps =
            sql!(Db; format!("SELECT {REP_COLUMNS} FROM reps ORDER BY {}", Db::byte_order("id")))
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?;
        (teams, reps)
    });
    Ok((
        teams
            .into_iter()
            .map(TeamRow::into_team)
            .collect::<StoreResult<_>>()?,
        reps.into_iter()
            .map(RepRow::into_state)
            .collect::<StoreResult<_>>()?,
    ))
}

/// One rep with its load, read through `source` (a transaction sees its own writes).
pub(crate) async fn find_rep_in(
    source: &mut impl Connected,
    id: &RepId,
) -> StoreResult<Option<RepState>> {
    let row: Option<RepRow> = on_backend!(source, |connection, Db| {
        sql!(Db; format!("SELECT {REP_COLUMNS} FROM reps WHERE id = "), bind(id.as_str()))
            .build_query_as()
            .fetch_optional(&mut *connection)
            .await?
    });
    row.map(RepRow::into_state).transpose()
}

/// The reps of these ids that exist, by id.
pub(crate) async fn find_reps_in(
    source: &mut impl Connected,
    ids: &[&str],
) -> StoreResult<HashMap<String, RepState>> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(LIST_CHUNK) {
        let rows: Vec<RepRow> = on_backend!(&mut *source, |connection, Db| {
            let mut query = sql!(Db; format!("SELECT {REP_COLUMNS} FROM reps WHERE "));
            query.push_in_list("id", chunk);
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        for row in rows {
            let state = row.into_state()?;
            found.insert(state.rep.id.to_string(), state);
        }
    }
    Ok(found)
}

/// The ids of every row of `table`.
pub(crate) async fn existing_ids(
    source: &mut impl Connected,
    table: &'static str,
) -> StoreResult<HashSet<String>> {
    let ids: Vec<String> = on_backend!(source, |connection, Db| {
        sql!(Db; format!("SELECT id FROM {table}"))
            .build_query_scalar()
            .fetch_all(&mut *connection)
            .await?
    });
    Ok(ids.into_iter().collect())
}

async fn upsert_team(source: &mut impl Connected, team: &Team) -> StoreResult<()> {
    on_backend!(source, |connection, Db| {
        sql!(Db; "INSERT INTO teams (id, name, parent_id, manager_id) VALUES (",
            bind(team.id.as_str()), ", ", bind(team.name.as_str()), ", ",
            bind(team.parent_id.as_ref().map(TeamId::as_str)), ", ",
            bind(team.manager_id.as_ref().map(RepId::as_str)),
            ") ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id, manager_id = excluded.manager_id")
        .build()
        .execute(&mut *connection)
        .await?;
    });
    Ok(())
}

/// Writes a rep's own columns; its load columns are left as they are.
async fn upsert_rep(source: &mut impl Connected, rep: &Rep) -> StoreResult<()> {
    let skills = rep.skills.join("|");
    on_backend!(source, |connection, Db| {
        sql!(Db; "INSERT INTO reps (id, name, email, team_id, role, level, capacity, weight, skills, active, absent_from, absent_until) VALUES (",
            bind(rep.id.as_str()), ", ", bind(rep.name.as_str()), ", ", bind(rep.email.as_str()), ", ",
            bind(rep.team_id.as_ref().map(TeamId::as_str)), ", ", bind(rep.role.as_str()), ", ",
            bind(rep.level.as_str()), ", ", bind(rep.capacity.map(i64::from)), ", ", bind(rep.weight), ", ",
            bind(skills.as_str()), ", ", bind(rep.active), ", ", bind(rep.absent_from), ", ", bind(rep.absent_until),
            ") ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, team_id = excluded.team_id,
               role = excluded.role, level = excluded.level, capacity = excluded.capacity, weight = excluded.weight,
               skills = excluded.skills, active = excluded.active, absent_from = excluded.absent_from,
               absent_until = excluded.absent_until")
        .build()
        .execute(&mut *connection)
        .await?;
    });
    Ok(())
}

impl Store {
    /// Upserts teams. A parent must exist already or in the same file, and parents may not
    /// form a cycle. A manager who is not a rep yet is a warning: reps are imported after
    /// teams, because reps name their team.
    pub async fn import_teams(
        &self,
        rows: Vec<ImportRow<Team>>,
        bad_rows: BadRows,
        progress: Progress<'_>,
    ) -> StoreResult<ImportSummary> {
        let mut write = self.begin_write().await?;
        let (teams, _) = load_teams_and_reps(&mut write).await?;
        let stored: BTreeMap<TeamId, Team> = teams
            .into_iter()
            .map(|team| (team.id.clone(), team))
            .collect();
        let reps = existing_ids(&mut write, "reps").await?;
        let mut summary = ImportSummary::default();
        let mut first_lines = FirstLines::default();
        let mut merged = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(problem) = first_lines.problem(row.line, row.record.id.as_str()) {
                summary.problems.push(problem);
                continue;
            }
            let team = match stored.get(&row.record.id) {
                Some(existing) => match existing.updated_with(&row.record, &row.given) {
                    Ok(team) => team,
                    Err(errors) => {
                        summary.problems.extend(problems_of(row.line, errors));
                        continue;
                    }
                },
                None => row.record,
            };
            merged.push((row.line, team));
        }
        let rejected = reject_broken_parent_links(
            stored
                .values()
                .map(|team| (&team.id, team.parent_id.as_ref())),
            merged
                .iter()
                .map(|(line, team)| (*line, &team.id, team.parent_id.as_ref())),
            "team",
        );
        let mut written = 0;
        for (line, team) in &merged {
            if let Some(problem) = rejected.get(line) {
                summary.problems.push(problem.clone());
                continue;
            }
            if let Some(manager) = &team.manager_id {
                if !reps.contains(manager.as_str()) {
                    summary.warnings.push(RowProblem::conflict(
                        *line,
                        "manager_id",
                        format!(
                            "rep '{manager}' does not exist yet; import reps next (the team is kept)"
                        ),
                    ));
                }
            }
            upsert_team(&mut write, team).await?;
            if stored.contains_key(&team.id) {
                summary.updated += 1;
            } else {
                summary.inserted += 1;
            }
            written += 1;
            progress(written);
        }
        finish_import(write, summary, bad_rows).await
    }

    /// Upserts reps; `team_id` must name an existing team. Loads are kept, not overwritten.
    /// Afterwards, teams whose manager is still not a rep are listed as warnings.
    pub async fn import_reps(
        &self,
        rows: Vec<ImportRow<Rep>>,
        bad_rows: BadRows,
        progress: Progress<'_>,
    ) -> StoreResult<ImportSummary> {
        let mut write = self.begin_write().await?;
        let (teams, reps) = load_teams_and_reps(&mut write).await?;
        let stored: BTreeMap<RepId, Rep> = reps
            .into_iter()
            .map(|state| (state.rep.id.clone(), state.rep))
            .collect();
        let team_ids: HashSet<&str> = teams.iter().map(|team| team.id.as_str()).collect();
        let mut summary = ImportSummary::default();
        let mut first_lines = FirstLines::default();
        let mut rep_ids: HashSet<String> = stored.keys().map(ToString::to_string).collect();
        for (done, row) in rows.into_iter().enumerate() {
            if let Some(problem) = first_lines.problem(row.line, row.record.id.as_str()) {
                summary.problems.push(problem);
                continue;
            }
            let existing = stored.get(&row.record.id);
            let rep = match existing {
                Some(existing) => match existing.updated_with(&row.record, &row.given) {
                    Ok(rep) => rep,
                    Err(errors) => {
                        summary.problems.extend(problems_of(row.line, errors));
                        continue;
                    }
                },
                None => row.record,
            };
            if let Some(team) = &rep.team_id {
                if !team_ids.contains(team.as_str()) {
                    summary.problems.push(RowProblem::conflict(
                        row.line,
                        "team_id",
                        format!("team '{team}' does not exist; import teams first"),
                    ));
                    continue;
                }
            }
            upsert_rep(&mut write, &rep).await?;
            rep_ids.insert(rep.id.to_string());
            if existing.is_some() {
                summary.updated += 1;
            } else {
                summary.inserted += 1;
            }
            progress(done as u64 + 1);
        }
        for team in &teams {
            if let Some(manager) = &team.manager_id {
                if !rep_ids.contains(manager.as_str()) {
                    summary.warnings.push(RowProblem::conflict(
                        0,
                        "manager_id",
                        format!(
                            "team '{}' names manager '{manager}', who is not a rep",
                            team.id
                        ),
                    ));
                }
            }
        }
        finish_import(write, summary, bad_rows).await
    }

    /// Creates or updates one rep (API): the given fields change, the others and the load stay.
    pub async fn put_rep(&self, rep: &Rep, given: &GivenColumns) -> StoreResult<bool> {
        let summary = self
            .import_reps(
                vec![ImportRow {
                    line: 1,
                    record: rep.clone(),
                    given: given.clone(),
                }],
                BadRows::new(true),
                &|_| {},
            )
            .await?;
        single_record_outcome(summary)
    }

    /// Creates or updates one team (API). Unlike a file, the API refuses a manager who is not a rep.
    pub async fn put_team(&self, team: &Team, given: &GivenColumns) -> StoreResult<bool> {
        if let Some(manager) = team
            .manager_id
            .as_ref()
            .filter(|_| given.contains("manager_id"))
        {
            if self.find_rep(manager).await?.is_none() {
                return Err(StoreError::Conflict {
                    message: format!("rep '{manager}' does not exist"),
                    field: Some("manager_id".to_string()),
                });
            }
        }
        let summary = self
            .import_teams(
                vec![ImportRow {
                    line: 1,
                    record: team.clone(),
                    given: given.clone(),
                }],
                BadRows::new(true),
                &|_| {},
            )
            .await?;
        single_record_outcome(summary)
    }

    /// Every team, ordered by id (byte order, the same on both backends).
    pub async fn list_teams(&self) -> StoreResult<Vec<Team>> {
        let mut connection = self.database.acquire().await?;
        Ok(load_teams_and_reps(&mut connection).await?.0)
    }

    pub async fn get_team(&self, id: &TeamId) -> StoreResult<Team> {
        let mut connection = self.database.acquire().await?;
        let row: Option<TeamRow> = on_backend!(&mut connection, |connection, Db| {
            sql!(Db; format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = "), bind(id.as_str()))
                .build_query_as()
                .fetch_optional(&mut *connection)
                .await?
        });
        row.ok_or_else(|| StoreError::NotFound {
            entity: "team",
            id: id.to_string(),
        })?
        .into_team()
    }

    /// Every rep with its current load, ordered by id.
    pub async fn list_reps(&self) -> StoreResult<Vec<RepState>> {
        let mut connection = self.database.acquire().await?;
        Ok(load_teams_and_reps(&mut connection).await?.1)
    }

    pub async fn get_rep(&self, id: &RepId) -> StoreResult<RepState> {
        self.find_rep(id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "rep",
                id: id.to_string(),
            })
    }

    async fn find_rep(&self, id: &RepId) -> StoreResult<Option<RepState>> {
        let mut connection = self.database.acquire().await?;
        find_rep_in(&mut connection, id).await
    }
}
