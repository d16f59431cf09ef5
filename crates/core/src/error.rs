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

/// Every problem found in one record (a CSV row, a JSON body), in column order; never empty.
/// Reporting them together saves a round of fix-and-retry per bad column.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("{}", self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// `None` when there are no problems.
    pub fn from_vec(errors: Vec<FieldError>) -> Option<FieldErrors> {
        if errors.is_empty() {
            None
        } else {
            Some(FieldErrors(errors))
        }
    }

    pub fn first(&self) -> &FieldError {
        &self.0[0]
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

impl From<FieldError> for FieldErrors {
    fn from(error: FieldError) -> Self {
        FieldErrors(vec![error])
    }
}

/// Collects the problems of one record while parsing goes on, so every bad field is reported.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<FieldError>);

impl Problems {
    /// The value when it parsed; otherwise records the problem and gives `None`.
    pub(crate) fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    pub(crate) fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// Err with every problem, or Ok with the value built from the parsed parts.
    pub(crate) fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, FieldErrors> {
        if let Some(errors) = FieldErrors::from_vec(self.0) {
            return Err(errors);
        }
        Ok(build().expect("every part parsed when no problem was recorded"))
    }
}

/// A rules file that cannot be used, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("{}", self.describe())]
pub struct RuleError {
    /// What `rule` names: `rule` in a rules file, `tier` in a value policy.
    pub section: &'static str,
    /// Name of the rule (or tier), when the problem is inside one.
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
            text.push_str(&format!("{} '{rule}'", self.section));
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
