//! Teams and reps: import (upsert by id), listing and lookup.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use allot_core::strategy::RepState;
use allot_core::{Rep, RepId, Team, TeamId};
use serde::Serialize;
use sqlx::Row;

use crate::error::{StoreError, StoreResult};
use crate::rows::{rep_state_from_row, team_from_row, REP_COLUMNS, TEAM_COLUMNS};
use crate::Store;

/// A row that could not be imported: its line in the file, the column and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    pub line: usize,
    pub field: String,
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportSummary {
    pub inserted: usize,
    pub updated: usize,
    pub ownership_changes: usize,
    pub problems: Vec<RowProblem>,
    /// False when `--strict` found problems and nothing was written.
    pub written: bool,
}

/// How an import treats bad rows. With `strict`, any problem writes nothing: one found by
/// the import itself (an unknown team, say) or one the caller found before (a CSV row that
/// did not parse), so a strict run lists every problem of the file at once.
#[derive(Debug, Clone, Default)]
pub struct BadRows {
    pub strict: bool,
    pub found_before: Vec<RowProblem>,
}

impl BadRows {
    pub fn new(strict: bool) -> Self {
        BadRows {
            strict,
            found_before: Vec::new(),
        }
    }

    pub fn found_before(mut self, problems: Vec<RowProblem>) -> Self {
        self.found_before = problems;
        self
    }
}

/// Reports progress of long work: rows done so far.
pub type Progress<'a> = &'a (dyn Fn(u64) + Send + Sync);

pub(crate) async fn existing_ids(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    table: &str,
) -> StoreResult<HashSet<String>> {
    let rows = sqlx::query(&format!("SELECT id FROM {table}"))
        .fetch_all(&mut **transaction)
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String, _>(0).map_err(StoreError::from))
        .collect()
}

impl Store {
    /// Upserts teams. A parent must exist already or in the same file, and parents may not form a cycle.
    pub async fn import_teams(
        &self,
        rows: Vec<(usize, Team)>,
        bad_rows: BadRows,
        progress: Progress<'_>,
    ) -> StoreResult<ImportSummary> {
        let mut write = self.begin_write().await?;
        let existing = existing_ids(&mut write.transaction, "teams").await?;
        let mut parents: BTreeMap<TeamId, Option<TeamId>> = self
            .list_teams_in(&mut write.transaction)
            .await?
            .into_iter()
            .map(|team| (team.id, team.parent_id))
            .collect();
        for (_, team) in &rows {
            parents.insert(team.id.clone(), team.parent_id.clone());
        }
        let mut summary = ImportSummary::default();
        for (done, (line, team)) in rows.iter().enumerate() {
            if let Some(parent) = &team.parent_id {
                if !parents.contains_key(parent) {
                    summary.problems.push(RowProblem {
                        line: *line,
                        field: "parent_id".to_string(),
                        message: format!("team '{parent}' does not exist"),
                    });
                    continue;
                }
                if has_cycle(&parents, &team.id) {
                    summary.problems.push(RowProblem {
                        line: *line,
                        field: "parent_id".to_string(),
                        message: format!(
                            "making '{parent}' the parent of '{}' forms a cycle",
                            team.id
                        ),
                    });
                    continue;
                }
            }
            sqlx::query(
                "INSERT INTO teams (id, name, parent_id, manager_id) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id, manager_id = excluded.manager_id",
            )
            .bind(team.id.as_str())
            .bind(&team.name)
            .bind(team.parent_id.as_ref().map(TeamId::as_str))
            .bind(team.manager_id.as_ref().map(RepId::as_str))
            .execute(&mut *write.transaction)
            .await?;
            if existing.contains(team.id.as_str()) {
                summary.updated += 1;
            } else {
                summary.inserted += 1;
            }
            progress(done as u64 + 1);
        }
        finish_import(write, summary, bad_rows).await
    }

    /// Upserts reps; `team_id` must name an existing team. Loads are kept, not overwritten.
    pub async fn import_reps(
        &self,
        rows: Vec<(usize, Rep)>,
        bad_rows: BadRows,
        progress: Progress<'_>,
    ) -> StoreResult<ImportSummary> {
        let mut write = self.begin_write().await?;
        let existing = existing_ids(&mut write.transaction, "reps").await?;
        let teams = existing_ids(&mut write.transaction, "teams").await?;
        let mut summary = ImportSummary::default();
        for (done, (line, rep)) in rows.iter().enumerate() {
            if let Some(team) = &rep.team_id {
                if !teams.contains(team.as_str()) {
                    summary.problems.push(RowProblem {
                        line: *line,
                        field: "team_id".to_string(),
                        message: format!("team '{team}' does not exist; import teams first"),
                    });
                    continue;
                }
            }
            upsert_rep(&mut write.transaction, rep).await?;
            if existing.contains(rep.id.as_str()) {
                summary.updated += 1;
            } else {
                summary.inserted += 1;
            }
            progress(done as u64 + 1);
        }
        finish_import(write, summary, bad_rows).await
    }

    /// Creates or replaces one rep (API).
    pub async fn put_rep(&self, rep: &Rep) -> StoreResult<bool> {
        let mut write = self.begin_write().await?;
        if let Some(team) = &rep.team_id {
            let found = sqlx::query("SELECT id FROM teams WHERE id = $1")
                .bind(team.as_str())
                .fetch_optional(&mut *write.transaction)
                .await?;
            if found.is_none() {
                return Err(StoreError::Conflict {
                    message: format!("team '{team}' does not exist"),
                    field: Some("team_id".to_string()),
                });
            }
        }
        let existed = sqlx::query("SELECT id FROM reps WHERE id = $1")
            .bind(rep.id.as_str())
            .fetch_optional(&mut *write.transaction)
            .await?
            .is_some();
        upsert_rep(&mut write.transaction, rep).await?;
        write.commit().await?;
        Ok(!existed)
    }

