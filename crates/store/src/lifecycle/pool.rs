//! The public pool (公海) in the database (claims are `claims`): releases, the
//! pool as a rep sees it (how long each customer has waited and why), and the daily reclaim of
//! customers without real follow-up.

use allot_core::access::Principal;
use allot_core::pool::{reclaim_standing, PoolPolicy, ReclaimFacts, ReclaimStanding};
use allot_core::value::ValuePolicy;
use allot_core::{Clock, Customer, CustomerId, RepId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Postgres, Sqlite};

use super::notifications::{notify_all, stored_once_keys, NewNotification};
use super::{change_owners, customer_in_view_in, ChangeReason, OwnerChange, View};
use crate::customers::{CustomerFilter, CustomerPage};
use crate::database::direct::with_direct_sqlite;
use crate::database::pieces::StatementPieces;
use crate::database::time::parse_stored_time;
use crate::database::{on_backend, sql, Connected, Connection, Dialect, TextList};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime, WriteTransaction};

/// The daily job that warns and reclaims.
pub const RECLAIM_JOB: &str = "reclaim";

/// A pool customer with how long it has waited and why it is there.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolEntry {
    pub customer: Customer,
    /// When it entered the pool (its release or reclaim, or its creation); RFC 3339.
    pub in_pool_since: Option<String>,
    /// Whole days in the pool as of the clock.
    pub days_in_pool: Option<i64>,
    /// `new` (never owned), `release`, `reclaim`, `rep_left`, `manual`, …
    pub reason_kind: String,
    /// The words of the event that put it there.
    pub reason: String,
}

/// How long the pool's customers have waited there, in bands.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolAge {
    pub customers: i64,
    pub under_7_days: i64,
    pub from_7_to_30_days: i64,
    pub from_30_to_90_days: i64,
    pub over_90_days: i64,
    /// Days the longest-waiting customer has been in the pool.
    pub oldest_days: Option<i64>,
}

/// One page of the pool.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolPage {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub items: Vec<PoolEntry>,
}

/// One customer the reclaim job warns about or reclaims.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReclaimItem {
    pub customer_id: String,
    pub owner_id: String,
    pub tier: String,
    /// Days since the later of getting the customer and the last real follow-up.
    pub idle_days: i64,
    /// The day it is (or would be) reclaimed.
    pub reclaim_on: String,
    /// For a warning: whether it was sent before (a dry run lists it anyway).
    pub already_warned: bool,
}

/// What the reclaim job did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReclaimSummary {
    pub warned: Vec<ReclaimItem>,
    pub reclaimed: Vec<ReclaimItem>,
}

#[derive(sqlx_macros::FromRow)]
struct OwnedRow {
    id: String,
    owner_id: String,
    tier: String,
    owned_since: Option<StoredTime>,
    got_by: Option<String>,
    created_at: Option<StoredTime>,
    last_follow_up: Option<StoredTime>,
}

