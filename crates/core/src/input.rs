//! Raw records as they arrive in CSV rows and JSON bodies, and their checked conversion to domain types.
//!
//! CSV import, CSV export and the API all go through these, so a field is parsed the same
//! way everywhere and every error names the field.

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{FieldError, FieldErrors, Problems};
use crate::ids::{RepId, TeamId};
use crate::model::{Level, Rep, Role, Team};
use crate::text::{
    parse_bar_list, parse_bool, parse_optional_date, parse_positive_number, parse_text,
};

/// A JSON scalar as the text a CSV cell would hold; arrays and objects are refused (their JSON
/// text would otherwise be stored as if it were the value).
pub(crate) fn scalar_text<E: serde::de::Error>(value: serde_json::Value) -> Result<String, E> {
    match value {
        serde_json::Value::Null => Ok(String::new()),
        serde_json::Value::String(text) => Ok(text),
        serde_json::Value::Number(number) => Ok(number.to_string()),
        serde_json::Value::Bool(flag) => Ok(flag.to_string()),
        serde_json::Value::Array(_) => Err(E::custom("expected text or a number, not an array")),
        serde_json::Value::Object(_) => Err(E::custom("expected text or a number, not an object")),
    }
}

/// Accepts a JSON string, number, bool or null as text, so API clients may send `"size": 120` or `"120"`.
pub(crate) fn lenient_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    scalar_text(value.unwrap_or(serde_json::Value::Null))
}

/// A `|`-separated list as text, or a JSON array of texts (the shape the API returns skills in).
fn lenient_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    match value {
        Some(serde_json::Value::Array(items)) => {
            let items = items
                .into_iter()
                .map(scalar_text::<D::Error>)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(items.join("|"))
        }
        other => scalar_text(other.unwrap_or(serde_json::Value::Null)),
    }
}

fn optional_id<T>(
    field: &str,
    raw: &str,
    parse: fn(&str, &str) -> Result<T, FieldError>,
) -> Result<Option<T>, FieldError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        parse(field, raw).map(Some)
    }
}

/// A team as text: the `teams.csv` columns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamFields {
    #[serde(default, deserialize_with = "lenient_text")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub parent_id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub manager_id: String,
}

impl TeamFields {
    pub const COLUMNS: [&'static str; 4] = ["id", "name", "parent_id", "manager_id"];

    pub fn into_team(self) -> Result<Team, FieldErrors> {
        let mut problems = Problems::default();
        let id = problems.take(TeamId::parse_field("id", &self.id));
        let parent_id = problems.take(optional_id(
            "parent_id",
            &self.parent_id,
            TeamId::parse_field,
        ));
        if let (Some(id), Some(Some(parent))) = (&id, &parent_id) {
            if parent == id {
                problems.push(FieldError::new(
                    "parent_id",
                    "a team cannot be its own parent",
                ));
            }
        }
        let name = problems.take(parse_text("name", &self.name));
        let manager_id = problems.take(optional_id(
            "manager_id",
            &self.manager_id,
            RepId::parse_field,
        ));
        problems.finish(|| {
            let id = id?;
            Some(Team {
                name: non_empty_or(name?, id.as_str()),
                parent_id: parent_id?,
                manager_id: manager_id?,
                id,
            })
        })
    }

    pub fn from_team(team: &Team) -> Self {
        TeamFields {
            id: team.id.to_string(),
            name: team.name.clone(),
            parent_id: text_of(&team.parent_id),
            manager_id: text_of(&team.manager_id),
        }
    }

    pub fn set(&mut self, column: &str, value: String) -> Result<(), FieldError> {
        match column {
            "id" => self.id = value,
            "name" => self.name = value,
            "parent_id" => self.parent_id = value,
            "manager_id" => self.manager_id = value,
            other => return Err(unknown_column(other, &Self::COLUMNS)),
        }
        Ok(())
    }

    pub fn values(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.name.clone(),
            self.parent_id.clone(),
            self.manager_id.clone(),
        ]
    }
}

/// A rep as text: the `reps.csv` columns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepFields {
    #[serde(default, deserialize_with = "lenient_text")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub email: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub team_id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub role: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub level: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub capacity: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub weight: String,
    #[serde(default, deserialize_with = "lenient_list")]
    pub skills: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub active: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub absent_from: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub absent_until: String,
}

impl RepFields {
    pub const COLUMNS: [&'static str; 12] = [
        "id",
        "name",
        "email",
        "team_id",
        "role",
        "level",
        "capacity",
        "weight",
        "skills",
        "active",
        "absent_from",
        "absent_until",
    ];

