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

pub(crate) fn customer_from_row(row: &AnyRow) -> StoreResult<Customer> {
    let size: Option<i64> = row.try_get("size")?;
    let attributes: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&text(row, "attributes")?).map_err(corrupt)?;
    Ok(Customer {
        id: CustomerId::parse(&text(row, "id")?).map_err(corrupt)?,
        name: text(row, "name")?,
        customer_type: text(row, "customer_type")?,
        industry: text(row, "industry")?,
        region: Region::parse(&text(row, "region")?).map_err(corrupt)?,
        size: size.map(|size| size.max(0) as u64),
        stage: text(row, "stage")?,
        source: text(row, "source")?,
        tier: text(row, "tier")?,
        workload: row.try_get("workload")?,
        first_touch_rep_id: optional_id(row, "first_touch_rep_id", RepId::parse_field)?,
        parent_id: optional_id(row, "parent_id", CustomerId::parse_field)?,
        phone: text(row, "phone")?,
        email: text(row, "email")?,
        credit_code: text(row, "credit_code")?,
        owner_id: optional_id(row, "owner_id", RepId::parse_field)?,
        created_at: parse_optional_timestamp(
            "created_at",
            &optional_text(row, "created_at")?.unwrap_or_default(),
        )
        .map_err(corrupt)?,
        attributes,
        value: allot_core::model::MeasuredValue {
            score: row.try_get("value_score")?,
            clv: row.try_get("value_clv")?,
            p_alive: row.try_get("value_p_alive")?,
            rfm_segment: optional_text(row, "value_rfm_segment")?,
        },
        last_interaction_at: parse_optional_timestamp(
            "last_interaction_at",
            &optional_text(row, "last_interaction_at")?.unwrap_or_default(),
        )
        .map_err(corrupt)?,
    })
}
