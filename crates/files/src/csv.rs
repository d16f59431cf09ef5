//! Reading and writing the CSV formats (UTF-8, header row) of teams, reps, customers, transactions,
//! interactions and tickets. Customer files stream: their rows are read as the store takes them.

use std::io::{Read, Write};

use crate::{FileError, Result};
use allot_core::activity::{
    Interaction, InteractionFields, TicketFields, Transaction, TransactionFields,
};
use allot_core::customer::{customer_column_for_header, is_attribute_key};
use allot_core::input::{RepFields, TeamFields};
use allot_core::update::GivenColumns;
use allot_core::{Customer, CustomerFields, FieldErrors, Rep, Team};
use allot_store::customers::CustomerImportRow;
use allot_store::imports::{ImportRow, RowProblem};

/// Rows that parsed, and the problems of those that did not.
pub struct ParsedFile<T> {
    pub rows: Vec<T>,
    pub problems: Vec<RowProblem>,
}

/// A CSV file's header, checked, and its records as `(line, values)` or the problem of a
/// record that cannot be read.
struct CsvRecords<R: Read> {
    reader: csv::Reader<R>,
    headers: Vec<String>,
}

impl<R: Read> CsvRecords<R> {
    /// Opens the file and checks its header: every column known (`known_header`), none twice,
    /// `required_column` present. Spreadsheet programs often save UTF-8 with a byte-order
    /// mark; it is dropped.
    fn open(
        reader: R,
        required_column: Option<&str>,
        known_header: impl Fn(&str) -> bool,
    ) -> Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(reader);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|error| FileError::Format(format!("line 1: reading the header row: {error}")))?
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let name = name.trim();
                let name = if index == 0 {
                    name.trim_start_matches('\u{feff}')
                } else {
                    name
                };
                name.to_string()
            })
            .collect();
        for (index, header) in headers.iter().enumerate() {
            let shown = header.escape_debug();
            if !known_header(header) {
                return Err(FileError::Format(format!("line 1, column '{shown}': unknown column (check the spelling, or name custom attributes attr.KEY with letters, digits, '_' or '-')")));
            }
            if headers[..index].contains(header) {
                return Err(FileError::Format(format!(
                    "line 1, column '{shown}': the column appears twice in the header"
                )));
            }
        }
        if let Some(required) = required_column {
            if !headers.iter().any(|header| header == required) {
                return Err(FileError::Format(format!(
                    "line 1: the header row has no '{required}' column"
                )));
            }
        }
        Ok(CsvRecords { reader, headers })
    }

    /// The next record, or the problem that made it unreadable.
    fn next_record(&mut self) -> Option<Result<(usize, Vec<String>), RowProblem>> {
        let mut record = csv::StringRecord::new();
        match self.reader.read_record(&mut record) {
            Ok(false) => None,
            Ok(true) => {
                let line = record
                    .position()
                    .map_or(0, |position| position.line() as usize);
                if record.len() != self.headers.len() {
                    return Some(Err(self.width_problem(line, record.len())));
                }
                Some(Ok((line, record.iter().map(str::to_string).collect())))
            }
            Err(error) => {
                let line = error
                    .position()
                    .map_or(0, |position| position.line() as usize);
                // Name the column where the reader knows it (text that is not UTF-8).
                let column = match error.kind() {
                    csv::ErrorKind::Utf8 { err, .. } => self.headers.get(err.field()).cloned(),
                    _ => None,
                };
                let message = match &column {
                    Some(_) => "is not UTF-8 text (save the file as UTF-8)".to_string(),
                    None => format!("not readable as CSV: {error}"),
                };
                Some(Err(RowProblem::invalid(
                    line,
                    column.unwrap_or_else(|| "-".to_string()),
                    message,
                )))
            }
        }
    }

    /// A row with fewer or more values than the header: the first column it lacks, or the
    /// first value beyond the header.
    fn width_problem(&self, line: usize, values: usize) -> RowProblem {
        let columns = self.headers.len();
        if values < columns {
            RowProblem::invalid(
                line,
                self.headers[values].clone(),
                format!(
                    "has {values} values but the header has {columns} columns: no value for '{}' and after",
                    self.headers[values]
                ),
            )
        } else {
            RowProblem::invalid(
                line,
                format!("column {}", columns + 1),
                format!(
                    "has {values} values but the header has {columns} columns: column {} and after have no header",
                    columns + 1
                ),
            )
        }
    }

    fn given(&self) -> GivenColumns {
        GivenColumns::from_header(&self.headers)
    }

    /// Bytes read so far, for progress.
    fn position(&self) -> u64 {
        self.reader.position().byte()
    }
}

