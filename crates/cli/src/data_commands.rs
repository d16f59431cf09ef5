//! `allot import` and `allot export`: CSV files in and out, with every bad row reported by line and column.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::ProgressBar;

use allot_core::Clock;
use allot_store::customers::{CustomerWrite, OwnerChangeSource};
use allot_store::imports::{BadRows, ImportSummary, RowProblem};
use allot_store::Store;

use crate::csv_files::{self, CustomerRows, CustomerWriter, ValueWriter};
use crate::{progress_bar, DataKind, ImportKind};

/// Imports a file; the exit status is 2 when some rows were bad.
pub async fn import(
    store: &Store,
    kind: ImportKind,
    file: &Path,
    strict: bool,
    clock: Clock,
) -> Result<std::process::ExitCode> {
    let open = || -> Result<BufReader<File>> {
        Ok(BufReader::new(
            File::open(file).with_context(|| format!("opening {}", file.display()))?,
        ))
    };
    let summary = match kind {
        ImportKind::Customers => import_customers(store, open()?, file, strict, clock).await?,
        other => import_whole_file(store, other, open()?, strict, clock).await?,
    };
    print_import_summary(kind, file, &summary);
    Ok(if summary.problems.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(2)
    })
}

/// Customers stream from the file into the store, so a file of a million rows is never held
/// whole; the progress bar follows the bytes read.
async fn import_customers(
    store: &Store,
    reader: BufReader<File>,
    file: &Path,
    strict: bool,
    clock: Clock,
) -> Result<ImportSummary> {
    let length = std::fs::metadata(file)
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    let bar = progress_bar(length, "importing (bytes)");
    let rows = CustomerRows::open(reader)?;
    let rows = ProgressRows {
        rows,
        bar: bar.clone(),
    };
    let summary = store
        .import_customers(
            rows,
            BadRows::new(strict),
            CustomerWrite {
                actor: "import",
                source: OwnerChangeSource::Import,
                clock,
                create_only: false,
            },
            &|_| {},
        )
        .await?;
    bar.finish_and_clear();
    Ok(summary)
}

/// Rows that move the progress bar as they are read (on the store's reading thread: the bar
/// is a shared handle).
struct ProgressRows<R: io::Read> {
    rows: CustomerRows<R>,
    bar: ProgressBar,
}

impl<R: io::Read> Iterator for ProgressRows<R> {
    type Item = <CustomerRows<R> as Iterator>::Item;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.rows.next();
        self.bar.set_position(self.rows.position());
        row
    }
}

async fn import_whole_file(
    store: &Store,
    kind: ImportKind,
    reader: BufReader<File>,
    strict: bool,
    clock: Clock,
) -> Result<ImportSummary> {
    macro_rules! import_with {
        ($read:expr, $store_call:ident $(, $extra:expr)*) => {{
            let parsed = $read(reader)?;
            let bar = progress_bar(parsed.rows.len() as u64, "importing");
            let tick = |done: u64| bar.set_position(done);
            // The rows that parsed are still checked against the database, so a strict run
            // lists bad references together with parse errors, and still writes nothing.
            let bad_rows = BadRows::new(strict).found_before(parsed.problems);
            let summary = store.$store_call(parsed.rows, bad_rows $(, $extra)*, &tick).await?;
            bar.finish_and_clear();
            Ok(summary)
        }};
    }
    match kind {
        ImportKind::Teams => import_with!(csv_files::read_teams, import_teams),
        ImportKind::Reps => import_with!(csv_files::read_reps, import_reps),
        ImportKind::Transactions => {
            import_with!(csv_files::read_transactions, import_transactions, clock)
        }
        ImportKind::Interactions => {
            import_with!(csv_files::read_interactions, import_interactions, clock)
        }
        ImportKind::Tickets => import_with!(csv_files::read_tickets, import_tickets, clock),
        ImportKind::Customers => unreachable!("customers stream through import_customers"),
    }
}

fn print_problems(problems: &[RowProblem]) {
    for problem in problems {
        eprintln!(
            "line {}, column {}: {}",
            problem.line, problem.field, problem.message
        );
    }
}

fn print_import_summary(kind: ImportKind, file: &Path, summary: &ImportSummary) {
    print_problems(&summary.problems);
    for warning in &summary.warnings {
        if warning.line == 0 {
            eprintln!("warning: {}", warning.message);
        } else {
            eprintln!(
                "warning: line {}, column {}: {}",
                warning.line, warning.field, warning.message
            );
        }
    }
    let what = kind.plural();
    let bad_rows: std::collections::BTreeSet<usize> = summary
        .problems
        .iter()
        .map(|problem| problem.line)
        .collect();
    if summary.written {
        let ownership = if matches!(kind, ImportKind::Customers) {
            format!(", {} ownership change(s)", summary.ownership_changes)
        } else {
            String::new()
        };
        const DUPLICATES_LISTED: usize = 20;
        for duplicate in summary.duplicates.iter().take(DUPLICATES_LISTED) {
            println!(
                "line {}: {} duplicates an existing customer on {}: kept in conflict {} (allot conflicts show {})",
                duplicate.line,
                duplicate.id,
                duplicate.fields.join(", "),
                duplicate.conflict_id,
                duplicate.conflict_id
            );
        }
        if summary.duplicates.len() > DUPLICATES_LISTED {
            println!(
                "… and {} more duplicates (allot conflicts list --state open)",
                summary.duplicates.len() - DUPLICATES_LISTED
            );
        }
        let duplicates = if summary.duplicates.is_empty() {
            String::new()
        } else {
            format!(
                ", {} duplicate(s) of existing customers kept as conflicts (撞单)",
                summary.duplicates.len()
            )
        };
        println!(
            "{what} from {}: {} inserted, {} updated{ownership}{duplicates}, {} bad row(s){}",
            file.display(),
            summary.inserted,
            summary.updated,
            bad_rows.len(),
            if summary.problems.is_empty() {
                ""
            } else {
                " (listed above, not imported)"
            }
        );
    } else {
        println!(
            "{what} from {}: {} bad row(s); --strict, so nothing was written",
            file.display(),
            bad_rows.len()
        );
    }
}

/// Writes a kind of record as CSV in the import format, to `out` or stdout.
pub async fn export(store: &Store, kind: DataKind, out: Option<&Path>) -> Result<()> {
    let writer: Box<dyn Write> = match out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    match kind {
        DataKind::Teams => csv_files::write_teams(writer, &store.list_teams().await?)?,
        DataKind::Reps => {
            let reps: Vec<_> = store
                .list_reps()
                .await?
                .into_iter()
                .map(|state| state.rep)
                .collect();
            csv_files::write_reps(writer, &reps)?
        }
        DataKind::Customers => {
            let mut customers = CustomerWriter::new(writer, store.attribute_keys().await?)?;
            store
                .for_each_customer(|chunk| customers.write(chunk))
                .await?;
            customers.finish()?
        }
        DataKind::Values => {
            let mut values = ValueWriter::new(writer)?;
            store
                .for_each_customer_value(|chunk| values.write(chunk))
                .await?;
            values.finish()?
        }
    }
    Ok(())
}
