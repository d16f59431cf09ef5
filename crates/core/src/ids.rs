//! Checked identifier and region newtypes: the only way strings from the edge enter the core.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::FieldError;

/// Longest identifier accepted; ids are keys, not prose.
const MAXIMUM_ID_LENGTH: usize = 128;

fn parse_identifier(field: &str, raw: &str) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAXIMUM_ID_LENGTH {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAXIMUM_ID_LENGTH} characters"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '?' || c == '#')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters, '/', '?' or '#'",
        ));
    }
    Ok(trimmed.to_string())
}

macro_rules! identifier_newtype {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks a raw string from the edge (trimmed, non-empty, no control or URL-special characters).
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                parse_identifier($field, raw).map($name)
            }

            /// Like `parse`, but names the field the value came from in the error.
            pub fn parse_field(field: &str, raw: &str) -> Result<Self, FieldError> {
                parse_identifier(field, raw).map($name)
            }

            pub fn as_str(&self) -> &str {
                &self.0
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

        impl TryFrom<String> for $name {
            type Error = FieldError;
            fn try_from(raw: String) -> Result<Self, FieldError> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Lets maps keyed by ids be looked up with the text of one (equal ids, equal text,
        /// equal hashes and order, as `Borrow` requires).
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

identifier_newtype!(
    /// Identifies a customer (客户).
    CustomerId,
    "id"
);
identifier_newtype!(
    /// Identifies a rep (销售/客服).
    RepId,
    "id"
);
identifier_newtype!(
    /// Identifies a team (团队).
    TeamId,
    "id"
);

/// A region path such as `广东/深圳/南山` (省/市/区); may be empty when unknown.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

/// Documented in the API as the text it is.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Region {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <String as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Region {}

impl Region {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(Region(String::new()));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(FieldError::new(
                "region",
                "must not contain control characters",
            ));
        }
        if trimmed.chars().count() > crate::text::MAXIMUM_TEXT_LENGTH {
            return Err(FieldError::new(
                "region",
                format!(
                    "must be at most {} characters",
                    crate::text::MAXIMUM_TEXT_LENGTH
                ),
            ));
        }
        let segments: Vec<&str> = trimmed.split('/').map(str::trim).collect();
        if segments.iter().any(|segment| segment.is_empty()) {
            return Err(FieldError::new(
                "region",
                format!(
                    "'{trimmed}' has an empty segment; write it as 省/市/区, e.g. 广东/深圳/南山"
                ),
            ));
        }
        Ok(Region(segments.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_unknown(&self) -> bool {
        self.0.is_empty()
    }

    /// Whole-segment prefix: `广东` is a prefix of `广东/深圳` but not of `广东省`.
    pub fn starts_with_segments(&self, prefix: &str) -> bool {
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return true;
        }
        match self.0.strip_prefix(prefix) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

impl TryFrom<String> for Region {
    type Error = FieldError;
    fn try_from(raw: String) -> Result<Self, FieldError> {
        Region::parse(&raw)
    }
}

impl From<Region> for String {
    fn from(region: Region) -> String {
        region.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_trimmed_and_checked() {
        assert_eq!(CustomerId::parse("  c1 ").unwrap().as_str(), "c1");
        assert_eq!(CustomerId::parse("客户-1").unwrap().as_str(), "客户-1");
        for bad in ["", "   ", "a/b", "a\nb", "a?b"] {
            let error = CustomerId::parse(bad).unwrap_err();
            assert_eq!(error.field, "id", "{bad:?}");
        }
        assert!(RepId::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn region_prefix_matches_whole_segments() {
        let check = |region: &str, prefix: &str, expected: bool| {
            let region = Region::parse(region).unwrap();
            assert_eq!(
                region.starts_with_segments(prefix),
                expected,
                "{region} ^= {prefix}"
            );
        };
        check("广东/深圳/南山", "广东", true);
        check("广东/深圳/南山", "广东/深圳", true);
        check("广东/深圳/南山", "广东/深", false);
        check("广东省/深圳", "广东", false);
        check("广东", "广东", true);
        check("", "广东", false);
    }

    #[test]
    fn region_rejects_empty_segments() {
        assert_eq!(Region::parse("广东//南山").unwrap_err().field, "region");
        assert_eq!(
            Region::parse(" 广东 / 深圳 ").unwrap().as_str(),
            "广东/深圳"
        );
        assert!(Region::parse("").unwrap().is_unknown());
    }
}