/// Reads a whole file, turning each record into a row with `parse_row`.
fn read_rows<T>(
    reader: impl Read,
    required_column: &str,
    known_header: impl Fn(&str) -> bool,
    mut parse_row: impl FnMut(usize, &[String], Vec<String>) -> Result<T, FieldErrors>,
) -> Result<ParsedFile<T>> {
    let mut records = CsvRecords::open(reader, Some(required_column), known_header)?;
    let mut parsed = ParsedFile {
        rows: Vec::new(),
        problems: Vec::new(),
    };
    while let Some(record) = records.next_record() {
        match record {
            Ok((line, values)) => match parse_row(line, &records.headers, values) {
                Ok(row) => parsed.rows.push(row),
                Err(errors) => parsed.problems.extend(
                    errors
                        .into_vec()
                        .into_iter()
                        .map(|error| RowProblem::invalid(line, error.field, error.message)),
                ),
            },
            Err(problem) => parsed.problems.push(problem),
        }
    }
    Ok(parsed)
}

/// Sets every column of one row on a `*Fields` record; a bad column name is the row's error.
macro_rules! fields_of_row {
    ($fields:ty, $headers:expr, $values:expr) => {{
        let mut fields = <$fields>::default();
        for (header, value) in $headers.iter().zip($values) {
            fields.set(header, value)?;
        }
        fields
    }};
}

pub fn read_teams(reader: impl Read) -> Result<ParsedFile<ImportRow<Team>>> {
    read_rows(
        reader,
        "id",
        |header| TeamFields::COLUMNS.contains(&header),
        |line, headers, values| {
            let fields = fields_of_row!(TeamFields, headers, values);
            Ok(ImportRow {
                line,
                record: fields.into_team()?,
                given: GivenColumns::from_header(headers),
            })
        },
    )
}

pub fn read_reps(reader: impl Read) -> Result<ParsedFile<ImportRow<Rep>>> {
    read_rows(
        reader,
        "id",
        |header| RepFields::COLUMNS.contains(&header),
        |line, headers, values| {
            let fields = fields_of_row!(RepFields, headers, values);
            Ok(ImportRow {
                line,
                record: fields.into_rep()?,
                given: GivenColumns::from_header(headers),
            })
        },
    )
}

/// The rows of a customers file, read as they are taken. Headers are the columns' names or
/// their aliases (客户名称, 电话, …) and `attr.KEY`; a file changes only the columns it has,
/// so `id,tier` updates tiers and nothing else, and a file without `owner_id` keeps every
/// owner. Rows stay text: the store checks them against the organisation's tiers and stages.
pub struct CustomerRows<R: Read> {
    records: CsvRecords<R>,
    /// The header's columns by their API names (an alias is taken as its column).
    given: GivenColumns,
    canonical_headers: Vec<String>,
}

impl<R: Read> CustomerRows<R> {
    pub fn open(reader: R) -> Result<Self> {
        let is_known = |header: &str| {
            customer_column_for_header(header).is_some()
                || header.strip_prefix("attr.").is_some_and(is_attribute_key)
        };
        // `id` may come as an alias too.
        let mut records = CsvRecords::open(reader, None, is_known)?;
        let canonical_headers: Vec<String> = records
            .headers
            .iter()
            .map(|header| match customer_column_for_header(header) {
                Some(column) => column.name.to_string(),
                None => header.clone(),
            })
            .collect();
        if !canonical_headers.iter().any(|header| header == "id") {
            return Err(FileError::Format(
                "line 1: the header row has no 'id' column (or 客户编号)".to_string(),
            ));
        }
        for (index, header) in canonical_headers.iter().enumerate() {
            if canonical_headers[..index].contains(header) {
                return Err(FileError::Format(format!(
                    "line 1, column '{}': names the column '{header}' a second time",
                    records.headers[index]
                )));
            }
        }
        let given = GivenColumns::from_header(&canonical_headers);
        records.headers = canonical_headers.clone();
        Ok(CustomerRows {
            records,
            given,
            canonical_headers,
        })
    }

    /// Bytes read so far.
    pub fn position(&self) -> u64 {
        self.records.position()
    }
}

impl<R: Read> Iterator for CustomerRows<R> {
    type Item = Result<CustomerImportRow, RowProblem>;

    fn next(&mut self) -> Option<Self::Item> {
        let record = self.records.next_record()?;
        Some(record.and_then(|(line, values)| {
            let mut fields = CustomerFields::default();
            for (header, value) in self.canonical_headers.iter().zip(values) {
                fields
                    .set(header, value)
                    .map_err(|error| RowProblem::invalid(line, error.field, error.message))?;
            }
            Ok(ImportRow {
                line,
                record: fields,
                given: self.given.clone(),
            })
        }))
    }
}

pub fn read_transactions(reader: impl Read) -> Result<ParsedFile<(usize, Transaction)>> {
    read_rows(
        reader,
        "customer_id",
        |header| TransactionFields::COLUMNS.contains(&header),
        |line, headers, values| {
            let fields = fields_of_row!(TransactionFields, headers, values);
            Ok((line, fields.into_transaction()?))
        },
    )
}

pub fn read_interactions(reader: impl Read) -> Result<ParsedFile<(usize, Interaction)>> {
    read_rows(
        reader,
        "customer_id",
        |header| InteractionFields::COLUMNS.contains(&header),
        |line, headers, values| {
            let fields = fields_of_row!(InteractionFields, headers, values);
            Ok((line, fields.into_interaction()?))
        },
    )
}

