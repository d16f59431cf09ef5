//! One import of a file of any kind, CSV or Excel, as the CLI and the web UI run it: the rows
//! read and checked, one transaction for the file, every bad row reported by line (the sheet's
//! row for a workbook) and column.

use std::io::{Cursor, Read};

use allot_core::Clock;
use allot_store::customers::{CustomerWrite, OwnerChangeSource};
use allot_store::imports::{BadRows, ImportSummary, Progress};
use allot_store::Store;

use crate::csv::{self as csv_files, CustomerRows};
use crate::spreadsheet::{is_workbook, workbook_as_csv};
use crate::{FileError, Result};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Teams,
    Reps,
    Customers,
    Transactions,
    Interactions,
    Tickets,
}

impl ImportKind {
    pub const ALL: [ImportKind; 6] = [
        ImportKind::Teams,
        ImportKind::Reps,
        ImportKind::Customers,
        ImportKind::Transactions,
        ImportKind::Interactions,
        ImportKind::Tickets,
    ];

    pub fn plural(self) -> &'static str {
        match self {
            ImportKind::Teams => "teams",
            ImportKind::Reps => "reps",
            ImportKind::Customers => "customers",
            ImportKind::Transactions => "transactions",
            ImportKind::Interactions => "interactions",
            ImportKind::Tickets => "tickets",
        }
    }

    pub fn parse(text: &str) -> Option<ImportKind> {
        ImportKind::ALL
            .into_iter()
            .find(|kind| kind.plural() == text.trim())
    }
}

/// A file's bytes as CSV: a workbook (by its name) converted from sheet `sheet`, with the
/// number of lines to add to a CSV line to give the sheet's row; a CSV file as it is.
pub fn as_csv(
    name: &str,
    bytes: Vec<u8>,
    sheet: Option<&str>,
    clock: Clock,
) -> Result<(Vec<u8>, usize)> {
    if is_workbook(name) {
        let sheet = workbook_as_csv(bytes, sheet, clock.offset())?;
        Ok((sheet.csv, sheet.first_row - 1))
    } else if sheet.is_some() {
        Err(FileError::Format(format!(
            "{name} is not an Excel workbook (.xlsx): a sheet is only chosen in one"
        )))
    } else {
        Ok((bytes, 0))
    }
}

/// Imports `reader` (CSV) as `kind` in one transaction; with `strict`, any bad row writes
/// nothing. `progress` hears how many rows are done.
pub async fn import_csv<R: Read + Send + 'static>(
    store: &Store,
    kind: ImportKind,
    reader: R,
    strict: bool,
    clock: Clock,
    progress: Progress<'_>,
) -> Result<ImportSummary> {
    macro_rules! import_with {
        ($read:expr, $store_call:ident $(, $extra:expr)*) => {{
            let parsed = $read(reader)?;
            // The rows that parsed are still checked against the database, so a strict run
            // lists bad references together with parse errors, and still writes nothing.
            let bad_rows = BadRows::new(strict).found_before(parsed.problems);
            Ok(store.$store_call(parsed.rows, bad_rows $(, $extra)*, progress).await?)
        }};
    }
    match kind {
        ImportKind::Customers => Ok(store
            .import_customers(
                CustomerRows::open(reader)?,
                BadRows::new(strict),
                CustomerWrite {
                    actor: "import",
                    source: OwnerChangeSource::Import,
                    clock,
                    create_only: false,
                },
                progress,
            )
            .await?),
        ImportKind::Teams => import_with!(csv_files::read_teams, import_teams),
        ImportKind::Reps => import_with!(csv_files::read_reps, import_reps),
        ImportKind::Transactions => {
            import_with!(csv_files::read_transactions, import_transactions, clock)
        }
        ImportKind::Interactions => {
            import_with!(csv_files::read_interactions, import_interactions, clock)
        }
        ImportKind::Tickets => import_with!(csv_files::read_tickets, import_tickets, clock),
    }
}

/// Imports a file held in memory (an upload), CSV or Excel by its name.
pub async fn import_bytes(
    store: &Store,
    kind: ImportKind,
    name: &str,
    bytes: Vec<u8>,
    sheet: Option<&str>,
    strict: bool,
    clock: Clock,
) -> Result<ImportSummary> {
    let (csv, rows_above) = as_csv(name, bytes, sheet, clock)?;
    let mut summary = import_csv(store, kind, Cursor::new(csv), strict, clock, &|_| {}).await?;
    shift_lines(&mut summary, rows_above);
    Ok(summary)
}

/// Moves the lines of a summary from CSV lines to sheet rows.
pub fn shift_lines(summary: &mut ImportSummary, rows_above: usize) {
    if rows_above == 0 {
        return;
    }
    for problem in summary
        .problems
        .iter_mut()
        .chain(summary.warnings.iter_mut())
        .filter(|problem| problem.line > 0)
    {
        problem.line += rows_above;
    }
    for duplicate in &mut summary.duplicates {
        duplicate.line += rows_above;
    }
}
