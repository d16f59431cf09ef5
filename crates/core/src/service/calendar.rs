//! The business calendar: working hours in a time zone, working days, holidays and 调休 working
//! days, and time counted on it (a due time so many business minutes after an instant, the
//! business minutes between two instants).
//!
//! Everything is computed in seconds on UTC instants; the time zone only decides where each
//! local working span falls, so a span across a daylight-saving change keeps its local hours.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// How far ahead a due time is looked for: a calendar whose working days all fall on holidays
/// for this long has no due time (the policy check refuses a calendar without working time).
const LONGEST_SEARCH_DAYS: i64 = 3_700;

/// One span of working time within a day, in minutes after local midnight (`end` may be 1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkingSpan {
    pub start_minute: u32,
    pub end_minute: u32,
}

impl WorkingSpan {
    /// Parses `09:00-12:00` (24:00 may end a span); the start must be before the end.
    pub fn parse(raw: &str) -> Result<WorkingSpan, String> {
        let (start, end) = raw.trim().split_once('-').ok_or_else(|| {
            format!("'{raw}' is not a span of working hours such as \"09:00-12:00\"")
        })?;
        let start_minute = minute_of_day(start.trim())
            .ok_or_else(|| format!("'{}' in '{raw}' is not a time of day HH:MM", start.trim()))?;
        let end_minute = minute_of_day(end.trim())
            .ok_or_else(|| format!("'{}' in '{raw}' is not a time of day HH:MM", end.trim()))?;
        if start_minute >= end_minute {
            return Err(format!("'{raw}' ends before it starts"));
        }
        Ok(WorkingSpan {
            start_minute,
            end_minute,
        })
    }

    pub fn minutes(self) -> u32 {
        self.end_minute - self.start_minute
    }
}

impl std::fmt::Display for WorkingSpan {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{:02}:{:02}-{:02}:{:02}",
            self.start_minute / 60,
            self.start_minute % 60,
            self.end_minute / 60,
            self.end_minute % 60
        )
    }
}

/// `HH:MM` as minutes after midnight; `24:00` is the end of the day.
fn minute_of_day(raw: &str) -> Option<u32> {
    let (hours, minutes) = raw.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u32 = hours.parse().ok()?;
    let minutes: u32 = minutes.parse().ok()?;
    match (hours, minutes) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(hours * 60 + minutes),
        _ => None,
    }
}

/// Whether a duration counts business time (working hours of working days) or wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBasis {
    Business,
    WallClock,
}

/// Working hours in a time zone, with the days they apply on.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessCalendar {
    time_zone: Tz,
    working_hours: Vec<WorkingSpan>,
    /// Monday first.
    working_weekdays: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
    extra_working_days: BTreeSet<NaiveDate>,
}

/// The weekday names the policy uses, Monday first.
pub const WEEKDAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Default for BusinessCalendar {
    /// Beijing time, Monday to Friday, 09:00–12:00 and 13:30–18:00, no holidays.
    fn default() -> Self {
        BusinessCalendar {
            time_zone: chrono_tz::Asia::Shanghai,
            working_hours: vec![
                WorkingSpan {
                    start_minute: 9 * 60,
                    end_minute: 12 * 60,
                },
                WorkingSpan {
                    start_minute: 13 * 60 + 30,
                    end_minute: 18 * 60,
                },
            ],
            working_weekdays: [true, true, true, true, true, false, false],
            holidays: BTreeSet::new(),
            extra_working_days: BTreeSet::new(),
        }
    }
}