impl Store {
    /// Returns a customer to the pool: its owner may, and admins and managers over it.
    /// Someone else's customer is `not_owner`; one with an open transfer `open_transfer`.
    pub async fn release(
        &self,
        principal: &Principal,
        customer_id: &CustomerId,
        reason: &str,
        clock: Clock,
    ) -> StoreResult<Customer> {
        let reason = allot_core::text::parse_text("reason", reason)?;
        if reason.is_empty() {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "reason",
                "say why the customer goes back to the pool",
            )));
        }
        let view = self.view_of(principal, clock).await?;
        let mut write = self.begin_write().await?;
        let customer = customer_in_view_in(&mut write, &view, customer_id).await?;
        let owner = match &customer.owner_id {
            Some(owner)
                if principal.rep() == Some(owner)
                    || principal.role() != allot_core::Role::Rep && principal.sees_rep(owner) =>
            {
                owner.clone()
            }
            Some(_) => {
                return Err(StoreError::Denied {
                    code: "not_owner",
                    message: format!("customer {customer_id} is not yours to release"),
                })
            }
            None => {
                return Err(StoreError::Denied {
                    code: "not_owner",
                    message: format!("customer {customer_id} is already in the pool"),
                })
            }
        };
        if super::transfers::open_transfer_of(&mut write, customer_id)
            .await?
            .is_some()
        {
            return Err(StoreError::Denied {
                code: "open_transfer",
                message: format!(
                    "customer {customer_id} has an open transfer; cancel it before releasing"
                ),
            });
        }
        change_owners(
            &mut write,
            &[OwnerChange {
                customer_id,
                from: Some(&owner),
                to: None,
                reason: None,
            }],
            ChangeReason {
                at: clock.now(),
                actor: &principal.actor(),
                reason: &reason,
                reason_kind: "release",
            },
        )
        .await?;
        let released =
            customer_in_view_in(&mut write, &View::everything(clock), customer_id).await?;
        write.commit().await?;
        Ok(released)
    }

    /// The pool customers matching `filter` (its `in_pool` is ignored), each with when and
    /// why it entered the pool.
    pub async fn list_pool(&self, filter: &CustomerFilter, clock: Clock) -> StoreResult<PoolPage> {
        let filter = CustomerFilter {
            in_pool: Some(true),
            owner_id: None,
            ..filter.clone()
        };
        let CustomerPage {
            total,
            limit,
            offset,
            items,
        } = self.list_customers(&filter).await?;
        let ids: Vec<&str> = items.iter().map(|customer| customer.id.as_str()).collect();
        let mut connection = self.database.acquire().await?;
        let mut last_events: std::collections::HashMap<
            String,
            (StoredTime, Option<String>, String),
        > = std::collections::HashMap::new();
        for chunk in ids.chunks(crate::database::LIST_CHUNK) {
            let rows: Vec<(String, StoredTime, Option<String>, String)> = on_backend!(
                &mut connection,
                |connection, Db| {
                    let mut query = sql!(Db; "SELECT customer_id, at, reason_kind, reason FROM events WHERE id IN (",
                        "SELECT MAX(id) FROM events WHERE kind LIKE 'ownership.%' AND ");
                    query.push_in_list("customer_id", chunk);
                    query.push(" GROUP BY customer_id)");
                    query.build_query_as().fetch_all(&mut *connection).await?
                }
            );
            for (customer, at, kind, reason) in rows {
                last_events.insert(customer, (at, kind, reason));
            }
        }
        let items = items
            .into_iter()
            .map(|customer| {
                let (since, reason_kind, reason) = match last_events.remove(customer.id.as_str()) {
                    Some((at, kind, reason)) => (
                        Some(at.0),
                        kind.unwrap_or_else(|| "release".to_string()),
                        reason,
                    ),
                    None => (
                        customer.created_at,
                        "new".to_string(),
                        "new customer, never owned".to_string(),
                    ),
                };
                PoolEntry {
                    in_pool_since: since.map(|at| StoredTime(at).text()),
                    days_in_pool: since.map(|at| (clock.now() - at).num_days().max(0)),
                    reason_kind,
                    reason,
                    customer,
                }
            })
            .collect();
        Ok(PoolPage {
            total,
            limit,
            offset,
            items,
        })
    }

    /// How long the pool's customers have waited there as of the clock (since their last
    /// ownership event, or their creation), in four bands, with the longest wait.
    pub async fn pool_age(&self, clock: Clock) -> StoreResult<PoolAge> {
        let now = clock.now();
        let before = |days: i64| StoredTime(now - chrono::Duration::days(days));
        type AgeRow = (
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<StoredTime>,
        );
        let mut read = self.database.begin_read().await?;
        let row: AgeRow = on_backend!(&mut read, |connection, Db| {
            sql!(Db;
                "SELECT COUNT(*),",
                " CAST(SUM(CASE WHEN since > ", bind(before(7)), " THEN 1 ELSE 0 END) AS BIGINT),",
                " CAST(SUM(CASE WHEN since <= ", bind(before(7)), " AND since > ", bind(before(30)), " THEN 1 ELSE 0 END) AS BIGINT),",
                " CAST(SUM(CASE WHEN since <= ", bind(before(30)), " AND since > ", bind(before(90)), " THEN 1 ELSE 0 END) AS BIGINT),",
                " CAST(SUM(CASE WHEN since <= ", bind(before(90)), " THEN 1 ELSE 0 END) AS BIGINT),",
                " MIN(since) FROM (SELECT COALESCE((SELECT events.at FROM events WHERE events.customer_id = customers.id AND events.kind LIKE 'ownership.%'",
                " ORDER BY events.id DESC LIMIT 1), customers.created_at) AS since FROM customers WHERE customers.owner_id IS NULL) AS pool")
                .build_query_as()
                .fetch_one(&mut *connection)
                .await?
        });
        let (customers, recent, month, quarter, older, oldest) = row;
        Ok(PoolAge {
            customers,
            under_7_days: recent.unwrap_or(0),
            from_7_to_30_days: month.unwrap_or(0),
            from_30_to_90_days: quarter.unwrap_or(0),
            over_90_days: older.unwrap_or(0),
            oldest_days: oldest.map(|since| (now - since.0).num_days().max(0)),
        })
    }

    /// What the reclaim job would warn and reclaim as of the clock, changing nothing.
    pub async fn reclaim_preview(&self, clock: Clock) -> StoreResult<ReclaimSummary> {
        let mut write = self.begin_write().await?;
        let policy = self.policy_in(&mut write).await?.1;
        reclaim_in(&mut write, &policy, clock, true).await
    }
}