/// Tickets; for a ticket already stored, only the file's columns change.
/// Tickets stay text here: a row may give only some columns of a stored ticket (`id,closed_at`
/// closes it), so it is checked once laid over the stored one, by the store.
pub fn read_tickets(reader: impl Read) -> Result<ParsedFile<ImportRow<TicketFields>>> {
    let mut records = CsvRecords::open(reader, Some("id"), |header| {
        TicketFields::COLUMNS.contains(&header)
    })?;
    let given = records.given();
    let mut parsed = ParsedFile {
        rows: Vec::new(),
        problems: Vec::new(),
    };
    while let Some(record) = records.next_record() {
        match record {
            Ok((line, values)) => {
                let mut fields = TicketFields::default();
                let mut problem = None;
                for (header, value) in records.headers.iter().zip(values) {
                    if let Err(error) = fields.set(header, value) {
                        problem = Some(RowProblem::invalid(line, error.field, error.message));
                        break;
                    }
                }
                match problem {
                    Some(problem) => parsed.problems.push(problem),
                    None => parsed.rows.push(ImportRow {
                        line,
                        record: fields,
                        given: given.clone(),
                    }),
                }
            }
            Err(problem) => parsed.problems.push(problem),
        }
    }
    Ok(parsed)
}

pub fn write_teams(writer: impl Write, teams: &[Team]) -> Result<()> {
    let mut csv_writer = csv::Writer::from_writer(writer);
    csv_writer.write_record(TeamFields::COLUMNS)?;
    for team in teams {
        csv_writer.write_record(TeamFields::from_team(team).values())?;
    }
    csv_writer.flush()?;
    Ok(())
}

pub fn write_reps(writer: impl Write, reps: &[Rep]) -> Result<()> {
    let mut csv_writer = csv::Writer::from_writer(writer);
    csv_writer.write_record(RepFields::COLUMNS)?;
    for rep in reps {
        csv_writer.write_record(RepFields::from_rep(rep).values())?;
    }
    csv_writer.flush()?;
    Ok(())
}

/// Writes customers in the import format: the exported columns, then one `attr.KEY` column per
/// attribute key (`attribute_keys`, sorted) so that the file imports back as it was.
pub struct CustomerWriter<W: Write> {
    writer: csv::Writer<W>,
    attribute_keys: Vec<String>,
}

impl<W: Write> CustomerWriter<W> {
    pub fn new(writer: W, attribute_keys: Vec<String>) -> Result<Self> {
        let mut writer = csv::Writer::from_writer(writer);
        writer.write_record(CustomerFields::export_header(&attribute_keys))?;
        Ok(CustomerWriter {
            writer,
            attribute_keys,
        })
    }

    pub fn write(&mut self, customers: &[Customer]) -> Result<()> {
        for customer in customers {
            self.writer.write_record(
                CustomerFields::from_customer(customer).values(&self.attribute_keys),
            )?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.writer.flush()?;
        Ok(())
    }
}

/// The columns of `allot export values`: one row per graded customer (not an import format).
pub const VALUE_COLUMNS: [&str; 22] = [
    "customer_id",
    "owner_id",
    "tier",
    "computed_tier",
    "abc",
    "score",
    "rfm_segment",
    "recency_days",
    "frequency",
    "monetary",
    "recency_score",
    "frequency_score",
    "monetary_score",
    "p_alive",
    "expected_purchases",
    "clv",
    "health",
    "at_risk",
    "health_recency",
    "health_interaction",
    "health_tickets",
    "as_of",
];

/// Writes graded customers' values under [`VALUE_COLUMNS`]; unknown measures are empty cells.
pub struct ValueWriter<W: Write> {
    writer: csv::Writer<W>,
}

impl<W: Write> ValueWriter<W> {
    pub fn new(writer: W) -> Result<Self> {
        let mut writer = csv::Writer::from_writer(writer);
        writer.write_record(VALUE_COLUMNS)?;
        Ok(ValueWriter { writer })
    }

    pub fn write(&mut self, rows: &[allot_store::value::ValueRow]) -> Result<()> {
        fn cell<T: ToString>(value: Option<T>) -> String {
            value.map(|value| value.to_string()).unwrap_or_default()
        }
        for row in rows {
            self.writer.write_record([
                row.customer_id.clone(),
                cell(row.owner_id.as_ref()),
                row.tier.clone(),
                row.computed_tier.clone(),
                row.abc.clone(),
                row.score.to_string(),
                cell(row.rfm_segment.as_ref()),
                cell(row.recency_days),
                cell(row.frequency),
                cell(row.monetary()),
                cell(row.recency_score),
                cell(row.frequency_score),
                cell(row.monetary_score),
                cell(row.p_alive),
                cell(row.expected_purchases),
                cell(row.clv),
                cell(row.health),
                row.at_risk.to_string(),
                cell(row.health_part("recency")),
                cell(row.health_part("interaction")),
                cell(row.health_part("tickets")),
                row.as_of.text(),
            ])?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.writer.flush()?;
        Ok(())
    }
}
