//! Domain records of the organisation: teams, reps, their roles and levels.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::FieldError;
use crate::ids::{RepId, TeamId};

/// A group of reps with a manager; teams form a tree through `parent_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub parent_id: Option<TeamId>,
    pub manager_id: Option<RepId>,
}

/// What a rep may do in Allot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    #[default]
    Rep,
    Manager,
    Admin,
}

/// Seniority; ordered so that `min_level` can compare.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Level {
    Junior,
    #[default]
    Mid,
    Senior,
}

macro_rules! text_enum {
    ($name:ident, $field:literal, $( $variant:ident => $text:literal ),+ ) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text ),+ }
            }
            pub fn parse_field(field: &str, raw: &str) -> Result<Self, FieldError> {
                match raw.trim() {
                    $( $text => Ok($name::$variant), )+
                    other => Err(FieldError::new(field, format!(
                        "'{other}' is not one of {}", [$($text),+].join("|")
                    ))),
                }
            }
        }
        impl FromStr for $name {
            type Err = FieldError;
            fn from_str(raw: &str) -> Result<Self, FieldError> {
                Self::parse_field($field, raw)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(Role, "role", Rep => "rep", Manager => "manager", Admin => "admin");
text_enum!(Level, "level", Junior => "junior", Mid => "mid", Senior => "senior");

/// A person who can own customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rep {
    pub id: RepId,
    pub name: String,
    pub email: String,
    pub team_id: Option<TeamId>,
    pub role: Role,
    pub level: Level,
    /// Holding cap (保有量): most customers owned at once; `None` is no cap.
    pub capacity: Option<u32>,
    /// Weight for the weighted strategy; always > 0.
    pub weight: f64,
    pub skills: Vec<String>,
    pub active: bool,
    /// First day of absence, inclusive.
    pub absent_from: Option<NaiveDate>,
    /// Last day of absence, inclusive.
    pub absent_until: Option<NaiveDate>,
}

impl Rep {
    /// Absent on `date` when the date falls inside the inclusive absence window.
    /// An open end (only `absent_from` or only `absent_until`) extends indefinitely.
    pub fn is_absent_on(&self, date: NaiveDate) -> bool {
        match (self.absent_from, self.absent_until) {
            (None, None) => false,
            (Some(from), None) => date >= from,
            (None, Some(until)) => date <= until,
            (Some(from), Some(until)) => date >= from && date <= until,
        }
    }

    pub fn has_skill(&self, skill: &str) -> bool {
        self.skills.iter().any(|own| own == skill)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_named() {
        assert_eq!(
            Level::parse_field("level", "guru").unwrap_err().field,
            "level"
        );
        assert!(Level::Senior > Level::Mid && Level::Mid > Level::Junior);
    }

    #[test]
    fn absence_window_is_inclusive() {
        let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
        let mut rep = Rep {
            id: RepId::parse("r1").unwrap(),
            name: String::new(),
            email: String::new(),
            team_id: None,
            role: Role::Rep,
            level: Level::Mid,
            capacity: None,
            weight: 1.0,
            skills: vec![],
            active: true,
            absent_from: Some(date("2026-01-10")),
            absent_until: Some(date("2026-01-12")),
        };
        let check = |rep: &Rep, day: &str, expected: bool| {
            assert_eq!(rep.is_absent_on(date(day)), expected, "{day}");
        };
        check(&rep, "2026-01-09", false);
        check(&rep, "2026-01-10", true);
        check(&rep, "2026-01-12", true);
        check(&rep, "2026-01-13", false);
        rep.absent_until = None;
        check(&rep, "2027-01-01", true);
    }
}
