//! Amounts of money as exact whole numbers of minor units (分, cents), never floats.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::FieldError;

/// Minor units in one major unit (yuan, dollar).
const MINOR_PER_MAJOR: i64 = 100;

/// Largest amount either way, in major units: sums of many stay exact.
pub const MAXIMUM_MAJOR_UNITS: i64 = 1_000_000_000_000;

/// An amount in minor units; negative for refunds. Parsed from decimal text with at most two
/// decimals, written back as the shortest decimal text (`99.5`, `100`), which is what the same
/// amount read as a number printed before amounts were exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_minor_units(units: i64) -> Money {
        Money(units)
    }

    pub fn minor_units(self) -> i64 {
        self.0
    }

    /// In major units, for the models that work in real numbers (CLV, scores).
    pub fn to_major(self) -> f64 {
        self.0 as f64 / MINOR_PER_MAJOR as f64
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// Decimal text: an optional sign, digits, and at most two decimals (`-12.5`, `3000`).
    pub fn parse(field: &str, raw: &str) -> Result<Money, FieldError> {
        let text = raw.trim();
        let invalid = || {
            FieldError::new(
                field,
                format!(
                    "'{text}' is not an amount: write digits with at most two decimals, such as 1999.50 (negative amounts are refunds)"
                ),
            )
        };
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        // A JSON number such as 1000.0 arrives as that text; trailing zeros carry no cents.
        let fraction = fraction.trim_end_matches('0');
        let digits_only = |part: &str| part.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty() || !digits_only(whole) || !digits_only(fraction)
        {
            return Err(invalid());
        }
        if fraction.len() > 2 {
            return Err(FieldError::new(
                field,
                format!("'{text}' has more than two decimals; amounts are kept to the cent (分)"),
            ));
        }
        let too_large =
            || FieldError::new(field, format!("'{text}' is beyond ±{MAXIMUM_MAJOR_UNITS}"));
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_large())?
        };
        if whole > MAXIMUM_MAJOR_UNITS {
            return Err(too_large());
        }
        let cents: i64 = format!("{fraction:0<2}").parse().expect("two digits");
        let units = whole * MINOR_PER_MAJOR + cents;
        Ok(Money(if negative { -units } else { units }))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let units = self.0.unsigned_abs();
        let whole = units / MINOR_PER_MAJOR as u64;
        let cents = units % MINOR_PER_MAJOR as u64;
        match cents {
            0 => write!(formatter, "{sign}{whole}"),
            cents if cents % 10 == 0 => write!(formatter, "{sign}{whole}.{}", cents / 10),
            cents => write!(formatter, "{sign}{whole}.{cents:02}"),
        }
    }
}

/// In JSON an amount is a number in major units (`1999.5`).
impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.to_major())
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = match value {
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::String(text) => text,
            other => {
                return Err(serde::de::Error::custom(format!(
                    "{other} is not an amount"
                )))
            }
        };
        Money::parse("amount", &text).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <f64 as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Money {}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Option<i64>) {
        let parsed = Money::parse("amount", raw);
        match expected {
            Some(units) => {
                let money = parsed.unwrap_or_else(|error| panic!("{raw}: {error}"));
                assert_eq!(money.minor_units(), units, "{raw}");
            }
            None => assert_eq!(parsed.unwrap_err().field, "amount", "{raw}"),
        }
    }

    #[test]
    fn amounts_parse_exactly() {
        check("1999.50", Some(199_950));
        check("-12.5", Some(-1_250));
        check("+3", Some(300));
        check(".25", Some(25));
        check("1000.0", Some(100_000));
        check("0.1", Some(10));
        check("1000000000000", Some(100_000_000_000_000));
        for bad in [
            "",
            "-",
            "1.234",
            "1e3",
            "¥5",
            "1,000",
            "1000000000001",
            "NaN",
            "1.2.3",
        ] {
            check(bad, None);
        }
    }

    #[test]
    fn amounts_print_as_the_shortest_decimal() {
        for (units, text) in [
            (199_950, "1999.5"),
            (100, "1"),
            (-1_205, "-12.05"),
            (7, "0.07"),
            (0, "0"),
        ] {
            assert_eq!(Money::from_minor_units(units).to_string(), text);
            // As the same amount read as a float printed, so ids derived from it stay.
            assert_eq!(
                (units as f64 / 100.0).to_string(),
                text,
                "float text of {units}"
            );
        }
    }
}
