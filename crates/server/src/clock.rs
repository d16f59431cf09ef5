//! Where the one clock comes from: a fixed instant (`ALLOT_NOW`) or the system time, read once per request.

use allot_core::{Clock, FieldError};

#[derive(Debug, Clone, Copy)]
pub enum ClockSource {
    Fixed(Clock),
    System,
}

impl ClockSource {
    /// `ALLOT_NOW` (RFC 3339) fixes the time for every decision; otherwise the system time is used.
    pub fn from_env() -> Result<ClockSource, FieldError> {
        match std::env::var("ALLOT_NOW") {
            Ok(raw) if !raw.trim().is_empty() => Ok(ClockSource::Fixed(Clock::parse(&raw)?)),
            _ => Ok(ClockSource::System),
        }
    }

    /// The edge of the system: the only place that reads the wall clock.
    pub fn now(&self) -> Clock {
        match self {
            ClockSource::Fixed(clock) => *clock,
            ClockSource::System => Clock::at(chrono::Utc::now()),
        }
    }
}
