//! Checked text, numbers, dates and times as they arrive at the edge: the lowest layer of parsing, used by every record.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::error::FieldError;

/// Largest `weight` or `workload`: sums of many of them must stay exact and finite.
pub const MAXIMUM_WEIGHT: f64 = 1_000_000.0;

/// Longest single-line text field (names, industry, phone, …), in characters.
pub const MAXIMUM_TEXT_LENGTH: usize = 1_000;

/// Longest custom attribute value, in characters.
pub const MAXIMUM_ATTRIBUTE_LENGTH: usize = 10_000;

/// Checks one line of text: trimmed, no control characters (PostgreSQL cannot store NUL, and
/// a line break inside a name breaks every report), at most [`MAXIMUM_TEXT_LENGTH`] characters.
pub fn parse_text(field: &str, raw: &str) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters (line breaks, tabs, NUL, …)",
        ));
    }
    if trimmed.chars().count() > MAXIMUM_TEXT_LENGTH {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAXIMUM_TEXT_LENGTH} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

/// Checks free text such as a custom attribute or a note: line breaks and tabs are allowed,
/// other control characters (NUL above all) are not.
pub fn parse_free_text(field: &str, raw: &str) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    if trimmed.chars().count() > MAXIMUM_ATTRIBUTE_LENGTH {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAXIMUM_ATTRIBUTE_LENGTH} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

/// Parses a positive finite number up to [`MAXIMUM_WEIGHT`] for `weight` and `workload`.
pub fn parse_positive_number(field: &str, raw: &str, default: f64) -> Result<f64, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(default);
    }
    match trimmed.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 && value <= MAXIMUM_WEIGHT => Ok(value),
        Ok(_) => Err(FieldError::new(
            field,
            format!("must be a number > 0 and at most {MAXIMUM_WEIGHT}, got '{trimmed}'"),
        )),
        Err(_) => Err(FieldError::new(
            field,
            format!("'{trimmed}' is not a number"),
        )),
    }
}

/// Years a date or time may have. Stored times are fixed-width text compared as text, so a
/// year must have four digits; before 1900 is taken for a typing mistake.
pub const EARLIEST_YEAR: i32 = 1900;
pub const LATEST_YEAR: i32 = 9999;

pub(crate) fn check_year(field: &str, raw: &str, year: i32) -> Result<(), FieldError> {
    if (EARLIEST_YEAR..=LATEST_YEAR).contains(&year) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("'{raw}' is outside the years {EARLIEST_YEAR} to {LATEST_YEAR}"),
        ))
    }
}

/// Parses a date `YYYY-MM-DD` in the years Allot accepts.
pub fn parse_date(field: &str, raw: &str) -> Result<NaiveDate, FieldError> {
    let trimmed = raw.trim();
    let date = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
        .map_err(|_| FieldError::new(field, format!("'{trimmed}' is not a date YYYY-MM-DD")))?;
    check_year(field, trimmed, date.year())?;
    Ok(date)
}

/// Parses `YYYY-MM-DD`; empty is `None`.
pub fn parse_optional_date(field: &str, raw: &str) -> Result<Option<NaiveDate>, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    parse_date(field, trimmed).map(Some)
}

/// Parses `true|false` (any letter case); empty gives the default.
pub fn parse_bool(field: &str, raw: &str, default: bool) -> Result<bool, FieldError> {
    let trimmed = raw.trim();
    match trimmed.to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(FieldError::new(
            field,
            format!("'{trimmed}' is not true or false"),
        )),
    }
}

/// Parses a timestamp as RFC 3339 or a plain date (taken as midnight UTC); empty is `None`.
pub fn parse_optional_timestamp(
    field: &str,
    raw: &str,
) -> Result<Option<DateTime<Utc>>, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let time = if let Ok(time) = DateTime::parse_from_rfc3339(trimmed) {
        time.with_timezone(&Utc)
    } else if let Ok(date) = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        date.and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
    } else {
        return Err(FieldError::new(
            field,
            format!("'{trimmed}' is not an RFC 3339 time or a date YYYY-MM-DD"),
        ));
    };
    // Checked in UTC, as stored: 9999-12-31T23:00:00-05:00 is already in the year 10000.
    check_year(field, trimmed, time.year())?;
    Ok(Some(time))
}

/// Parses a `|`-separated list, dropping empty items and surrounding blanks.
pub fn parse_bar_list(raw: &str) -> Vec<String> {
    raw.split('|')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_keep_to_four_digit_years() {
        // (text, accepted as a timestamp, accepted as a date)
        let cases = [
            ("2026-11-25", true, true),
            ("1900-01-01", true, true),
            ("9999-12-31", true, true),
            ("1899-12-31", false, false),
            ("+10000-01-01", false, false),
            ("-0001-01-01", false, false),
            ("9999-12-31T23:59:59Z", true, false),
            // Already the year 10000 in UTC, as it would be stored.
            ("9999-12-31T23:59:59-23:59", false, false),
            ("+10000-01-01T00:00:00Z", false, false),
        ];
        for (raw, as_timestamp, as_date) in cases {
            let timestamp = parse_optional_timestamp("at", raw);
            assert_eq!(timestamp.is_ok(), as_timestamp, "{raw}: {timestamp:?}");
            if let Err(error) = timestamp {
                assert_eq!(error.field, "at");
            }
            let date = parse_optional_date("on", raw);
            assert_eq!(date.is_ok(), as_date, "{raw}: {date:?}");
        }
    }

    #[test]
    fn field_parsers_name_the_field() {
        assert_eq!(
            parse_positive_number("weight", "0", 1.0).unwrap_err().field,
            "weight"
        );
        assert_eq!(parse_positive_number("weight", "", 1.0).unwrap(), 1.0);
        assert_eq!(
            parse_positive_number("workload", "abc", 1.0)
                .unwrap_err()
                .field,
            "workload"
        );
        assert_eq!(
            parse_optional_date("absent_from", "2026-13-01")
                .unwrap_err()
                .field,
            "absent_from"
        );
        assert_eq!(
            parse_bool("active", "maybe", true).unwrap_err().field,
            "active"
        );
        assert_eq!(parse_bar_list(" 金融 | |制造"), vec!["金融", "制造"]);
        assert!(parse_optional_timestamp("created_at", "2026-01-01")
            .unwrap()
            .is_some());
        assert!(
            parse_optional_timestamp("created_at", "2026-01-01T08:00:00+08:00")
                .unwrap()
                .is_some()
        );
    }
}
