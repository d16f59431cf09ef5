//! Storage errors: constraint violations become `Conflict`/`NotFound`, never raw database text for callers to parse.

use allot_core::{FieldError, FieldErrors, RuleError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{entity} '{id}' not found")]
    NotFound { entity: &'static str, id: String },
    #[error("conflict: {message}")]
    Conflict {
        message: String,
        field: Option<String>,
    },
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// Every problem of one record.
    #[error(transparent)]
    InvalidRecord(#[from] FieldErrors),
    #[error("the rules are not valid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rules(Vec<RuleError>),
    #[error("the value policy is not valid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Policy(Vec<RuleError>),
    #[error(
        "no rules are set yet; store some with `allot rules set FILE.toml` or PUT /api/v1/rules"
    )]
    NoRules,
    /// The request is understood but would break a rule of the store (say, grading as of a
    /// time before the last grading); the message says how to proceed.
    #[error("{message}")]
    Refused {
        message: String,
        /// The input that asked for it (`at` for a tick), when there is one.
        field: Option<String>,
    },
    /// An ownership step that the lifecycle's rules refuse (a claim over a limit, a release
    /// of someone else's customer, a second open transfer); `code` names the rule.
    #[error("{message}")]
    Denied { code: &'static str, message: String },
    /// A claim the pool's rules refuse, with the rule's own values (the web UI words them in
    /// the reader's language); answered like `Denied`.
    #[error("{}", .0.message())]
    ClaimRefused(allot_core::pool::ClaimRefusal),
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("the database schema cannot be brought up to date: {0}")]
    Migration(String),
    /// A backup file that cannot be written or restored, with the line at fault.
    #[error("backup: {0}")]
    Backup(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// SQLite, reached directly for a bulk step.
    #[error("database error: {0}")]
    Sqlite(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(database_error) = &error {
            use sqlx::error::ErrorKind;
            match database_error.kind() {
                ErrorKind::UniqueViolation => {
                    return StoreError::Conflict {
                        message: database_error.message().to_string(),
                        field: None,
                    }
                }
                ErrorKind::ForeignKeyViolation => {
                    return StoreError::Conflict {
                        message: format!(
                            "a referenced record does not exist: {}",
                            database_error.message()
                        ),
                        field: None,
                    }
                }
                ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                    return StoreError::Conflict {
                        message: database_error.message().to_string(),
                        field: None,
                    }
                }
                _ => {}
            }
            // PostgreSQL cannot store NUL and refuses text it cannot encode. Input is checked
            // at the edge; this keeps any text that slips past a 4xx, not a 500.
            if matches!(database_error.code().as_deref(), Some("22021" | "22P05")) {
                return StoreError::Invalid(FieldError::new(
                    "-",
                    "the text contains a character the database cannot store (such as NUL)",
                ));
            }
        }
        StoreError::Database(error)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
