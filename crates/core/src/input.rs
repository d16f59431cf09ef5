//! Raw records as they arrive in CSV rows and JSON bodies, and their checked conversion to domain types.
//!
//! CSV import, CSV export and the API all go through these, so a field is parsed the same
//! way everywhere and every error names the field.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

use crate::error::FieldError;
use crate::ids::{CustomerId, Region, RepId, TeamId};
use crate::model::{
    parse_bar_list, parse_bool, parse_optional_date, parse_optional_timestamp,
    parse_positive_number, Customer, Level, Rep, Role, Team,
};

/// Accepts a JSON string, number, bool or null as text, so API clients may send `"size": 120` or `"120"`.
pub(crate) fn lenient_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(text)) => text,
        Some(serde_json::Value::Number(number)) => number.to_string(),
        Some(serde_json::Value::Bool(flag)) => flag.to_string(),
        Some(other) => other.to_string(),
    })
}

fn lenient_attributes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let value = Option::<BTreeMap<String, serde_json::Value>>::deserialize(deserializer)?;
    Ok(value
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (key, text)
        })
        .collect())
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

    pub fn into_team(self) -> Result<Team, FieldError> {
        let id = TeamId::parse_field("id", &self.id)?;
        let parent_id = optional_id("parent_id", &self.parent_id, TeamId::parse_field)?;
        if parent_id.as_ref() == Some(&id) {
            return Err(FieldError::new(
                "parent_id",
                "a team cannot be its own parent",
            ));
        }
        Ok(Team {
            name: non_empty_or("name", self.name, id.as_str())?,
            parent_id,
            manager_id: optional_id("manager_id", &self.manager_id, RepId::parse_field)?,
            id,
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
    #[serde(default, deserialize_with = "lenient_text")]
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

    pub fn into_rep(self) -> Result<Rep, FieldError> {
        let id = RepId::parse_field("id", &self.id)?;
        let capacity = match self.capacity.trim() {
            "" => None,
            raw => Some(raw.parse::<u32>().map_err(|_| {
                FieldError::new(
                    "capacity",
                    format!("'{raw}' is not a whole number ≥ 0 (empty means no cap)"),
                )
            })?),
        };
        let absent_from = parse_optional_date("absent_from", &self.absent_from)?;
        let absent_until = parse_optional_date("absent_until", &self.absent_until)?;
        if let (Some(from), Some(until)) = (absent_from, absent_until) {
            if until < from {
                return Err(FieldError::new(
                    "absent_until",
                    format!("{until} is before absent_from {from}"),
                ));
            }
        }
        let email = self.email.trim().to_string();
        if !email.is_empty() && !email.contains('@') {
            return Err(FieldError::new(
                "email",
                format!("'{email}' is not an email address"),
            ));
        }
        Ok(Rep {
            name: non_empty_or("name", self.name, id.as_str())?,
            email,
            team_id: optional_id("team_id", &self.team_id, TeamId::parse_field)?,
            role: if self.role.trim().is_empty() {
                Role::default()
            } else {
                Role::parse_field("role", &self.role)?
            },
            level: if self.level.trim().is_empty() {
                Level::default()
            } else {
                Level::parse_field("level", &self.level)?
            },
            capacity,
            weight: parse_positive_number("weight", &self.weight, 1.0)?,
            skills: parse_bar_list(&self.skills),
            active: parse_bool("active", &self.active, true)?,
            absent_from,
            absent_until,
            id,
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

/// A customer as text: the `customers.csv` columns plus `attr.KEY` attributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerFields {
    #[serde(default, deserialize_with = "lenient_text")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub name: String,
    #[serde(default, rename = "type", deserialize_with = "lenient_text")]
    pub customer_type: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub industry: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub region: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub size: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub stage: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub source: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub tier: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub workload: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub first_touch_rep_id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub parent_id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub phone: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub email: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub credit_code: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub owner_id: String,
    #[serde(default, deserialize_with = "lenient_text")]
    pub created_at: String,
    #[serde(default, deserialize_with = "lenient_attributes")]
    pub attributes: BTreeMap<String, String>,
}

impl CustomerFields {
    pub const COLUMNS: [&'static str; 17] = [
        "id",
        "name",
        "type",
        "industry",
        "region",
        "size",
        "stage",
        "source",
        "tier",
        "workload",
        "first_touch_rep_id",
        "parent_id",
        "phone",
        "email",
        "credit_code",
        "owner_id",
        "created_at",
    ];

    pub fn into_customer(self) -> Result<Customer, FieldError> {
        let id = CustomerId::parse_field("id", &self.id)?;
        let size = match self.size.trim() {
            "" => None,
            raw => Some(raw.parse::<u64>().map_err(|_| {
                FieldError::new(
                    "size",
                    format!("'{raw}' is not a whole number of employees (empty means unknown)"),
                )
            })?),
        };
        let parent_id = optional_id("parent_id", &self.parent_id, CustomerId::parse_field)?;
        if parent_id.as_ref() == Some(&id) {
            return Err(FieldError::new(
                "parent_id",
                "a customer cannot be its own parent",
            ));
        }
        let mut attributes = BTreeMap::new();
        for (key, value) in self.attributes {
            let key = key.trim().to_string();
            if !is_attribute_key(&key) {
                return Err(FieldError::new(
                    format!("attr.{key}"),
                    "attribute names use letters, digits, '_' or '-'",
                ));
            }
            let value = value.trim().to_string();
            // An empty attribute is the same as a missing one: unknown.
            if !value.is_empty() {
                attributes.insert(key, value);
            }
        }
        Ok(Customer {
            name: non_empty_or("name", self.name, id.as_str())?,
            customer_type: self.customer_type.trim().to_string(),
            industry: self.industry.trim().to_string(),
            region: Region::parse(&self.region)?,
            size,
            stage: self.stage.trim().to_string(),
            source: self.source.trim().to_string(),
            tier: self.tier.trim().to_string(),
            workload: parse_positive_number("workload", &self.workload, 1.0)?,
            first_touch_rep_id: optional_id(
                "first_touch_rep_id",
                &self.first_touch_rep_id,
                RepId::parse_field,
            )?,
            parent_id,
            phone: self.phone.trim().to_string(),
            email: self.email.trim().to_string(),
            credit_code: self.credit_code.trim().to_string(),
            owner_id: optional_id("owner_id", &self.owner_id, RepId::parse_field)?,
            created_at: parse_optional_timestamp("created_at", &self.created_at)?,
            attributes,
            value: Default::default(),
            id,
        })
    }

    pub fn from_customer(customer: &Customer) -> Self {
        CustomerFields {
            id: customer.id.to_string(),
            name: customer.name.clone(),
            customer_type: customer.customer_type.clone(),
            industry: customer.industry.clone(),
            region: customer.region.to_string(),
            size: customer
                .size
                .map(|size| size.to_string())
                .unwrap_or_default(),
            stage: customer.stage.clone(),
            source: customer.source.clone(),
            tier: customer.tier.clone(),
            workload: customer.workload.to_string(),
            first_touch_rep_id: text_of(&customer.first_touch_rep_id),
            parent_id: text_of(&customer.parent_id),
            phone: customer.phone.clone(),
            email: customer.email.clone(),
            credit_code: customer.credit_code.clone(),
            owner_id: text_of(&customer.owner_id),
            created_at: customer
                .created_at
                .map(|time| time.to_rfc3339())
                .unwrap_or_default(),
            attributes: customer.attributes.clone(),
        }
    }

    /// Sets one CSV column; `attr.KEY` columns go to the attributes.
    pub fn set(&mut self, column: &str, value: String) -> Result<(), FieldError> {
        if let Some(key) = column.strip_prefix("attr.") {
            if !is_attribute_key(key) {
                return Err(FieldError::new(
                    column,
                    "attribute columns are named attr.KEY with letters, digits, '_' or '-'",
                ));
            }
            self.attributes.insert(key.to_string(), value);
            return Ok(());
        }
        let slot = match column {
            "id" => &mut self.id,
            "name" => &mut self.name,
            "type" => &mut self.customer_type,
            "industry" => &mut self.industry,
            "region" => &mut self.region,
            "size" => &mut self.size,
            "stage" => &mut self.stage,
            "source" => &mut self.source,
            "tier" => &mut self.tier,
            "workload" => &mut self.workload,
            "first_touch_rep_id" => &mut self.first_touch_rep_id,
            "parent_id" => &mut self.parent_id,
            "phone" => &mut self.phone,
            "email" => &mut self.email,
            "credit_code" => &mut self.credit_code,
            "owner_id" => &mut self.owner_id,
            "created_at" => &mut self.created_at,
            other => {
                return Err(unknown_column(other, &Self::COLUMNS)
                    .with_hint(" (custom attributes are written attr.KEY)"))
            }
        };
        *slot = value;
        Ok(())
    }

    /// Values in `COLUMNS` order followed by the given attribute keys.
    pub fn values(&self, attribute_keys: &[String]) -> Vec<String> {
        let mut values = vec![
            self.id.clone(),
            self.name.clone(),
            self.customer_type.clone(),
            self.industry.clone(),
            self.region.clone(),
            self.size.clone(),
            self.stage.clone(),
            self.source.clone(),
            self.tier.clone(),
            self.workload.clone(),
            self.first_touch_rep_id.clone(),
            self.parent_id.clone(),
            self.phone.clone(),
            self.email.clone(),
            self.credit_code.clone(),
            self.owner_id.clone(),
            self.created_at.clone(),
        ];
        values.extend(
            attribute_keys
                .iter()
                .map(|key| self.attributes.get(key).cloned().unwrap_or_default()),
        );
        values
    }
}

/// Attribute keys become condition fields (`attr.KEY`), so they must lex as one word.
pub fn is_attribute_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

fn non_empty_or(field: &str, value: String, default: &str) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(if trimmed.is_empty() {
        default.to_string()
    } else {
        trimmed.to_string()
    })
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

impl FieldError {
    fn with_hint(mut self, hint: &str) -> Self {
        self.message.push_str(hint);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_customer_error(column: &str, value: &str, expected_field: &str) {
        let mut fields = CustomerFields {
            id: "c1".to_string(),
            ..Default::default()
        };
        fields.set(column, value.to_string()).unwrap();
        let error = fields.into_customer().unwrap_err();
        assert_eq!(error.field, expected_field, "{column}={value}: {error}");
    }

    #[test]
    fn customer_fields_name_the_bad_field() {
        check_customer_error("size", "many", "size");
        check_customer_error("size", "-3", "size");
        check_customer_error("workload", "0", "workload");
        check_customer_error("region", "广东//深圳", "region");
        check_customer_error("owner_id", "a/b", "owner_id");
        check_customer_error("created_at", "yesterday", "created_at");
        check_customer_error("parent_id", "c1", "parent_id");
        check_customer_error("id", " ", "id");
    }

    #[test]
    fn customers_round_trip_through_fields() {
        let mut fields = CustomerFields::default();
        for (column, value) in [
            ("id", "c1"),
            ("name", "深圳云帆科技有限公司"),
            ("region", "广东/深圳/南山"),
            ("size", "120"),
            ("tier", "A"),
            ("owner_id", "r1"),
            ("attr.annual_revenue", "5000000"),
            ("created_at", "2026-03-01T08:00:00Z"),
        ] {
            fields.set(column, value.to_string()).unwrap();
        }
        let customer = fields.into_customer().unwrap();
        assert_eq!(customer.size, Some(120));
        assert_eq!(customer.attributes["annual_revenue"], "5000000");
        let again = CustomerFields::from_customer(&customer)
            .into_customer()
            .unwrap();
        assert_eq!(again, customer);
        assert!(CustomerFields::default()
            .set("colour", String::new())
            .is_err());
    }

    #[test]
    fn json_bodies_accept_numbers_for_text_fields() {
        let fields: CustomerFields = serde_json::from_str(
            r#"{"id":"c9","size":120,"workload":2.5,"attributes":{"score":7,"note":"好"}}"#,
        )
        .unwrap();
        let customer = fields.into_customer().unwrap();
        assert_eq!(customer.size, Some(120));
        assert_eq!(customer.workload, 2.5);
        assert_eq!(customer.attributes["score"], "7");
        let unknown = serde_json::from_str::<CustomerFields>(r#"{"id":"c9","colour":"red"}"#);
        assert!(unknown.is_err());
    }

    #[test]
    fn rep_fields_check_every_column() {
        let check = |column: &str, value: &str| {
            let mut fields = RepFields {
                id: "r1".to_string(),
                ..Default::default()
            };
            fields.set(column, value.to_string()).unwrap();
            let error = fields.into_rep().unwrap_err();
            assert_eq!(error.field, column, "{error}");
        };
        check("role", "boss");
        check("level", "guru");
        check("capacity", "-1");
        check("weight", "0");
        check("active", "perhaps");
        check("absent_from", "2026-02-30");
        check("email", "nobody");
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
