//! Health alerts for owners: opened when a customer's health falls under the policy's threshold,
//! closed when it recovers.

use std::collections::HashMap;

use allot_core::{CustomerId, RepId};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::population::PopulationCustomer;
use crate::database::bulk::{
    insert_rows, update_rows, InsertRows, Kind, Transfer, UpdateRows, Value,
};
use crate::database::{on_backend, sql, Connected};
use crate::error::StoreResult;
use crate::{Store, StoredTime};

/// A health alert for a customer's owner.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    pub id: i64,
    /// RFC 3339 in UTC.
    pub at: String,
    pub customer_id: String,
    pub owner_id: Option<String>,
    pub kind: String,
    pub message: String,
    pub health: f64,
    /// `open` until the customer's health recovers above the threshold, then `closed`.
    pub status: String,
    pub closed_at: Option<String>,
}

#[derive(sqlx_macros::FromRow)]
struct AlertRow {
    id: i64,
    at: StoredTime,
    customer_id: String,
    owner_id: Option<String>,
    kind: String,
    message: String,
    health: f64,
    status: String,
    closed_at: Option<StoredTime>,
}

/// Filters for listing alerts.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub owner_id: Option<RepId>,
    pub customer_id: Option<CustomerId>,
    /// Only open alerts unless true.
    pub include_closed: bool,
    pub limit: i64,
    /// Only rows of customers in this view; all when `None`.
    pub view: Option<crate::lifecycle::View>,
}

/// Health alerts to open (customer newly below the threshold) and close (recovered).
#[derive(Default)]
pub(crate) struct AlertChanges<'a> {
    pub raised: Vec<(&'a str, Option<&'a str>, String, f64)>,
    pub closed: Vec<i64>,
}

impl<'a> AlertChanges<'a> {
    pub(crate) fn note(
        &mut self,
        customer: &'a PopulationCustomer,
        at_risk: bool,
        health: Option<f64>,
        parts: &[(String, f64)],
        open_alerts: &HashMap<String, i64>,
    ) {
        match (at_risk, health, open_alerts.get(customer.id.as_str())) {
            (true, Some(health), None) => self.raised.push((
                customer.id.as_str(),
                customer.owner_id.as_deref(),
                health_message(health, parts),
                health,
            )),
            (false, _, Some(alert_id)) => self.closed.push(*alert_id),
            _ => {}
        }
    }

    pub(crate) async fn write(
        &self,
        source: &mut impl Connected,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let rows: Vec<Vec<Value<'_>>> = self
            .raised
            .iter()
            .map(|(customer_id, owner_id, message, health)| {
                vec![
                    Value::Timestamp(now),
                    Value::Text(customer_id),
                    Value::text(*owner_id),
                    Value::Text("health"),
                    Value::Text(message),
                    Value::Real(*health),
                    Value::Text("open"),
                ]
            })
            .collect();
        insert_rows(
            source.connection(),
            &InsertRows {
                table: "alerts",
                columns: &[
                    ("at", Kind::Timestamp),
                    ("customer_id", Kind::Text),
                    ("owner_id", Kind::Text),
                    ("kind", Kind::Text),
                    ("message", Kind::Text),
                    ("health", Kind::Real),
                    ("status", Kind::Text),
                ],
                rows: &rows,
                on_conflict: None,
                never_clash: false,
            },
            Transfer::Arrays,
        )
        .await?;
        let rows: Vec<Vec<Value<'_>>> = self
            .closed
            .iter()
            .map(|id| {
                vec![
                    Value::Integer(*id),
                    Value::Text("closed"),
                    Value::Timestamp(now),
                ]
            })
            .collect();
        update_rows(
            source.connection(),
            &UpdateRows {
                table: "alerts",
                key: &[("id", Kind::Integer)],
                still: None,
                set: &[("status", Kind::Text), ("closed_at", Kind::Timestamp)],
                rows: &rows,
                only_if: None,
                caller_fails_unless_every_row_changes: false,
            },
        )
        .await?;
        Ok(())
    }
}

fn health_message(health: f64, parts: &[(String, f64)]) -> String {
    let weakest = parts
        .iter()
        .min_by(|left, right| left.1.total_cmp(&right.1))
        .map(|(name, value)| format!("; weakest: {name} {value:.2}"))
        .unwrap_or_default();
    format!("health {health:.0}/100 is below the alert threshold{weakest}")
}

/// Appends the filter's conditions to a statement over `alerts`.
macro_rules! push_alert_filter {
    ($query:ident, $filter:expr, $view_reps:expr) => {{
        crate::lifecycle::push_customer_in_view!(
            $query,
            $filter.view.as_ref(),
            $view_reps,
            "customer_id"
        );
        if !$filter.include_closed {
            $query.push(" AND status = 'open'");
        }
        if let Some(owner) = &$filter.owner_id {
            $query.push(" AND owner_id = ").push_bind(owner.as_str());
        }
        if let Some(customer) = &$filter.customer_id {
            $query
                .push(" AND customer_id = ")
                .push_bind(customer.as_str());
        }
    }};
}

impl Store {
    /// How many alerts the filter finds (its limit aside).
    pub async fn count_alerts(&self, filter: &AlertFilter) -> StoreResult<i64> {
        let view_reps = crate::lifecycle::View::rep_list(filter.view.as_ref());
        let mut connection = self.database.acquire().await?;
        Ok(on_backend!(&mut connection, |connection, Db| {
            let mut query = sql!(Db; "SELECT COUNT(*) FROM alerts WHERE 1 = 1");
            push_alert_filter!(query, filter, view_reps.as_deref());
            query
                .build_query_scalar()
                .fetch_one(&mut *connection)
                .await?
        }))
    }

    /// Alerts, newest first.
    pub async fn list_alerts(&self, filter: &AlertFilter) -> StoreResult<Vec<Alert>> {
        let view_reps = crate::lifecycle::View::rep_list(filter.view.as_ref());
        let mut connection = self.database.acquire().await?;
        let rows: Vec<AlertRow> = on_backend!(&mut connection, |connection, Db| {
            let mut query = sql!(Db; "SELECT id, at, customer_id, owner_id, kind, message, health, status, closed_at FROM alerts WHERE 1 = 1");
            push_alert_filter!(query, filter, view_reps.as_deref());
            query
                .push(" ORDER BY id DESC LIMIT ")
                .push_bind(if filter.limit > 0 { filter.limit } else { 100 });
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        Ok(rows
            .into_iter()
            .map(|row| Alert {
                id: row.id,
                at: row.at.text(),
                customer_id: row.customer_id,
                owner_id: row.owner_id,
                kind: row.kind,
                message: row.message,
                health: row.health,
                status: row.status,
                closed_at: row.closed_at.map(StoredTime::text),
            })
            .collect())
    }
}
