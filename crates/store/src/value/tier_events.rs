//! The tier log: every upgrade, downgrade, first tier and override, append-only like the ownership events.

use allot_core::value::ValuePolicy;
use allot_core::CustomerId;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::database::bulk::{insert_rows, InsertRows, Kind, Transfer, Value};
use crate::database::{on_backend, sql, Connected};
use crate::error::StoreResult;
use crate::{Store, StoredTime};

/// One upgrade, downgrade or first grading of a customer.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TierEvent {
    pub id: i64,
    /// RFC 3339 in UTC.
    pub at: String,
    pub customer_id: String,
    pub from_tier: Option<String>,
    pub to_tier: String,
    /// `up`, `down` or `set` (first tier, or a tier the policy no longer orders).
    pub direction: String,
    pub score: f64,
    pub reason: String,
    pub actor: String,
}

#[derive(sqlx_macros::FromRow)]
struct TierEventRow {
    id: i64,
    at: StoredTime,
    customer_id: String,
    from_tier: Option<String>,
    to_tier: String,
    direction: String,
    score: f64,
    reason: String,
    actor: String,
}

impl From<TierEventRow> for TierEvent {
    fn from(row: TierEventRow) -> TierEvent {
        TierEvent {
            id: row.id,
            at: row.at.text(),
            customer_id: row.customer_id,
            from_tier: row.from_tier,
            to_tier: row.to_tier,
            direction: row.direction,
            score: row.score,
            reason: row.reason,
            actor: row.actor,
        }
    }
}

const TIER_EVENT_COLUMNS: &str =
    "id, at, customer_id, from_tier, to_tier, direction, score, reason, actor";

/// Filters for listing tier events.
#[derive(Debug, Clone, Default)]
pub struct TierEventFilter {
    pub customer_id: Option<CustomerId>,
    /// Only events with a larger id (a cursor for paging through the log).
    pub after_id: Option<i64>,
    pub limit: i64,
    /// Only rows of customers in this view; all when `None`.
    pub view: Option<crate::lifecycle::View>,
}

pub(crate) struct NewTierEvent<'a> {
    pub at: DateTime<Utc>,
    pub customer_id: &'a str,
    pub from_tier: Option<&'a str>,
    pub to_tier: &'a str,
    pub direction: &'static str,
    pub score: f64,
    pub reason: String,
    pub actor: &'a str,
}

pub(crate) async fn record_tier_events(
    source: &mut impl Connected,
    events: &[NewTierEvent<'_>],
) -> StoreResult<()> {
    let rows: Vec<Vec<Value<'_>>> = events
        .iter()
        .map(|event| {
            vec![
                Value::Timestamp(event.at),
                Value::Text(event.customer_id),
                Value::text(event.from_tier),
                Value::Text(event.to_tier),
                Value::Text(event.direction),
                Value::Real(event.score),
                Value::Text(&event.reason),
                Value::Text(event.actor),
            ]
        })
        .collect();
    insert_rows(
        source.connection(),
        &InsertRows {
            table: "tier_events",
            columns: &[
                ("at", Kind::Timestamp),
                ("customer_id", Kind::Text),
                ("from_tier", Kind::Text),
                ("to_tier", Kind::Text),
                ("direction", Kind::Text),
                ("score", Kind::Real),
                ("reason", Kind::Text),
                ("actor", Kind::Text),
            ],
            rows: &rows,
            on_conflict: None,
            never_clash: false,
        },
        Transfer::for_rows(rows.len()),
    )
    .await?;
    Ok(())
}

/// A customer's tier events, newest first.
pub(crate) async fn tier_history(
    source: &mut impl Connected,
    customer_id: &CustomerId,
) -> StoreResult<Vec<TierEvent>> {
    let rows: Vec<TierEventRow> = on_backend!(source, |connection, Db| {
        sql!(Db; format!("SELECT {TIER_EVENT_COLUMNS} FROM tier_events WHERE customer_id = "),
            bind(customer_id.as_str()), " ORDER BY id DESC")
        .build_query_as()
        .fetch_all(&mut *connection)
        .await?
    });
    Ok(rows.into_iter().map(TierEvent::from).collect())
}

/// `up` when the new tier comes earlier in the policy's order (best first), `down` when later,
/// `set` when either side is not a tier of the policy (first grading, renamed tiers).
pub(crate) fn direction(policy: &ValuePolicy, from: Option<&str>, to: &str) -> &'static str {
    let names = policy.tier_names();
    let position = |tier: &str| names.iter().position(|name| name == tier);
    match (from.and_then(position), position(to)) {
        (Some(old), Some(new)) if new < old => "up",
        (Some(old), Some(new)) if new > old => "down",
        _ => "set",
    }
}

impl Store {
    /// Tier events, oldest first, after a cursor: the audit trail of grading runs and overrides.
    pub async fn list_tier_events(&self, filter: &TierEventFilter) -> StoreResult<Vec<TierEvent>> {
        let view_reps = crate::lifecycle::View::rep_list(filter.view.as_ref());
        let mut connection = self.database.acquire().await?;
        let rows: Vec<TierEventRow> = on_backend!(&mut connection, |connection, Db| {
            let mut query = sql!(Db; format!("SELECT {TIER_EVENT_COLUMNS} FROM tier_events WHERE id > "),
                bind(filter.after_id.unwrap_or(0)));
            crate::lifecycle::push_customer_in_view!(
                query,
                filter.view.as_ref(),
                view_reps.as_deref(),
                "customer_id"
            );
            if let Some(customer) = &filter.customer_id {
                query
                    .push(" AND customer_id = ")
                    .push_bind(customer.as_str());
            }
            query
                .push(" ORDER BY id LIMIT ")
                .push_bind(if filter.limit > 0 { filter.limit } else { 1000 });
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        Ok(rows.into_iter().map(TierEvent::from).collect())
    }
}