    pub fn into_rep(self) -> Result<Rep, FieldErrors> {
        let mut problems = Problems::default();
        let id = problems.take(RepId::parse_field("id", &self.id));
        let name = problems.take(parse_text("name", &self.name));
        let email = problems.take(parse_text("email", &self.email).and_then(|email| {
            if !email.is_empty() && !email.contains('@') {
                Err(FieldError::new(
                    "email",
                    format!("'{email}' is not an email address"),
                ))
            } else {
                Ok(email)
            }
        }));
        let team_id = problems.take(optional_id("team_id", &self.team_id, TeamId::parse_field));
        let role = problems.take(if self.role.trim().is_empty() {
            Ok(Role::default())
        } else {
            Role::parse_field("role", &self.role)
        });
        let level = problems.take(if self.level.trim().is_empty() {
            Ok(Level::default())
        } else {
            Level::parse_field("level", &self.level)
        });
        let capacity = problems.take(match self.capacity.trim() {
            "" => Ok(None),
            raw => raw.parse::<u32>().map(Some).map_err(|_| {
                FieldError::new(
                    "capacity",
                    format!("'{raw}' is not a whole number ≥ 0 (empty means no cap)"),
                )
            }),
        });
        let weight = problems.take(parse_positive_number("weight", &self.weight, 1.0));
        let skills = problems.take(
            parse_bar_list(&self.skills)
                .into_iter()
                .map(|skill| parse_text("skills", &skill))
                .collect::<Result<Vec<_>, _>>(),
        );
        let active = problems.take(parse_bool("active", &self.active, true));
        let absent_from = problems.take(parse_optional_date("absent_from", &self.absent_from));
        let absent_until = problems.take(parse_optional_date("absent_until", &self.absent_until));
        if let (Some(Some(from)), Some(Some(until))) = (absent_from, absent_until) {
            if until < from {
                problems.push(absence_order_error(from, until));
            }
        }
        problems.finish(|| {
            let id = id?;
            Some(Rep {
                name: non_empty_or(name?, id.as_str()),
                email: email?,
                team_id: team_id?,
                role: role?,
                level: level?,
                capacity: capacity?,
                weight: weight?,
                skills: skills?,
                active: active?,
                absent_from: absent_from?,
                absent_until: absent_until?,
                id,
            })
        })
    }

    pub fn from_rep(rep: &Rep) -> Self {
        RepFields {
            id: rep.id.to_string(),
            name: rep.name.clone(),
            email: rep.email.clone(),
            team_id: text_of(&rep.team_id),
            role: rep.role.to_string(),
            level: rep.level.to_string(),
            capacity: rep.capacity.map(|cap| cap.to_string()).unwrap_or_default(),
            weight: rep.weight.to_string(),
            skills: rep.skills.join("|"),
            active: rep.active.to_string(),
            absent_from: rep
                .absent_from
                .map(|date| date.to_string())
                .unwrap_or_default(),
            absent_until: rep
                .absent_until
                .map(|date| date.to_string())
                .unwrap_or_default(),
        }
    }

    pub fn set(&mut self, column: &str, value: String) -> Result<(), FieldError> {
        let slot = match column {
            "id" => &mut self.id,
            "name" => &mut self.name,
            "email" => &mut self.email,
            "team_id" => &mut self.team_id,
            "role" => &mut self.role,
            "level" => &mut self.level,
            "capacity" => &mut self.capacity,
            "weight" => &mut self.weight,
            "skills" => &mut self.skills,
            "active" => &mut self.active,
            "absent_from" => &mut self.absent_from,
            "absent_until" => &mut self.absent_until,
            other => return Err(unknown_column(other, &Self::COLUMNS)),
        };
        *slot = value;
        Ok(())
    }

    pub fn values(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.name.clone(),
            self.email.clone(),
            self.team_id.clone(),
            self.role.clone(),
            self.level.clone(),
            self.capacity.clone(),
            self.weight.clone(),
            self.skills.clone(),
            self.active.clone(),
            self.absent_from.clone(),
            self.absent_until.clone(),
        ]
    }
}

/// An empty name falls back to the id, so every record has something to show.
fn non_empty_or(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value
    }
}

pub(crate) fn absence_order_error(from: chrono::NaiveDate, until: chrono::NaiveDate) -> FieldError {
    FieldError::new(
        "absent_until",
        format!("{until} is before absent_from {from}"),
    )
}

fn text_of<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map(ToString::to_string).unwrap_or_default()
}

pub(crate) fn unknown_column(column: &str, known: &[&str]) -> FieldError {
    FieldError::new(
        column,
        format!("unknown column '{column}'; expected {}", known.join(",")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rep_fields_check_every_column() {
        let check = |column: &str, value: &str| {
            let mut fields = RepFields {
                id: "r1".to_string(),
                ..Default::default()
            };
            fields.set(column, value.to_string()).unwrap();
            let errors = fields.into_rep().unwrap_err();
            assert_eq!(errors.first().field, column, "{errors}");
        };
        check("role", "boss");
        check("level", "guru");
        check("capacity", "-1");
        check("weight", "0");
        check("active", "perhaps");
        check("absent_from", "2026-02-30");
        check("email", "nobody");
        check("active", "yes");
        check("skills", "金融|a\u{0}b");
        check("weight", "1e7");
        let every_problem = RepFields {
            id: "r1".to_string(),
            role: "boss".to_string(),
            level: "guru".to_string(),
            capacity: "-1".to_string(),
            weight: "0".to_string(),
            active: "perhaps".to_string(),
            absent_from: "2026-02-30".to_string(),
            ..Default::default()
        }
        .into_rep()
        .unwrap_err();
        let fields: Vec<&str> = every_problem
            .iter()
            .map(|error| error.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "role",
                "level",
                "capacity",
                "weight",
                "active",
                "absent_from"
            ]
        );
        let rep = RepFields {
            id: "r1".to_string(),
            skills: "金融|英语".to_string(),
            ..Default::default()
        }
        .into_rep()
        .unwrap();
        assert_eq!(rep.skills, vec!["金融", "英语"]);
        assert!(rep.active);
        assert_eq!(rep.weight, 1.0);
    }
}