impl BusinessCalendar {
    /// A calendar from checked parts; the spans must not overlap and some day must work.
    pub fn new(
        time_zone: Tz,
        mut working_hours: Vec<WorkingSpan>,
        working_weekdays: [bool; 7],
        holidays: BTreeSet<NaiveDate>,
        extra_working_days: BTreeSet<NaiveDate>,
    ) -> Result<BusinessCalendar, String> {
        working_hours.sort();
        if working_hours.is_empty() {
            return Err("names no working hours".to_string());
        }
        if let Some(pair) = working_hours
            .windows(2)
            .find(|pair| pair[1].start_minute < pair[0].end_minute)
        {
            return Err(format!("{} overlaps {}", pair[0], pair[1]));
        }
        if !working_weekdays.contains(&true) && extra_working_days.is_empty() {
            return Err("names no working day".to_string());
        }
        if let Some(both) = holidays.intersection(&extra_working_days).next() {
            return Err(format!("{both} is both a holiday and an extra working day"));
        }
        Ok(BusinessCalendar {
            time_zone,
            working_hours,
            working_weekdays,
            holidays,
            extra_working_days,
        })
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    pub fn working_hours(&self) -> &[WorkingSpan] {
        &self.working_hours
    }

    /// A 调休 day is worked whatever its weekday; a holiday is off whatever its weekday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.extra_working_days.contains(&date) {
            return true;
        }
        if self.holidays.contains(&date) {
            return false;
        }
        self.working_weekdays[date.weekday().num_days_from_monday() as usize]
    }

    /// The length of one business day (the working hours of a day), in minutes.
    pub fn minutes_per_working_day(&self) -> i64 {
        self.working_hours
            .iter()
            .map(|span| i64::from(span.minutes()))
            .sum()
    }

    /// The local date an instant falls on.
    pub fn local_date(&self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.time_zone).date_naive()
    }

    /// The instant of minute `minute` of local day `date` (see `instant_of`).
    pub fn instant_at(&self, date: NaiveDate, minute: u32) -> DateTime<Utc> {
        self.instant_of(date, minute)
    }

    /// The instant of a local wall time; in a daylight-saving gap, the first instant after it,
    /// and where a wall time happens twice, the first.
    fn instant_of(&self, date: NaiveDate, minute: u32) -> DateTime<Utc> {
        let (date, minute) = if minute >= 1440 {
            (date.succ_opt().unwrap_or(date), minute - 1440)
        } else {
            (date, minute)
        };
        let mut wall = date.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minute));
        // Gaps are at most a few hours; step through one a quarter hour at a time.
        for _ in 0..16 {
            match self.time_zone.from_local_datetime(&wall) {
                LocalResult::Single(time) => return time.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
                LocalResult::None => wall += Duration::minutes(15),
            }
        }
        Utc.from_utc_datetime(&wall)
    }

    /// The working spans of one local date as UTC instants, in order (none on a day off).
    fn spans_on(
        &self,
        date: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let working = self.is_working_day(date);
        self.working_hours
            .iter()
            .filter(move |_| working)
            .map(move |span| {
                (
                    self.instant_of(date, span.start_minute),
                    self.instant_of(date, span.end_minute),
                )
            })
    }

    /// The instant `seconds` of business time after `start` (a start outside working hours
    /// counts from the next working span). `None` when no working time comes for ten years.
    pub fn add_business_seconds(
        &self,
        start: DateTime<Utc>,
        seconds: i64,
    ) -> Option<DateTime<Utc>> {
        if seconds <= 0 {
            return Some(start);
        }
        let mut remaining = seconds;
        // The day before too: a span of the previous local date cannot reach into this one,
        // but a start just after local midnight may still fall on it in UTC terms.
        let first_date = self.local_date(start).pred_opt()?;
        for offset in 0..LONGEST_SEARCH_DAYS {
            let date = first_date.checked_add_signed(Duration::days(offset))?;
            for (span_start, span_end) in self.spans_on(date) {
                if span_end <= start {
                    continue;
                }
                let begin = span_start.max(start);
                let available = (span_end - begin).num_seconds();
                if remaining <= available {
                    return Some(begin + Duration::seconds(remaining));
                }
                remaining -= available;
            }
        }
        None
    }

    /// Business seconds from `from` to `to`; negative when `to` is before `from`.
    pub fn business_seconds_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to < from {
            return -self.business_seconds_between(to, from);
        }
        let mut total = 0;
        let (Some(first_date), Some(last_date)) = (
            self.local_date(from).pred_opt(),
            self.local_date(to).succ_opt(),
        ) else {
            return 0;
        };
        let mut date = first_date;
        while date <= last_date {
            for (span_start, span_end) in self.spans_on(date) {
                let begin = span_start.max(from);
                let end = span_end.min(to);
                if end > begin {
                    total += (end - begin).num_seconds();
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
        total
    }

    /// `seconds` after `start` on the given basis.
    pub fn add_seconds(
        &self,
        basis: TimeBasis,
        start: DateTime<Utc>,
        seconds: i64,
    ) -> Option<DateTime<Utc>> {
        match basis {
            TimeBasis::Business => self.add_business_seconds(start, seconds),
            TimeBasis::WallClock => start.checked_add_signed(Duration::seconds(seconds)),
        }
    }

    /// Seconds from `from` to `to` on the given basis; negative when `to` is earlier.
    pub fn seconds_between(&self, basis: TimeBasis, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        match basis {
            TimeBasis::Business => self.business_seconds_between(from, to),
            TimeBasis::WallClock => (to - from).num_seconds(),
        }
    }
}

/// A length of service time as the policy writes it: `30m`, `2h`, `3d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceDuration {
    pub amount: u32,
    pub unit: DurationUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    Minutes,
    Hours,
    /// On business time, a day is the calendar's working hours of a day; otherwise 24 hours.
    Days,
}