/// The owned customers of the reclaimed tiers without an open transfer, with when and how
/// their owner got them and the owner's last real follow-up (by the policy's list) up to `now`,
/// in id order. The statement is written once, as pieces each backend renders.
fn owned_rows_statement(
    pool: &PoolPolicy,
    tiers: &[&str],
    byte_order_id: &str,
    now: DateTime<Utc>,
) -> StatementPieces {
    let mut pieces = StatementPieces::default();
    // One probe of the events index finds a customer's newest event (when and how its owner
    // got it); the follow-up is answered from the interactions index alone.
    pieces
        .sql(
            "SELECT c.id, c.owner_id, c.tier, e.at AS owned_since, e.reason_kind AS got_by, c.created_at, \
             (SELECT MAX(i.at) FROM interactions AS i WHERE i.customer_id = c.id AND i.rep_id = c.owner_id \
             AND i.at <= ",
        )
        .time(now)
        .sql(" AND (1 = 0");
    for follow_up in &pool.real_follow_up {
        pieces.sql(" OR (i.kind = ").text(follow_up.kind.as_str());
        if let Some(outcome) = &follow_up.outcome {
            pieces.sql(" AND i.outcome = ").text(outcome.as_str());
        }
        pieces.sql(")");
    }
    pieces.sql(
        ")) AS last_follow_up \
         FROM customers AS c LEFT JOIN events AS e ON e.id = (SELECT MAX(x.id) FROM events AS x WHERE x.customer_id = c.id AND x.kind LIKE 'ownership.%') \
         WHERE c.owner_id IS NOT NULL AND c.tier IN (",
    );
    for (index, tier) in tiers.iter().enumerate() {
        if index > 0 {
            pieces.sql(", ");
        }
        pieces.text(*tier);
    }
    if tiers.is_empty() {
        pieces.sql("NULL");
    }
    pieces.sql(format!(
        ") AND NOT EXISTS (SELECT 1 FROM transfer_customers AS tc WHERE tc.customer_id = c.id AND tc.is_open) \
         ORDER BY {byte_order_id}"
    ));
    pieces
}

/// The owned customers the reclaim job judges (see [`owned_rows_statement`]).
async fn owned_rows(
    write: &mut WriteTransaction,
    pool: &PoolPolicy,
    tiers: &[&str],
    now: DateTime<Utc>,
) -> StoreResult<Vec<OwnedRow>> {
    match write.connection() {
        Connection::Sqlite(connection) => {
            let (statement, values) =
                owned_rows_statement(pool, tiers, &<Sqlite as Dialect>::byte_order("c.id"), now)
                    .for_sqlite();
            // A million rows read on the connection's own handle, not handed over one by one
            // from sqlx's worker thread.
            with_direct_sqlite(connection, |direct| {
                let mut prepared = direct.prepare(&statement)?;
                let mut rows = prepared.query(rusqlite::params_from_iter(values.iter()))?;
                let mut owned = Vec::new();
                let time = |raw: Option<String>| -> StoreResult<Option<StoredTime>> {
                    raw.map(|raw| parse_stored_time(&raw).map(StoredTime))
                        .transpose()
                        .map_err(StoreError::Corrupt)
                };
                while let Some(row) = rows.next()? {
                    owned.push(OwnedRow {
                        id: row.get(0)?,
                        owner_id: row.get(1)?,
                        tier: row.get(2)?,
                        owned_since: time(row.get(3)?)?,
                        got_by: row.get(4)?,
                        created_at: time(row.get(5)?)?,
                        last_follow_up: time(row.get(6)?)?,
                    });
                }
                Ok(owned)
            })
            .await
        }
        Connection::Postgres(connection) => {
            Ok(
                owned_rows_statement(pool, tiers, &<Postgres as Dialect>::byte_order("c.id"), now)
                    .for_postgres()
                    .build_query_as()
                    .fetch_all(&mut *connection)
                    .await?,
            )
        }
    }
}

