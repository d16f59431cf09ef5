//! Errors of the core: a bad value names its field; a bad rule names its rule, line and column.

use serde::Serialize;
use thiserror::Error;

/// A value that failed to parse, with the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A rules file that cannot be used, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("{}", self.describe())]
pub struct RuleError {
    /// Name of the rule, when the problem is inside one.
    pub rule: Option<String>,
    /// 1-based line in the rules file.
    pub line: Option<usize>,
    /// 1-based column in the rules file.
    pub column: Option<usize>,
    /// The key inside the rule (`when`, `to`, `strategy`, ...).
    pub field: Option<String>,
    pub message: String,
}

impl RuleError {
    fn describe(&self) -> String {
        let mut text = String::new();
        if let Some(rule) = &self.rule {
            text.push_str(&format!("rule '{rule}'"));
        }
        if let Some(line) = self.line {
            if !text.is_empty() {
                text.push_str(", ");
            }
            text.push_str(&format!("line {line}"));
            if let Some(column) = self.column {
                text.push_str(&format!(", column {column}"));
            }
        }
        if let Some(field) = &self.field {
            if !text.is_empty() {
                text.push_str(", ");
            }
            text.push_str(&format!("field '{field}'"));
        }
        if text.is_empty() {
            self.message.clone()
        } else {
            format!("{text}: {}", self.message)
        }
    }
}