impl ServiceDuration {
    /// Parses `Nm`, `Nh` or `Nd` with N a whole number from 1 to 100,000.
    pub fn parse(raw: &str) -> Result<ServiceDuration, String> {
        let trimmed = raw.trim();
        let unit = match trimmed.chars().last() {
            Some('m') => DurationUnit::Minutes,
            Some('h') => DurationUnit::Hours,
            Some('d') => DurationUnit::Days,
            _ => {
                return Err(format!(
                    "'{raw}' is not a duration; write minutes, hours or days as \"30m\", \"2h\", \"3d\""
                ))
            }
        };
        let digits = &trimmed[..trimmed.len() - 1];
        match digits.parse::<u32>() {
            Ok(amount) if (1..=100_000).contains(&amount) && digits.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(ServiceDuration { amount, unit })
            }
            _ => Err(format!(
                "'{raw}' is not a duration; the number before m, h or d must be a whole number from 1 to 100000"
            )),
        }
    }

    /// The length in seconds on the basis and calendar.
    pub fn seconds(self, basis: TimeBasis, calendar: &BusinessCalendar) -> i64 {
        let amount = i64::from(self.amount);
        match (self.unit, basis) {
            (DurationUnit::Minutes, _) => amount * 60,
            (DurationUnit::Hours, _) => amount * 3_600,
            (DurationUnit::Days, TimeBasis::Business) => {
                amount * calendar.minutes_per_working_day() * 60
            }
            (DurationUnit::Days, TimeBasis::WallClock) => amount * 86_400,
        }
    }
}

