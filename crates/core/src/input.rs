//! Raw records as they arrive in CSV rows and JSON bodies, and their checked conversion to domain types.
//!
//! CSV import, CSV export and the API all go through these, so a field is parsed the same
//! way everywhere and every error names the field.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

use crate::error::{FieldError, FieldErrors, Problems};
use crate::ids::{CustomerId, Region, RepId, TeamId};
use crate::model::{
    parse_bar_list, parse_bool, parse_free_text, parse_optional_date, parse_optional_timestamp,
    parse_positive_number, parse_text, Customer, Level, Rep, Role, Team,
};

/// A JSON scalar as the text a CSV cell would hold; arrays and objects are refused (their JSON
/// text would otherwise be stored as if it were the value).
fn scalar_text<E: serde::de::Error>(value: serde_json::Value) -> Result<String, E> {
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

fn lenient_attributes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let value = Option::<BTreeMap<String, serde_json::Value>>::deserialize(deserializer)?;
    value
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| {
            let text = scalar_text::<D::Error>(value)
                .map_err(|error| serde::de::Error::custom(format!("attribute '{key}': {error}")))?;
            Ok((key, text))
        })
        .collect()
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

    pub fn into_customer(self) -> Result<Customer, FieldErrors> {
        let mut problems = Problems::default();
        let id = problems.take(CustomerId::parse_field("id", &self.id));
        let name = problems.take(parse_text("name", &self.name));
        let customer_type = problems.take(parse_text("type", &self.customer_type));
        let industry = problems.take(parse_text("industry", &self.industry));
        let region = problems.take(Region::parse(&self.region));
        let size = problems.take(match self.size.trim() {
            "" => Ok(None),
            raw => raw.parse::<u64>().ok().filter(|size| *size <= MAXIMUM_SIZE).map(Some).ok_or_else(|| {
                FieldError::new(
                    "size",
                    format!("'{raw}' is not a whole number of employees up to {MAXIMUM_SIZE} (empty means unknown)"),
                )
            }),
        });
        let stage = problems.take(parse_text("stage", &self.stage));
        let source = problems.take(parse_text("source", &self.source));
        let tier = problems.take(parse_text("tier", &self.tier));
        let workload = problems.take(parse_positive_number("workload", &self.workload, 1.0));
        let first_touch_rep_id = problems.take(optional_id(
            "first_touch_rep_id",
            &self.first_touch_rep_id,
            RepId::parse_field,
        ));
        let parent_id = problems.take(optional_id(
            "parent_id",
            &self.parent_id,
            CustomerId::parse_field,
        ));
        if let (Some(id), Some(Some(parent))) = (&id, &parent_id) {
            if parent == id {
                problems.push(own_parent_error());
            }
        }
        let phone = problems.take(parse_text("phone", &self.phone));
        let email = problems.take(parse_text("email", &self.email));
        let credit_code = problems.take(parse_text("credit_code", &self.credit_code));
        let owner_id = problems.take(optional_id("owner_id", &self.owner_id, RepId::parse_field));
        let created_at = problems.take(parse_optional_timestamp("created_at", &self.created_at));
        let mut attributes = BTreeMap::new();
        for (key, value) in self.attributes {
            let key = key.trim().to_string();
            if !is_attribute_key(&key) {
                problems.push(FieldError::new(
                    format!("attr.{key}"),
                    "attribute names use letters, digits, '_' or '-'",
                ));
                continue;
            }
            // An empty attribute is the same as a missing one: unknown.
            if let Some(value) = problems.take(parse_free_text(&format!("attr.{key}"), &value)) {
                if !value.is_empty() {
                    attributes.insert(key, value);
                }
            }
        }
        problems.finish(|| {
            let id = id?;
            Some(Customer {
                name: non_empty_or(name?, id.as_str()),
                customer_type: customer_type?,
                industry: industry?,
                region: region?,
                size: size?,
                stage: stage?,
                source: source?,
                tier: tier?,
                workload: workload?,
                first_touch_rep_id: first_touch_rep_id?,
                parent_id: parent_id?,
                phone: phone?,
                email: email?,
                credit_code: credit_code?,
                owner_id: owner_id?,
                created_at: created_at?,
                attributes,
                value: Default::default(),
                last_interaction_at: None,
                id,
            })
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

/// An empty name falls back to the id, so every record has something to show.
fn non_empty_or(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value
    }
}

/// Largest `size` (employees) accepted; larger values are typing errors, and stay exact in every backend.
pub const MAXIMUM_SIZE: u64 = 100_000_000;

pub(crate) fn own_parent_error() -> FieldError {
    FieldError::new("parent_id", "a customer cannot be its own parent")
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
        let errors = fields.into_customer().unwrap_err();
        assert_eq!(
            errors.first().field,
            expected_field,
            "{column}={value}: {errors}"
        );
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
        check_customer_error("tier", "a\u{0}b", "tier");
        check_customer_error("phone", "1\n2", "phone");
        check_customer_error("region", "广东/\u{0}", "region");
        check_customer_error("attr.note", "x\u{0}", "attr.note");
        check_customer_error("workload", "1e308", "workload");
        check_customer_error("size", "1000000000000", "size");
        // Free text may hold line breaks.
        let mut fields = CustomerFields {
            id: "c1".to_string(),
            ..Default::default()
        };
        fields
            .set("attr.note", "第一行\n第二行".to_string())
            .unwrap();
        assert!(fields.into_customer().is_ok());
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
