//! The organisation's own words for customers: its tiers (客户等级) and lifecycle stages (阶段).
//!
//! A tier or stage entered at the edge must be one the organisation defined (the value policy's
//! `[[tier]]` tables and `[customer] stages`), so a typo such as `"tier": "Z"` is refused with the
//! valid names instead of creating a tier nobody serves. Values read back from storage are kept
//! as they are: a policy may drop a tier that stored customers still hold.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::FieldError;
use crate::text::parse_text;

macro_rules! vocabulary_word {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(into = "String", from = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A value read back from storage or from a policy, taken as it is.
            pub fn from_stored(stored: impl Into<String>) -> $name {
                $name(stored.into())
            }
        }

        impl From<String> for $name {
            fn from(stored: String) -> $name {
                $name(stored)
            }
        }

        impl From<$name> for String {
            fn from(word: $name) -> String {
                word.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
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

vocabulary_word!(
    /// A tier name of the value policy, such as `A` or `战略`.
    TierName
);
vocabulary_word!(
    /// A lifecycle stage of the policy's list, such as `线索` or `商机`.
    StageName
);

/// The lifecycle stages an organisation starts with: lead, opportunity, won, churned.
pub const DEFAULT_STAGES: [&str; 4] = ["线索", "商机", "成交", "流失"];

/// The tiers and stages an organisation defined, to check what arrives at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    tiers: Vec<TierName>,
    stages: Vec<StageName>,
}

impl Vocabulary {
    pub fn new(tiers: Vec<TierName>, stages: Vec<StageName>) -> Vocabulary {
        Vocabulary { tiers, stages }
    }

    pub fn tiers(&self) -> &[TierName] {
        &self.tiers
    }

    pub fn stages(&self) -> &[StageName] {
        &self.stages
    }

    /// A tier of the policy (trimmed), or an error naming the valid ones.
    pub fn tier(&self, field: &str, raw: &str) -> Result<TierName, FieldError> {
        let name = parse_text(field, raw)?;
        match self.tiers.iter().find(|tier| tier.0 == name) {
            Some(tier) => Ok(tier.clone()),
            None => Err(FieldError::new(
                field,
                format!(
                    "'{name}' is not a tier; the tiers are {}",
                    join(&self.tiers)
                ),
            )),
        }
    }

    /// A stage of the policy's list (trimmed), or an error naming the valid ones.
    pub fn stage(&self, field: &str, raw: &str) -> Result<StageName, FieldError> {
        let name = parse_text(field, raw)?;
        match self.stages.iter().find(|stage| stage.0 == name) {
            Some(stage) => Ok(stage.clone()),
            None => Err(FieldError::new(
                field,
                format!(
                    "'{name}' is not a stage; the stages are {} (set others in the policy's [customer] stages)",
                    join(&self.stages)
                ),
            )),
        }
    }
}

fn join<T: fmt::Display>(words: &[T]) -> String {
    words
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Default for Vocabulary {
    /// The default value policy's tiers A, B, C and the [`DEFAULT_STAGES`].
    fn default() -> Vocabulary {
        Vocabulary {
            tiers: ["A", "B", "C"].map(TierName::from_stored).to_vec(),
            stages: DEFAULT_STAGES.map(StageName::from_stored).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_must_be_the_organisations() {
        let vocabulary = Vocabulary::default();
        assert_eq!(vocabulary.tier("tier", " A ").unwrap().as_str(), "A");
        let error = vocabulary.tier("tier", "Z").unwrap_err();
        assert_eq!(error.field, "tier");
        assert!(error.message.contains("A, B, C"), "{error}");
        assert_eq!(vocabulary.stage("stage", "商机").unwrap().as_str(), "商机");
        let error = vocabulary.stage("stage", "潜在").unwrap_err();
        assert!(error.message.contains("线索, 商机, 成交, 流失"), "{error}");
        assert!(vocabulary.tier("tier", "A\u{0}").is_err());
    }
}
