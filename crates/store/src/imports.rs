//! What every import shares: rows with their lines and given columns, problems by line and
//! column, the summary, strict mode, and the check of parent links within a file.

use std::collections::{BTreeMap, HashMap, HashSet};

use allot_core::update::GivenColumns;
use allot_core::FieldErrors;
use serde::Serialize;

use crate::error::{StoreError, StoreResult};
use crate::WriteTransaction;

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
    /// New rows that matched a stored customer (撞单): kept in a conflict, not created.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<DuplicateRow>,
}

/// A new row that duplicates a stored customer, and the conflict that keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DuplicateRow {
    pub line: usize,
    pub id: String,
    pub conflict_id: i64,
    /// The fields that matched (`name`, `phone`, `email`, `credit_code`).
    pub fields: Vec<String>,
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
    if let (None, Some(duplicate)) = (problems.peek(), summary.duplicates.first()) {
        return Err(StoreError::Denied {
            code: "duplicate",
            message: format!(
                "customer {} was not created: its {} matches an existing customer (撞单); it is kept in conflict {} (GET /api/v1/conflicts/{}) for the existing owner's manager to settle",
                duplicate.id,
                duplicate.fields.join(", "),
                duplicate.conflict_id,
                duplicate.conflict_id
            ),
        });
    }
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
    write: WriteTransaction,
    mut summary: ImportSummary,
    bad_rows: BadRows,
) -> StoreResult<ImportSummary> {
    let mut problems = bad_rows.found_before;
    problems.append(&mut summary.problems);
    problems.sort_by_key(|problem| problem.line);
    summary.problems = problems;
    if bad_rows.strict && !summary.problems.is_empty() {
        write.rollback().await?;
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
