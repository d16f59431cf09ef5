//! The one clock: every time-dependent decision takes its time from a `Clock` value.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};

use crate::error::FieldError;

/// A fixed instant that logic reads instead of calling `now()`, with the UTC offset of the
/// organisation's calendar: "today" (absences, override expiry, monthly periods) is the date
/// at that offset, so a rep absent on 25 November in Beijing is absent from 00:00 +08:00,
/// not from 08:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    now: DateTime<Utc>,
    offset: FixedOffset,
}

impl Clock {
    /// An instant on the UTC calendar.
    pub fn at(now: DateTime<Utc>) -> Self {
        Clock {
            now,
            offset: FixedOffset::east_opt(0).expect("zero offset"),
        }
    }

    /// Parses an RFC 3339 time (as given in `ALLOT_NOW` or `--at`); the offset written in it
    /// becomes the calendar's (`…+08:00` counts days in Beijing time, `…Z` in UTC).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let time = DateTime::parse_from_rfc3339(raw.trim()).map_err(|error| {
            FieldError::new(
                "ALLOT_NOW",
                format!("'{raw}' is not an RFC 3339 time: {error}"),
            )
        })?;
        // The years data may have (stored times are compared as four-digit-year text).
        crate::text::check_year("ALLOT_NOW", raw, time.with_timezone(&Utc).year())?;
        Ok(Clock {
            now: time.with_timezone(&Utc),
            offset: *time.offset(),
        })
    }

    /// Parses a UTC offset such as `+08:00`, `-05:00` or `Z` (as given in `ALLOT_UTC_OFFSET`).
    pub fn parse_offset(raw: &str) -> Result<FixedOffset, FieldError> {
        let trimmed = raw.trim();
        DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{trimmed}"))
            .map(|time| *time.offset())
            .map_err(|_| {
                FieldError::new(
                    "ALLOT_UTC_OFFSET",
                    format!("'{trimmed}' is not a UTC offset such as +08:00, -05:00 or Z"),
                )
            })
    }

    /// The same instant on another calendar.
    pub fn with_offset(self, offset: FixedOffset) -> Self {
        Clock { offset, ..self }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// The calendar date at the clock's offset, used for absences and day-based limits.
    pub fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.offset).date_naive()
    }

    /// The first instant after the clock's calendar day. Records dated up to it are taken (a
    /// date-only `2026-01-01` is midnight UTC, already that morning in Beijing); later ones
    /// are in the future.
    pub fn end_of_today(&self) -> DateTime<Utc> {
        self.today()
            .succ_opt()
            .and_then(|tomorrow| tomorrow.and_hms_opt(0, 0, 0))
            .and_then(|midnight| midnight.and_local_timezone(self.offset).single())
            .map(|midnight| midnight.with_timezone(&Utc))
            .unwrap_or(self.now)
    }

    /// The UTC date: day counts against purchase and interaction days, which are UTC dates,
    /// so recency and CLV ages never mix two calendars.
    pub fn utc_date(&self) -> NaiveDate {
        self.now.date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_today(raw: &str, offset: Option<&str>, expected: &str) {
        let mut clock = Clock::parse(raw).unwrap();
        if let Some(offset) = offset {
            clock = clock.with_offset(Clock::parse_offset(offset).unwrap());
        }
        assert_eq!(clock.today().to_string(), expected, "{raw} {offset:?}");
    }

    #[test]
    fn today_follows_the_calendar_offset() {
        check_today("2026-11-25T07:00:00+08:00", None, "2026-11-25");
        check_today("2026-11-24T23:00:00Z", None, "2026-11-24");
        check_today("2026-11-24T23:00:00Z", Some("+08:00"), "2026-11-25");
        check_today("2026-11-25T03:00:00Z", Some("-05:00"), "2026-11-24");
        check_today("2026-11-25T03:00:00Z", Some("Z"), "2026-11-25");
        assert!(Clock::parse_offset("Beijing").is_err());
        assert_eq!(
            Clock::parse("2026-11-25T07:00:00+08:00").unwrap().now(),
            Clock::parse("2026-11-24T23:00:00Z").unwrap().now()
        );
    }
}