/// The reclaim job: owners of customers without real follow-up are warned once, then the
/// customers go back to the pool (with the numbers in the event's words) and their former
/// owners enter cooldown. Customers with an open transfer are left alone. `dry` changes
/// nothing and lists warnings sent before too.
pub(crate) async fn reclaim_in(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    clock: Clock,
    dry: bool,
) -> StoreResult<ReclaimSummary> {
    let pool = &policy.pool;
    let mut summary = ReclaimSummary::default();
    let tiers: Vec<&str> = pool.reclaim_after_days.keys().map(String::as_str).collect();
    if tiers.is_empty() {
        return Ok(summary);
    }
    let now = clock.now();
    let rows = owned_rows(write, pool, &tiers, now).await?;
    let to_date = |time: DateTime<Utc>| time.with_timezone(&clock.offset()).date_naive();
    let today = clock.today();
    let mut reclaims: Vec<(CustomerId, RepId, ReclaimItem)> = Vec::new();
    let mut warnings: Vec<(CustomerId, RepId, String, String, ReclaimItem)> = Vec::new();
    for row in rows {
        let Some(owned_since) = row.owned_since.or(row.created_at).map(|time| time.0) else {
            continue;
        };
        let facts = ReclaimFacts {
            tier: Some(&row.tier),
            owned_since,
            claimed: row.got_by.as_deref() == Some("claim"),
            last_real_follow_up: row.last_follow_up.map(|time| time.0),
        };
        let (standing, idle_days) = reclaim_standing(pool, &facts, today, to_date);
        let reclaim_on = match standing {
            ReclaimStanding::Kept => continue,
            ReclaimStanding::Warn { reclaim_on } => Some(reclaim_on),
            ReclaimStanding::Reclaim => None,
        };
        let customer_id =
            CustomerId::parse(&row.id).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let owner =
            RepId::parse(&row.owner_id).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let item = ReclaimItem {
            customer_id: row.id.clone(),
            owner_id: row.owner_id.clone(),
            tier: row.tier.clone(),
            idle_days,
            reclaim_on: reclaim_on.unwrap_or(today).to_string(),
            already_warned: false,
        };
        let Some(reclaim_on) = reclaim_on else {
            reclaims.push((customer_id, owner, item));
            continue;
        };
        // Once per owner and start of the idle stretch: a follow-up starts a new stretch.
        let start = facts
            .last_real_follow_up
            .map_or(owned_since, |last| last.max(owned_since));
        let key = format!(
            "reclaim_warning:{}:{}:{}",
            row.id,
            row.owner_id,
            StoredTime(start).text()
        );
        let text = format!(
            "customer {} ({} tier) has had no real follow-up for {idle_days} days; it returns to the pool on {reclaim_on} unless you follow up (visit, reached call or meeting)",
            row.id, row.tier
        );
        warnings.push((customer_id, owner, key, text, item));
    }
    if dry {
        let keys: Vec<&str> = warnings
            .iter()
            .map(|(_, _, key, ..)| key.as_str())
            .collect();
        let sent = stored_once_keys(write, &keys).await?;
        summary.warned = warnings
            .into_iter()
            .map(|(_, _, key, _, mut item)| {
                item.already_warned = sent.contains(&key);
                item
            })
            .collect();
    } else if !warnings.is_empty() {
        let notices: Vec<NewNotification<'_>> = warnings
            .iter()
            .map(|(customer_id, owner, key, text, _)| NewNotification {
                recipient: Some(owner),
                kind: "reclaim_warning",
                customer_id: Some(customer_id),
                transfer_id: None,
                ticket_id: None,
                text: text.clone(),
                once_key: Some(key.clone()),
            })
            .collect();
        let stored = notify_all(write, &notices, now, policy_has_webhook(policy)).await?;
        drop(notices);
        summary.warned = warnings
            .into_iter()
            .zip(stored)
            .filter(|(_, stored)| *stored)
            .map(|((.., item), _)| item)
            .collect();
    }
    if !dry && !reclaims.is_empty() {
        let changes: Vec<OwnerChange<'_>> = reclaims
            .iter()
            .map(|(customer_id, owner, item)| {
                let after = pool.reclaim_after_days.get(&item.tier).copied().unwrap_or(0);
                OwnerChange {
                    customer_id,
                    from: Some(owner),
                    to: None,
                    reason: Some(format!(
                        "reclaimed to the pool: no real follow-up for {} days ({} tier reclaims after {after})",
                        item.idle_days, item.tier
                    )),
                }
            })
            .collect();
        change_owners(
            write,
            &changes,
            ChangeReason {
                at: now,
                actor: "system:reclaim",
                reason: "reclaimed to the pool",
                reason_kind: "reclaim",
            },
        )
        .await?;
        let notices: Vec<NewNotification<'_>> = changes
            .iter()
            .map(|change| NewNotification {
                recipient: change.from,
                kind: "reclaimed",
                customer_id: Some(change.customer_id),
                transfer_id: None,
                ticket_id: None,
                text: format!(
                    "customer {} went back to the pool: {}; you cannot claim it again for {} days",
                    change.customer_id,
                    change.reason.as_deref().unwrap_or_default(),
                    pool.cooldown_days
                ),
                once_key: None,
            })
            .collect();
        notify_all(write, &notices, now, policy_has_webhook(policy)).await?;
    }
    summary.reclaimed = reclaims.into_iter().map(|(_, _, item)| item).collect();
    Ok(summary)
}

/// Whether notifications are queued for a webhook.
pub(crate) fn policy_has_webhook(policy: &ValuePolicy) -> bool {
    policy.notify.webhook_url.is_some()
}
