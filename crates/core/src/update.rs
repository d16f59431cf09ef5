//! Partial updates: which columns a CSV row or JSON body carried, and laying them onto the stored record.
//!
//! A file with only `id,tier`, or a body with only `{"name": …}`, changes only those columns.
//! Replacing the whole record instead would wipe every column the sender did not mention,
//! which is how enrichment files and small API edits destroy data.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::{FieldError, FieldErrors};
use crate::input::absence_order_error;
use crate::model::{Rep, Team};

/// Copies each listed field from `incoming` to `updated` when its column was given.
macro_rules! take {
    ($updated:ident, $incoming:ident, $given:ident, $($column:literal => $field:ident),+ $(,)?) => {
        $( if $given.contains($column) { $updated.$field = $incoming.$field.clone(); } )+
    };
}

/// The columns a record carried, by their CSV names (`type`, `owner_id`, `attr.KEY`, …).
///
/// Every row of a file carries the same columns: the set is shared, so a row's copy costs a
/// count, not a set of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GivenColumns {
    columns: Arc<BTreeSet<String>>,
}

impl GivenColumns {
    /// The columns of a CSV header.
    pub fn from_header(header: &[String]) -> Self {
        GivenColumns {
            columns: Arc::new(
                header
                    .iter()
                    .map(|column| column.trim().to_string())
                    .collect(),
            ),
        }
    }

    /// The keys of a JSON body; each key of its `attributes` object counts as `attr.KEY`.
    pub fn of_json(body: &Map<String, Value>) -> Self {
        let mut columns = BTreeSet::new();
        for (key, value) in body {
            if key == "attributes" {
                if let Value::Object(attributes) = value {
                    columns.extend(attributes.keys().map(|key| format!("attr.{}", key.trim())));
                }
            } else {
                columns.insert(key.clone());
            }
        }
        GivenColumns {
            columns: Arc::new(columns),
        }
    }

    /// Every column named, as if the whole record were given.
    pub fn all<'a>(columns: impl IntoIterator<Item = &'a str>) -> Self {
        GivenColumns {
            columns: Arc::new(columns.into_iter().map(str::to_string).collect()),
        }
    }

    pub fn contains(&self, column: &str) -> bool {
        self.columns.contains(column)
    }

    /// Removes a column, for callers that decide it themselves (routing decides the owner).
    pub fn without(mut self, column: &str) -> Self {
        if self.columns.contains(column) {
            Arc::make_mut(&mut self.columns).remove(column);
        }
        self
    }

    pub(crate) fn attribute_keys(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .filter_map(|column| column.strip_prefix("attr."))
    }
}

impl Rep {
    /// This rep with the given columns taken from `incoming`; absences must stay in order.
    pub fn updated_with(&self, incoming: &Rep, given: &GivenColumns) -> Result<Rep, FieldErrors> {
        let mut updated = self.clone();
        take!(updated, incoming, given,
            "name" => name,
            "email" => email,
            "team_id" => team_id,
            "role" => role,
            "level" => level,
            "capacity" => capacity,
            "weight" => weight,
            "skills" => skills,
            "active" => active,
            "absent_from" => absent_from,
            "absent_until" => absent_until,
        );
        if let (Some(from), Some(until)) = (updated.absent_from, updated.absent_until) {
            if until < from {
                return Err(absence_order_error(from, until).into());
            }
        }
        Ok(updated)
    }
}

impl Team {
    /// This team with the given columns taken from `incoming`.
    pub fn updated_with(&self, incoming: &Team, given: &GivenColumns) -> Result<Team, FieldErrors> {
        let mut updated = self.clone();
        take!(updated, incoming, given,
            "name" => name,
            "parent_id" => parent_id,
            "manager_id" => manager_id,
        );
        if updated.parent_id.as_ref() == Some(&updated.id) {
            return Err(FieldError::new("parent_id", "a team cannot be its own parent").into());
        }
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::RepFields;

    fn given(columns: &[(&str, &str)]) -> GivenColumns {
        let header: Vec<String> = columns
            .iter()
            .map(|(column, _)| column.to_string())
            .collect();
        GivenColumns::from_header(&header)
    }

    #[test]
    fn json_keys_and_attribute_keys_are_given_columns() {
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"id":"c1","owner_id":null,"attributes":{"revenue":7}}"#)
                .unwrap();
        let columns = GivenColumns::of_json(&body);
        assert!(columns.contains("owner_id"));
        assert!(columns.contains("attr.revenue"));
        assert!(!columns.contains("name"));
        assert!(!columns.clone().without("owner_id").contains("owner_id"));
    }

    #[test]
    fn merged_reps_are_checked_again() {
        let rep = |columns: &[(&str, &str)]| {
            let mut fields = RepFields::default();
            for (column, value) in columns {
                fields.set(column, value.to_string()).unwrap();
            }
            fields.into_rep().unwrap()
        };
        let stored = rep(&[("id", "r1"), ("absent_from", "2026-03-10")]);
        let update = [("id", "r1"), ("absent_until", "2026-03-01")];
        let error = stored
            .updated_with(&rep(&update), &given(&update))
            .unwrap_err();
        assert_eq!(error.first().field, "absent_until");
        let update = [("id", "r1"), ("capacity", "30")];
        let updated = stored.updated_with(&rep(&update), &given(&update)).unwrap();
        assert_eq!(updated.capacity, Some(30));
        assert_eq!(updated.absent_from, stored.absent_from);
    }
}
