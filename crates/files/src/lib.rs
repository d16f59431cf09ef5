//! Allot's file formats: CSV files of teams, reps, customers, transactions, interactions and
//! tickets, and Excel workbooks (`.xlsx`) read as the CSV they would save as; imports of either
//! for the CLI and the web UI, and the CSV exports (the service reports among them).

pub mod csv;
pub mod import;
pub mod reports;
pub mod spreadsheet;

use thiserror::Error;

/// Why a file could not be read or imported at all (a bad row is a row problem instead).
#[derive(Debug, Error)]
pub enum FileError {
    /// The file's shape: its header, its sheet, its encoding; the message names the line and
    /// column where it can.
    #[error("{0}")]
    Format(String),
    #[error("not readable as CSV: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] allot_store::StoreError),
}

pub type Result<T, E = FileError> = std::result::Result<T, E>;