    /// Creates or replaces one team (API).
    pub async fn put_team(&self, team: &Team) -> StoreResult<bool> {
        let summary = self
            .import_teams(vec![(1, team.clone())], BadRows::new(true), &|_| {})
            .await?;
        if let Some(problem) = summary.problems.first() {
            return Err(StoreError::Conflict {
                message: problem.message.clone(),
                field: Some(problem.field.clone()),
            });
        }
        Ok(summary.inserted == 1)
    }

    async fn list_teams_in(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> StoreResult<Vec<Team>> {
        let rows = sqlx::query(&format!("SELECT {TEAM_COLUMNS} FROM teams ORDER BY id"))
            .fetch_all(&mut **transaction)
            .await?;
        rows.iter().map(team_from_row).collect()
    }

    /// Every team, ordered by id (byte order, the same on both backends).
    pub async fn list_teams(&self) -> StoreResult<Vec<Team>> {
        let rows = sqlx::query(&format!("SELECT {TEAM_COLUMNS} FROM teams"))
            .fetch_all(&self.pool)
            .await?;
        let mut teams: Vec<Team> = rows.iter().map(team_from_row).collect::<StoreResult<_>>()?;
        teams.sort_by(|left, right| left.id.cmp(&right.id));
        Ok(teams)
    }

    pub async fn get_team(&self, id: &TeamId) -> StoreResult<Team> {
        let row = sqlx::query(&format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "team",
                id: id.to_string(),
            })?;
        team_from_row(&row)
    }

    /// Every rep with its current load, ordered by id.
    pub async fn list_reps(&self) -> StoreResult<Vec<RepState>> {
        let rows = sqlx::query(&format!("SELECT {REP_COLUMNS} FROM reps"))
            .fetch_all(&self.pool)
            .await?;
        let mut reps: Vec<RepState> = rows
            .iter()
            .map(rep_state_from_row)
            .collect::<StoreResult<_>>()?;
        reps.sort_by(|left, right| left.rep.id.cmp(&right.rep.id));
        Ok(reps)
    }

    pub async fn get_rep(&self, id: &RepId) -> StoreResult<RepState> {
        let row = sqlx::query(&format!("SELECT {REP_COLUMNS} FROM reps WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "rep",
                id: id.to_string(),
            })?;
        rep_state_from_row(&row)
    }
}

pub(crate) async fn load_teams_and_reps(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
) -> StoreResult<(Vec<Team>, Vec<RepState>)> {
    let team_rows = sqlx::query(&format!("SELECT {TEAM_COLUMNS} FROM teams ORDER BY id"))
        .fetch_all(&mut **transaction)
        .await?;
    let rep_rows = sqlx::query(&format!("SELECT {REP_COLUMNS} FROM reps ORDER BY id"))
        .fetch_all(&mut **transaction)
        .await?;
    Ok((
        team_rows
            .iter()
            .map(team_from_row)
            .collect::<StoreResult<_>>()?,
        rep_rows
            .iter()
            .map(rep_state_from_row)
            .collect::<StoreResult<_>>()?,
    ))
}

async fn upsert_rep(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    rep: &Rep,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO reps (id, name, email, team_id, role, level, capacity, weight, skills, active, absent_from, absent_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, team_id = excluded.team_id,
           role = excluded.role, level = excluded.level, capacity = excluded.capacity, weight = excluded.weight,
           skills = excluded.skills, active = excluded.active, absent_from = excluded.absent_from,
           absent_until = excluded.absent_until",
    )
    .bind(rep.id.as_str())
    .bind(&rep.name)
    .bind(&rep.email)
    .bind(rep.team_id.as_ref().map(TeamId::as_str))
    .bind(rep.role.as_str())
    .bind(rep.level.as_str())
    .bind(rep.capacity.map(i64::from))
    .bind(rep.weight)
    .bind(rep.skills.join("|"))
    .bind(i64::from(rep.active))
    .bind(rep.absent_from.map(|date| date.to_string()))
    .bind(rep.absent_until.map(|date| date.to_string()))
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

fn has_cycle(parents: &BTreeMap<TeamId, Option<TeamId>>, start: &TeamId) -> bool {
    let mut seen = BTreeSet::new();
    let mut current = Some(start.clone());
    while let Some(team) = current {
        if !seen.insert(team.clone()) {
            return true;
        }
        current = parents.get(&team).cloned().flatten();
    }
    false
}

/// Commits, or in strict mode with problems rolls everything back.
pub(crate) async fn finish_import(
    write: crate::WriteTransaction,
    mut summary: ImportSummary,
    bad_rows: BadRows,
) -> StoreResult<ImportSummary> {
    let mut problems = bad_rows.found_before;
    problems.append(&mut summary.problems);
    problems.sort_by_key(|problem| problem.line);
    summary.problems = problems;
    if bad_rows.strict && !summary.problems.is_empty() {
        write.transaction.rollback().await?;
        summary.written = false;
        summary.inserted = 0;
        summary.updated = 0;
        summary.ownership_changes = 0;
    } else {
        write.commit().await?;
        summary.written = true;
    }
    Ok(summary)
}
