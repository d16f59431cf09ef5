//! Where the one clock comes from: a fixed instant (`ALLOT_NOW`) or the system time, read once per request,
//! on the calendar of `ALLOT_UTC_OFFSET`.

use allot_core::{Clock, FieldError};
use chrono::FixedOffset;

#[derive(Debug, Clone, Copy)]
pub struct ClockSource {
    /// `ALLOT_NOW`: the same instant for every call; `None` reads the system time.
    fixed: Option<Clock>,
    /// `ALLOT_UTC_OFFSET`: the calendar on which "today" is counted, whatever the time source.
    calendar: Option<FixedOffset>,
}

impl ClockSource {
    /// Always the same instant, on the calendar written in it.
    pub fn fixed(clock: Clock) -> Self {
        ClockSource {
            fixed: Some(clock),
            calendar: None,
        }
    }

    /// The system time on the machine's local calendar.
    pub fn system() -> Self {
        ClockSource {
            fixed: None,
            calendar: None,
        }
    }

    /// `ALLOT_NOW` (RFC 3339) fixes the time for every decision; otherwise the system time is
    /// used. `ALLOT_UTC_OFFSET` (`+08:00`) sets the calendar on which "today" is counted; without
    /// it, the offset written in `ALLOT_NOW`, or the machine's local offset.
    pub fn from_env() -> Result<ClockSource, FieldError> {
        let calendar = match std::env::var("ALLOT_UTC_OFFSET") {
            Ok(raw) if !raw.trim().is_empty() => Some(Clock::parse_offset(&raw)?),
            _ => None,
        };
        let fixed = match std::env::var("ALLOT_NOW") {
            Ok(raw) if !raw.trim().is_empty() => Some(Clock::parse(&raw)?),
            _ => None,
        };
        Ok(ClockSource { fixed, calendar })
    }

    fn on_calendar(&self, clock: Clock) -> Clock {
        match self.calendar {
            Some(offset) => clock.with_offset(offset),
            None => clock,
        }
    }

    /// The edge of the system: the only place that reads the wall clock.
    pub fn now(&self) -> Clock {
        match self.fixed {
            Some(clock) => self.on_calendar(clock),
            None => {
                let now = chrono::Utc::now();
                let local = *now.with_timezone(&chrono::Local).offset();
                self.on_calendar(Clock::at(now).with_offset(local))
            }
        }
    }

    /// A time given for one run (`tick --at`, `POST /tick?at=`), on the configured calendar
    /// if there is one, else on the offset written in it.
    pub fn at(&self, raw: &str) -> Result<Clock, FieldError> {
        Ok(self.on_calendar(Clock::parse(raw)?))
    }
}
