//! Turning stored rows back into checked domain values; a bad stored value is `Corrupt`, not a panic.

use allot_core::model::{parse_bar_list, parse_optional_date, parse_optional_timestamp};
use allot_core::strategy::{RepLoad, RepState};
use allot_core::{Customer, CustomerId, Level, Region, Rep, RepId, Role, Team, TeamId};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{StoreError, StoreResult};

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

pub(crate) fn text(row: &AnyRow, column: &str) -> StoreResult<String> {
    Ok(row.try_get::<String, _>(column)?)
}

pub(crate) fn optional_text(row: &AnyRow, column: &str) -> StoreResult<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

pub(crate) fn optional_id<T>(
    row: &AnyRow,
    column: &str,
    parse: fn(&str, &str) -> Result<T, allot_core::FieldError>,
) -> StoreResult<Option<T>> {
    optional_text(row, column)?
        .map(|raw| parse(column, &raw).map_err(corrupt))
        .transpose()
}

pub(crate) const TEAM_COLUMNS: &str = "id, name, parent_id, manager_id";

pub(crate) fn team_from_row(row: &AnyRow) -> StoreResult<Team> {
    Ok(Team {
        id: TeamId::parse(&text(row, "id")?).map_err(corrupt)?,
        name: text(row, "name")?,
        parent_id: optional_id(row, "parent_id", TeamId::parse_field)?,
        manager_id: optional_id(row, "manager_id", RepId::parse_field)?,
    })
}

pub(crate) const REP_COLUMNS: &str = "id, name, email, team_id, role, level, capacity, weight, skills, active, absent_from, absent_until, owned_count, owned_workload, last_assigned_sequence";

pub(crate) fn rep_state_from_row(row: &AnyRow) -> StoreResult<RepState> {
    let capacity: Option<i64> = row.try_get("capacity")?;
    let rep = Rep {
        id: RepId::parse(&text(row, "id")?).map_err(corrupt)?,
        name: text(row, "name")?,
        email: text(row, "email")?,
        team_id: optional_id(row, "team_id", TeamId::parse_field)?,
        role: Role::parse_field("role", &text(row, "role")?).map_err(corrupt)?,
        level: Level::parse_field("level", &text(row, "level")?).map_err(corrupt)?,
        capacity: capacity.map(|cap| cap.clamp(0, u32::MAX as i64) as u32),
        weight: row.try_get("weight")?,
        skills: parse_bar_list(&text(row, "skills")?),
        active: row.try_get::<i64, _>("active")? != 0,
        absent_from: parse_optional_date(
            "absent_from",
            &optional_text(row, "absent_from")?.unwrap_or_default(),
        )
        .map_err(corrupt)?,
        absent_until: parse_optional_date(
            "absent_until",
            &optional_text(row, "absent_until")?.unwrap_or_default(),
        )
        .map_err(corrupt)?,
    };
    let owned_count: i64 = row.try_get("owned_count")?;
    Ok(RepState {
        rep,
        load: RepLoad {
            owned_count: owned_count.max(0) as u32,
            owned_workload: row.try_get("owned_workload")?,
            last_assigned_sequence: row.try_get::<i64, _>("last_assigned_sequence")?.max(0) as u64,
        },
    })
}

/// Customer columns, plus the measured value of the last grading run (correlated look-ups by
/// primary key, so every query that reads customers `FROM customers` gets them alike).
pub(crate) const CUSTOMER_COLUMNS: &str = "id, name, customer_type, industry, region, size, stage, source, tier, workload, first_touch_rep_id, parent_id, phone, email, credit_code, owner_id, created_at, attributes, last_interaction_at,
    (SELECT score FROM customer_values WHERE customer_values.customer_id = customers.id) AS value_score,
    (SELECT clv FROM customer_values WHERE customer_values.customer_id = customers.id) AS value_clv,
    (SELECT p_alive FROM customer_values WHERE customer_values.customer_id = customers.id) AS value_p_alive,
    (SELECT rfm_segment FROM customer_values WHERE customer_values.customer_id = customers.id) AS value_rfm_segment";

