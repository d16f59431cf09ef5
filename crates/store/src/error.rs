//! Storage errors: constraint violations become `Conflict`/`NotFound`, never raw database text for callers to parse.

use allot_core::{FieldError, RuleError};
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
    #[error("the rules are not valid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rules(Vec<RuleError>),
    #[error(
        "no rules are set yet; store some with `allot rules set FILE.toml` or PUT /api/v1/rules"
    )]
    NoRules,
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
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
        }
        StoreError::Database(error)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