impl std::fmt::Display for ServiceDuration {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.unit {
            DurationUnit::Minutes => "m",
            DurationUnit::Hours => "h",
            DurationUnit::Days => "d",
        };
        write!(formatter, "{}{unit}", self.amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calendar: Beijing, 09:00–12:00 and 13:30–18:00 Monday to Friday, New Year's
    /// Day and two Spring Festival days off, Sunday 7 February 2027 worked (调休).
    fn shanghai() -> BusinessCalendar {
        let dates = |list: &[&str]| -> BTreeSet<NaiveDate> {
            list.iter().map(|day| day.parse().unwrap()).collect()
        };
        BusinessCalendar::new(
            chrono_tz::Asia::Shanghai,
            vec![
                WorkingSpan::parse("13:30-18:00").unwrap(),
                WorkingSpan::parse("09:00-12:00").unwrap(),
            ],
            [true, true, true, true, true, false, false],
            dates(&["2027-01-01", "2027-02-10", "2027-02-11"]),
            dates(&["2027-02-07"]),
        )
        .unwrap()
    }

    /// New York, 09:00–17:00 Monday to Friday: daylight saving starts 14 March 2027 and ends
    /// 7 November 2027.
    fn new_york() -> BusinessCalendar {
        BusinessCalendar::new(
            chrono_tz::America::New_York,
            vec![WorkingSpan::parse("09:00-17:00").unwrap()],
            [true, true, true, true, true, false, false],
            BTreeSet::new(),
            BTreeSet::new(),
        )
        .unwrap()
    }

    fn instant(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// `start + minutes` of business time lands at `due`, and counting back gives the minutes.
    fn check(calendar: &BusinessCalendar, start: &str, minutes: i64, due: &str) {
        let start = instant(start);
        let got = calendar.add_business_seconds(start, minutes * 60).unwrap();
        assert_eq!(got, instant(due), "{start} + {minutes} min");
        assert_eq!(
            calendar.business_seconds_between(start, got),
            minutes * 60,
            "minutes back from {got} to {start}"
        );
    }

    #[test]
    fn business_minutes_land_where_a_person_would_count_them() {
        let calendar = shanghai();
        let cases: &[(&str, i64, &str)] = &[
            // Inside the morning span.
            ("2027-01-04T10:00:00+08:00", 60, "2027-01-04T11:00:00+08:00"),
            // Across lunch.
            ("2027-01-04T11:30:00+08:00", 60, "2027-01-04T14:00:00+08:00"),
            // Exactly to the end of the morning: due at 12:00, not 13:30.
            ("2027-01-04T11:00:00+08:00", 60, "2027-01-04T12:00:00+08:00"),
            // Started at lunch: counts from 13:30.
            ("2027-01-04T12:15:00+08:00", 30, "2027-01-04T14:00:00+08:00"),
            // Started at night: counts from 09:00 the next morning.
            (
                "2027-01-04T22:00:00+08:00",
                120,
                "2027-01-05T11:00:00+08:00",
            ),
            // Started before dawn: the same morning.
            ("2027-01-05T03:00:00+08:00", 30, "2027-01-05T09:30:00+08:00"),
            // Across the evening into the next day.
            (
                "2027-01-04T17:00:00+08:00",
                120,
                "2027-01-05T10:00:00+08:00",
            ),
            // A whole business day (450 minutes) from 10:00 is 10:00 the next working day.
            (
                "2027-01-04T10:00:00+08:00",
                450,
                "2027-01-05T10:00:00+08:00",
            ),
            // Friday evening to Monday morning over the weekend.
            ("2027-01-08T17:30:00+08:00", 60, "2027-01-11T09:30:00+08:00"),
            // Opened on Saturday: Monday.
            ("2027-01-09T10:00:00+08:00", 60, "2027-01-11T10:00:00+08:00"),
            // New Year's Day (a Friday) is off: Thursday evening to Monday.
            (
                "2026-12-31T17:00:00+08:00",
                120,
                "2027-01-04T10:00:00+08:00",
            ),
            // Opened on the holiday itself.
            ("2027-01-01T10:00:00+08:00", 30, "2027-01-04T09:30:00+08:00"),
            // The 调休 Sunday is worked: Friday evening lands on Sunday 7 February.
            (
                "2027-02-05T17:00:00+08:00",
                120,
                "2027-02-07T10:00:00+08:00",
            ),
            // Opened on the 调休 Sunday itself.
            ("2027-02-07T09:00:00+08:00", 60, "2027-02-07T10:00:00+08:00"),
            // Tuesday 9 February evening: Wednesday and Thursday are holidays, so Friday.
            ("2027-02-09T17:30:00+08:00", 60, "2027-02-12T09:30:00+08:00"),
            // Three business days across the holidays and a weekend.
            (
                "2027-02-09T10:00:00+08:00",
                3 * 450,
                "2027-02-16T10:00:00+08:00",
            ),
            // Given in UTC: 02:00Z is 10:00 in Beijing.
            ("2027-01-04T02:00:00Z", 60, "2027-01-04T03:00:00Z"),
            // UTC evening of Sunday is Monday morning in Beijing.
            ("2027-01-10T23:00:00Z", 60, "2027-01-11T02:00:00Z"),
            // Seconds are kept.
            ("2027-01-04T10:00:30+08:00", 1, "2027-01-04T10:01:30+08:00"),
            // Zero minutes: due at once.
            ("2027-01-09T10:00:00+08:00", 0, "2027-01-09T10:00:00+08:00"),
        ];
        for (start, minutes, due) in cases {
            check(&calendar, start, *minutes, due);
        }
    }

    #[test]
    fn daylight_saving_keeps_local_working_hours() {
        let calendar = new_york();
        let cases: &[(&str, i64, &str)] = &[
            // Friday 12 March 2027, EST (-05:00), to Monday 15 March, EDT (-04:00): 16:00 + 2 h
            // is 10:00 local on Monday, one hour earlier in UTC than a fixed offset would say.
            (
                "2027-03-12T16:00:00-05:00",
                120,
                "2027-03-15T10:00:00-04:00",
            ),
            // Friday 5 November, EDT, to Monday 8 November, EST.
            (
                "2027-11-05T16:00:00-04:00",
                120,
                "2027-11-08T10:00:00-05:00",
            ),
            // Within one day in summer.
            (
                "2027-07-01T09:00:00-04:00",
                480,
                "2027-07-01T17:00:00-04:00",
            ),
            // A night start in UTC that is still the previous evening in New York.
            ("2027-07-02T02:00:00Z", 60, "2027-07-02T10:00:00-04:00"),
        ];
        for (start, minutes, due) in cases {
            check(&calendar, start, *minutes, due);
        }
    }

    #[test]
    fn minutes_between_count_only_working_time_and_are_signed() {
        let calendar = shanghai();
        let check_between = |from: &str, to: &str, minutes: i64| {
            assert_eq!(
                calendar.business_seconds_between(instant(from), instant(to)),
                minutes * 60,
                "{from} → {to}"
            );
        };
        // A whole week: five days of 7.5 hours.
        check_between(
            "2027-01-04T00:00:00+08:00",
            "2027-01-11T00:00:00+08:00",
            5 * 450,
        );
        // A weekend alone counts nothing.
        check_between("2027-01-09T00:00:00+08:00", "2027-01-11T00:00:00+08:00", 0);
        // Lunch alone counts nothing.
        check_between("2027-01-04T12:00:00+08:00", "2027-01-04T13:30:00+08:00", 0);
        // Backwards is negative.
        check_between(
            "2027-01-04T11:00:00+08:00",
            "2027-01-04T10:00:00+08:00",
            -60,
        );
        // The week of the Spring Festival holidays: Mon, Tue, Fri and the 调休 Sunday before.
        check_between(
            "2027-02-07T00:00:00+08:00",
            "2027-02-13T00:00:00+08:00",
            4 * 450,
        );
    }

    #[test]
    fn wall_clock_time_ignores_the_calendar() {
        let calendar = shanghai();
        let start = instant("2027-01-08T17:30:00+08:00");
        assert_eq!(
            calendar.add_seconds(TimeBasis::WallClock, start, 3_600),
            Some(instant("2027-01-08T18:30:00+08:00"))
        );
        assert_eq!(
            calendar.seconds_between(
                TimeBasis::WallClock,
                start,
                instant("2027-01-09T17:30:00+08:00")
            ),
            86_400
        );
    }

    #[test]
    fn durations_parse_and_measure_on_the_basis() {
        let calendar = shanghai();
        let check_duration = |raw: &str, basis: TimeBasis, minutes: i64| {
            let duration = ServiceDuration::parse(raw).unwrap();
            assert_eq!(duration.seconds(basis, &calendar), minutes * 60, "{raw}");
            assert_eq!(duration.to_string(), raw.trim());
        };
        check_duration("30m", TimeBasis::Business, 30);
        check_duration("2h", TimeBasis::Business, 120);
        check_duration("3d", TimeBasis::Business, 3 * 450);
        check_duration("3d", TimeBasis::WallClock, 3 * 1440);
        check_duration(" 8h ", TimeBasis::WallClock, 480);
        for bad in [
            "", "2", "h", "0h", "-2h", "2x", "1.5h", "+2h", "200000d", "2 h",
        ] {
            assert!(ServiceDuration::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn calendars_without_working_time_or_with_overlaps_are_refused() {
        let span = |raw: &str| WorkingSpan::parse(raw).unwrap();
        let week = [true, true, true, true, true, false, false];
        let none = BTreeSet::new;
        let tz = chrono_tz::Asia::Shanghai;
        assert!(BusinessCalendar::new(tz, vec![], week, none(), none()).is_err());
        let overlap = BusinessCalendar::new(
            tz,
            vec![span("09:00-12:00"), span("11:00-13:00")],
            week,
            none(),
            none(),
        );
        assert_eq!(overlap.unwrap_err(), "09:00-12:00 overlaps 11:00-13:00");
        assert!(
            BusinessCalendar::new(tz, vec![span("09:00-12:00")], [false; 7], none(), none())
                .is_err()
        );
        // Touching spans are fine.
        assert!(BusinessCalendar::new(
            tz,
            vec![span("09:00-12:00"), span("12:00-13:00")],
            week,
            none(),
            none()
        )
        .is_ok());
        for bad in [
            "9:00-12:00",
            "09:00",
            "12:00-09:00",
            "09:00-09:00",
            "09:60-10:00",
            "24:30-25:00",
        ] {
            assert!(WorkingSpan::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(span("00:00-24:00").minutes(), 1440);
    }

    #[test]
    fn a_round_the_clock_calendar_is_wall_time_on_working_days() {
        let calendar = BusinessCalendar::new(
            chrono_tz::UTC,
            vec![WorkingSpan::parse("00:00-24:00").unwrap()],
            [true; 7],
            BTreeSet::new(),
            BTreeSet::new(),
        )
        .unwrap();
        check(
            &calendar,
            "2027-01-01T23:00:00Z",
            120,
            "2027-01-02T01:00:00Z",
        );
    }
}