/// The same columns, in the same order, as the cells of a SQLite `json_array` (a store test
/// reads customers both ways and compares). SQLite writes a REAL into JSON with 15 significant
/// digits, which is not the number stored (0.30000000000000004 would read back as 0.3 and route
/// differently), so REAL columns travel as text with 17 (`%!.17g`: without `!` SQLite stops at 16), which
/// parses back to the same f64.
pub(crate) const CUSTOMER_JSON_CELLS: &str = "id, name, customer_type, industry, region, size, stage, source, tier, printf('%!.17g', workload), first_touch_rep_id, parent_id, phone, email, credit_code, owner_id, created_at, attributes, last_interaction_at,
    (SELECT CASE WHEN score IS NULL THEN NULL ELSE printf('%!.17g', score) END FROM customer_values WHERE customer_values.customer_id = customers.id),
    (SELECT CASE WHEN clv IS NULL THEN NULL ELSE printf('%!.17g', clv) END FROM customer_values WHERE customer_values.customer_id = customers.id),
    (SELECT CASE WHEN p_alive IS NULL THEN NULL ELSE printf('%!.17g', p_alive) END FROM customer_values WHERE customer_values.customer_id = customers.id),
    (SELECT rfm_segment FROM customer_values WHERE customer_values.customer_id = customers.id)";

/// One customer's stored columns, however they were read: a row, or a JSON array of cells.
struct CustomerCells {
    id: String,
    name: String,
    customer_type: String,
    industry: String,
    region: String,
    size: Option<i64>,
    stage: String,
    source: String,
    tier: String,
    workload: f64,
    first_touch_rep_id: Option<String>,
    parent_id: Option<String>,
    phone: String,
    email: String,
    credit_code: String,
    owner_id: Option<String>,
    created_at: Option<String>,
    attributes: String,
    last_interaction_at: Option<String>,
    score: Option<f64>,
    clv: Option<f64>,
    p_alive: Option<f64>,
    rfm_segment: Option<String>,
}

impl CustomerCells {
    fn from_row(row: &AnyRow) -> StoreResult<Self> {
        Ok(CustomerCells {
            id: text(row, "id")?,
            name: text(row, "name")?,
            customer_type: text(row, "customer_type")?,
            industry: text(row, "industry")?,
            region: text(row, "region")?,
            size: row.try_get("size")?,
            stage: text(row, "stage")?,
            source: text(row, "source")?,
            tier: text(row, "tier")?,
            workload: row.try_get("workload")?,
            first_touch_rep_id: optional_text(row, "first_touch_rep_id")?,
            parent_id: optional_text(row, "parent_id")?,
            phone: text(row, "phone")?,
            email: text(row, "email")?,
            credit_code: text(row, "credit_code")?,
            owner_id: optional_text(row, "owner_id")?,
            created_at: optional_text(row, "created_at")?,
            attributes: text(row, "attributes")?,
            last_interaction_at: optional_text(row, "last_interaction_at")?,
            score: row.try_get("value_score")?,
            clv: row.try_get("value_clv")?,
            p_alive: row.try_get("value_p_alive")?,
            rfm_segment: optional_text(row, "value_rfm_segment")?,
        })
    }

