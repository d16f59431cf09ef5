//! Instants and dates as each backend stores them: `timestamptz` on PostgreSQL; fixed-width UTC
//! text on SQLite, so that text order is time order and a comparison in SQL is a time comparison.

use chrono::{DateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

/// An instant as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoredTime(pub DateTime<Utc>);

impl From<DateTime<Utc>> for StoredTime {
    fn from(time: DateTime<Utc>) -> Self {
        StoredTime(time)
    }
}

impl StoredTime {
    /// RFC 3339 in UTC with microseconds (`2026-11-25T01:00:00.000000Z`): how SQLite stores it
    /// and how the API and the CLI show stored instants.
    pub fn text(self) -> String {
        format_timestamp(self.0)
    }
}

/// Timestamps are written as fixed-width RFC 3339 text in UTC, so text order is time order.
///
/// Written digit by digit: a bulk write formats one per row, and chrono's pattern formatter
/// (which reads the pattern each time) showed in profiles of imports.
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let year = time.year();
    let nanosecond = time.nanosecond();
    // Years of four digits, and no leap second: anything else the general formatter handles.
    if !(0..=9999).contains(&year) || nanosecond >= 1_000_000_000 {
        return time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    }
    let mut text = String::with_capacity(27);
    let mut digits = |value: u32, width: u32, after: Option<char>| {
        for place in (0..width).rev() {
            let digit = (value / 10u32.pow(place)) % 10;
            text.push(char::from(b'0' + digit as u8));
        }
        if let Some(separator) = after {
            text.push(separator);
        }
    };
    digits(year as u32, 4, Some('-'));
    digits(time.month(), 2, Some('-'));
    digits(time.day(), 2, Some('T'));
    digits(time.hour(), 2, Some(':'));
    digits(time.minute(), 2, Some(':'));
    digits(time.second(), 2, Some('.'));
    digits(nanosecond / 1_000, 6, Some('Z'));
    text
}

/// Reads stored instant text (any RFC 3339, as every release wrote).
pub(crate) fn parse_stored_time(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| format!("stored time '{raw}': {error}"))
}

impl Type<Sqlite> for StoredTime {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for StoredTime {
    fn encode_by_ref(
        &self,
        buffer: &mut Vec<SqliteArgumentValue<'q>>,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(format_timestamp(self.0), buffer)
    }
}

impl<'r> Decode<'r, Sqlite> for StoredTime {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
        Ok(StoredTime(parse_stored_time(text)?))
    }
}

impl Type<Postgres> for StoredTime {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl PgHasArrayType for StoredTime {
    fn array_type_info() -> PgTypeInfo {
        <DateTime<Utc> as PgHasArrayType>::array_type_info()
    }
}

impl<'q> Encode<'q, Postgres> for StoredTime {
    fn encode_by_ref(&self, buffer: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<'q, Postgres>>::encode_by_ref(&self.0, buffer)
    }
}

impl<'r> Decode<'r, Postgres> for StoredTime {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(StoredTime(<DateTime<Utc> as Decode<'r, Postgres>>::decode(
            value,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_sorts_as_time() {
        let early = DateTime::parse_from_rfc3339("2026-11-25T09:00:00+08:00").unwrap();
        let late = DateTime::parse_from_rfc3339("2026-11-25T01:00:00.5Z").unwrap();
        let early = format_timestamp(early.with_timezone(&Utc));
        let late = format_timestamp(late.with_timezone(&Utc));
        assert_eq!(early, "2026-11-25T01:00:00.000000Z");
        assert!(early < late);
        assert_eq!(
            parse_stored_time(&early).unwrap(),
            parse_stored_time("2026-11-25T01:00:00Z").unwrap()
        );
    }
}
