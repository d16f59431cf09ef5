//! Contact details of a customer, normalised at the edge: email, phone and the unified social credit code (统一社会信用代码).
//!
//! Each is a type that can only be made by parsing, so a stored or compared value is always in
//! its normal form: two spellings of one phone number or one address are the same value, which
//! duplicate detection (撞单) relies on.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::FieldError;

/// Longest email address (RFC 5321 path limit).
const MAXIMUM_EMAIL_LENGTH: usize = 254;

/// An email address, trimmed and in lower case (mail systems treat addresses without regard to
/// case, and so must duplicate detection).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Email, FieldError> {
        let trimmed = raw.trim();
        let invalid = |why: &str| {
            FieldError::new(field, format!("'{trimmed}' is not an email address: {why}"))
        };
        if trimmed.chars().count() > MAXIMUM_EMAIL_LENGTH {
            return Err(invalid("longer than 254 characters"));
        }
        if trimmed
            .chars()
            .any(|character| character.is_control() || character.is_whitespace())
        {
            return Err(invalid("it contains spaces or control characters"));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(invalid("it has no '@'"));
        };
        if local.is_empty() || local.contains('@') {
            return Err(invalid("the part before '@' must be one non-empty name"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_is_valid = |label: &&str| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|character| character.is_alphanumeric() || character == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_is_valid) {
            return Err(invalid("the domain after '@' must be like example.com"));
        }
        Ok(Email(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A value read back from storage, which was checked when it was written. Kept as it is:
    /// rows written before addresses were checked must still load.
    pub fn from_stored(stored: String) -> Email {
        Email(stored)
    }
}

/// Shortest and longest phone numbers accepted, in digits.
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 5..=20;

/// A phone number in normal form: digits only, with a leading `+` for numbers outside China.
/// Spaces, dashes, dots and parentheses are dropped; `+86`, `0086` and `86` before an
/// eleven-digit mobile number are dropped too, so `+86 138-0013-8000` and `13800138000` are one
/// number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(field: &str, raw: &str) -> Result<Phone, FieldError> {
        let trimmed = raw.trim();
        let mut international = false;
        let mut digits = String::with_capacity(trimmed.len());
        for (index, character) in trimmed.chars().enumerate() {
            match character {
                '0'..='9' => digits.push(character),
                '+' if index == 0 => international = true,
                ' ' | '-' | '.' | '(' | ')' | '\u{3000}' => {}
                other => {
                    return Err(FieldError::new(
                        field,
                        format!(
                            "'{trimmed}' is not a phone number: '{other}' is not a digit (write extensions in a note)"
                        ),
                    ))
                }
            }
        }
        if digits.starts_with("00") {
            international = true;
            digits.drain(..2);
        }
        let mainland_mobile =
            |number: &str| number.len() == 11 && number.starts_with('1') && number.is_ascii();
        if let Some(national) = digits.strip_prefix("86") {
            if (international || digits.len() == 13) && mainland_mobile(national) {
                international = false;
                digits = national.to_string();
            } else if international {
                // A mainland landline with its country code: keep it in national form.
                international = false;
                digits = format!("0{national}");
            }
        }
        if !PHONE_DIGITS.contains(&digits.len()) {
            return Err(FieldError::new(
                field,
                format!(
                    "'{trimmed}' is not a phone number: it has {} digits, expected {} to {}",
                    digits.len(),
                    PHONE_DIGITS.start(),
                    PHONE_DIGITS.end()
                ),
            ));
        }
        Ok(Phone(if international {
            format!("+{digits}")
        } else {
            digits
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A value read back from storage (see [`Email::from_stored`]).
    pub fn from_stored(stored: String) -> Phone {
        Phone(stored)
    }
}

/// The characters of a unified social credit code, in the order that gives each its value
/// (GB 32100-2015: digits, then capital letters without I, O, Z, S and V).
const CREDIT_CODE_CHARACTERS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// A unified social credit code (统一社会信用代码): 18 characters, the last a check character
/// computed from the others, stored in capitals.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CreditCode(String);

impl CreditCode {
    pub fn parse(field: &str, raw: &str) -> Result<CreditCode, FieldError> {
        let code: String = raw
            .trim()
            .chars()
            .filter(|character| *character != ' ' && *character != '-')
            .collect::<String>()
            .to_uppercase();
        let invalid = |why: String| {
            FieldError::new(
                field,
                format!(
                    "'{}' is not a unified social credit code: {why}",
                    raw.trim()
                ),
            )
        };
        let values: Vec<u32> = code
            .chars()
            .map(|character| {
                CREDIT_CODE_CHARACTERS
                    .find(character)
                    .map(|position| position as u32)
                    .ok_or_else(|| {
                        invalid(format!(
                            "'{character}' is not allowed (digits and capitals other than I, O, Z, S, V)"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        if values.len() != 18 {
            return Err(invalid(format!(
                "it has {} characters, not 18",
                values.len()
            )));
        }
        let expected = credit_code_check_value(&values[..17]);
        if values[17] != expected {
            let expected = CREDIT_CODE_CHARACTERS
                .chars()
                .nth(expected as usize)
                .expect("the check value is below 31");
            return Err(invalid(format!(
                "its check character should be '{expected}' (a character is mistyped)"
            )));
        }
        Ok(CreditCode(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A value read back from storage (see [`Email::from_stored`]).
    pub fn from_stored(stored: String) -> CreditCode {
        CreditCode(stored)
    }

    /// Completes the first 17 characters of a code with its check character (for generated
    /// data); `None` when they are not 17 allowed characters.
    pub fn with_check_character(first_seventeen: &str) -> Option<CreditCode> {
        let values: Vec<u32> = first_seventeen
            .chars()
            .map(|character| CREDIT_CODE_CHARACTERS.find(character).map(|at| at as u32))
            .collect::<Option<_>>()?;
        if values.len() != 17 {
            return None;
        }
        let check = CREDIT_CODE_CHARACTERS
            .chars()
            .nth(credit_code_check_value(&values) as usize)?;
        Some(CreditCode(format!("{first_seventeen}{check}")))
    }
}

/// The check value of a code's first 17 values: weights 3^(i-1) mod 31, and 31 − (Σ mod 31),
/// where 31 means 0.
fn credit_code_check_value(values: &[u32]) -> u32 {
    let mut weight = 1;
    let mut sum = 0;
    for value in values {
        sum += value * weight;
        weight = weight * 3 % 31;
    }
    (31 - sum % 31) % 31
}

macro_rules! text_form {
    ($name:ident, $field:literal) => {
        impl TryFrom<String> for $name {
            type Error = FieldError;
            fn try_from(raw: String) -> Result<Self, FieldError> {
                Self::parse($field, &raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        /// Documented in the API as the text it is.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <String as utoipa::PartialSchema>::schema()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

text_form!(Email, "email");
text_form!(Phone, "phone");
text_form!(CreditCode, "credit_code");

#[cfg(test)]
mod tests {
    use super::*;

    /// `expected` is the normal form, or `None` when the text must be refused.
    fn check(
        parse: fn(&str, &str) -> Result<String, FieldError>,
        raw: &str,
        expected: Option<&str>,
    ) {
        match (parse("field", raw), expected) {
            (Ok(parsed), Some(expected)) => assert_eq!(parsed, expected, "{raw:?}"),
            (Err(error), None) => assert_eq!(error.field, "field", "{raw:?}"),
            (outcome, expected) => panic!("{raw:?}: {outcome:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn emails_are_checked_and_lower_cased() {
        let parse = |field: &str, raw: &str| Email::parse(field, raw).map(String::from);
        check(
            parse,
            " Wang.Fang@Example.CN ",
            Some("wang.fang@example.cn"),
        );
        check(parse, "销售@例子.中国", Some("销售@例子.中国"));
        check(parse, "a+b@mail.example.com", Some("a+b@mail.example.com"));
        for bad in [
            "nobody",
            "a@b",
            "@example.com",
            "a b@example.com",
            "a@-x.com",
            "a@x..com",
            "a@@x.com",
        ] {
            check(parse, bad, None);
        }
    }

    #[test]
    fn phones_are_normalised() {
        let parse = |field: &str, raw: &str| Phone::parse(field, raw).map(String::from);
        check(parse, "13800138000", Some("13800138000"));
        check(parse, "+86 138-0013-8000", Some("13800138000"));
        check(parse, "0086 13800138000", Some("13800138000"));
        check(parse, "8613800138000", Some("13800138000"));
        check(parse, "(010) 6552-8888", Some("01065528888"));
        check(parse, "+86 10 6552 8888", Some("01065528888"));
        check(parse, "+44 20 7946 0958", Some("+442079460958"));
        check(parse, "0044 20 7946 0958", Some("+442079460958"));
        for bad in [
            "1234",
            "138 0013 8000 转 12",
            "phone",
            "+",
            "1".repeat(21).as_str(),
        ] {
            check(parse, bad, None);
        }
    }

    #[test]
    fn credit_codes_need_their_check_character() {
        let parse = |field: &str, raw: &str| CreditCode::parse(field, raw).map(String::from);
        // The example of GB 32100-2015, and one in lower case with a space.
        check(parse, "91350100M000100Y43", Some("91350100M000100Y43"));
        check(parse, "91350100m000100y43 ", Some("91350100M000100Y43"));
        check(parse, "91350100M000100Y44", None);
        check(parse, "91350100M000100Y4", None);
        check(parse, "91350100M000100I43", None);
        let generated = CreditCode::with_check_character("91440300MA5F00000").unwrap();
        assert!(CreditCode::parse("credit_code", generated.as_str()).is_ok());
        assert!(CreditCode::with_check_character("short").is_none());
    }
}
