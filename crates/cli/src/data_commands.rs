//! `allot import` and `allot export`: CSV files (and Excel workbooks) in, CSV out, with every bad
//! row reported by line (a workbook's row) and column.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::ProgressBar;

use allot_core::Clock;
use allot_files::csv::{self as csv_files, CustomerRows, CustomerWriter, ValueWriter};
use allot_files::import::{as_csv, import_csv, shift_lines};
use allot_files::spreadsheet::is_workbook;
use allot_store::customers::{CustomerWrite, OwnerChangeSource};
use allot_store::imports::{BadRows, ImportSummary, RowProblem};
use allot_store::Store;

use crate::{progress_bar, DataKind, ExportFormat, ImportKind};

/// Imports a file, CSV or (by its extension) an Excel workbook; the exit status is 2 when some
/// rows were bad.
pub async fn import(
    store: &Store,
    kind: ImportKind,
    file: &Path,
    sheet: Option<&str>,
    strict: bool,
    clock: Clock,
) -> Result<std::process::ExitCode> {
    let open = || -> Result<BufReader<File>> {
        Ok(BufReader::new(
            File::open(file).with_context(|| format!("opening {}", file.display()))?,
        ))
    };
    let name = file.to_string_lossy();
    let summary = if is_workbook(&name) {
        let bytes = std::fs::read(file).with_context(|| format!("opening {}", file.display()))?;
        let (csv, rows_above) = as_csv(&name, bytes, sheet, clock)?;
        let mut summary = import_rows(store, kind, io::Cursor::new(csv), strict, clock).await?;
        shift_lines(&mut summary, rows_above);
        summary
    } else if sheet.is_some() {
        anyhow::bail!(
            "--sheet: {} is not an Excel workbook (.xlsx)",
            file.display()
        );
    } else if kind == ImportKind::Customers {
        import_customers(store, open()?, file, strict, clock).await?
    } else {
        import_rows(store, kind, open()?, strict, clock).await?
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

/// A whole file read, then written with a bar of the rows written.
async fn import_rows<R: io::Read + Send + 'static>(
    store: &Store,
    kind: ImportKind,
    reader: R,
    strict: bool,
    clock: Clock,
) -> Result<ImportSummary> {
    let bar = progress_bar(0, "importing (rows)");
    let tick = |done: u64| bar.set_position(done);
    let summary = import_csv(store, kind.of_files(), reader, strict, clock, &tick).await?;
    bar.finish_and_clear();
    Ok(summary)
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
pub async fn export(
    store: &Store,
    kind: DataKind,
    out: Option<&Path>,
    format: ExportFormat,
) -> Result<()> {
    if format == ExportFormat::Json && !matches!(kind, DataKind::Events) {
        anyhow::bail!(
            "--format json: only events export as JSON; the others are CSV in the import format"
        );
    }
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
        DataKind::Events => export_events(store, writer, format).await?,
    }
    Ok(())
}

/// The columns of `allot export events`, as the API's `Event` names them.
const EVENT_HEADER: [&str; 10] = [
    "id",
    "at",
    "kind",
    "customer_id",
    "from_rep_id",
    "to_rep_id",
    "actor",
    "reason",
    "reason_kind",
    "rule",
];

/// Where `export events` writes.
enum EventSink {
    Csv(Box<csv::Writer<Box<dyn Write>>>),
    JsonLines(Box<dyn Write>),
}

/// Every event, oldest first, paged by id (the log is append-only, so paging never skips one).
async fn export_events(store: &Store, writer: Box<dyn Write>, format: ExportFormat) -> Result<()> {
    use allot_store::events::EventFilter;
    let mut sink = match format {
        ExportFormat::Csv => {
            let mut csv_writer = csv::Writer::from_writer(writer);
            csv_writer.write_record(EVENT_HEADER)?;
            EventSink::Csv(Box::new(csv_writer))
        }
        ExportFormat::Json => EventSink::JsonLines(writer),
    };
    let mut after_id = 0;
    loop {
        let page = store
            .list_events(&EventFilter {
                after_id: Some(after_id),
                limit: 10_000,
                ..Default::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        after_id = last.id;
        for event in &page {
            match &mut sink {
                EventSink::Csv(csv_writer) => csv_writer.write_record([
                    event.id.to_string().as_str(),
                    &event.at,
                    &event.kind,
                    &event.customer_id,
                    event.from_rep_id.as_deref().unwrap_or_default(),
                    event.to_rep_id.as_deref().unwrap_or_default(),
                    &event.actor,
                    &event.reason,
                    event.reason_kind.as_deref().unwrap_or_default(),
                    event.rule.as_deref().unwrap_or_default(),
                ])?,
                EventSink::JsonLines(writer) => {
                    serde_json::to_writer(&mut *writer, event)?;
                    writer.write_all(b"\n")?;
                }
            }
        }
    }
    match sink {
        EventSink::Csv(mut csv_writer) => csv_writer.flush()?,
        EventSink::JsonLines(mut writer) => writer.flush()?,
    }
    Ok(())
}
