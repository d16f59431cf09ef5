//! The one clock: every time-dependent decision takes its time from a `Clock` value.

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::FieldError;

/// A fixed instant that logic reads instead of calling `now()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Clock {
    now: DateTime<Utc>,
}

impl Clock {
    pub fn at(now: DateTime<Utc>) -> Self {
        Clock { now }
    }

    /// Parses an RFC 3339 time (as given in `ALLOT_NOW` or `--at`).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        DateTime::parse_from_rfc3339(raw.trim())
            .map(|time| Clock::at(time.with_timezone(&Utc)))
            .map_err(|error| {
                FieldError::new(
                    "ALLOT_NOW",
                    format!("'{raw}' is not an RFC 3339 time: {error}"),
                )
            })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The calendar date used for absences and day-based limits (UTC).
    pub fn today(&self) -> NaiveDate {
        self.now.date_naive()
    }
}