    /// From the cells of [`CUSTOMER_JSON_CELLS`].
    fn from_json(cells: &[serde_json::Value]) -> StoreResult<Self> {
        let cell = |index: usize| cells.get(index).unwrap_or(&serde_json::Value::Null);
        let optional_text = |index: usize| -> StoreResult<Option<String>> {
            match cell(index) {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::String(text) => Ok(Some(text.clone())),
                other => Err(corrupt(format!(
                    "customer cell {index} is {other}, not text"
                ))),
            }
        };
        let text = |index: usize| -> StoreResult<String> {
            optional_text(index)?.ok_or_else(|| corrupt(format!("customer cell {index} is null")))
        };
        let optional_number = |index: usize| -> StoreResult<Option<f64>> {
            match cell(index) {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::Number(number) => Ok(number.as_f64()),
                serde_json::Value::String(text) => text.parse().map(Some).map_err(|_| {
                    corrupt(format!("customer cell {index} is '{text}', not a number"))
                }),
                other => Err(corrupt(format!(
                    "customer cell {index} is {other}, not a number"
                ))),
            }
        };
        Ok(CustomerCells {
            id: text(0)?,
            name: text(1)?,
            customer_type: text(2)?,
            industry: text(3)?,
            region: text(4)?,
            size: cell(5).as_i64(),
            stage: text(6)?,
            source: text(7)?,
            tier: text(8)?,
            workload: optional_number(9)?.ok_or_else(|| corrupt("customer workload is null"))?,
            first_touch_rep_id: optional_text(10)?,
            parent_id: optional_text(11)?,
            phone: text(12)?,
            email: text(13)?,
            credit_code: text(14)?,
            owner_id: optional_text(15)?,
            created_at: optional_text(16)?,
            attributes: text(17)?,
            last_interaction_at: optional_text(18)?,
            score: optional_number(19)?,
            clv: optional_number(20)?,
            p_alive: optional_number(21)?,
            rfm_segment: optional_text(22)?,
        })
    }

    fn into_customer(self) -> StoreResult<Customer> {
        let attributes: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&self.attributes).map_err(corrupt)?;
        Ok(Customer {
            id: CustomerId::parse(&self.id).map_err(corrupt)?,
            name: self.name,
            customer_type: self.customer_type,
            industry: self.industry,
            region: Region::parse(&self.region).map_err(corrupt)?,
            size: self.size.map(|size| size.max(0) as u64),
            stage: self.stage,
            source: self.source,
            tier: self.tier,
            workload: self.workload,
            first_touch_rep_id: self
                .first_touch_rep_id
                .map(|raw| RepId::parse_field("first_touch_rep_id", &raw).map_err(corrupt))
                .transpose()?,
            parent_id: self
                .parent_id
                .map(|raw| CustomerId::parse_field("parent_id", &raw).map_err(corrupt))
                .transpose()?,
            phone: self.phone,
            email: self.email,
            credit_code: self.credit_code,
            owner_id: self
                .owner_id
                .map(|raw| RepId::parse_field("owner_id", &raw).map_err(corrupt))
                .transpose()?,
            created_at: parse_optional_timestamp(
                "created_at",
                &self.created_at.unwrap_or_default(),
            )
            .map_err(corrupt)?,
            attributes,
            value: allot_core::model::MeasuredValue {
                score: self.score,
                clv: self.clv,
                p_alive: self.p_alive,
                rfm_segment: self.rfm_segment,
            },
            last_interaction_at: parse_optional_timestamp(
                "last_interaction_at",
                &self.last_interaction_at.unwrap_or_default(),
            )
            .map_err(corrupt)?,
        })
    }
}

pub(crate) fn customer_from_row(row: &AnyRow) -> StoreResult<Customer> {
    CustomerCells::from_row(row)?.into_customer()
}

/// The customers of a SQLite `json_group_array(json_array(keys…, CUSTOMER_JSON_CELLS))`, and
/// the key cells of the last one (to read on after it).
pub(crate) fn customers_from_json(
    text: &str,
    keys: usize,
) -> StoreResult<(Vec<Customer>, Option<Vec<serde_json::Value>>)> {
    let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(text).map_err(corrupt)?;
    let last_keys = rows
        .last()
        .map(|cells| cells.iter().take(keys).cloned().collect());
    let customers = rows
        .iter()
        .map(|cells| {
            CustomerCells::from_json(cells.get(keys..).unwrap_or_default())?.into_customer()
        })
        .collect::<StoreResult<_>>()?;
    Ok((customers, last_keys))
}
