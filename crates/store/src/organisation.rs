//! Teams and reps: import (upsert by id), listing and lookup.

use std::collections::{BTreeMap, HashMap, HashSet};

use allot_core::strategy::RepState;
use allot_core::update::GivenColumns;
use allot_core::{FieldErrors, Rep, RepId, Team, TeamId};
use serde::Serialize;
use sqlx::Row;

use crate::error::{StoreError, StoreResult};
use crate::rows::{rep_state_from_row, team_from_row, REP_COLUMNS, TEAM_COLUMNS};
use crate::Store;

/// A row that could not be imported: its line in the file, the column and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowProblem {
    pub line: usize,
    pub field: String,
    pub message: String,
    /// A value that is wrong in itself (a bad date, an absence that ends before it starts),
    /// as opposed to one that clashes with stored data (an unknown team, a cycle). The API
    /// answers the first with 422 and the second with 409.
    #[serde(skip)]
    pub invalid_value: bool,
}

impl RowProblem {
    /// A problem of the row against the stored data or the rest of the file.
    pub fn conflict(line: usize, field: impl Into<String>, message: impl Into<String>) -> Self {
        RowProblem {
            line,
            field: field.into(),
            message: message.into(),
            invalid_value: false,
        }
    }

    /// A value of the row that is wrong whatever else is stored.
    pub fn invalid(line: usize, field: impl Into<String>, message: impl Into<String>) -> Self {
        RowProblem {
            invalid_value: true,
            ..RowProblem::conflict(line, field, message)
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    pub inserted: usize,
    pub updated: usize,
    pub ownership_changes: usize,
    pub problems: Vec<RowProblem>,
    /// Worth knowing but not wrong: the rows were written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<RowProblem>,
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

/// One record to import: its line in the file, the record as parsed, and the columns it
/// carried. An existing record changes only in those columns.
#[derive(Debug, Clone)]
pub struct ImportRow<T> {
    pub line: usize,
    pub record: T,
    pub given: GivenColumns,
}

impl<T> ImportRow<T> {
    /// A row that gives every one of `columns`, as a full export or a generated record does.
    pub fn whole(line: usize, record: T, columns: &[&str]) -> Self {
        ImportRow {
            line,
            record,
            given: GivenColumns::all(columns.iter().copied()),
        }
    }
}

/// Remembers the line of each id, so a second row for the same id is reported instead of
/// silently overwriting the first (or being counted as a second insert).
#[derive(Default)]
pub(crate) struct FirstLines(std::collections::HashMap<String, usize>);

impl FirstLines {
    pub(crate) fn problem(&mut self, line: usize, id: &str) -> Option<RowProblem> {
        match self.0.get(id) {
            Some(first) => Some(RowProblem::conflict(
                line,
                "id",
                format!("'{id}' already appears on line {first}; give each id once per file"),
            )),
            None => {
                self.0.insert(id.to_string(), line);
                None
            }
        }
    }
}

pub(crate) fn problems_of(line: usize, errors: FieldErrors) -> impl Iterator<Item = RowProblem> {
    errors
        .into_vec()
        .into_iter()
        .map(move |error| RowProblem::invalid(line, error.field, error.message))
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
        let stored: BTreeMap<TeamId, Team> = self
            .list_teams_in(&mut write.transaction)
            .await?
            .into_iter()
            .map(|team| (team.id.clone(), team))
            .collect();
        let reps = existing_ids(&mut write.transaction, "reps").await?;
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
        let rejected = reject_bad_parents(&stored, &merged);
        let mut written = 0;
        for (line, team) in &merged {
            if let Some(problem) = rejected.get(line) {
                summary.problems.push(problem.clone());
                continue;
            }
            if let Some(manager) = &team.manager_id {
                if !reps.contains(manager.as_str()) {
                    summary.warnings.push(RowProblem::conflict(*line, "manager_id", format!(
                            "rep '{manager}' does not exist yet; import reps next (the team is kept)"
                        )));
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
        let (teams, reps) = load_teams_and_reps(&mut write.transaction).await?;
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
            upsert_rep(&mut write.transaction, &rep).await?;
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
            let found = sqlx::query("SELECT id FROM reps WHERE id = $1")
                .bind(manager.as_str())
                .fetch_optional(&self.pool)
                .await?;
            if found.is_none() {
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

/// The rows of a teams file whose parent is missing or would close a cycle, by line.
///
/// Rejecting a row can strand another: a team whose parent is a rejected row of the same file
/// would point at nothing. So the check repeats until no more rows fall; a rejected row that
/// updates a stored team leaves that team's stored parent in place for the others' checks.
fn reject_bad_parents(
    stored: &BTreeMap<TeamId, Team>,
    merged: &[(usize, Team)],
) -> BTreeMap<usize, RowProblem> {
    let rows = merged
        .iter()
        .map(|(line, team)| (*line, &team.id, team.parent_id.as_ref()));
    let stored = stored
        .values()
        .map(|team| (&team.id, team.parent_id.as_ref()));
    reject_broken_parent_links(stored, rows, "team")
}

/// The rows of a file whose `parent_id` names a record that is neither stored nor an accepted
/// row of the file, or closes a cycle of parents; repeated until no more rows fall, because
/// rejecting one row strands the rows that name it. Shared by teams and customers.
pub(crate) fn reject_broken_parent_links<'a, Id>(
    stored: impl Iterator<Item = (&'a Id, Option<&'a Id>)>,
    rows: impl Iterator<Item = (usize, &'a Id, Option<&'a Id>)> + Clone,
    entity: &str,
) -> BTreeMap<usize, RowProblem>
where
    Id: Eq + std::hash::Hash + std::fmt::Display + 'a,
{
    let mut parents: HashMap<&Id, Option<&Id>> = stored.collect();
    // What each row displaced, to put back when the row is rejected.
    let mut displaced: HashMap<&Id, Option<Option<&Id>>> = HashMap::new();
    for (_, id, parent) in rows.clone() {
        displaced.insert(id, parents.insert(id, parent));
    }
    // The rows naming each id as their parent, to reject them along with it.
    let mut children: HashMap<&Id, Vec<(usize, &Id)>> = HashMap::new();
    for (line, id, parent) in rows.clone() {
        if let Some(parent) = parent {
            children.entry(parent).or_default().push((line, id));
        }
    }
    let mut rejected: BTreeMap<usize, RowProblem> = BTreeMap::new();
    loop {
        let mut fell = Vec::new();
        for (line, id, parent) in rows.clone() {
            let Some(parent) = parent else { continue };
            if rejected.contains_key(&line) {
                continue;
            }
            if !parents.contains_key(parent) {
                fell.push((
                    id,
                    RowProblem::conflict(
                        line,
                        "parent_id",
                        format!("{entity} '{parent}' does not exist"),
                    ),
                ));
            } else if leads_back_to_itself(&parents, id) {
                fell.push((
                    id,
                    RowProblem::conflict(
                        line,
                        "parent_id",
                        format!("making '{parent}' the parent of '{id}' forms a cycle"),
                    ),
                ));
            }
        }
        if fell.is_empty() {
            return rejected;
        }
        // A rejected row of a record that is not stored leaves its children nothing to point
        // at: they fall with it, and theirs with them, in one sweep. A rejected row of a stored
        // record puts its stored parent back, which the next pass checks again (rarely needed:
        // only a cycle through that stored link can appear).
        // Each row that fell in this pass keeps its own reason; the sweep adds the others.
        let mut sweep: Vec<(&Id, usize)> = Vec::with_capacity(fell.len());
        for (id, problem) in fell {
            sweep.push((id, problem.line));
            rejected.insert(problem.line, problem);
        }
        while let Some((id, line)) = sweep.pop() {
            match displaced.get(id).copied().flatten() {
                Some(stored_parent) => {
                    parents.insert(id, stored_parent);
                }
                None => {
                    parents.remove(id);
                    for &(child_line, child) in children.get(id).into_iter().flatten() {
                        if rejected.contains_key(&child_line) {
                            continue;
                        }
                        rejected.insert(
                            child_line,
                            RowProblem::conflict(
                                child_line,
                                "parent_id",
                                format!(
                                    "{entity} '{id}' is not imported: its own row (line {line}) was rejected"
                                ),
                            ),
                        );
                        sweep.push((child, child_line));
                    }
                }
            }
        }
    }
}

/// Whether following parents from `start` comes back to `start`.
fn leads_back_to_itself<Id: Eq + std::hash::Hash>(
    parents: &HashMap<&Id, Option<&Id>>,
    start: &Id,
) -> bool {
    let mut seen = HashSet::new();
    let mut current = parents.get(start).copied().flatten();
    while let Some(record) = current {
        if record == start {
            return true;
        }
        if !seen.insert(record) {
            // A loop further up that `start` only leads into: its own rows are rejected.
            return false;
        }
        current = parents.get(record).copied().flatten();
    }
    false
}

/// The outcome of a one-record import made for the API: its bad values (422), else its first
/// clash with stored data (409), or whether the record was created.
pub(crate) fn single_record_outcome(summary: ImportSummary) -> StoreResult<bool> {
    let mut problems = summary.problems.into_iter().peekable();
    match problems.peek() {
        None => Ok(summary.inserted == 1),
        // Every bad value at once, as a file reports them, not only the first.
        Some(first) if first.invalid_value => {
            let errors = problems
                .filter(|problem| problem.invalid_value)
                .map(|problem| allot_core::FieldError::new(problem.field, problem.message))
                .collect();
            Err(StoreError::InvalidRecord(
                FieldErrors::from_vec(errors).expect("the first problem is one"),
            ))
        }
        Some(_) => Err(problems.next().expect("peeked").into_error()),
    }
}

impl RowProblem {
    /// The error a one-record change (an API call) fails with.
    pub(crate) fn into_error(self) -> StoreError {
        if self.invalid_value {
            StoreError::Invalid(allot_core::FieldError::new(self.field, self.message))
        } else {
            StoreError::Conflict {
                message: self.message,
                field: Some(self.field),
            }
        }
    }
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
