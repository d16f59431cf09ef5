//! Reading and writing the CSV formats (UTF-8, header row) of teams, reps, customers, transactions and interactions.

use std::io::{Read, Write};

use allot_core::activity::{
    Interaction, InteractionFields, TicketFields, Transaction, TransactionFields,
};
use allot_core::input::{CustomerFields, RepFields, TeamFields};
use allot_core::update::GivenColumns;
use allot_core::{Customer, FieldErrors, Rep, Team};
use allot_store::customers::CustomerImportRow;
use allot_store::organisation::{ImportRow, RowProblem};
use anyhow::{Context, Result};

/// Rows that parsed, and the problems of those that did not.
pub struct ParsedFile<T> {
    pub rows: Vec<T>,
    pub problems: Vec<RowProblem>,
}

/// Reads a CSV file into column→value maps, calling `parse_row` for each data row.
/// `parse_row` gets the header names and the values; it returns a record or every field error
/// of the row.
fn read_rows<T>(
    reader: impl Read,
    required_column: &str,
    known_header: impl Fn(&str) -> bool,
    mut parse_row: impl FnMut(usize, &[String], Vec<String>) -> Result<T, FieldErrors>,
) -> Result<ParsedFile<T>> {
    let mut csv_reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let headers: Vec<String> = csv_reader
        .headers()
        .context("reading the header row")?
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let name = name.trim();
            // Spreadsheet programs often save UTF-8 with a byte-order mark.
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
            anyhow::bail!("line 1, column '{shown}': unknown column (check the spelling, or name custom attributes attr.KEY with letters, digits, '_' or '-')");
        }
        if headers[..index].contains(header) {
            anyhow::bail!("line 1, column '{shown}': the column appears twice in the header");
        }
    }
    if !headers.iter().any(|header| header == required_column) {
        anyhow::bail!("line 1: the header row has no '{required_column}' column");
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for record in csv_reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error
                    .position()
                    .map_or(0, |position| position.line() as usize);
                // Name the column where the reader knows it (text that is not UTF-8).
                let column = match error.kind() {
                    csv::ErrorKind::Utf8 { err, .. } => headers.get(err.field()).cloned(),
                    _ => None,
                };
                let message = match &column {
                    Some(_) => "is not UTF-8 text (save the file as UTF-8)".to_string(),
                    None => format!("not readable as CSV: {error}"),
                };
                problems.push(RowProblem::invalid(
                    line,
                    column.unwrap_or_else(|| "-".to_string()),
                    message,
                ));
                continue;
            }
        };
        let line = record
            .position()
            .map_or(0, |position| position.line() as usize);
        if record.len() != headers.len() {
            // Point at the first column that is missing, or the first value beyond the header.
            let (column, message) = if record.len() < headers.len() {
                (
                    headers[record.len()].clone(),
                    format!(
                        "has {} values but the header has {} columns: no value for '{}' and after",
                        record.len(),
                        headers.len(),
                        headers[record.len()]
                    ),
                )
            } else {
                (
                    format!("column {}", headers.len() + 1),
                    format!(
                        "has {} values but the header has {} columns: column {} and after have no header",
                        record.len(),
                        headers.len(),
                        headers.len() + 1
                    ),
                )
            };
            problems.push(RowProblem::invalid(line, column, message));
            continue;
        }
        let values: Vec<String> = record.iter().map(str::to_string).collect();
        match parse_row(line, &headers, values) {
            Ok(row) => rows.push(row),
            Err(errors) => problems.extend(
                errors
                    .into_vec()
                    .into_iter()
                    .map(|error| RowProblem::invalid(line, error.field, error.message)),
            ),
        }
    }
    Ok(ParsedFile { rows, problems })
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

/// Customers; a file changes only the columns it has, so `id,tier` updates tiers and nothing
/// else, and a file without `owner_id` keeps every owner.
pub fn read_customers(reader: impl Read) -> Result<ParsedFile<CustomerImportRow>> {
    read_rows(
        reader,
        "id",
        |header| {
            CustomerFields::COLUMNS.contains(&header)
                || header
                    .strip_prefix("attr.")
                    .is_some_and(allot_core::input::is_attribute_key)
        },
        |line, headers, values| {
            let fields = fields_of_row!(CustomerFields, headers, values);
            Ok(ImportRow {
                line,
                record: fields.into_customer()?,
                given: GivenColumns::from_header(headers),
            })
        },
    )
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
    read_rows(
        reader,
        "id",
        |header| TicketFields::COLUMNS.contains(&header),
        |line, headers, values| {
            Ok(ImportRow {
                line,
                record: fields_of_row!(TicketFields, headers, values),
                given: GivenColumns::from_header(headers),
            })
        },
    )
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

pub fn write_customers(writer: impl Write, customers: &[Customer]) -> Result<()> {
    let mut attribute_keys: Vec<String> = customers
        .iter()
        .flat_map(|customer| customer.attributes.keys().cloned())
        .collect();
    attribute_keys.sort();
    attribute_keys.dedup();
    let mut csv_writer = csv::Writer::from_writer(writer);
    let mut header: Vec<String> = CustomerFields::COLUMNS
        .iter()
        .map(|column| column.to_string())
        .collect();
    header.extend(attribute_keys.iter().map(|key| format!("attr.{key}")));
    csv_writer.write_record(&header)?;
    for customer in customers {
        csv_writer.write_record(CustomerFields::from_customer(customer).values(&attribute_keys))?;
    }
    csv_writer.flush()?;
    Ok(())
}
